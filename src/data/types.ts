/**
 * Which CIFAR dataset a file belongs to: CIFAR-10 (10 classes) or CIFAR-100 (100 fine and 20 coarse classes).
 *
 * @category Data
 */
export type CifarVariant = 'cifar10' | 'cifar100';

/**
 * Image side length of every CIFAR image.
 *
 * @category Data
 */
export const CIFAR_IMAGE_SIZE = 32;
/**
 * Number of channels of every CIFAR image (RGB).
 *
 * @category Data
 */
export const CIFAR_CHANNELS = 3;
/**
 * Bytes of one image: 32 × 32 × 3.
 *
 * @category Data
 */
export const CIFAR_IMAGE_BYTES = CIFAR_IMAGE_SIZE * CIFAR_IMAGE_SIZE * CIFAR_CHANNELS;

/**
 * One split (train, test or validation) of a CIFAR dataset, kept as uint8 NHWC pixels plus integer labels.
 * `images[((i * 32 + y) * 32 + x) * 3 + c]` is channel `c` of pixel (y, x) of image `i`.
 *
 * @category Data
 */
export interface CifarSplit {
  /** Pixels, uint8, NHWC: `shape[0] * 32 * 32 * 3` bytes. */
  images: Uint8Array;
  /** `[n, 32, 32, 3]`. */
  shape: [number, number, number, number];
  /** Class index of each image (fine labels for CIFAR-100): `n` values. */
  labels: Uint8Array;
  /** CIFAR-100 only: coarse (superclass) index of each image. */
  coarseLabels?: Uint8Array;
}

/**
 * A whole CIFAR dataset: train and test splits and the class names.
 *
 * @category Data
 */
export interface CifarDataset {
  /** The 50,000 training images (or what the source holds). */
  train: CifarSplit;
  /** The 10,000 test images (or what the source holds). */
  test: CifarSplit;
  /** Class names, indexed by label (fine class names for CIFAR-100). */
  classNames: string[];
  /** CIFAR-100 only: coarse class names, indexed by coarse label. */
  coarseClassNames?: string[];
}

/**
 * Number of classes (fine) of a variant.
 *
 * @category Data
 */
export function cifarNumClasses(variant: CifarVariant): number {
  return variant === 'cifar10' ? 10 : 100;
}

/**
 * Number of coarse classes of CIFAR-100 (20).
 *
 * @category Data
 */
export const CIFAR100_NUM_COARSE_CLASSES = 20;

/**
 * Number of images in a split.
 *
 * @category Data
 */
export function splitSize(split: CifarSplit): number {
  return split.shape[0];
}

/**
 * Concatenates splits (e.g. the five training batches) into one, copying each array once.
 *
 * @example
 * ```ts
 * const train = concatSplits([batch1, batch2]);
 * ```
 *
 * @category Data
 */
export function concatSplits(parts: CifarSplit[]): CifarSplit {
  if (parts.length === 0) throw new Error('concatSplits: parts must not be empty');
  const n = parts.reduce((s, p) => s + p.shape[0], 0);
  const hasCoarse = parts.every((p) => p.coarseLabels != null);
  const images = new Uint8Array(n * CIFAR_IMAGE_BYTES);
  const labels = new Uint8Array(n);
  const coarseLabels = hasCoarse ? new Uint8Array(n) : undefined;
  let off = 0;
  for (const p of parts) {
    images.set(p.images, off * CIFAR_IMAGE_BYTES);
    labels.set(p.labels, off);
    if (coarseLabels != null) coarseLabels.set(p.coarseLabels as Uint8Array, off);
    off += p.shape[0];
  }
  const out: CifarSplit = { images, shape: [n, CIFAR_IMAGE_SIZE, CIFAR_IMAGE_SIZE, CIFAR_CHANNELS], labels };
  if (coarseLabels != null) out.coarseLabels = coarseLabels;
  return out;
}

/**
 * Converts rows of CIFAR's planar layout (per image: 1024 red, 1024 green, 1024 blue bytes, row-major) into NHWC,
 * writing image `dstIndex + i` of `dst` for each source row `i`.
 * @internal
 */
export function planarToNhwc(
  src: Uint8Array,
  srcOffset: number,
  srcStride: number,
  count: number,
  dst: Uint8Array,
  dstIndex: number,
): void {
  const plane = CIFAR_IMAGE_SIZE * CIFAR_IMAGE_SIZE;
  for (let i = 0; i < count; i++) {
    const s = srcOffset + i * srcStride;
    let d = (dstIndex + i) * CIFAR_IMAGE_BYTES;
    for (let p = 0; p < plane; p++) {
      dst[d++] = src[s + p];
      dst[d++] = src[s + plane + p];
      dst[d++] = src[s + 2 * plane + p];
    }
  }
}
