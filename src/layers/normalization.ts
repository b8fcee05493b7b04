/** Keras-compatible `Normalization` preprocessing layer with a streaming, float64 `adapt`. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ViTLayerArgs } from './layer_args';
import { registerSerializable } from '../utils/serialization';
import { show } from '../utils/validate';

/**
 * Keras's `backend.epsilon()`: the floor of the standard deviation the layer divides by.
 *
 * @category Preprocessing and augmentation
 */
export const NORMALIZATION_EPSILON = 1e-7;

/**
 * A batch given to {@link Normalization.adapt} without a tensor: values in row-major order plus their shape.
 *
 * @category Preprocessing and augmentation
 */
export interface ArrayBatch {
  /** Row-major values (uint8 images stay uint8: nothing is converted to float32). */
  data: ArrayLike<number>;
  /** Shape of `data`; the product must equal `data.length`. */
  shape: number[];
}

/**
 * One batch for {@link Normalization.adapt}.
 *
 * @category Preprocessing and augmentation
 */
export type AdaptBatch = tf.Tensor | ArrayBatch;
/**
 * What {@link Normalization.adapt} accepts: a batch, or a (async) iterable of batches.
 *
 * @category Preprocessing and augmentation
 */
export type AdaptData = AdaptBatch | Iterable<AdaptBatch> | AsyncIterable<AdaptBatch>;

/**
 * Options of {@link Normalization} (Keras's `Normalization`).
 *
 * @category Preprocessing and augmentation
 */
export interface NormalizationArgs extends ViTLayerArgs {
  /** Axis or axes that keep their own statistics (default -1: per channel); `null` for one global mean/variance. */
  axis?: number | number[] | null;
  /** Fixed mean (number or per-feature array); requires `variance`. */
  mean?: number | number[];
  /** Fixed variance (number or per-feature array); requires `mean`. */
  variance?: number | number[];
  /** Un-normalize instead: `mean + x · max(√variance, ε)`. Default false. */
  invert?: boolean;
}

/** Running float64 statistics (Chan et al.'s parallel merge of count, mean and sum of squared deviations). */
class Moments {
  count = 0;
  readonly mean: Float64Array;
  readonly m2: Float64Array;
  constructor(readonly size: number) {
    this.mean = new Float64Array(size);
    this.m2 = new Float64Array(size);
  }
  merge(n: number, mean: Float64Array, m2: Float64Array): void {
    if (n === 0) return;
    const total = this.count + n;
    for (let k = 0; k < this.size; k++) {
      const delta = mean[k] - this.mean[k];
      this.mean[k] += (delta * n) / total;
      this.m2[k] += m2[k] + ((delta * delta * this.count) / total) * n;
    }
    this.count = total;
  }
}

/**
 * Shifts and scales inputs to zero mean and unit variance per feature: `(x − mean) / max(√variance, 1e-7)`, exactly
 * Keras's formula. Statistics come from the constructor or from {@link Normalization.adapt}; they are stored as the
 * non-trainable weights `mean`, `variance` and `count` (as in Keras 2: 2·C + 1 parameters for C channels), so saving
 * and loading a model restores them.
 *
 * @example
 * const norm = normalization();
 * await norm.adapt(trainImagesUint8Batches); // streamed, float64
 * const y = norm.apply(x) as tf.Tensor;
 *
 * @category Preprocessing and augmentation
 */
export class Normalization extends tfl.layers.Layer {
  /** Serialization name (registered under the package `vit`). */
  static className = 'Normalization';
  /** Kept axes as configured. */
  readonly axis: number | number[] | null;
  /** Whether the layer un-normalizes. */
  readonly invert: boolean;
  private readonly initMean?: number | number[];
  private readonly initVariance?: number | number[];
  private keepAxes: number[] = [];
  private featureShape: number[] = [];
  private meanWeight?: tfl.LayerVariable;
  private varianceWeight?: tfl.LayerVariable;
  private countWeight?: tfl.LayerVariable;

  constructor(args: NormalizationArgs = {}) {
    super(args);
    this.axis = args.axis === undefined ? -1 : args.axis;
    if (this.axis !== null) {
      const axes = Array.isArray(this.axis) ? this.axis : [this.axis];
      if (axes.length === 0 || axes.some((a) => !Number.isInteger(a))) {
        throw new Error(`Normalization: axis must be an integer, an array of integers or null, got ${show(args.axis)}`);
      }
    }
    this.invert = args.invert ?? false;
    if ((args.mean === undefined) !== (args.variance === undefined)) {
      throw new Error('Normalization: mean and variance must be given together (or neither)');
    }
    for (const [name, v] of [['mean', args.mean], ['variance', args.variance]] as const) {
      const vals = v === undefined ? [] : Array.isArray(v) ? v : [v];
      if (vals.some((x) => typeof x !== 'number' || !Number.isFinite(x))) throw new Error(`Normalization: ${name} must be finite numbers, got ${show(v)}`);
      if (name === 'variance' && vals.some((x) => x < 0)) throw new Error(`Normalization: variance must be non-negative, got ${show(v)}`);
    }
    this.initMean = args.mean;
    this.initVariance = args.variance;
  }

