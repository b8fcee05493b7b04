/** Keras-compatible `RandomZoom` augmentation layer. */
import * as tf from '@tensorflow/tfjs-core';

import { ImageTransform, zoomTransform } from '../image/affine';
import { RandomGenerator } from '../utils/random';
import { parseFactor, RandomTransformArgs, RandomTransformLayer } from './random_affine';
import { registerSerializable } from '../utils/serialization';

/**
 * Options of {@link RandomZoom} (Keras's `RandomZoom`).
 *
 * @category Preprocessing and augmentation
 */
export interface RandomZoomArgs extends RandomTransformArgs {
  /**
   * Vertical zoom range: a number `f` means `[-f, f]`, or `[lower, upper]`, bounds within [-1, 1]. The image is
   * scaled by `1 + factor` about its centre in sampling terms: positive values zoom OUT, negative zoom in (Keras).
   */
  heightFactor: number | [number, number];
  /** Horizontal range; undefined keeps the aspect ratio (the width uses the height's draw). */
  widthFactor?: number | [number, number];
}

/**
 * Parameters drawn for one image by {@link RandomZoom}.
 *
 * @category Preprocessing and augmentation
 */
export interface ZoomParameters {
  /** `1 + heightFactor draw`. */
  zoomHeight: number;
  /** `1 + widthFactor draw` (equal to `zoomHeight` without a `widthFactor`). */
  zoomWidth: number;
}

/**
 * Zooms each image of a training batch by its own random factor (Keras's transform and fill semantics, one
 * `tf.image.transform` call per batch); the identity outside training.
 *
 * @example
 * const zoom = randomZoom({ heightFactor: 0.2, widthFactor: 0.2 });
 *
 * @category Preprocessing and augmentation
 */
export class RandomZoom extends RandomTransformLayer<ZoomParameters> {
  /** Serialization name (registered under the package `vit`). */
  static className = 'RandomZoom';
  /** The configured height factor. */
  readonly heightFactor: number | [number, number];
  /** The configured width factor. */
  readonly widthFactor?: number | [number, number];
  /** Height factor range. */
  readonly heightRange: [number, number];
  /** Width factor range (undefined: same draw as the height). */
  readonly widthRange?: [number, number];

  constructor(args: RandomZoomArgs) {
    super(args);
    if (args?.heightFactor === undefined) throw new Error('RandomZoom: heightFactor is required');
    this.heightFactor = args.heightFactor;
    this.heightRange = parseFactor('RandomZoom: heightFactor', args.heightFactor, -1, 1);
    if (args.widthFactor !== undefined) {
      this.widthFactor = args.widthFactor;
      this.widthRange = parseFactor('RandomZoom: widthFactor', args.widthFactor, -1, 1);
    }
  }

  protected drawOne(rng: RandomGenerator): ZoomParameters {
    const zoomHeight = 1 + rng.uniform(this.heightRange[0], this.heightRange[1]);
    const zoomWidth = this.widthRange ? 1 + rng.uniform(this.widthRange[0], this.widthRange[1]) : zoomHeight;
    return { zoomHeight, zoomWidth };
  }

  transformFor(p: ZoomParameters, height: number, width: number): ImageTransform {
    return zoomTransform(p.zoomHeight, p.zoomWidth, height, width);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { heightFactor: this.heightFactor };
    if (this.widthFactor !== undefined) config.widthFactor = this.widthFactor;
    return { ...super.getConfig(), ...config };
  }
}
registerSerializable(RandomZoom);

/**
 * Creates a {@link RandomZoom} layer.
 *
 * @category Preprocessing and augmentation
 */
export function randomZoom(args: RandomZoomArgs): RandomZoom {
  return new RandomZoom(args);
}
