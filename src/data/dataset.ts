import * as tf from '@tensorflow/tfjs-core';
import { RandomGenerator, globalRandom } from '../utils/random';
import { assertInRange, assertOneOf, assertPositiveInteger, show } from '../utils/validate';
import type { CifarSplit } from './types';

function checkSplit(split: CifarSplit, name = 'split'): number {
  if (split == null || !(split.images instanceof Uint8Array) || !Array.isArray(split.shape)) {
    throw new Error(`${name} must be a CifarSplit ({ images, shape, labels })`);
  }
  const n = split.shape[0];
  const per = split.shape[1] * split.shape[2] * split.shape[3];
  if (split.images.length !== n * per) {
    throw new Error(`${name}.images has ${split.images.length} bytes, expected ${n * per} for shape [${split.shape}]`);
  }
  if (split.labels.length !== n) throw new Error(`${name}.labels has ${split.labels.length} entries, expected ${n}`);
  return n;
}

/**
 * A new split holding the images at `indices`, in that order (copies).
 *
 * @example
 * ```ts
 * const firstTen = takeSplit(train, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
 * ```
 *
 * @category Data
 */
export function takeSplit(split: CifarSplit, indices: ArrayLike<number>): CifarSplit {
  const n = checkSplit(split);
  const per = split.shape[1] * split.shape[2] * split.shape[3];
  const m = indices.length;
  const images = new Uint8Array(m * per);
  const labels = new Uint8Array(m);
  const coarse = split.coarseLabels != null ? new Uint8Array(m) : undefined;
  for (let i = 0; i < m; i++) {
    const j = indices[i];
    if (!Number.isInteger(j) || j < 0 || j >= n) throw new Error(`takeSplit: index ${j} out of range [0, ${n})`);
    images.set(split.images.subarray(j * per, (j + 1) * per), i * per);
    labels[i] = split.labels[j];
    if (coarse != null) coarse[i] = (split.coarseLabels as Uint8Array)[j];
  }
  const out: CifarSplit = { images, shape: [m, split.shape[1], split.shape[2], split.shape[3]], labels };
  if (coarse != null) out.coarseLabels = coarse;
  return out;
}

function slice(split: CifarSplit, start: number, end: number): CifarSplit {
  const per = split.shape[1] * split.shape[2] * split.shape[3];
  const out: CifarSplit = {
    images: split.images.subarray(start * per, end * per),
    shape: [end - start, split.shape[1], split.shape[2], split.shape[3]],
    labels: split.labels.subarray(start, end),
  };
  if (split.coarseLabels != null) out.coarseLabels = split.coarseLabels.subarray(start, end);
  return out;
}

/**
 * A seeded random permutation of 0..n-1 (Fisher–Yates with the library's {@link RandomGenerator}).
 *
 * @category Data
 */
export function randomPermutation(n: number, rng: RandomGenerator = globalRandom()): Uint32Array {
  const idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  return rng.shuffle(idx);
}

/**
 * A shuffled copy of a split. `seed` (or `rng`) makes it reproducible; without either, the global generator is used.
 *
 * @category Data
 */
export function shuffleSplit(split: CifarSplit, options: { seed?: number; rng?: RandomGenerator } = {}): CifarSplit {
  const n = checkSplit(split);
  const rng = options.rng ?? (options.seed != null ? new RandomGenerator(options.seed) : globalRandom());
  return takeSplit(split, randomPermutation(n, rng));
}

/**
 * Options of {@link splitValidation}.
 *
 * @category Data
 */
export interface ValidationSplitOptions {
  /** Fraction of the images held out for validation, in (0, 1). */
  fraction: number;
  /**
   * 'last' (default): the last `fraction` of the images, exactly as Keras's and tfjs's `validationSplit`
   * (the first `floor(n * (1 - fraction))` images train); 'random': a seeded random subset.
   */
  mode?: 'last' | 'random';
  /** Seed for mode 'random'. */
  seed?: number;
  /** Generator for mode 'random' (instead of `seed`). */
  rng?: RandomGenerator;
}

/**
 * Splits a split into training and validation parts. Mode 'last' returns views (no copy); 'random' copies.
 *
 * @example
 * ```ts
 * const { train, validation } = splitValidation(data.train, { fraction: 0.1 }); // 45,000 / 5,000
 * ```
 *
 * @category Data
 */