  private resolveAxes(rank: number): number[] {
    if (this.axis === null) return [];
    const axes = (Array.isArray(this.axis) ? this.axis : [this.axis]).map((a) => (a < 0 ? a + rank : a));
    for (const a of axes) {
      if (a < 1 || a >= rank) {
        throw new Error(`Normalization: axis ${JSON.stringify(this.axis)} is out of range for inputs of rank ${rank} (the batch axis 0 cannot be kept)`);
      }
    }
    return [...new Set(axes)].sort((p, q) => p - q);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    this.keepAxes = this.resolveAxes(shape.length);
    this.featureShape = this.keepAxes.map((a) => {
      const d = shape[a];
      if (d == null) throw new Error(`Normalization: dimension ${a} of the input shape [${shape}] must be known`);
      return d;
    });
    const size = this.featureShape.reduce((p, q) => p * q, 1);
    const values = (v: number | number[] | undefined, dflt: number, name: string): Float32Array => {
      if (v === undefined || typeof v === 'number') return new Float32Array(size).fill(v ?? dflt);
      if (v.length !== size) throw new Error(`Normalization: ${name} has ${v.length} values but the kept axes have ${size} features`);
      return Float32Array.from(v);
    };
    const meanInit = values(this.initMean, 0, 'mean');
    const varianceInit = values(this.initVariance, 1, 'variance');
    this.meanWeight = this.addWeight('mean', this.featureShape, 'float32', tfl.initializers.zeros(), undefined, false);
    this.varianceWeight = this.addWeight('variance', this.featureShape, 'float32', tfl.initializers.ones(), undefined, false);
    this.countWeight = this.addWeight('count', [], 'int32', tfl.initializers.zeros(), undefined, false);
    tf.tidy(() => {
      (this.meanWeight as tfl.LayerVariable).write(tf.tensor(meanInit, this.featureShape, 'float32'));
      (this.varianceWeight as tfl.LayerVariable).write(tf.tensor(varianceInit, this.featureShape, 'float32'));
    });
    this.built = true;
  }

  /** The current mean and variance as float arrays (row-major over the kept axes). */
  getStatistics(): { mean: Float32Array; variance: Float32Array; count: number } {
    if (!this.meanWeight || !this.varianceWeight || !this.countWeight) throw new Error('Normalization: the layer is not built yet');
    return {
      mean: this.meanWeight.read().dataSync() as Float32Array,
      variance: this.varianceWeight.read().dataSync() as Float32Array,
      count: this.countWeight.read().dataSync()[0],
    };
  }

