/**
 * Interrupt safety: a run killed with SIGKILL in the middle of epoch 2 and restarted with --resume ends with the
 * same history, bit for bit, as an uninterrupted run with the same seed (cpu backend: deterministic kernels; two
 * threads, so that the worker threads' random streams are covered too).
 * Ctrl-C (SIGINT) stops a run cleanly with what it has written.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TEST_MODEL, runCli, startCli, tempDir, waitFor } from './run_cli';

// 172 training and 20 validation images, batches of 16: 11 steps per epoch.
const ARGS = [...TEST_MODEL, '--epochs', '3', '--batch-size', '16', '--limit-train', '192', '--limit-test', '100', '--backend', 'cpu', '--seed', '3', '--threads', '2'];

function readJson(file: string): unknown {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

describe('examples/cifar10: kill and resume', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

  it('SIGKILL mid-epoch, then --resume: the same history and test metrics as an uninterrupted run', async () => {
    const straight = tempDir('straight');
    const killed = tempDir('killed');
    dirs.push(straight, killed);

    const reference = startCli([...ARGS, '--out', straight]);
    const victim = startCli([...ARGS, '--out', killed]);
    // history.json is written right after the epoch-1 checkpoint; epoch 2 is then running (it takes seconds).
    await waitFor(() => fs.existsSync(path.join(killed, 'history.json')), 150_000, 'epoch 1 of the run to kill');
    await new Promise((r) => setTimeout(r, 300));
    victim.child.kill('SIGKILL');
    const killedRun = await victim.done;
    expect(killedRun.signal).toBe('SIGKILL');
    const state = readJson(path.join(killed, 'checkpoint', 'state.json')) as { epoch: number };
    expect(state.epoch).toBe(1); // killed during epoch 2
    expect(fs.existsSync(path.join(killed, 'test_metrics.json'))).toBe(false);

    const resumed = await runCli([...ARGS, '--out', killed, '--resume']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toContain('Resuming after epoch 1');
    expect(resumed.stdout).not.toMatch(/^Epoch 1\/3/m);

    const full = await reference.done;
    expect(full.code).toBe(0);
    const h1 = readJson(path.join(straight, 'history.json')) as Record<string, number[]>;
    const h2 = readJson(path.join(killed, 'history.json')) as Record<string, number[]>;
    expect(h1.loss).toHaveLength(3);
    expect(h2).toEqual(h1);
    expect(readJson(path.join(killed, 'test_metrics.json'))).toEqual(readJson(path.join(straight, 'test_metrics.json')));
    expect(readJson(path.join(killed, 'confusion_matrix.json'))).toEqual(readJson(path.join(straight, 'confusion_matrix.json')));
    // The final weights are the same bytes.
    expect(fs.readFileSync(path.join(killed, 'checkpoint', 'weights.bin')).equals(fs.readFileSync(path.join(straight, 'checkpoint', 'weights.bin')))).toBe(true);

    // Resuming with another thread count continues, and says that the draws no longer repeat the first run.
    const longer = await runCli([...ARGS, '--out', straight, '--resume', '--epochs', '4', '--threads', '1']);
    expect(longer.code).toBe(0);
    expect(longer.stderr.trim()).toMatch(/^--resume: the checkpoint was trained on 2 thread\(s\), this run uses 1: training continues/);
    expect((readJson(path.join(straight, 'history.json')) as Record<string, number[]>).loss).toHaveLength(4);
  }, 170_000);

  it('SIGINT stops cleanly after the current step, keeping the finished epochs and checkpoint', async () => {
    const out = tempDir('sigint');
    dirs.push(out);
    const run = startCli([...ARGS, '--epochs', '2', '--out', out]);
    await waitFor(() => fs.existsSync(path.join(out, 'history.json')), 150_000, 'epoch 1');
    run.child.kill('SIGINT');
    const result = await run.done;
    expect(result.code).toBe(130);
    expect(result.stderr).toMatch(/Stopped after 1 complete epoch\(s\); .*checkpoint holds them: continue with --resume/);
    const history = readJson(path.join(out, 'history.json')) as Record<string, number[]>;
    expect(history.loss).toHaveLength(1);
    expect((readJson(path.join(out, 'checkpoint', 'state.json')) as { epoch: number }).epoch).toBe(1);
    expect(fs.readdirSync(out).filter((f) => f.includes('tmp'))).toEqual([]);
  }, 170_000);
});
