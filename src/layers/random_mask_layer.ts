import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layerRandom, RandomGenerator } from '../utils/random';
import { assertInRange } from '../utils/validate';
import { CallKwargs, generatorFor, singleInput, singleShape } from './layer_utils';
import type { ViTLayerArgs } from './layer_args';

/**
 * Options of the dropout-style layers ({@link SeededDropout}, {@link DropPath}).
 *
 * @category Layers
 */
export interface RandomMaskArgs extends ViTLayerArgs {
  /** Fraction dropped, in [0, 1). */
  rate: number;
  /** Seed of the layer's own random generator; default: the library's global generator. */
  seed?: number;
}

/**
 * Base of the layers that multiply their input by a fresh random mask in training and are the identity otherwise:
 * holds the rate, the seed and the generator, and does the shape, config and training-mode bookkeeping.
 * Subclasses implement {@link RandomMaskLayer.drop}.
 *
 * @category Layers
 */
export abstract class RandomMaskLayer extends tfl.layers.Layer {
  /** Fraction dropped. */
  readonly rate: number;
  /** Seed of the layer's own generator, if any. */
  readonly seed?: number;
  private readonly rng: RandomGenerator;

  constructor(args: RandomMaskArgs, layer: string) {
    super(args);
    assertInRange(`${layer}: rate`, args?.rate, 0, 1, { openHigh: true });
    this.rate = args.rate;
    this.seed = args.seed ?? undefined;
    this.rng = generatorFor(this.seed);
  }

  /** Applies the random mask drawn from `seed` to `x` (training only; `rate` > 0). */
  protected abstract drop(x: tf.Tensor, seed: number): tf.Tensor;

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape, this.getClassName());
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs, this.getClassName());
      if (kwargs?.training !== true || this.rate === 0) return tf.clone(x);
      return this.drop(x, layerRandom(this.rng).nextSeed());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), rate: this.rate, seed: this.seed ?? null };
  }
}
