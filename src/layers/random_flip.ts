/** Keras-compatible `RandomFlip` augmentation layer. */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ViTLayerArgs } from './layer_args';
import type { CallKwargs } from './layer_utils';

import { layerRandom, RandomGenerator } from '../utils/random';
import { assertFiniteNumber, assertOneOf } from '../utils/validate';
import { registerSerializable } from '../utils/serialization';

/**
 * Which flips {@link RandomFlip} may apply.
 *
 * @category Preprocessing and augmentation
 */
export type FlipMode = 'horizontal' | 'vertical' | 'horizontal_and_vertical';
const FLIP_MODES: readonly FlipMode[] = ['horizontal', 'vertical', 'horizontal_and_vertical'];

/**
 * Options of {@link RandomFlip}.
 *
 * @category Preprocessing and augmentation
 */
export interface RandomFlipArgs extends ViTLayerArgs {
  /** Default `'horizontal_and_vertical'` (each direction flipped independently with probability ½). */
  mode?: FlipMode;
  /** Seed of the layer's own generator; without it draws come from `globalRandom()`. */
  seed?: number;
}

/**
 * Flips drawn for one image.
 *
 * @category Preprocessing and augmentation
 */
export interface FlipParameters {
  /** Mirrored left↔right. */
  horizontal: boolean;
  /** Mirrored top↔bottom. */
  vertical: boolean;
}

/**
 * Mirrors each image of a training batch with probability ½ per enabled direction (own draw per image); the identity
 * outside training. Flipped values are exact copies (done in JavaScript on the batch's values, the same on every
 * backend; not differentiable with respect to the input, which sits at the model input).
 *
 * @example
 * const flip = randomFlip({ mode: 'horizontal' });
 *
 * @category Preprocessing and augmentation
 */
export class RandomFlip extends tfl.layers.Layer {
  /** Serialization name (registered under the package `vit`). */
  static className = 'RandomFlip';
  /** Flip mode. */
  readonly mode: FlipMode;
  /** The layer's seed, if any. */
  readonly seed?: number;
  private readonly rng?: RandomGenerator;

  constructor(args: RandomFlipArgs = {}) {
    super(args);
    this.mode = args.mode ?? 'horizontal_and_vertical';
    assertOneOf('RandomFlip: mode', this.mode, FLIP_MODES);
    if (args.seed !== undefined) {
      assertFiniteNumber('RandomFlip: seed', args.seed);
      this.seed = args.seed;
      this.rng = new RandomGenerator(args.seed);
    }
  }

  /** Draws the flips for a batch exactly as a training call does (advances the generator); for inspection/tests. */
  sampleParameters(batchSize: number): FlipParameters[] {
    const rng = layerRandom(this.rng);
    const h = this.mode !== 'vertical';
    const v = this.mode !== 'horizontal';
    const out: FlipParameters[] = [];
    for (let i = 0; i < batchSize; i++) {
      out.push({ horizontal: h && rng.nextFloat() < 0.5, vertical: v && rng.nextFloat() < 0.5 });
    }
    return out;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x.rank !== 3 && x.rank !== 4) {
      throw new Error(`RandomFlip: input rank must be 3 [H, W, C] or 4 [B, H, W, C], got rank ${x.rank} (shape [${x.shape}])`);
    }
    if (!kwargs?.training) return x;
    const shape = x.rank === 3 ? [1, ...x.shape] : x.shape;
    const [b, h, w, c] = shape;
    const params = this.sampleParameters(b);
    const src = x.dataSync();
    const out = new (src.constructor as { new (n: number): tf.TypedArray })(src.length);
    const row = w * c;
    for (let i = 0; i < b; i++) {
      const { horizontal, vertical } = params[i];
      for (let y = 0; y < h; y++) {
        const sy = vertical ? h - 1 - y : y;
        const dst = (i * h + y) * row;
        const from = (i * h + sy) * row;
        if (!horizontal) out.set(src.subarray(from, from + row), dst);
        else {
          for (let xx = 0; xx < w; xx++) {
            const a = dst + xx * c;
            const f = from + (w - 1 - xx) * c;
            for (let ch = 0; ch < c; ch++) out[a + ch] = src[f + ch];
          }
        }
      }
    }
    return tf.tensor(out, x.shape, x.dtype);
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { mode: this.mode };
    if (this.seed !== undefined) config.seed = this.seed;
    return { ...super.getConfig(), ...config };
  }
}
registerSerializable(RandomFlip);

/**
 * Creates a {@link RandomFlip} layer.
 *
 * @category Preprocessing and augmentation
 */
export function randomFlip(args?: RandomFlipArgs): RandomFlip {
  return new RandomFlip(args);
}
