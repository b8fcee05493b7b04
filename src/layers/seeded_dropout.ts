import * as tf from '@tensorflow/tfjs-core';
import { dropout } from '../ops/dropout';
import { RandomMaskArgs, RandomMaskLayer } from './random_mask_layer';
import { registerSerializable } from '../utils/serialization';

/**
 * Options of {@link SeededDropout}.
 *
 * @category Layers
 */
export type SeededDropoutArgs = RandomMaskArgs;

/**
 * Inverted dropout whose masks come from the library's {@link RandomGenerator}: a new mask at every training
 * call, reproducible from one seed (`setGlobalSeed` or the layer's `seed`) and resumable from a saved generator
 * state. (tfjs's own `Dropout` with a `seed` draws the same mask at every step, and without one draws from
 * `Math.random`.) Identity outside training.
 *
 * @example
 * ```ts
 * const y = new SeededDropout({ rate: 0.5 }).apply(x, { training: true });
 * ```
 *
 * @category Layers
 */
export class SeededDropout extends RandomMaskLayer {
  static className = 'SeededDropout';

  constructor(args: SeededDropoutArgs) {
    super(args, 'SeededDropout');
  }

  protected override drop(x: tf.Tensor, seed: number): tf.Tensor {
    return dropout(x, this.rate, seed);
  }
}
registerSerializable(SeededDropout);

/**
 * Creates a {@link SeededDropout} layer.
 *
 * @example
 * ```ts
 * const y = seededDropout({ rate: 0.5 }).apply(features);
 * ```
 *
 * @category Layers
 */
export function seededDropout(args: SeededDropoutArgs): SeededDropout {
  return new SeededDropout(args);
}
