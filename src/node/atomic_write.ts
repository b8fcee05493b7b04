import { promises as fs } from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';

/**
 * Writes `data` to `filePath` atomically: into a temporary file in the same folder (so the rename cannot cross
 * file systems), flushed to disk, then renamed over the target. Readers see the old file or the new one, never a
 * partial one; on failure the temporary file is removed and the old file is untouched.
 *
 * @example
 * ```ts
 * await writeFileAtomic('out/history.json', JSON.stringify(history));
 * ```
 *
 * @category Model IO
 */
export async function writeFileAtomic(filePath: string, data: string | Uint8Array): Promise<void> {
  const dir = path.dirname(filePath);
  const tmp = path.join(dir, `.${path.basename(filePath)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let handle: fs.FileHandle | undefined;
  try {
    handle = await fs.open(tmp, 'w');
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await fs.rename(tmp, filePath);
  } catch (err) {
    if (handle != null) await handle.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw err;
  }
}

/**
 * Writes `data` to a new file and flushes it to disk before returning (for files inside a folder that is swapped
 * into place as a whole). `files` is the file system to use (tests inject one that counts operations). @internal
 */
export async function writeFileSynced(
  file: string,
  data: string | Uint8Array,
  files: { open: typeof fs.open } = fs,
): Promise<void> {
  const handle = await files.open(file, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}
