/**
 * Keras/TF2-compatible image resizing. tfjs-layers' own `tfl.layers.resizing` calls
 * `tf.image.resizeBilinear(x, size, alignCorners = true)`, which differs from TF2's `tf.image.resize` (used by Keras's
 * `Resizing`): TF2 uses half-pixel centres. This layer uses `halfPixelCenters = true`.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ViTLayerArgs } from './layer_args';

import { assertOneOf, assertPositiveInteger } from '../utils/validate';
import { registerSerializable } from '../utils/serialization';

/**
 * Options of {@link Resizing}.
 *
 * @category Preprocessing and augmentation
 */
export interface ResizingArgs extends ViTLayerArgs {
  /** Output height. */
  height: number;
  /** Output width. */
  width: number;
  /** `'bilinear'` (default) or `'nearest'`. */
  interpolation?: 'bilinear' | 'nearest';
  /** Centre-crop to the output aspect ratio before resizing (Keras's `crop_to_aspect_ratio`). Default false. */
  cropToAspectRatio?: boolean;
}

/**
 * Resizes `[B, H, W, C]` (or `[H, W, C]`) images to `height`×`width` with TF2 / Keras semantics (half-pixel centres).
 * Registered as `ImageResizing` so that it does not replace tfjs-layers' own `Resizing` class.
 *
 * @example
 * const resize = resizing({ height: 72, width: 72 });
 *
 * @category Preprocessing and augmentation
 */
export class Resizing extends tfl.layers.Layer {
  /** Serialization name (registered under the package `vit`). */
  static className = 'ImageResizing';
  /** Output height. */
  readonly height: number;
  /** Output width. */
  readonly width: number;
  /** Interpolation. */
  readonly interpolation: 'bilinear' | 'nearest';
  /** Whether to centre-crop to the target aspect ratio first. */
  readonly cropToAspectRatio: boolean;

  constructor(args: ResizingArgs) {
    super(args);
    assertPositiveInteger('Resizing: height', args?.height);
    assertPositiveInteger('Resizing: width', args.width);
    this.height = args.height;
    this.width = args.width;
    this.interpolation = args.interpolation ?? 'bilinear';
    assertOneOf('Resizing: interpolation', this.interpolation, ['bilinear', 'nearest'] as const);
    this.cropToAspectRatio = args.cropToAspectRatio ?? false;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    const s = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    return s.length === 3 ? [this.height, this.width, s[2]] : [s[0], this.height, this.width, s[3]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x.rank !== 3 && x.rank !== 4) {
      throw new Error(`Resizing: input rank must be 3 [H, W, C] or 4 [B, H, W, C], got rank ${x.rank} (shape [${x.shape}])`);
    }
    return tf.tidy(() => {
      let y = (x.rank === 3 ? tf.expandDims(x, 0) : x) as tf.Tensor4D;
      if (this.cropToAspectRatio) {
        const [, h, w] = y.shape;
        const target = this.width / this.height;
        const cropH = Math.min(h, Math.round(w / target));
        const cropW = Math.min(w, Math.round(h * target));
        y = tf.slice(y, [0, Math.floor((h - cropH) / 2), Math.floor((w - cropW) / 2), 0], [-1, cropH, cropW, -1]);
      }
      const size: [number, number] = [this.height, this.width];
      const out =
        this.interpolation === 'bilinear' ? tf.image.resizeBilinear(y, size, false, true) : tf.image.resizeNearestNeighbor(y, size, false, true);
      return x.rank === 3 ? tf.squeeze(out, [0]) : out;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      height: this.height,
      width: this.width,
      interpolation: this.interpolation,
      cropToAspectRatio: this.cropToAspectRatio,
    };
  }
}
registerSerializable(Resizing);

/**
 * Creates a {@link Resizing} layer.
 *
 * @category Preprocessing and augmentation
 */
export function resizing(args: ResizingArgs): Resizing {
  return new Resizing(args);
}
