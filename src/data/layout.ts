import { checkCifarBinarySize, cifarRecordBytes, parseCifarBinaryBatch, parseCifarLabelNames } from './cifar_binary';
import { parseCifarPickleBatch, parseCifarPickleMeta } from './cifar_pickle';
import { gunzip, isGzip } from './gzip';
import { TarParser } from './tar';
import {
  CIFAR_CHANNELS,
  CIFAR_IMAGE_BYTES,
  CIFAR_IMAGE_SIZE,
  type CifarDataset,
  type CifarSplit,
  type CifarVariant,
  concatSplits,
} from './types';

/**
 * The two official file layouts: binary records or Python pickles.
 *
 * @category Data
 */
export type CifarFormat = 'binary' | 'python';

/**
 * Folder name and file names of one official CIFAR layout.
 *
 * @category Data
 */
export interface CifarLayout {
  /** Which dataset. */
  variant: CifarVariant;
  /** Binary records or pickles. */
  format: CifarFormat;
  /** Top folder inside the official archive, e.g. 'cifar-10-batches-bin'. */
  folder: string;
  /** Training batch files, in order. */
  trainFiles: string[];
  /** Test batch files. */
  testFiles: string[];
  /** Class-name files (binary: text files; python: the meta pickle). */
  metaFiles: string[];
  /** Records per batch file in the official layout (binary format checks), one per train file then test file. */
  recordsPerFile: number[];
}

/** Largest class-name file or meta pickle accepted (1 MiB; the official ones are under 2 KB). */
const MAX_META_FILE_BYTES = 1 << 20;
/** Bound on a pickled batch: per image its 3072 pixels plus 256 bytes (label, file name), plus 1 MiB. */
const PICKLE_BYTES_PER_RECORD = CIFAR_IMAGE_BYTES + 256;

/**
 * Default cap on the decompressed size of a CIFAR archive (1 GiB; the official ones are about 180 MB).
 *
 * @category Data
 */
export const CIFAR_ARCHIVE_MAX_BYTES = 1 << 30;

/**
 * The official layout of a variant and format.
 *
 * @category Data
 */
