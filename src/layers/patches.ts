import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { assertPositiveInteger } from '../utils/validate';
import { assertRank, singleInput, singleShape } from './layer_utils';
import { registerSerializable } from '../utils/serialization';
import type { ViTLayerArgs } from './layer_args';

/**
 * Options of {@link Patches}.
 *
 * @category Layers
 */
export interface PatchesArgs extends ViTLayerArgs {
  /** Side of the square patches, in pixels. */
  patchSize: number;
}

/**
 * Cuts images into non-overlapping square patches and flattens each:
 * [batch, height, width, channels] → [batch, (height/p)·(width/p), p·p·channels].
 *
 * The element order is that of TensorFlow's `tf.image.extract_patches` with `VALID` padding (which the Keras
 * ViT tutorial uses): patches in row-major order over the image; inside a patch, row, then column, then channel.
 * Rows and columns that do not fill a whole patch (when height or width is not a multiple of `patchSize`)
 * are dropped. Implemented with one reshape and one transpose.
 *
 * @example
 * ```ts
 * const patches = new Patches({ patchSize: 6 });
 * patches.apply(tf.zeros([2, 72, 72, 3])); // shape [2, 144, 108]
 * ```
 *
 * @category Layers
 */
export class Patches extends tfl.layers.Layer {
  static className = 'Patches';
  /** Side of the square patches. */
  readonly patchSize: number;

  constructor(args: PatchesArgs) {
    super(args);
    assertPositiveInteger('Patches: patchSize', args?.patchSize);
    this.patchSize = args.patchSize;
  }

  private gridOf(shape: readonly (number | null)[]): { rows: number | null; cols: number | null; channels: number | null } {
    assertRank('Patches', shape, 4, 'input [batch, height, width, channels]');
    const [, h, w, c] = shape;
    const p = this.patchSize;
    for (const [axis, size] of [['height', h], ['width', w]] as const) {
      if (size != null && size < p) {
        throw new Error(`Patches: patchSize ${p} is larger than the image ${axis} ${size}`);
      }
    }
    return { rows: h == null ? null : Math.floor(h / p), cols: w == null ? null : Math.floor(w / p), channels: c };
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape, 'Patches');
    const { rows, cols, channels } = this.gridOf(shape);
    const p = this.patchSize;
    return [shape[0], rows == null || cols == null ? null : rows * cols, channels == null ? null : p * p * channels];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs, 'Patches');
      const { rows, cols } = this.gridOf(x.shape);
      const [b, h, w, c] = x.shape as [number, number, number, number];
      const p = this.patchSize;
      const r = rows as number;
      const q = cols as number;
      const cropped = r * p === h && q * p === w ? x : tf.slice(x, [0, 0, 0, 0], [b, r * p, q * p, c]);
      const grid = tf.reshape(cropped, [b, r, p, q, p, c]);
      return tf.reshape(tf.transpose(grid, [0, 1, 3, 2, 4, 5]), [b, r * q, p * p * c]);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), patchSize: this.patchSize };
  }
}
registerSerializable(Patches);

/**
 * Creates a {@link Patches} layer.
 *
 * @example
 * ```ts
 * const tokens = patches({ patchSize: 4 }).apply(images); // [B, 32, 32, 3] → [B, 64, 48]
 * ```
 *
 * @category Layers
 */
export function patches(args: PatchesArgs): Patches {
  return new Patches(args);
}
