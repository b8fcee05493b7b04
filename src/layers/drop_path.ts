import * as tf from '@tensorflow/tfjs-core';
import { dropoutMask } from '../ops/dropout';
import { assertInRange } from '../utils/validate';
import { RandomMaskArgs, RandomMaskLayer } from './random_mask_layer';
import { registerSerializable } from '../utils/serialization';

/**
 * Stochastic depth (Huang et al. 2016) on a residual branch: each sample's `x` is zeroed with probability
 * `rate` and scaled by `1 / (1 − rate)` otherwise (one draw per sample, broadcast over the other axes).
 * Returns `x` unchanged when `rate` is 0.
 *
 * @example
 * ```ts
 * const out = tf.add(shortcut, ops.dropPath(branch, 0.1, rng.nextSeed()));
 * ```
 *
 * @category Layers
 */
export function dropPath(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  assertInRange('dropPath: rate', rate, 0, 1, { openHigh: true });
  if (rate === 0) return x;
  return tf.tidy(() => {
    const maskShape = [x.shape[0], ...new Array<number>(x.rank - 1).fill(1)];
    return tf.mul(x, dropoutMask(maskShape, rate, seed));
  });
}

/**
 * Options of {@link DropPath}.
 *
 * @category Layers
 */
export type DropPathArgs = RandomMaskArgs;

/**
 * Stochastic depth as a layer (see {@link dropPath}); identity outside training. Apply it to a residual
 * branch before the addition.
 *
 * @example
 * ```ts
 * const branch = new DropPath({ rate: 0.1 }).apply(attentionOutput);
 * ```
 *
 * @category Layers
 */
export class DropPath extends RandomMaskLayer {
  static className = 'DropPath';

  constructor(args: DropPathArgs) {
    super(args, 'DropPath');
  }

  protected override drop(x: tf.Tensor, seed: number): tf.Tensor {
    return dropPath(x, this.rate, seed);
  }
}
registerSerializable(DropPath);

/**
 * Creates a {@link DropPath} layer.
 *
 * @example
 * ```ts
 * const branch = dropPathLayer({ rate: 0.1 }).apply(x);
 * ```
 *
 * @category Layers
 */
export function dropPathLayer(args: DropPathArgs): DropPath {
  return new DropPath(args);
}
