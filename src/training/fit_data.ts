/**
 * The data forms {@link fitViT} and {@link evaluate} take, and the one shape they are turned into: an indexable
 * source (tensors or typed arrays, whose examples can be picked in any order) or a stream of batches.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * One batch: images `x` (`[batch, height, width, channels]`) and class-index labels `y` (`[batch]`).
 *
 * @category Training
 */
export interface FitBatch {
  /** Images, `[batch, ...]`. */
  x: tf.Tensor;
  /** Class indices, `[batch]` or `[batch, 1]`. */
  y: tf.Tensor;
}

/**
 * A batch as {@link batchTensors} yields it (`xs`, `ys`); accepted wherever a {@link FitBatch} is.
 *
 * @category Training
 */
export interface FitBatchXsYs {
  /** Images, `[batch, ...]`. */
  xs: tf.Tensor;
  /** Class indices, `[batch]`. */
  ys: tf.Tensor;
}

/**
 * Examples as typed arrays: pixels (e.g. CIFAR's uint8 NHWC bytes, a {@link CifarSplit}) and one class index per
 * image. Each batch is copied into a float32 tensor (values as stored, e.g. 0–255) when it is used, so a whole
 * data set never sits in tensor memory.
 *
 * @category Training
 */
export interface ArrayData {
  /** Pixels, row-major, `n × height × width × channels` values. */
  images: Uint8Array | Float32Array;
  /** One class index per image. */
  labels: ArrayLike<number>;
  /** `[n, height, width, channels]`; default `[n, 32, 32, 3]` (CIFAR). */
  shape?: readonly number[];
}

/**
 * A sequence of batches, or a function that makes one for each epoch (0-based).
 *
 * @category Training
 */
export type BatchStream =
  | Iterable<FitBatch | FitBatchXsYs>
  | AsyncIterable<FitBatch | FitBatchXsYs>
  | ((epoch: number) => Iterable<FitBatch | FitBatchXsYs> | AsyncIterable<FitBatch | FitBatchXsYs>);

/**
 * What {@link fitViT} and {@link evaluate} train or evaluate on:
 * - tensors `{ x, y }` (all examples; fitViT picks batches from them);
 * - typed arrays {@link ArrayData} (e.g. a {@link CifarSplit});
 * - a stream of batches ({@link BatchStream}): taken in the order given, no shuffle and no validation split.
 *   Batches from a function are disposed after use (the function makes fresh ones each epoch); batches of a plain
 *   iterable (e.g. an array, iterated again every epoch) stay the caller's.
 *
 * @category Training
 */
export type FitData = FitBatch | ArrayData | BatchStream;

/** An indexable source: its examples can be gathered in any order. @internal */
export interface IndexedSource {
  readonly kind: 'indexed';
  readonly size: number;
  /** The examples `indices` as a float32 `x` and an int32 `y` (the caller disposes them). */
  gather(indices: ArrayLike<number>): { x: tf.Tensor; y: tf.Tensor };
  /** The same source restricted to examples `[from, to)`. */
  range(from: number, to: number): IndexedSource;
  /** The labels as numbers, when cheaply available (typed arrays), for the up-front label check. */
  labels?: ArrayLike<number>;
}

/** A stream source. @internal */
export interface StreamSource {
  readonly kind: 'stream';
  /** The batches of `epoch`, and whether they are to be disposed after use. */
  batches(epoch: number): { iterable: Iterable<FitBatch | FitBatchXsYs> | AsyncIterable<FitBatch | FitBatchXsYs>; owned: boolean };
}

/** @internal */
export type DataSource = IndexedSource | StreamSource;

function isTensor(v: unknown): v is tf.Tensor {
  return v instanceof tf.Tensor;
}

/** `{ x, y }` of a batch in either spelling. @internal */
export function toFitBatch(b: FitBatch | FitBatchXsYs, what: string): FitBatch {
  const x = (b as FitBatch).x ?? (b as FitBatchXsYs).xs;
  const y = (b as FitBatch).y ?? (b as FitBatchXsYs).ys;
  if (!isTensor(x) || !isTensor(y)) throw new Error(`${what}: each batch must be { x, y } (or { xs, ys }) of tensors`);
  if (x.shape[0] !== y.shape[0]) throw new Error(`${what}: a batch has ${x.shape[0]} images but ${y.shape[0]} labels`);
  return { x, y };
}

function tensorSource(x: tf.Tensor, y: tf.Tensor, from: number, to: number): IndexedSource {
  return {
    kind: 'indexed',
    size: to - from,
    gather(indices) {
      return tf.tidy(() => {
        const idx = tf.tensor1d(Int32Array.from(indices, (i) => i + from), 'int32');
        const xs = tf.gather(x, idx);
        const ys = tf.gather(y, idx);
        return { x: xs.dtype === 'float32' ? xs : tf.cast(xs, 'float32'), y: ys.dtype === 'int32' ? ys : tf.cast(ys, 'int32') };
      });
    },
    range: (a, b) => tensorSource(x, y, from + a, from + b),
  };
}