  /**
   * Computes the mean and (population) variance of `data` over all axes except the kept ones and stores them in the
   * layer's weights. Batches are reduced one at a time in float64 (a two-pass mean/M2 per batch merged with Chan's
   * parallel formula), so the data set never has to exist as float32 at once; uint8 typed arrays are read as is.
   *
   * @param data A tensor, an `{ data, shape }` batch, or a (async) iterable of them (e.g. batches of 1000 images).
   */
  async adapt(data: AdaptData): Promise<void> {
    let moments: Moments | undefined;
    let rank = -1;
    let featureShape: number[] = [];
    const consume = async (batch: AdaptBatch): Promise<void> => {
      let values: ArrayLike<number>;
      let shape: number[];
      if (batch instanceof tf.Tensor) {
        values = await batch.data();
        shape = batch.shape;
      } else if (batch && typeof batch === 'object' && 'data' in batch && 'shape' in batch) {
        values = batch.data;
        shape = batch.shape;
        const n = shape.reduce((p, q) => p * q, 1);
        if (n !== values.length) throw new Error(`Normalization: adapt batch shape [${shape}] holds ${n} values but data has ${values.length}`);
      } else {
        throw new Error('Normalization: adapt batches must each be a tf.Tensor or { data, shape }');
      }
      if (shape.length < 1) throw new Error('Normalization: adapt batches must have a batch axis (rank ≥ 1)');
      if (rank < 0) {
        rank = shape.length;
        const keep = this.resolveAxes(rank);
        featureShape = keep.map((a) => shape[a]);
        if (this.built && this.featureShape.join() !== featureShape.join()) {
          throw new Error(`Normalization: adapt data features [${featureShape}] do not match the built layer's [${this.featureShape}]`);
        }
        moments = new Moments(featureShape.reduce((p, q) => p * q, 1));
      } else if (shape.length !== rank || this.resolveAxes(rank).some((a, i) => shape[a] !== featureShape[i])) {
        throw new Error(`Normalization: adapt batch shape [${shape}] is inconsistent with earlier batches`);
      }
      reduceBatch(values, shape, this.resolveAxes(rank), moments as Moments);
    };
    if (data instanceof tf.Tensor || (data && typeof data === 'object' && 'data' in data && 'shape' in data)) {
      await consume(data as AdaptBatch);
    } else if (data && typeof (data as AsyncIterable<AdaptBatch>)[Symbol.asyncIterator] === 'function') {
      for await (const b of data as AsyncIterable<AdaptBatch>) await consume(b);
    } else if (data && typeof (data as Iterable<AdaptBatch>)[Symbol.iterator] === 'function') {
      for (const b of data as Iterable<AdaptBatch>) await consume(b);
    } else {
      throw new Error('Normalization: adapt data must be a tensor, a { data, shape } batch or an (async) iterable of them');
    }
    if (!moments || moments.count === 0) throw new Error('Normalization: adapt got no data');
    if (!this.built) {
      const shape: number[] = new Array(rank).fill(1);
      this.resolveAxes(rank).forEach((a, i) => (shape[a] = featureShape[i]));
      this.build([null, ...shape.slice(1)]);
    }
    const m = moments;
    const variance = Float64Array.from(m.m2, (v) => Math.max(0, v / m.count));
    tf.tidy(() => {
      (this.meanWeight as tfl.LayerVariable).write(tf.tensor(Float32Array.from(m.mean), this.featureShape, 'float32'));
      (this.varianceWeight as tfl.LayerVariable).write(tf.tensor(Float32Array.from(variance), this.featureShape, 'float32'));
      (this.countWeight as tfl.LayerVariable).write(tf.scalar(Math.min(m.count, 2 ** 31 - 1), 'int32'));
    });
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      const keep = this.resolveAxes(x.rank);
      const bshape: number[] = new Array(x.rank).fill(1);
      keep.forEach((a, i) => (bshape[a] = this.featureShape[i]));
      const mean = tf.reshape((this.meanWeight as tfl.LayerVariable).read(), bshape);
      const std = tf.maximum(tf.sqrt(tf.reshape((this.varianceWeight as tfl.LayerVariable).read(), bshape)), NORMALIZATION_EPSILON);
      const xf = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
      return this.invert ? tf.add(mean, tf.mul(xf, std)) : tf.div(tf.sub(xf, mean), std);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { axis: this.axis, invert: this.invert };
    if (this.initMean !== undefined) config.mean = this.initMean;
    if (this.initVariance !== undefined) config.variance = this.initVariance;
    return { ...super.getConfig(), ...config };
  }
}
registerSerializable(Normalization);

/** Reduces one batch into `moments` (float64, two passes over the batch). */
function reduceBatch(values: ArrayLike<number>, shape: number[], keep: number[], moments: Moments): void {
  const size = moments.size;
  const total = values.length;
  const n = total / size;
  if (n === 0) return;
  // feature index of each flat position
  const rank = shape.length;
  let featureOf: (i: number) => number;
  if (keep.length === 0) featureOf = () => 0;
  else if (keep.length === 1 && keep[0] === rank - 1) featureOf = (i) => i % size;
  else {
    const strides = new Array<number>(rank);
    strides[rank - 1] = 1;
    for (let d = rank - 2; d >= 0; d--) strides[d] = strides[d + 1] * shape[d + 1];
    const fstrides = keep.map((_, j) => keep.slice(j + 1).reduce((p, a) => p * shape[a], 1));
    featureOf = (i) => {
      let f = 0;
      keep.forEach((a, j) => (f += (Math.floor(i / strides[a]) % shape[a]) * fstrides[j]));
      return f;
    };
  }
  const sum = new Float64Array(size);
  const m2 = new Float64Array(size);
  if (keep.length === 1 && keep[0] === rank - 1) {
    for (let i = 0; i < total; i += size) for (let k = 0; k < size; k++) sum[k] += values[i + k];
    for (let k = 0; k < size; k++) sum[k] /= n;
    for (let i = 0; i < total; i += size) {
      for (let k = 0; k < size; k++) {
        const d = values[i + k] - sum[k];
        m2[k] += d * d;
      }
    }
  } else {
    for (let i = 0; i < total; i++) sum[featureOf(i)] += values[i];
    for (let k = 0; k < size; k++) sum[k] /= n;
    for (let i = 0; i < total; i++) {
      const f = featureOf(i);
      const d = values[i] - sum[f];
      m2[f] += d * d;
    }
  }
  moments.merge(n, sum, m2);
}

/**
 * Creates a {@link Normalization} layer.
 *
 * @category Preprocessing and augmentation
 */
export function normalization(args?: NormalizationArgs): Normalization {
  return new Normalization(args);
}
