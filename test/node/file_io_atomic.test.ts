import { spawn } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { fileIO, OLD_FOLDER_SUFFIX } from '../../src/node/file_io';
import { artifactsFor } from './file_io_fixtures/artifacts';

const FIXTURE = path.join(__dirname, 'file_io_fixtures', 'save_and_kill.ts');

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the fixture: saves version `version` into `target`, killed (SIGKILL) right after its k-th file-system call. */
function saveAndKill(target: string, version: number, killAfter: number): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
      env: { ...process.env, TARGET: target, VERSION: String(version), KILL_AFTER: String(killAfter) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += String(d)));
    child.stderr.on('data', (d) => (stderr += String(d)));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** What `fileIO(target)` loads: the version (1, 2, …) whose artifacts it returns exactly, or null when nothing loads. */
async function loadedVersion(target: string): Promise<number | null> {
  let a: tf.io.ModelArtifacts;
  try {
    a = await fileIO(target).load!();
  } catch (err) {
    // Only "there is no model" is an acceptable failure; anything else (a torn model) fails the test.
    expect((err as Error).message).toMatch(/^fileIO: cannot read .*model\.json: ENOENT/);
    return null;
  }
  const name = (a.modelTopology as { config: { name: string } }).config.name;
  const v = Number(/^version_(\d+)$/.exec(name)?.[1]);
  const expected = artifactsFor(v);
  // Exactly that version: topology, specs and every weight byte.
  expect(a.modelTopology).toEqual(expected.modelTopology);
  expect(a.weightSpecs).toEqual(expected.weightSpecs);
  expect(Buffer.from(a.weightData as ArrayBuffer).equals(Buffer.from(expected.weightData as ArrayBuffer))).toBe(true);
  return v;
}

/** Sets up the folder state a scenario starts from. */
type Setup = (target: string) => Promise<void>;

const SCENARIOS: [string, Setup, (number | null)[]][] = [
  ['a folder holding version 1', async (t) => void (await fileIO(t).save!(artifactsFor(1))), [1]],
  [
    'only <folder>.old holding version 1 (an earlier save killed between its renames)',
    async (t) => {
      await fileIO(t).save!(artifactsFor(1));
      await fs.rename(t, t + OLD_FOLDER_SUFFIX);
    },
    [1],
  ],
  ['no model yet', async () => undefined, [null]],
];

describe('fileIO saves atomically as a unit (SIGKILL after every file operation)', () => {
  let root: string;
  beforeAll(async () => {
    root = await fs.mkdtemp(path.join(os.tmpdir(), 'vit-tfjs-io-kill-'));
  });
  afterAll(async () => {
    await fs.rm(root, { recursive: true, force: true });
  });

  for (const [title, setup, before] of SCENARIOS) {
    it(`starting from ${title}: the old or the new model loads, whole, and the next save cleans up`, async () => {
      const seen = new Set<number | null>();
      let total = 0;
      for (let k = 1; ; k++) {
        const dir = path.join(root, `${SCENARIOS.findIndex((s) => s[0] === title)}-${k}`);
        await fs.mkdir(dir);
        const target = path.join(dir, 'model');
        await setup(target);
        expect(before).toContain(await loadedVersion(target));

        const r = await saveAndKill(target, 2, k);
        if (r.code === 0) {
          // The save made fewer than k calls: it completed.
          total = Number(/^DONE (\d+)/.exec(r.stdout)?.[1]);
          expect(total).toBe(k - 1);
          expect(await loadedVersion(target)).toBe(2);
          expect((await fs.readdir(dir)).sort()).toEqual(['model']);
          break;
        }
        expect({ k, signal: r.signal, stderr: r.stderr }).toEqual({ k, signal: 'SIGKILL', stderr: '' });
        const v = await loadedVersion(target);
        expect([...before, 2]).toContain(v);
        seen.add(v);

        // A later save (another process: the killed one's pid is gone) succeeds and leaves only the model.
        await fileIO(target).save!(artifactsFor(3));
        expect(await loadedVersion(target)).toBe(3);
        expect((await fs.readdir(dir)).sort()).toEqual(['model']);
        expect((await fs.readdir(target)).sort()).toEqual(['model.json', 'weights.bin']);
      }
      // The kill points covered the whole save: before the swap (old model), and after it (new model).
      expect(total).toBeGreaterThanOrEqual(12);
      expect(seen.has(2)).toBe(true);
      expect(seen.has(before[0])).toBe(true);
    });
  }
});
