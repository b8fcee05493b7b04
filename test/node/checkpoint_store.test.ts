/**
 * fitViT's checkpoint folder (fileCheckpointStore) under SIGKILL: a run killed at any instant — right after any
 * file operation of a checkpoint save, or in the middle of an epoch — and resumed ends with the same history, best
 * epoch, best weights and test metrics, bit for bit (cpu backend), as a run never interrupted.
 *
 * The killed runs are child processes (test/node/fit_fixtures/run.ts, which counts its file operations and kills
 * itself after the k-th); the resumes run here, with the same fixture code.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { CheckpointSettingsError, fitViT, setGlobalSeed } from '../../src/index';
import { FileCheckpointStore, fileCheckpointStore, fileIO } from '../../src/node/index';
import { type FixtureResult, makeModel, runFixture } from './fit_fixtures/run';

const FIXTURE = path.join(__dirname, 'fit_fixtures', 'run.ts');

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

function runChild(env: Record<string, string>): Promise<ChildRun> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
}

const dirs: string[] = [];
function tempDir(tag: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `vit-fit-${tag}-`));
  dirs.push(d);
  return d;
}

function expectSameRun(actual: FixtureResult, expected: FixtureResult): void {
  expect(actual.status).toBe('completed');
  expect(actual.history).toEqual(expected.history);
  expect(actual.bestEpoch).toBe(expected.bestEpoch);
  expect(actual.bestValue).toBe(expected.bestValue);
  expect(actual.weights).toEqual(expected.weights);
  expect(actual.test).toEqual(expected.test);
}

describe('fitViT checkpoints: kill at any instant, resume, same run', () => {
  let reference: FixtureResult & { ops: string[]; saves: number[] };

  beforeAll(async () => {
    const dir = tempDir('reference');
    const run = await runChild({ FIT_DIR: dir });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    reference = JSON.parse(fs.readFileSync(path.join(dir, 'result.json'), 'utf8'));
  }, 120_000);

  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('the reference run trains (3 epochs, 3 saves) and an in-process run repeats it bit for bit', async () => {
    expect(reference.history.loss).toHaveLength(3);
    expect(reference.saves).toHaveLength(3);
    // Training does something: the loss falls.
    expect(reference.history.loss[2]).toBeLessThan(reference.history.loss[0]);
    const again = await runFixture(tempDir('again'));
    expectSameRun(again, reference);
  }, 60_000);

  /**
   * Kill points: after every file operation of the second save (the one that replaces a checkpoint), the first and
   * last operations of the first save and of the third, and mid-epoch steps (epoch 1 has 4 steps: 27 images, batch 8).
   */
  function killPoints(): { label: string; env: Record<string, string>; beforeLastSave: boolean }[] {
    const [s1, s2, s3] = reference.saves;
    const ops = new Set<number>([1, Math.floor(s1 / 2), s1]);
    for (let k = s1 + 1; k <= s2; k++) ops.add(k);
    ops.add(s2 + 1);
    ops.add(s3 - 1);
    ops.add(s3);
    return [
      ...[2, 6, 11].map((s) => ({ label: `after step ${s}`, env: { FIT_KILL_AFTER_STEP: String(s) }, beforeLastSave: true })),
      ...[...ops].map((k) => ({
        label: `after file op ${k} (${reference.ops[k - 1]})`,
        env: { FIT_KILL_AFTER_OP: String(k) },
        beforeLastSave: k <= s2,
      })),
    ];
  }

  it('killed after every file operation of a save (and mid-epoch), then resumed: the same history, best weights and test metrics', async () => {
    const points = killPoints();
    expect(points.length).toBeGreaterThan(20);
    const failures: string[] = [];
    // The killed runs two at a time (child processes), then each resumed here in turn.
    const killedDirs: string[] = points.map(() => tempDir('kill'));
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < points.length; i = next++) {
        const killed = await runChild({ FIT_DIR: killedDirs[i], ...points[i].env });
        if (killed.signal !== 'SIGKILL') failures.push(`${points[i].label}: not killed (${killed.code}, ${killed.stderr.slice(0, 200)})`);
      }
    };
    await Promise.all([worker(), worker()]);
    for (const [i, point] of points.entries()) {
      const dir = killedDirs[i];
      expect(fs.existsSync(path.join(dir, 'result.json'))).toBe(false);
      const resumed = await runFixture(dir);
      try {
        expectSameRun(resumed, reference);
        // Only the checkpoint is left once a later save ran: no staging folder, no .old. (Killed in the last save,
        // the resumed run has nothing to save: what the kill left beside the checkpoint stays until the next save.)
        const left = fs.readdirSync(dir).sort();
        if (point.beforeLastSave) expect(left).toEqual(['checkpoint']);
        else expect(left.filter((n) => !n.startsWith('.checkpoint-tmp-') && n !== 'checkpoint.old')).toEqual(['checkpoint']);
      } catch (err) {
        failures.push(`${point.label}: ${(err as Error).message.split('\n').slice(0, 6).join(' ')}`);
      }
      fs.rmSync(dir, { recursive: true, force: true });
    }
    expect(failures).toEqual([]);
  }, 900_000);

  it('killed after the second checkpoint and resumed with fewer epochs: the best weights and test metrics of a 2-epoch run', async () => {
    const dir = tempDir('fewer');
    const killed = await runChild({ FIT_DIR: dir, FIT_KILL_AFTER_OP: String(reference.saves[1]) });
    expect(killed.signal).toBe('SIGKILL');
    const resumed = await runFixture(dir, { epochs: 2 });
    expect(resumed.initialEpoch).toBe(2);
    const twoEpochs = await runFixture(tempDir('two'), { epochs: 2 });
    expectSameRun(resumed, twoEpochs);
    // The two-epoch run's history is the first two epochs of the three-epoch run.
    for (const [k, v] of Object.entries(reference.history)) expect(twoEpochs.history[k]).toEqual(v.slice(0, 2));
  }, 120_000);

  it('with two threads: killed mid-epoch and resumed with two threads, the same run', async () => {
    const straight = tempDir('threads');
    const full = await runChild({ FIT_DIR: straight, FIT_THREADS: '2' });
    expect(full.code).toBe(0);
    const expected = JSON.parse(fs.readFileSync(path.join(straight, 'result.json'), 'utf8')) as FixtureResult;
    const dir = tempDir('threads-kill');
    const killed = await runChild({ FIT_DIR: dir, FIT_THREADS: '2', FIT_KILL_AFTER_STEP: '6' });
    expect(killed.signal).toBe('SIGKILL');
    expectSameRun(await runFixture(dir, { threads: 2 }), expected);
  }, 180_000);
});

