import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { dropout } from '../ops/dropout';
import { RandomGenerator } from '../utils/random';
import { assertInRange } from '../utils/validate';
import { CallKwargs, generatorFor, registerLayer, singleInput, singleShape } from './layer_utils';

/** Options of {@link SeededDropout}. */
export interface SeededDropoutConfig {
  /** Fraction of the inputs to drop, in [0, 1). */
  rate: number;
  /** Seed of the layer's own random generator; default: the library's global generator. */
  seed?: number;
  /** Layer name. */
  name?: string;
  /** Input shape without the batch axis, when this is the first layer of a model. */
  inputShape?: (number | null)[];
}

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
 */
export class SeededDropout extends tfl.layers.Layer {
  static className = 'SeededDropout';
  /** Fraction dropped. */
  readonly rate: number;
  /** Seed of the layer's own generator, if any. */
  readonly seed?: number;
  private readonly rng: RandomGenerator;

  constructor(config: SeededDropoutConfig) {
    super(config);
    assertInRange('SeededDropout: rate', config?.rate, 0, 1, { openHigh: true });
    this.rate = config.rate;
    this.seed = config.seed ?? undefined;
    this.rng = generatorFor(this.seed);
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape, 'SeededDropout');
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs, 'SeededDropout');
      if (kwargs?.training !== true || this.rate === 0) return tf.clone(x);
      return dropout(x, this.rate, this.rng.nextSeed());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed ?? null };
  }
}
registerLayer(SeededDropout);

/**
 * Creates a {@link SeededDropout} layer.
 *
 * @example
 * ```ts
 * const y = seededDropout({ rate: 0.5 }).apply(features);
 * ```
 */
export function seededDropout(config: SeededDropoutConfig): SeededDropout {
  return new SeededDropout(config);
}