export function splitValidation(
  split: CifarSplit,
  options: ValidationSplitOptions,
): { train: CifarSplit; validation: CifarSplit } {
  const n = checkSplit(split);
  assertInRange('options.fraction', options?.fraction, 0, 1, { openLow: true, openHigh: true });
  const mode = options.mode ?? 'last';
  assertOneOf('options.mode', mode, ['last', 'random'] as const);
  const splitAt = Math.floor(n * (1 - options.fraction));
  if (mode === 'last') return { train: slice(split, 0, splitAt), validation: slice(split, splitAt, n) };
  const rng = options.rng ?? (options.seed != null ? new RandomGenerator(options.seed) : globalRandom());
  const perm = randomPermutation(n, rng);
  const trainIdx = perm.slice(0, splitAt).sort();
  const valIdx = perm.slice(splitAt).sort();
  return { train: takeSplit(split, trainIdx), validation: takeSplit(split, valIdx) };
}

/**
 * How {@link batchTensors} scales pixels.
 *
 * @category Data
 */
export type PixelNormalization =
  | 'none'
  | 'unit'
  | {
      /** Per-channel mean (in the 0..255 scale), or one value for all channels. */
      mean: number[] | number;
      /** Per-channel standard deviation (0..255 scale), or one value. */
      std: number[] | number;
    };

/**
 * Options of {@link batchTensors} and {@link cifarDataset}.
 *
 * @category Data
 */
export interface BatchOptions {
  /** Images per batch (default 256). */
  batchSize?: number;
  /** Shuffle the order (each epoch anew for {@link cifarDataset}). Default false. */
  shuffle?: boolean;
  /** Seed of the shuffle; without it the global generator is used. */
  seed?: number;
  /** Generator of the shuffle (instead of `seed`). */
  rng?: RandomGenerator;
  /** Pixel scaling: 'none' (default: float32 0..255, as the reference feeds a Normalization layer), 'unit' (÷255), or mean/std. */
  normalize?: PixelNormalization;
  /** Label tensor dtype (default 'int32'; 'float32' for losses that want it). */
  labelDtype?: 'int32' | 'float32';
  /** Use CIFAR-100 coarse labels instead of fine ones. */
  coarse?: boolean;
  /** Drop the last incomplete batch. Default false. */
  dropRemainder?: boolean;
}

/**
 * One batch: `xs` float32 [b, 32, 32, 3], `ys` int32 or float32 [b].
 *
 * @category Data
 */
export interface CifarBatch {
  /** Images. */
  xs: tf.Tensor4D;
  /** Labels. */
  ys: tf.Tensor1D;
}

interface Prepared {
  n: number;
  batchSize: number;
  numBatches: number;
  scale: Float32Array;
  offset: Float32Array;
  labels: Uint8Array;
  labelDtype: 'int32' | 'float32';
  channels: number;
  per: number;
}

function prepare(split: CifarSplit, options: BatchOptions): Prepared {
  const n = checkSplit(split);
  const batchSize = options.batchSize ?? 256;
  assertPositiveInteger('options.batchSize', batchSize);
  const labelDtype = options.labelDtype ?? 'int32';
  assertOneOf('options.labelDtype', labelDtype, ['int32', 'float32'] as const);
  const channels = split.shape[3];
  const scale = new Float32Array(channels).fill(1);
  const offset = new Float32Array(channels);
  const norm = options.normalize ?? 'none';
  if (norm === 'unit') scale.fill(1 / 255);
  else if (typeof norm === 'object' && norm != null) {
    for (let c = 0; c < channels; c++) {
      const mean = Array.isArray(norm.mean) ? norm.mean[c] : norm.mean;
      const std = Array.isArray(norm.std) ? norm.std[c] : norm.std;
      if (typeof mean !== 'number' || !Number.isFinite(mean)) {
        throw new Error(`options.normalize.mean must give a finite number for each of ${channels} channels`);
      }
      if (typeof std !== 'number' || !(std > 0)) {
        throw new Error(`options.normalize.std must give a positive number for each of ${channels} channels`);
      }
      scale[c] = 1 / std;
      offset[c] = -mean / std;
    }
  } else if (norm !== 'none') {
    throw new Error(`options.normalize must be 'none', 'unit' or { mean, std }, got ${show(norm)}`);
  }
  let labels = split.labels;
  if (options.coarse) {
    if (split.coarseLabels == null) throw new Error('options.coarse: this split has no coarse labels');
    labels = split.coarseLabels;
  }
  const numBatches = options.dropRemainder ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
  return { n, batchSize, numBatches, scale, offset, labels, labelDtype, channels, per: split.shape[1] * split.shape[2] * channels };
}

