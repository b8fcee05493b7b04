/**
 * Saves a model with `fileIO` and SIGKILLs its own process right after the k-th file-system call of the save.
 *
 * Run as a script (`node --import tsx save_and_kill.ts`), settings from the environment:
 * - `TARGET`: the model folder;
 * - `VERSION`: which model to save (see {@link artifactsFor});
 * - `KILL_AFTER`: k ≥ 1; the process kills itself (SIGKILL) right after the k-th call completes. When the save
 *   makes fewer calls, it prints `DONE <calls>` and exits 0.
 */
import { promises as fs } from 'fs';
import { fileIOWith, FileIOFileSystem } from '../../../src/node/file_io';
import { artifactsFor } from './artifacts';

const target = process.env.TARGET as string;
const version = Number(process.env.VERSION);
const killAfter = Number(process.env.KILL_AFTER);
let calls = 0;

function counted(): void {
  calls++;
  if (calls === killAfter) process.kill(process.pid, 'SIGKILL');
}

/** `fn` counted as one call once it has completed. */
function count<A extends unknown[], R>(fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args: A) => {
    const out = await fn(...args);
    counted();
    return out;
  };
}

const countingFs = {
  mkdir: count(fs.mkdir),
  readdir: count(fs.readdir),
  rename: count(fs.rename),
  rm: count(fs.rm),
  readFile: count(fs.readFile),
  open: count(async (file: string, flags: string) => {
    const handle = await fs.open(file, flags);
    return {
      writeFile: count((data: Uint8Array | string) => handle.writeFile(data)),
      sync: count(() => handle.sync()),
      close: count(() => handle.close()),
    };
  }),
} as unknown as FileIOFileSystem;

async function main(): Promise<void> {
  await fileIOWith(target, countingFs).save!(artifactsFor(version));
  process.stdout.write(`DONE ${calls}\n`);
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exit(2);
});
