import { createReadStream, promises as fs } from 'fs';
import * as path from 'path';
import { createGunzip } from 'zlib';
import { CifarAssembler, CifarTarReader, cifarLayout, type CifarDataset, type CifarFormat, type CifarVariant } from 'vit-tfjs';
import { type DownloadOptions, downloadCifar } from './download';

/** Options of {@link loadCifar10} and {@link loadCifar100}. */
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

/** Reads a CIFAR archive file on disk as a stream (gunzip + streaming tar); used by {@link loadCifar10}. */
export async function readCifarArchiveFile(
  file: string,
  variant: CifarVariant,
  checkRecordCounts = true,
): Promise<CifarDataset> {
  const name = file;
  let st;
  try {
    st = await fs.stat(file);
  } catch {
    throw new Error(`${file}: CIFAR source not found`);
  }
  if (!st.isFile()) throw new Error(`${file}: not a file`);
  const fd = await fs.open(file, 'r');
  const head = Buffer.alloc(2);
  await fd.read(head, 0, 2, 0);
  await fd.close();
  const gz = head[0] === 0x1f && head[1] === 0x8b;
  const reader = new CifarTarReader(variant, name, checkRecordCounts);
  const input = createReadStream(file, { highWaterMark: 1 << 20 });
  const stream = gz ? input.pipe(createGunzip({ chunkSize: 1 << 20 })) : input;
  if (gz) input.on('error', (e) => stream.destroy(e));
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      reader.push(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    }
  } catch (err) {
    input.destroy();
    const e = err as NodeJS.ErrnoException;
    if (gz && typeof e.code === 'string' && e.code.startsWith('Z_')) {
      throw new Error(`${name}: corrupt gzip data (${e.message})`);
    }
    throw err;
  }
  return reader.finish();
}

/** Reads an unpacked official CIFAR folder (or a folder holding one). */
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
    let bytes: Buffer;
    try {
      bytes = await fs.readFile(full);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${full}: missing batch file`);
      throw err;
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
 */
export function loadCifar10(options: LoadCifarOptions): Promise<CifarDataset> {
  return loadCifar('cifar10', options);
}

/**
 * Loads CIFAR-100 (fine `labels` and `coarseLabels`, `classNames` and `coarseClassNames`); same sources as
 * {@link loadCifar10}.
 */
export function loadCifar100(options: LoadCifarOptions): Promise<CifarDataset> {
  return loadCifar('cifar100', options);
}
