import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** The example package's folder. */
export const EXAMPLE_DIR = path.resolve(__dirname, '..');

/** A model small enough for tests: the tiny preset with 8×8 patches (16 tokens), width 32, 2 blocks. */
export const TEST_MODEL = ['--preset', 'vit-cifar-tiny', '--model-options', '{"patchSize":8,"projectionDim":32,"numHeads":2,"transformerLayers":2}'];

/** What a CLI run ended with. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Starts the CLI in one Node process (`node --import tsx`, no wrapper process, so that signals reach it), from the
 * example's folder (where tsx finds the tsconfig that maps `vit-tfjs` to the sources).
 */
export function startCli(args: string[]): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(EXAMPLE_DIR, 'src/cli.ts'), ...args], {
    cwd: EXAMPLE_DIR,
    env: { ...process.env, FORCE_COLOR: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done };
}

/** Runs the CLI to the end. */
export function runCli(args: string[]): Promise<CliResult> {
  return startCli(args).done;
}

/** A fresh temporary folder. */
export function tempDir(tag: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `vit-cifar10-${tag}-`));
}

/** Resolves once `predicate()` is true, polling every 50 ms; rejects after `timeoutMs`. */
export async function waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!predicate()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
