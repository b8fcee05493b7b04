/** Keras-compatible `RandomRotation` augmentation layer. */
import * as tf from '@tensorflow/tfjs-core';

import { ImageTransform, rotationTransform } from '../image/affine';
import { RandomGenerator } from '../utils/random';
import { parseFactor, RandomTransformArgs, RandomTransformLayer } from './random_affine';
import { registerSerializable } from '../utils/serialization';

/**
 * Options of {@link RandomRotation} (Keras's `RandomRotation`).
 *
 * @category Preprocessing and augmentation
 */
export interface RandomRotationArgs extends RandomTransformArgs {
  /**
   * Rotation range as a fraction of 2π: a number `f` draws from `[-f, f]`, a pair from `[lower, upper]`;
   * bounds must lie within [-1, 1]. Positive angles rotate counter-clockwise.
   */
  factor: number | [number, number];
}

/**
 * Parameters drawn for one image by {@link RandomRotation}.
 *
 * @category Preprocessing and augmentation
 */
export interface RotationParameters {
  /** Angle in radians. */
  angle: number;
}

/**
 * Rotates each image of a training batch by its own random angle about the image centre (Keras's transform and fill
 * semantics, one `tf.image.transform` call per batch); the identity outside training.
 *
 * @example
 * const rot = randomRotation({ factor: 0.02 }); // ±0.02·2π ≈ ±7.2°
 * const y = rot.apply(images, { training: true }) as tf.Tensor;
 *
 * @category Preprocessing and augmentation
 */
export class RandomRotation extends RandomTransformLayer<RotationParameters> {
  /** Serialization name (registered under the package `vit`). */
  static className = 'RandomRotation';
  /** The configured factor. */
  readonly factor: number | [number, number];
  /** `[lower, upper]` as fractions of 2π. */
  readonly range: [number, number];

  constructor(args: RandomRotationArgs) {
    super(args);
    if (args?.factor === undefined) throw new Error('RandomRotation: factor is required');
    this.factor = args.factor;
    this.range = parseFactor('RandomRotation: factor', args.factor, -1, 1);
  }

  protected drawOne(rng: RandomGenerator): RotationParameters {
    return { angle: rng.uniform(this.range[0], this.range[1]) * 2 * Math.PI };
  }

  transformFor(p: RotationParameters, height: number, width: number): ImageTransform {
    return rotationTransform(p.angle, height, width);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), factor: this.factor };
  }
}
registerSerializable(RandomRotation);

/**
 * Creates a {@link RandomRotation} layer.
 *
 * @category Preprocessing and augmentation
 */
export function randomRotation(args: RandomRotationArgs): RandomRotation {
  return new RandomRotation(args);
}