function arraySource(images: Uint8Array | Float32Array, labels: ArrayLike<number>, shape: number[], from: number, to: number): IndexedSource {
  const row = shape.slice(1).reduce((a, b) => a * b, 1);
  return {
    kind: 'indexed',
    size: to - from,
    labels: Array.prototype.slice.call(labels, from, to) as number[],
    gather(indices) {
      const n = indices.length;
      const pixels = new Float32Array(n * row);
      const ys = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const k = indices[i] + from;
        pixels.set(images.subarray(k * row, (k + 1) * row), i * row);
        ys[i] = labels[k];
      }
      return { x: tf.tensor(pixels, [n, ...shape.slice(1)], 'float32'), y: tf.tensor1d(ys, 'int32') };
    },
    range: (a, b) => arraySource(images, labels, shape, from + a, from + b),
  };
}

/** Turns `data` into a source, checking its form; errors name `what` (e.g. `'data'`, `'validationData'`). @internal */
export function toSource(data: FitData, what: string): DataSource {
  if (data == null || (typeof data !== 'object' && typeof data !== 'function')) {
    throw new Error(`${what} must be tensors { x, y }, typed arrays { images, labels } or an iterable of batches, got ${String(data)}`);
  }
  if (typeof data === 'function') {
    const fn = data;
    return { kind: 'stream', batches: (epoch) => ({ iterable: fn(epoch), owned: true }) };
  }
  if (Symbol.iterator in data || Symbol.asyncIterator in data) {
    const iterable = data as Iterable<FitBatch> | AsyncIterable<FitBatch>;
    return { kind: 'stream', batches: () => ({ iterable, owned: false }) };
  }
  const d = data as Partial<FitBatch & ArrayData>;
  if (d.x !== undefined || d.y !== undefined) {
    if (!isTensor(d.x) || !isTensor(d.y)) throw new Error(`${what}: x and y must be tensors`);
    if (d.x.rank < 2) throw new Error(`${what}.x must have shape [n, ...], got [${d.x.shape}]`);
    const n = d.x.shape[0];
    if (d.y.shape[0] !== n) throw new Error(`${what}: x holds ${n} examples but y holds ${d.y.shape[0]}`);
    return tensorSource(d.x, d.y, 0, n);
  }
  if (d.images !== undefined || d.labels !== undefined) {
    if (!(d.images instanceof Uint8Array) && !(d.images instanceof Float32Array)) {
      throw new Error(`${what}.images must be a Uint8Array or a Float32Array`);
    }
    if (d.labels == null || typeof d.labels.length !== 'number') throw new Error(`${what}.labels must be an array of class indices`);
    const n = d.labels.length;
    const shape = d.shape != null ? [...d.shape] : [n, 32, 32, 3];
    if (shape.length < 2 || shape.some((s) => !Number.isInteger(s) || s < 1) || shape[0] !== n) {
      throw new Error(`${what}.shape must be [n, ...] with n = labels.length (${n}) and positive sizes, got [${shape}]`);
    }
    const expected = shape.reduce((a, b) => a * b, 1);
    if (d.images.length !== expected) {
      throw new Error(`${what}.images holds ${d.images.length} values, expected ${expected} for shape [${shape}]`);
    }
    return arraySource(d.images, d.labels, shape, 0, n);
  }
  throw new Error(`${what} must be tensors { x, y }, typed arrays { images, labels } or an iterable of batches`);
}

/** Batches of an indexed source in `order`, or of a stream, one at a time (tensors to dispose when `owned`). @internal */
export async function* iterateBatches(
  source: DataSource,
  epoch: number,
  batchSize: number,
  order: ArrayLike<number> | null,
  what: string,
): AsyncGenerator<{ batch: FitBatch; owned: boolean }> {
  if (source.kind === 'indexed') {
    const n = source.size;
    for (let start = 0; start < n; start += batchSize) {
      const end = Math.min(start + batchSize, n);
      const idx = order != null ? Array.prototype.slice.call(order, start, end) : Array.from({ length: end - start }, (_, i) => start + i);
      yield { batch: source.gather(idx), owned: true };
    }
    return;
  }
  const { iterable, owned } = source.batches(epoch);
  for await (const b of iterable as AsyncIterable<FitBatch | FitBatchXsYs>) {
    yield { batch: toFitBatch(b, what), owned };
  }
}

/** Lets the event loop run (signals, timers, progress output) between steps. @internal */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  return new Promise((resolve) => (g.setImmediate != null ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}
