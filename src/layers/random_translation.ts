/** Keras-compatible `RandomTranslation` augmentation layer. */
import * as tf from '@tensorflow/tfjs-core';

import { ImageTransform, translationTransform } from '../image/affine';
import { RandomGenerator } from '../utils/random';
import { parseFactor, RandomTransformArgs, RandomTransformLayer } from './random_affine';
import { registerSerializable } from '../utils/serialization';

/**
 * Options of {@link RandomTranslation} (Keras's `RandomTranslation`).
 *
 * @category Preprocessing and augmentation
 */
export interface RandomTranslationArgs extends RandomTransformArgs {
  /**
   * Vertical shift as a fraction of the height: a number `f` means `[-f, f]`, or `[lower, upper]`, bounds within
   * [-1, 1]. Positive values shift the image down, negative up (Keras).
   */
  heightFactor: number | [number, number];
  /** Horizontal shift as a fraction of the width, likewise; positive values shift the image right. */
  widthFactor: number | [number, number];
}

/**
 * Parameters drawn for one image by {@link RandomTranslation}.
 *
 * @category Preprocessing and augmentation
 */
export interface TranslationParameters {
  /** Shift down as a fraction of the height (the `heightFactor` draw; ×height gives pixels). */
  dy: number;
  /** Shift right as a fraction of the width (the `widthFactor` draw; ×width gives pixels). */
  dx: number;
}

/**
 * Shifts each image of a training batch by its own random offset (Keras's `RandomTranslation`: transform, fill modes
 * and interpolations as Keras's, `'reflect'` and `'bilinear'` by default); the identity outside training.
 *
 * The "random crop with padding" of CIFAR recipes (pad 4 pixels, crop 32×32 at random) is close to
 * `randomTranslation({ heightFactor: 0.125, widthFactor: 0.125, fillMode: 'constant', interpolation: 'nearest' })`,
 * which shifts by up to 4 pixels (by fractions of a pixel rounded to the nearest, where the crop moves by whole
 * pixels) and fills the uncovered border with `fillValue`.
 *
 * @example
 * ```ts
 * const shift = randomTranslation({ heightFactor: 0.1, widthFactor: 0.1, seed: 1 });
 * shift.apply(images, { training: true });
 * ```
 *
 * @category Preprocessing and augmentation
 */
export class RandomTranslation extends RandomTransformLayer<TranslationParameters> {
  /** Serialization name (registered under the package `vit`). */
  static className = 'RandomTranslation';
  /** The configured height factor. */
  readonly heightFactor: number | [number, number];
  /** The configured width factor. */
  readonly widthFactor: number | [number, number];
  /** Height factor range. */
  readonly heightRange: [number, number];
  /** Width factor range. */
  readonly widthRange: [number, number];

  constructor(args: RandomTranslationArgs) {
    super(args);
    if (args?.heightFactor === undefined) throw new Error('RandomTranslation: heightFactor is required');
    if (args.widthFactor === undefined) throw new Error('RandomTranslation: widthFactor is required');
    this.heightFactor = args.heightFactor;
    this.widthFactor = args.widthFactor;
    this.heightRange = parseFactor('RandomTranslation: heightFactor', args.heightFactor, -1, 1);
    this.widthRange = parseFactor('RandomTranslation: widthFactor', args.widthFactor, -1, 1);
  }

  /** Draws the fractions; {@link RandomTranslation.transformFor} scales them by the image size. */
  protected drawOne(rng: RandomGenerator): TranslationParameters {
    const dy = rng.uniform(this.heightRange[0], this.heightRange[1]);
    const dx = rng.uniform(this.widthRange[0], this.widthRange[1]);
    return { dy, dx };
  }

  transformFor(p: TranslationParameters, height: number, width: number): ImageTransform {
    return translationTransform(p.dy * height, p.dx * width);
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), heightFactor: this.heightFactor, widthFactor: this.widthFactor };
  }
}
registerSerializable(RandomTranslation);

/**
 * Creates a {@link RandomTranslation} layer.
 *
 * @category Preprocessing and augmentation
 */
export function randomTranslation(args: RandomTranslationArgs): RandomTranslation {
  return new RandomTranslation(args);
}