export function cifarLayout(variant: CifarVariant, format: CifarFormat): CifarLayout {
  if (variant === 'cifar10') {
    const train = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}${format === 'binary' ? '.bin' : ''}`);
    return {
      variant,
      format,
      folder: format === 'binary' ? 'cifar-10-batches-bin' : 'cifar-10-batches-py',
      trainFiles: train,
      testFiles: [format === 'binary' ? 'test_batch.bin' : 'test_batch'],
      metaFiles: [format === 'binary' ? 'batches.meta.txt' : 'batches.meta'],
      recordsPerFile: [10000, 10000, 10000, 10000, 10000, 10000],
    };
  }
  return {
    variant,
    format,
    folder: format === 'binary' ? 'cifar-100-binary' : 'cifar-100-python',
    trainFiles: [format === 'binary' ? 'train.bin' : 'train'],
    testFiles: [format === 'binary' ? 'test.bin' : 'test'],
    metaFiles: format === 'binary' ? ['fine_label_names.txt', 'coarse_label_names.txt'] : ['meta'],
    recordsPerFile: [50000, 10000],
  };
}

/**
 * Incrementally assembles a CIFAR dataset from the files of an official layout, parsing each batch file as soon as
 * it arrives (so only one raw batch is held at a time). Used by the archive and directory loaders.
 *
 * @category Data
 */
export class CifarAssembler {
  private train: (CifarSplit | undefined)[];
  private test: (CifarSplit | undefined)[];
  private classNames?: string[];
  private coarseClassNames?: string[];
  private trainAll?: CifarSplit;
  private readonly added = new Set<string>();

  /**
   * @param layout The layout being read.
   * @param source Name of the archive or folder, for error messages.
   * @param checkRecordCount Whether binary batches must hold the official number of records.
   */
  constructor(
    readonly layout: CifarLayout,
    private readonly source: string,
    private readonly checkRecordCount = true,
  ) {
    this.train = layout.trainFiles.map(() => undefined);
    this.test = layout.testFiles.map(() => undefined);
  }

  /** Whether `file` (a base name) is one this layout needs. */
  wants(file: string): boolean {
    const l = this.layout;
    return l.trainFiles.includes(file) || l.testFiles.includes(file) || l.metaFiles.includes(file);
  }

  /**
   * Checks the size of a file of the layout before it is read (from a tar header or the file system), so that a
   * corrupt size is refused before anything is allocated: binary batches must be whole records (exactly the official
   * count when record counts are checked, at most that many otherwise); pickled batches at most about 3.3 KB per
   * official record; class-name and meta files at most 1 MiB. Also refuses a file that was already added.
   *
   * @param file Base name of the file.
   * @param size Its size in bytes.
   * @param display Full name for error messages.
   */
  checkSize(file: string, size: number, display = file): void {
    const l = this.layout;
    if (this.added.has(file)) {
      throw new Error(`${display}: ${file} occurs twice in ${this.source} (expected each batch file once)`);
    }
    const i = [...l.trainFiles, ...l.testFiles].indexOf(file);
    if (i < 0) {
      if (size > MAX_META_FILE_BYTES) {
        throw new Error(`${display}: ${size} bytes, expected a class-name file of at most ${MAX_META_FILE_BYTES} bytes`);
      }
      return;
    }
    const records = l.recordsPerFile[i];
    if (l.format === 'binary') {
      if (this.checkRecordCount) {
        checkCifarBinarySize(size, l.variant, display, records);
        return;
      }
      const rec = cifarRecordBytes(l.variant);
      if (size > records * rec) {
        throw new Error(
          `${display}: ${size} bytes, more than the official ${records} records of ${rec} bytes (${records * rec} bytes)`,
        );
      }
      checkCifarBinarySize(size, l.variant, display);
      return;
    }
    const max = records * PICKLE_BYTES_PER_RECORD + MAX_META_FILE_BYTES;
    if (size > max) {
      throw new Error(
        `${display}: ${size} bytes, expected a pickled batch of at most ${max} bytes (${records} images of 3072 bytes ` +
          `plus labels)`,
      );
    }
  }

  /** Parses one file of the layout (`file` is its base name, `display` its full name for errors). */
  add(file: string, bytes: Uint8Array, display = file): void {
    const l = this.layout;
    this.checkSize(file, bytes.length, display);
    this.added.add(file);
    const parse = (idx: number): CifarSplit =>
      l.format === 'binary'
        ? parseCifarBinaryBatch(bytes, {
            variant: l.variant,
            name: display,
            expectedRecords: this.checkRecordCount ? l.recordsPerFile[idx] : undefined,
          })
        : parseCifarPickleBatch(bytes, { variant: l.variant, name: display });
    let i = l.trainFiles.indexOf(file);
    if (i >= 0) {
      if (l.format === 'binary' && this.checkRecordCount && l.trainFiles.length > 1) {
        // Official sizes are known: parse straight into one preallocated training split (no concat copy).
        const total = l.recordsPerFile.slice(0, l.trainFiles.length).reduce((a, b) => a + b, 0);
        if (this.trainAll == null) {
          this.trainAll = {
            images: new Uint8Array(total * CIFAR_IMAGE_BYTES),
            shape: [total, CIFAR_IMAGE_SIZE, CIFAR_IMAGE_SIZE, CIFAR_CHANNELS],
            labels: new Uint8Array(total),
          };
          if (l.variant === 'cifar100') this.trainAll.coarseLabels = new Uint8Array(total);
        }
        const offset = l.recordsPerFile.slice(0, i).reduce((a, b) => a + b, 0);
        this.train[i] = parseCifarBinaryBatch(bytes, {
          variant: l.variant,
          name: display,
          expectedRecords: l.recordsPerFile[i],
          into: { split: this.trainAll, offset },
        });
        return;
      }
      this.train[i] = parse(i);
      return;
    }
    i = l.testFiles.indexOf(file);
    if (i >= 0) {
      this.test[i] = parse(l.trainFiles.length + i);
      return;
    }
    if (l.format === 'python') {
      const meta = parseCifarPickleMeta(bytes, { variant: l.variant, name: display });
      this.classNames = meta.classNames;
      this.coarseClassNames = meta.coarseClassNames;
    } else if (file === 'coarse_label_names.txt') {
      this.coarseClassNames = parseCifarLabelNames(bytes, display);
    } else {
      this.classNames = parseCifarLabelNames(bytes, display);
    }
  }

  /** Checks that every file arrived and returns the dataset. */
  finish(): CifarDataset {
    const l = this.layout;
    const missing: string[] = [];
    l.trainFiles.forEach((f, i) => this.train[i] == null && missing.push(f));
    l.testFiles.forEach((f, i) => this.test[i] == null && missing.push(f));
    if (this.classNames == null) missing.push(l.metaFiles[0]);
    if (l.variant === 'cifar100' && this.coarseClassNames == null) missing.push(l.metaFiles[l.metaFiles.length - 1]);
    if (missing.length > 0) {
      throw new Error(`${this.source}: missing batch file(s) in ${l.folder}/: ${missing.join(', ')}`);
    }
    const train = this.train as CifarSplit[];
    const test = this.test as CifarSplit[];
    const out: CifarDataset = {
      train: this.trainAll ?? (train.length === 1 ? train[0] : concatSplits(train)),
      test: test.length === 1 ? test[0] : concatSplits(test),
      classNames: this.classNames as string[],
    };
    if (this.coarseClassNames != null) out.coarseClassNames = this.coarseClassNames;
    const nc = out.classNames.length;
    const expected = l.variant === 'cifar10' ? 10 : 100;
    if (nc < expected) throw new Error(`${this.source}: ${nc} class names, expected ${expected}`);
    return out;
  }
}

/**
 * Options of {@link parseCifarArchive}.
 *
 * @category Data
 */
export interface ParseCifarArchiveOptions {
  /** Which dataset the archive holds (default 'cifar10'). */
  variant?: CifarVariant;
  /** Archive name used in error messages. */
  name?: string;
  /** Binary layout: require the official number of records per file (default true). */
  checkRecordCounts?: boolean;
  /** Largest decompressed (tar) size accepted, in bytes (default {@link CIFAR_ARCHIVE_MAX_BYTES}). */
  maxBytes?: number;
}

/**
 * Given a tar entry path, finds which official layout folder it belongs to and the file's base name.
 * @internal
 */
export function matchLayoutPath(path: string, variant: CifarVariant): { format: CifarFormat; file: string } | null {
  const parts = path.replace(/^\.\//, '').split('/').filter((p) => p.length > 0);
  if (parts.length < 2) return null;
  const folder = parts[parts.length - 2];
  for (const format of ['binary', 'python'] as const) {
    if (cifarLayout(variant, format).folder === folder) return { format, file: parts[parts.length - 1] };
  }
  return null;
}

/**
 * Streaming reader of an official CIFAR tar archive: push decompressed tar chunks, then call `finish()`. Detects
 * the binary or python layout from the folder names, and parses each batch as it completes.
 *
 * Limits, for untrusted archives: the size each batch declares in its tar header is checked against the format
 * (binary batches: exact record sizes; pickles: about 3.3 KB per official record; see
 * {@link CifarAssembler.checkSize}) before anything is allocated; a batch path that occurs twice is refused; the
 * stream is refused once it exceeds `maxBytes`. Time is linear in the bytes pushed, memory is the dataset plus
 * one raw batch. Errors name the archive and the entry.
 *
 * @category Data
 */
export class CifarTarReader {
  private assembler: CifarAssembler | null = null;
  private parser: TarParser;
  private received = 0;

  /**
   * @param variant Which dataset the archive should hold.
   * @param name Archive name for error messages.
   * @param checkRecordCounts Whether binary batches must hold the official number of records.
   * @param maxBytes Largest (decompressed) tar stream accepted (default {@link CIFAR_ARCHIVE_MAX_BYTES}).
   */
  constructor(
    private readonly variant: CifarVariant,
    private readonly name: string,
    checkRecordCounts = true,
    private readonly maxBytes = CIFAR_ARCHIVE_MAX_BYTES,
  ) {
    this.parser = new TarParser(
      (h) => {
        const m = matchLayoutPath(h.name, variant);
        if (m == null) return false;
        if (this.assembler == null) {
          this.assembler = new CifarAssembler(cifarLayout(variant, m.format), name, checkRecordCounts);
        }
        if (this.assembler.layout.format !== m.format || !this.assembler.wants(m.file)) return false;
        // Before the parser allocates anything for it: the declared size must be one the format allows.
        this.assembler.checkSize(m.file, h.size, `${name}: ${h.name}`);
        return true;
      },
      (h, data) => {
        const m = matchLayoutPath(h.name, variant) as { file: string };
        (this.assembler as CifarAssembler).add(m.file, data, `${name}: ${h.name}`);
      },
      name,
    );
  }

  /** True once the tar end-of-archive marker was read: the caller may stop reading. */
  get finished(): boolean {
    return this.parser.finished;
  }

  /** Feeds the next chunk of the (decompressed) tar stream. */
  push(chunk: Uint8Array): void {
    this.received += chunk.length;
    if (this.received > this.maxBytes) {
      throw new Error(
        `${this.name}: the archive expands to more than ${this.maxBytes} bytes ` +
          `(expected an official CIFAR archive, about 180 MB uncompressed)`,
      );
    }
    this.parser.push(chunk);
  }

  /** Ends the stream and returns the dataset. */
  finish(): CifarDataset {
    this.parser.end();
    if (this.assembler == null) {
      const b = cifarLayout(this.variant, 'binary').folder;
      const p = cifarLayout(this.variant, 'python').folder;
      throw new Error(`${this.name}: the archive holds neither ${b}/ nor ${p}/`);
    }
    return this.assembler.finish();
  }
}

/**
 * Parses a whole official CIFAR archive held in memory (`cifar-10-binary.tar.gz`, `cifar-10-python.tar.gz`,
 * CIFAR-100's, gzip-compressed or plain tar), e.g. bytes a web page fetched. Limits as {@link CifarTarReader}; the
 * decompressed size is checked against `options.maxBytes` before it is allocated (see {@link gunzip}).
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array(await (await fetch('/data/cifar-10-binary.tar.gz')).arrayBuffer());
 * const { train, test, classNames } = parseCifarArchive(bytes);
 * ```
 *
 * @category Data
 */
export function parseCifarArchive(bytes: Uint8Array, options: ParseCifarArchiveOptions = {}): CifarDataset {
  const name = options.name ?? 'CIFAR archive';
  const maxBytes = options.maxBytes ?? CIFAR_ARCHIVE_MAX_BYTES;
  const reader = new CifarTarReader(options.variant ?? 'cifar10', name, options.checkRecordCounts ?? true, maxBytes);
  reader.push(isGzip(bytes) ? gunzip(bytes, name, { maxOutputBytes: maxBytes }) : bytes);
  return reader.finish();
}
