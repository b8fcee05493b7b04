/**
 * Bad input: one clear line on stderr, a non-zero exit, and nothing already in --out lost or changed.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TEST_MODEL, runCli, tempDir } from './run_cli';

const QUICK = [...TEST_MODEL, '--epochs', '1', '--batch-size', '16', '--limit-train', '40', '--limit-test', '20', '--backend', 'cpu'];

/** A folder holding a file of a previous run, whose bytes must survive. */
function outWithPrevious(): { out: string; check: () => void } {
  const out = tempDir('bad');
  const file = path.join(out, 'history.json');
  const bytes = '{"loss":[1.5]}\n';
  fs.writeFileSync(file, bytes);
  return {
    out,
    check: () => {
      expect(fs.readdirSync(out)).toEqual(['history.json']);
      expect(fs.readFileSync(file, 'utf8')).toBe(bytes);
    },
  };
}

/** Expects a failed run with exactly one stderr line matching `pattern` and nothing on stdout but the backend line. */
function expectOneLine(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  expect(result.code).not.toBe(0);
  expect(result.code).not.toBeNull();
  const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(pattern);
}

describe('examples/cifar10: bad input', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  const cases: [string, (out: string) => string[], RegExp][] = [
    ['missing data', (out) => [...QUICK, '--data', '/nonexistent/cifar', '--out', out], /^error: --data: '\/nonexistent\/cifar' does not exist/],
    [
      'a folder that is not CIFAR-10',
      (out) => [...QUICK, '--data', out, '--out', out],
      /^error: --data: .*not a CIFAR folder/,
    ],
    ['an unknown preset', (out) => ['--preset', 'vit-huge', '--out', out], /^error: option '--preset <name>' argument 'vit-huge' is invalid\. Allowed choices are keras-cifar10, /],
    ['batch size 0', (out) => [...QUICK, '--batch-size', '0', '--out', out], /^error: option '--batch-size <n>' argument '0' is invalid\. --batch-size must be a positive integer\.$/],
    ['a negative batch size', (out) => [...QUICK, '--batch-size', '-8', '--out', out], /--batch-size must be a positive integer\.$/],
    ['a validation split of 1', (out) => [...QUICK, '--validation-split', '1', '--out', out], /argument '1' is invalid\. must be a number strictly between 0 and 1\.$/],
    ['zero threads', (out) => [...QUICK, '--threads', '0', '--out', out], /^error: option '--threads <n>' argument '0' is invalid\. --threads must be a positive integer\.$/],
    ['an unknown backend', (out) => [...QUICK, '--backend', 'webgpu', '--out', out], /^error: option '--backend <name>' argument 'webgpu' is invalid\./],
    ['bad --model-options', (out) => [...QUICK, '--model-options', '{"patchSize":5}', '--out', out], /^error: --model-options: .*patchSize/],
    ['--resume without a checkpoint', (out) => [...QUICK, '--resume', '--out', out], /^error: --resume: no checkpoint in '.*' to resume from$/],
    ['an unknown recipe', (out) => [...QUICK, '--recipe', 'gpu-day', '--out', out], /^error: option '--recipe <name>' argument 'gpu-day' is invalid\. Allowed choices are keras, cpu-hour\.$/],
    ['label smoothing 1', (out) => [...QUICK, '--label-smoothing', '1', '--out', out], /^error: option '--label-smoothing <eps>' argument '1' is invalid\. must be a number in \[0, 1\)\.$/],
    ['an unknown schedule', (out) => [...QUICK, '--schedule', 'step', '--out', out], /^error: option '--schedule <name>' argument 'step' is invalid\./],
    [
      'a warmup as long as the run',
      (out) => [...QUICK, '--schedule', 'warmup-cosine', '--warmup-epochs', '1', '--out', out],
      /^error: --warmup-epochs 1 leaves no step for the cosine decay in 1 epoch\(s\)$/,
    ],
  ];

  it.each(cases)('%s', async (_title, args, pattern) => {
    const { out, check } = outWithPrevious();
    dirs.push(out);
    expectOneLine(await runCli(args(out)), pattern);
    check();
  });

  it('--resume with a changed recipe setting is refused naming it, and the checkpoint is kept', async () => {
    const out = tempDir('bad-resume');
    dirs.push(out);
    const first = await runCli([...QUICK, '--out', out]);
    expect(first.code).toBe(0);
    const state = fs.readFileSync(path.join(out, 'checkpoint', 'state.json'));
    for (const [flag, value, key] of [['--label-smoothing', '0.1', 'labelSmoothing'], ['--weight-decay-mode', 'lr-scaled', 'weightDecayMode']]) {
      const result = await runCli([...QUICK, '--epochs', '2', '--resume', flag, value, '--out', out]);
      expectOneLine(result, new RegExp(`^error: --resume: the checkpoint was made with ${key} `));
    }
    expect(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'))).toEqual(state);
  });

  it('a run refused before it starts leaves no --out folder it created', async () => {
    const parent = tempDir('bad-new');
    dirs.push(parent);
    const out = path.join(parent, 'new-run');
    expectOneLine(await runCli([...QUICK, '--data', '/nonexistent/cifar', '--out', out]), /^error: --data: /);
    expect(fs.existsSync(out)).toBe(false);
    expectOneLine(await runCli([...QUICK, '--resume', '--out', out]), /^error: --resume: no checkpoint/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('an --out that cannot be written (a path through a file)', async () => {
    const { out, check } = outWithPrevious();
    dirs.push(out);
    const result = await runCli([...QUICK, '--out', path.join(out, 'history.json', 'run')]);
    expectOneLine(result, /^error: --out: cannot write to '.*history\.json\/run' \(ENOTDIR\)$/);
    check();
  });

  it('--backend tensorflow where tfjs-node is not usable: one line naming the package', async () => {
    let available = true;
    try {
      require('@tensorflow/tfjs-node');
    } catch {
      available = false;
    }
    if (available) return; // nothing to check where libtensorflow is installed
    const { out, check } = outWithPrevious();
    dirs.push(out);
    const result = await runCli([...QUICK, '--backend', 'tensorflow', '--out', out]);
    expectOneLine(result, /^error: --backend tensorflow: .*tfjs-node/);
    check();
  });
});

describe('examples/cifar10: a finished run in --out is never touched by a bad run', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  /** Every file under `dir` with its bytes (base64). */
  function snapshot(dir: string): Record<string, string> {
    const files: Record<string, string> = {};
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name);
        if (e.isDirectory()) walk(p);
        else files[path.relative(dir, p)] = fs.readFileSync(p).toString('base64');
      }
    };
    walk(dir);
    return files;
  }

  it('no --resume, a changed setting with --resume, or missing data leave every file as it was', async () => {
    const out = tempDir('keep');
    dirs.push(out);
    const first = await runCli([...QUICK, '--out', out]);
    expect(first.code).toBe(0);
    const before = snapshot(out);
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['history.json', 'checkpoint/state.json', 'best-model/model.json']));
    const runs = await Promise.all([
      runCli([...QUICK, '--out', out]),
      runCli([...QUICK, '--out', out, '--resume', '--batch-size', '32']),
      runCli([...QUICK, '--out', out, '--resume', '--data', path.join(out, 'no-such-data')]),
    ]);
    expectOneLine(runs[0], /^error: --out: '.*' already holds a run \(checkpoint\/\); continue it with --resume/);
    expectOneLine(runs[1], /^error: --resume: the checkpoint was made with batchSize 16, not 32$/);
    expectOneLine(runs[2], /^error: --data: '.*no-such-data' does not exist/);
    expect(snapshot(out)).toEqual(before);

    // --overwrite with --resume is refused; --overwrite alone replaces the run (the quick run is rerunnable).
    expectOneLine(await runCli([...QUICK, '--out', out, '--resume', '--overwrite']), /^error: --overwrite: not with --resume/);
    expect(snapshot(out)).toEqual(before);
    const again = await runCli([...QUICK, '--out', out, '--overwrite']);
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    const after = snapshot(out);
    expect(Object.keys(after).sort()).toEqual(Object.keys(before).sort());
    // The same seed and options: the same run, the same test metrics.
    expect(after['test_metrics.json']).toBe(before['test_metrics.json']);
  });
});