function makeBatch(split: CifarSplit, p: Prepared, order: Uint32Array | null, b: number): CifarBatch {
  const start = b * p.batchSize;
  const size = Math.min(p.batchSize, p.n - start);
  const x = new Float32Array(size * p.per);
  const y = p.labelDtype === 'int32' ? new Int32Array(size) : new Float32Array(size);
  const { per, channels, scale, offset, labels } = p;
  const img = split.images;
  const identity = channels === 3 && scale[0] === 1 && scale[1] === 1 && scale[2] === 1 && offset[0] === 0 && offset[1] === 0 && offset[2] === 0;
  for (let i = 0; i < size; i++) {
    const j = order != null ? order[start + i] : start + i;
    const src = j * per;
    const dst = i * per;
    if (identity) {
      for (let k = 0; k < per; k++) x[dst + k] = img[src + k];
    } else {
      for (let k = 0; k < per; k++) {
        const c = k % channels;
        x[dst + k] = img[src + k] * scale[c] + offset[c];
      }
    }
    y[i] = labels[j];
  }
  return {
    xs: tf.tensor4d(x, [size, split.shape[1], split.shape[2], channels], 'float32'),
    ys: tf.tensor1d(y, p.labelDtype),
  };
}

/**
 * Lazily converts a split into batches of tensors, one batch at a time (only the current batch is float32).
 * The caller owns each yielded batch and must dispose it (`tf.dispose([xs, ys])`).
 *
 * @example
 * ```ts
 * for (const { xs, ys } of batchTensors(train, { batchSize: 256, shuffle: true, seed: 1 })) {
 *   await model.trainOnBatch(xs, ys);
 *   tf.dispose([xs, ys]);
 * }
 * ```
 *
 * @category Data
 */
export function* batchTensors(split: CifarSplit, options: BatchOptions = {}): Generator<CifarBatch, void, undefined> {
  const p = prepare(split, options);
  let order: Uint32Array | null = null;
  if (options.shuffle) {
    const rng = options.rng ?? (options.seed != null ? new RandomGenerator(options.seed) : globalRandom());
    order = randomPermutation(p.n, rng);
  }
  for (let b = 0; b < p.numBatches; b++) yield makeBatch(split, p, order, b);
}

/**
 * A dataset object accepted by tfjs-layers `model.fitDataset` and `model.evaluateDataset`: each `iterator()` call
 * starts a new epoch (reshuffled from the same generator when `shuffle` is set, so a seeded run is reproducible),
 * and yields `{ xs, ys }` batches that tfjs disposes after each step. `size` is the number of batches per epoch.
 *
 * @category Data
 */
export interface CifarTfDataset {
  /** Number of batches per epoch. */
  readonly size: number;
  /** Starts an epoch. */
  iterator(): Promise<{ next(): Promise<IteratorResult<CifarBatch>> }>;
}

/**
 * Wraps a split as a dataset for `model.fitDataset` (see {@link CifarTfDataset}).
 *
 * @example
 * ```ts
 * const { train, validation } = splitValidation(data.train, { fraction: 0.1 });
 * await model.fitDataset(cifarDataset(train, { batchSize: 256, shuffle: true, seed: 42 }), {
 *   epochs: 10,
 *   validationData: cifarDataset(validation, { batchSize: 256 }),
 * });
 * ```
 *
 * @category Data
 */
export function cifarDataset(split: CifarSplit, options: BatchOptions = {}): CifarTfDataset {
  const p = prepare(split, options);
  const rng = options.shuffle
    ? (options.rng ?? (options.seed != null ? new RandomGenerator(options.seed) : globalRandom()))
    : null;
  return {
    size: p.numBatches,
    async iterator() {
      const order = rng != null ? randomPermutation(p.n, rng) : null;
      let b = 0;
      return {
        async next(): Promise<IteratorResult<CifarBatch>> {
          if (b >= p.numBatches) return { value: undefined, done: true };
          return { value: makeBatch(split, p, order, b++), done: false };
        },
      };
    },
  };
}