describe('fileCheckpointStore', () => {
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('holds the model (loadable with fileIO), the optimizer, the best weights and the state in one folder', async () => {
    const dir = tempDir('layout');
    await runFixture(dir, { epochs: 1 });
    const ckpt = path.join(dir, 'checkpoint');
    expect(fs.readdirSync(ckpt).sort()).toEqual(['best-weights.bin', 'model.json', 'optimizer.bin', 'state.json', 'weights.bin']);
    const state = JSON.parse(fs.readFileSync(path.join(ckpt, 'state.json'), 'utf8'));
    expect(state.epoch).toBe(1);
    expect(state.rng.global).toHaveLength(4);
    expect(state.rng.shuffle).toHaveLength(4);
    expect(state.best.epoch).toBe(0);
    expect(state.settings.batchSize).toBe(8);
    const specs = state.optimizer.specs as { name: string; shape: number[] }[];
    expect(specs.slice(0, 3).map((s) => s.name)).toEqual(['iter', 'beta1_power', 'beta2_power']);
    const bytes = (list: { shape: number[] }[]) => list.reduce((a, s) => a + 4 * s.shape.reduce((p, d) => p * d, 1), 0);
    expect(fs.statSync(path.join(ckpt, 'optimizer.bin')).size).toBe(bytes(specs));
    expect(fs.statSync(path.join(ckpt, 'best-weights.bin')).size).toBe(bytes(state.bestWeights.specs));
    // After one epoch the best weights are the model's weights.
    expect(fs.readFileSync(path.join(ckpt, 'best-weights.bin')).equals(fs.readFileSync(path.join(ckpt, 'weights.bin')))).toBe(true);
    const loaded = await (await import('@tensorflow/tfjs-layers')).loadLayersModel(fileIO(ckpt));
    expect(loaded.countParams()).toBe(makeModel().countParams());
    loaded.dispose();
  }, 60_000);

  it('loads the .old folder when a kill fell between the two renames, and nothing when there is no checkpoint', async () => {
    const dir = tempDir('old');
    const store = new FileCheckpointStore(path.join(dir, 'checkpoint'));
    expect(await store.load()).toBeNull();
    expect(store.findFolder()).toBeNull();
    await runFixture(dir, { epochs: 1 });
    fs.renameSync(path.join(dir, 'checkpoint'), path.join(dir, 'checkpoint.old'));
    expect(store.findFolder()).toBe(path.join(dir, 'checkpoint.old'));
    const c = await store.load();
    expect(c?.state.epoch).toBe(1);
  }, 60_000);

  it('resume refuses changed settings, naming the setting, and touches nothing', async () => {
    const dir = tempDir('settings');
    await runFixture(dir, { epochs: 1 });
    const before = fs.readFileSync(path.join(dir, 'checkpoint', 'state.json'));
    await tf.setBackend('cpu');
    setGlobalSeed(11);
    const model = makeModel();
    const images = new Uint8Array(36 * 8 * 8 * 3);
    const labels = new Uint8Array(36);
    const store = fileCheckpointStore(path.join(dir, 'checkpoint'));
    const base = { epochs: 2, microBatchSize: 4, validationSplit: 0.25, seed: 3, learningRate: 0.01, bestWeights: { monitor: 'val_loss' }, checkpoint: store };
    await expect(fitViT(model, { images, labels, shape: [36, 8, 8, 3] }, { ...base, batchSize: 12, resume: true })).rejects.toThrow(
      new CheckpointSettingsError('batchSize', 8, 12),
    );
    await expect(fitViT(model, { images, labels, shape: [36, 8, 8, 3] }, { ...base, batchSize: 8, seed: 4, resume: true })).rejects.toThrow(
      'resume: the checkpoint was made with seed 3, not 4',
    );
    await expect(fitViT(model, { images, labels, shape: [36, 8, 8, 3] }, { ...base, batchSize: 8 })).rejects.toThrow(
      /^checkpoint: .*checkpoint already holds a run \(epoch 1\); continue it with resume: true$/,
    );
    await expect(
      fitViT(model, { images, labels, shape: [36, 8, 8, 3] }, { ...base, batchSize: 8, resume: true, checkpoint: fileCheckpointStore(path.join(dir, 'none')) }),
    ).rejects.toThrow(/^resume: no checkpoint in .*none to resume from$/);
    expect(fs.readFileSync(path.join(dir, 'checkpoint', 'state.json')).equals(before)).toBe(true);
    model.dispose();
  }, 60_000);
});
