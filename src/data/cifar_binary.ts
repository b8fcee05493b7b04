import {
  CIFAR100_NUM_COARSE_CLASSES,
  CIFAR_CHANNELS,
  CIFAR_IMAGE_BYTES,
  CIFAR_IMAGE_SIZE,
  type CifarSplit,
  type CifarVariant,
  cifarNumClasses,
  planarToNhwc,
} from './types';

/**
 * Options of {@link parseCifarBinaryBatch}.
 *
 * @category Data
 */
export interface ParseCifarBinaryOptions {
  /** Which layout: CIFAR-10 records are 3073 bytes (label + image), CIFAR-100 records 3074 (coarse, fine, image). */
  variant?: CifarVariant;
  /** File name used in error messages. */
  name?: string;
  /** When set, the number of records the file must hold (10,000 per official CIFAR-10 batch). */
  expectedRecords?: number;
  /**
   * Write into this preallocated split starting at image `offset` instead of allocating new arrays (used by the
   * loaders to assemble the 50,000 training images without an extra copy). The returned split is `into.split`.
   */
  into?: { split: CifarSplit; offset: number };
}

/**
 * Record size in bytes of a CIFAR binary batch: 3073 for CIFAR-10, 3074 for CIFAR-100.
 *
 * @category Data
 */
export function cifarRecordBytes(variant: CifarVariant): number {
  return CIFAR_IMAGE_BYTES + (variant === 'cifar10' ? 1 : 2);
}

/**
 * Checks the size in bytes of a CIFAR binary batch before it is read (from a file's size or a tar header): a whole
 * number of records, exactly `expectedRecords` of them when given. Throws the same errors as
 * {@link parseCifarBinaryBatch}.
 * @internal
 */
export function checkCifarBinarySize(
  len: number,
  variant: CifarVariant,
  name: string,
  expectedRecords?: number,
): void {
  const rec = cifarRecordBytes(variant);
  const other = variant === 'cifar10' ? cifarRecordBytes('cifar100') : cifarRecordBytes('cifar10');
  if (expectedRecords != null && len !== expectedRecords * rec) {
    if (len < expectedRecords * rec && (len % rec !== 0 || len % other !== 0)) {
      throw new Error(
        `${name}: truncated batch: ${len} bytes, expected ${expectedRecords * rec} ` +
          `(${expectedRecords} records of ${rec} bytes)`,
      );
    }
    if (len % other === 0 && len % rec !== 0) {
      throw new Error(
        `${name}: record size is ${other} bytes, not ${rec}: this looks like a ` +
          `${variant === 'cifar10' ? 'CIFAR-100' : 'CIFAR-10'} file (${len} bytes)`,
      );
    }
    throw new Error(
      `${name}: ${len} bytes, expected ${expectedRecords * rec} ` +
        `(${expectedRecords} records of ${rec} bytes)`,
    );
  }
  if (len === 0) throw new Error(`${name}: empty batch (0 bytes)`);
  if (len % rec !== 0) {
    if (len % other === 0) {
      throw new Error(
        `${name}: record size is ${other} bytes, not ${rec}: this looks like a ` +
          `${variant === 'cifar10' ? 'CIFAR-100' : 'CIFAR-10'} file (${len} bytes)`,
      );
    }
    throw new Error(
      `${name}: truncated batch or wrong record size: ${len} bytes is not a multiple of the record size ${rec}`,
    );
  }
}

/**
 * Parses one batch of CIFAR's binary format (`data_batch_1.bin`, `test_batch.bin`, CIFAR-100's `train.bin`,
 * `test.bin`): fixed-size records of label byte(s) followed by 3072 planar pixel bytes. Returns the images as uint8
 * NHWC and the labels; validates the size and the label range. Time and memory linear in the batch size (the output
 * is the images and labels; nothing else is allocated).
 *
 * @example
 * ```ts
 * const bytes = new Uint8Array(await (await fetch('cifar-10-batches-bin/test_batch.bin')).arrayBuffer());
 * const { images, shape, labels } = parseCifarBinaryBatch(bytes, { name: 'test_batch.bin' });
 * ```
 *
 * @category Data
 */
export function parseCifarBinaryBatch(bytes: Uint8Array, options: ParseCifarBinaryOptions = {}): CifarSplit {
  const variant = options.variant ?? 'cifar10';
  const name = options.name ?? 'CIFAR binary batch';
  const rec = cifarRecordBytes(variant);
  const len = bytes.length;
  checkCifarBinarySize(len, variant, name, options.expectedRecords);
  const n = len / rec;
  const numClasses = cifarNumClasses(variant);
  const into = options.into;
  let base = 0;
  let images: Uint8Array;
  let labels: Uint8Array;
  let coarse: Uint8Array | undefined;
  if (into != null) {
    base = into.offset;
    if (base < 0 || base + n > into.split.shape[0]) {
      throw new Error(`${name}: ${n} records do not fit at offset ${base} of a split of ${into.split.shape[0]}`);
    }
    images = into.split.images;
    labels = into.split.labels;
    coarse = variant === 'cifar100' ? into.split.coarseLabels : undefined;
    if (variant === 'cifar100' && coarse == null) throw new Error(`${name}: options.into.split has no coarseLabels`);
  } else {
    images = new Uint8Array(n * CIFAR_IMAGE_BYTES);
    labels = new Uint8Array(n);
    coarse = variant === 'cifar100' ? new Uint8Array(n) : undefined;
  }
  const labelBytes = rec - CIFAR_IMAGE_BYTES;
  for (let i = 0; i < n; i++) {
    const o = i * rec;
    if (coarse != null) {
      const c = bytes[o];
      if (c >= CIFAR100_NUM_COARSE_CLASSES) {
        throw new Error(`${name}: coarse label out of range in record ${i}: ${c} (expected 0..19)`);
      }
      coarse[base + i] = c;
    }
    const l = bytes[o + labelBytes - 1];
    if (l >= numClasses) {
      throw new Error(`${name}: label out of range in record ${i}: ${l} (expected 0..${numClasses - 1})`);
    }
    labels[base + i] = l;
  }
  planarToNhwc(bytes, labelBytes, rec, n, images, base);
  if (into != null) return into.split;
  const out: CifarSplit = { images, shape: [n, CIFAR_IMAGE_SIZE, CIFAR_IMAGE_SIZE, CIFAR_CHANNELS], labels };
  if (coarse != null) out.coarseLabels = coarse;
  return out;
}

/**
 * Parses a class-name list (`batches.meta.txt`, CIFAR-100's `fine_label_names.txt` / `coarse_label_names.txt`):
 * one name per line, blank lines ignored.
 *
 * @category Data
 */
export function parseCifarLabelNames(text: string | Uint8Array, name = 'label names'): string[] {
  const s = typeof text === 'string' ? text : new TextDecoder().decode(text);
  const names = s
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (names.length === 0) throw new Error(`${name}: no class names found`);
  return names;
}
