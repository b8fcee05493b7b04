import { constants as fsConstants, promises as fs, type Stats } from 'fs';
import * as path from 'path';
import { createGunzip } from 'zlib';
import { CifarAssembler, CifarTarReader, cifarLayout, type CifarDataset, type CifarFormat, type CifarVariant } from 'vit-tfjs';
import { type DownloadOptions, downloadCifar } from './download';

/**
 * Options of {@link loadCifar10} and {@link loadCifar100}.
 *
 * @category Data
 */
export interface LoadCifarOptions extends Omit<DownloadOptions, 'variant' | 'format'> {
  /**
   * Where the data comes from:
   * - a directory: `cifar-10-batches-bin` / `cifar-10-batches-py` (CIFAR-100: `cifar-100-binary` /
   *   `cifar-100-python`) or a folder holding one of them;
   * - an archive file (`.tar.gz`, `.tgz` or `.tar`), read as a stream without unpacking to disk;
   * - `'download'`: the official archive, downloaded once into the cache folder (see {@link downloadCifar}).
   */
  source: string;
  /** With `source: 'download'`: which official archive to fetch (default 'binary', the faster to parse). */
  format?: CifarFormat;
  /**
   * Binary layout: require the official number of records per file (10,000 per CIFAR-10 batch; CIFAR-100 50,000
   * train and 10,000 test), so that a batch cut at a record boundary is reported as truncated. Default true; set
   * false to read smaller files in the official layout (e.g. a subset).
   */
  checkRecordCounts?: boolean;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await fs.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

function kindOf(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  return 'not a regular file';
}

/**
 * Opens `file` for reading only if it is a regular file (following symbolic links): opened without blocking (a FIFO
 * would otherwise wait for a writer forever) and checked by type on the open descriptor, so nothing is read from a
 * directory, FIFO, socket or device. Errors name the path and say what was expected.
 */
async function openRegularFile(file: string, what: string): Promise<{ fh: fs.FileHandle; size: number }> {
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${file}: ${what} not found`);
    if (code === 'EISDIR') throw new Error(`${file}: is a directory, expected ${what} (a regular file)`);
    throw new Error(`${file}: cannot open ${what}: ${(err as Error).message}`);
  }
  const st = await fh.stat();
  if (!st.isFile()) {
    await fh.close().catch(() => undefined);
    throw new Error(`${file}: is ${kindOf(st)}, expected ${what} (a regular file)`);
  }
  return { fh, size: st.size };
}

/**
 * Reads a CIFAR archive file on disk as a stream (gunzip + streaming tar); used by {@link loadCifar10}.
 *
 * Limits, for untrusted files: refuses anything but a regular file before reading; each batch's size declared in
 * its tar header is checked against the format before anything is allocated, the decompressed stream is bounded
 * (1 GiB) and reading stops at the tar end marker; time is linear in the data read, memory is the dataset plus one
 * raw batch. Errors name the file and the entry inside the archive.
 *
 * @category Data
 */
export async function readCifarArchiveFile(
  file: string,
  variant: CifarVariant,
  checkRecordCounts = true,
): Promise<CifarDataset> {
  const name = file;
  const { fh } = await openRegularFile(file, 'CIFAR source');
  let input: ReturnType<fs.FileHandle['createReadStream']>;
  let gz: boolean;
  try {
    const head = Buffer.alloc(2);
    await fh.read(head, 0, 2, 0);
    gz = head[0] === 0x1f && head[1] === 0x8b;
    input = fh.createReadStream({ start: 0, highWaterMark: 1 << 20 });
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw new Error(`${name}: cannot read CIFAR source: ${(err as Error).message}`);
  }
  const stream = gz ? input.pipe(createGunzip({ chunkSize: 1 << 20 })) : input;
  if (gz) input.on('error', (e) => stream.destroy(e));
  const reader = new CifarTarReader(variant, name, checkRecordCounts);
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
      if (reader.finished) break; // past the tar end marker: nothing more to read
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (gz && typeof e.code === 'string' && e.code.startsWith('Z_')) {
      throw new Error(`${name}: corrupt gzip data (${e.message})`);
    }
    throw err;
  } finally {
    stream.destroy();
    input.destroy();
    await fh.close().catch(() => undefined);
  }
  return reader.finish();
}

/**
 * Reads an unpacked official CIFAR folder (or a folder holding one). Each batch file must be a regular file (a
 * directory, FIFO or device in its place is refused by type, without reading or blocking) whose size the format
 * allows (checked before reading); errors name the path and say what was expected.
 *
 * @category Data
 */
export async function readCifarDirectory(
  dir: string,
  variant: CifarVariant,
  checkRecordCounts = true,
): Promise<CifarDataset> {
  let format: CifarFormat | null = null;
  let folder = dir;
  for (const f of ['binary', 'python'] as const) {
    const l = cifarLayout(variant, f);
    if (path.basename(path.resolve(dir)) === l.folder) {
      format = f;
      break;
    }
    if (await isDirectory(path.join(dir, l.folder))) {
      format = f;
      folder = path.join(dir, l.folder);
      break;
    }
  }
  if (format == null) {
    // A renamed folder: detect by its files.
    for (const f of ['binary', 'python'] as const) {
      const l = cifarLayout(variant, f);
      const found = await fs.stat(path.join(dir, l.testFiles[0])).then(
        () => true,
        () => false,
      );
      if (found) {
        format = f;
        break;
      }
    }
  }
  if (format == null) {
    const b = cifarLayout(variant, 'binary').folder;
    const p = cifarLayout(variant, 'python').folder;
    throw new Error(`${dir}: not a CIFAR folder (expected ${b}/ or ${p}/ or their files)`);
  }
  const layout = cifarLayout(variant, format);
  const asm = new CifarAssembler(layout, folder, checkRecordCounts);
  for (const file of [...layout.metaFiles, ...layout.trainFiles, ...layout.testFiles]) {
    const full = path.join(folder, file);
    let opened: { fh: fs.FileHandle; size: number };
    try {
      opened = await openRegularFile(full, 'CIFAR batch file');
    } catch (err) {
      if (/: CIFAR batch file not found$/.test((err as Error).message)) throw new Error(`${full}: missing batch file`);
      throw err;
    }
    let bytes: Buffer;
    try {
      // The size the file system reports is checked against the format before the file is read.
      asm.checkSize(file, opened.size, full);
      bytes = await opened.fh.readFile();
    } finally {
      await opened.fh.close().catch(() => undefined);
    }
    asm.add(file, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), full);
  }
  return asm.finish();
}

async function loadCifar(variant: CifarVariant, options: LoadCifarOptions): Promise<CifarDataset> {
  if (options == null || typeof options.source !== 'string' || options.source === '') {
    throw new Error(`options.source must be a directory, an archive path or 'download'`);
  }
  const { source } = options;
  const check = options.checkRecordCounts ?? true;
  if (source === 'download') {
    const file = await downloadCifar({ ...options, variant, format: options.format ?? 'binary' });
    return readCifarArchiveFile(file, variant, check);
  }
  if (await isDirectory(source)) return readCifarDirectory(source, variant, check);
  return readCifarArchiveFile(source, variant, check);
}

/**
 * Loads CIFAR-10 as uint8 NHWC images and labels, from an official folder, an official archive (streamed, not
 * unpacked), or a download into the cache.
 *
 * @example
 * ```ts
 * import { loadCifar10 } from 'vit-tfjs/node';
 * const { train, test, classNames } = await loadCifar10({ source: 'data/cifar-10-binary.tar.gz' });
 * // train.images: Uint8Array of 50000*32*32*3, train.shape [50000, 32, 32, 3], train.labels: Uint8Array
 * ```
 *
 * @category Data
 */
export function loadCifar10(options: LoadCifarOptions): Promise<CifarDataset> {
  return loadCifar('cifar10', options);
}

/**
 * Loads CIFAR-100 (fine `labels` and `coarseLabels`, `classNames` and `coarseClassNames`); same sources as
 * {@link loadCifar10}.
 *
 * @category Data
 */
export function loadCifar100(options: LoadCifarOptions): Promise<CifarDataset> {
  return loadCifar('cifar100', options);
}
