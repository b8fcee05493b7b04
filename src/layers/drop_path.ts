import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { dropoutMask } from '../ops/dropout';
import { RandomGenerator } from '../utils/random';
import { assertInRange } from '../utils/validate';
import { CallKwargs, generatorFor, registerLayer, singleInput, singleShape } from './layer_utils';

/**
 * Stochastic depth (Huang et al. 2016) on a residual branch: each sample's `x` is zeroed with probability
 * `rate` and scaled by `1 / (1 − rate)` otherwise (one draw per sample, broadcast over the other axes).
 * Returns `x` unchanged when `rate` is 0.
 *
 * @example
 * ```ts
 * const out = tf.add(shortcut, dropPath(branch, 0.1, rng.nextSeed()));
 * ```
 */
export function dropPath(x: tf.Tensor, rate: number, seed: number): tf.Tensor {
  assertInRange('dropPath: rate', rate, 0, 1, { openHigh: true });
  if (rate === 0) return x;
  return tf.tidy(() => {
    const maskShape = [x.shape[0], ...new Array<number>(x.rank - 1).fill(1)];
    return tf.mul(x, dropoutMask(maskShape, rate, seed));
  });
}

/** Options of {@link DropPath}. */
export interface DropPathConfig {
  /** Probability of dropping a sample's branch, in [0, 1). */
  rate: number;
  /** Seed of the layer's own random generator; default: the library's global generator. */
  seed?: number;
  /** Layer name. */
  name?: string;
}

/**
 * Stochastic depth as a layer (see {@link dropPath}); identity outside training. Apply it to a residual
 * branch before the addition.
 *
 * @example
 * ```ts
 * const branch = new DropPath({ rate: 0.1 }).apply(attentionOutput);
 * ```
 */
export class DropPath extends tfl.layers.Layer {
  static className = 'DropPath';
  /** Probability of dropping a sample's branch. */
  readonly rate: number;
  /** Seed of the layer's own generator, if any. */
  readonly seed?: number;
  private readonly rng: RandomGenerator;

  constructor(config: DropPathConfig) {
    super(config);
    assertInRange('DropPath: rate', config?.rate, 0, 1, { openHigh: true });
    this.rate = config.rate;
    this.seed = config.seed ?? undefined;
    this.rng = generatorFor(this.seed);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape, 'DropPath');
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs, 'DropPath');
      if (kwargs?.training !== true || this.rate === 0) return tf.clone(x);
      return dropPath(x, this.rate, this.rng.nextSeed());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed ?? null };
  }
}
registerLayer(DropPath);

/**
 * Creates a {@link DropPath} layer.
 *
 * @example
 * ```ts
 * const branch = dropPathLayer({ rate: 0.1 }).apply(x);
 * ```
 */
export function dropPathLayer(config: DropPathConfig): DropPath {
  return new DropPath(config);
}
