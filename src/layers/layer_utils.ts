/**
 * Small helpers shared by the library's layers (internal).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { globalRandom, RandomGenerator } from '../utils/random';

/**
 * Keyword arguments tfjs passes to `Layer.call`.
 *
 * @category Layers
 */
export interface CallKwargs {
  /** Whether the layer runs in training mode (dropout, augmentation active). */
  training?: boolean;
  [key: string]: unknown;
}

/**
 * The single input of a layer called with a tensor or a one-element list.
 *
 * @category Layers
 */
export function singleInput(inputs: tf.Tensor | tf.Tensor[], layer: string): tf.Tensor {
  if (Array.isArray(inputs)) {
    if (inputs.length !== 1) throw new Error(`${layer}: expected one input, got ${inputs.length}`);
    return inputs[0];
  }
  return inputs;
}

/**
 * The single input shape of a layer given a shape or a one-element list of shapes.
 *
 * @category Layers
 */
export function singleShape(shape: tfl.Shape | tfl.Shape[], layer: string): tfl.Shape {
  if (Array.isArray(shape[0]) || (shape.length > 0 && shape.every((s) => Array.isArray(s)))) {
    const list = shape as tfl.Shape[];
    if (list.length !== 1) throw new Error(`${layer}: expected one input, got ${list.length}`);
    return list[0];
  }
  return shape as tfl.Shape;
}

/**
 * Throws unless `shape` has `rank` axes, naming the layer, the argument and the shape.
 *
 * @category Layers
 */
export function assertRank(layer: string, shape: readonly (number | null)[], rank: number, what = 'input'): void {
  if (shape.length !== rank) {
    throw new Error(`${layer}: ${what} must have rank ${rank}, got shape [${shape.map((d) => (d == null ? 'null' : d)).join(', ')}]`);
  }
}

/**
 * The generator a layer draws from: its own when it has a seed, else the library's global one.
 *
 * @category Layers
 */
export function generatorFor(seed: number | undefined | null): RandomGenerator {
  return seed == null ? globalRandom() : new RandomGenerator(seed);
}

/**
 * A weight initializer of tfjs-layers.
 *
 * @category Layers
 */
export type Initializer = ReturnType<typeof tfl.initializers.zeros>;

/**
 * Adds a float32 weight to the layer that owns this function (`Layer.addWeight` is protected, so shared
 * weight-building code receives this from the layer). @internal
 */
export type WeightAdder = (name: string, shape: number[], initializer: Initializer) => tfl.LayerVariable;

/**
 * Keras's default kernel initializer (Glorot uniform), seeded from `rng`.
 *
 * @category Layers
 */
export function glorotUniform(rng: RandomGenerator): Initializer {
  return tfl.initializers.glorotUniform({ seed: rng.nextSeed() });
}

/**
 * Zeros (biases, LayerNorm beta).
 *
 * @category Layers
 */
export function zeros(): Initializer {
  return tfl.initializers.zeros();
}

/**
 * Ones (LayerNorm gamma).
 *
 * @category Layers
 */
export function ones(): Initializer {
  return tfl.initializers.ones();
}

/**
 * Removes the keys tfjs's base `Layer` handles from a layer config, keeping the layer's own options.
 *
 * @category Layers
 */
export function ownOptions<T extends object>(config: T): Partial<T> {
  const {
    name: _n,
    trainable: _t,
    dtype: _d,
    inputShape: _i,
    batchInputShape: _b,
    batchSize: _s,
    inputDType: _id,
    weights: _w,
    ...rest
  } = config as Record<string, unknown>;
  return rest as Partial<T>;
}
