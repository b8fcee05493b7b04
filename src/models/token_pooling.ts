import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ViTLayerArgs } from '../layers/layer_args';
import { assertOneOf } from '../utils/validate';
import { registerSerializable } from '../utils/serialization';

/**
 * How {@link TokenPooling} turns `[batch, tokens, dim]` into `[batch, dim]`.
 *
 * @category Models
 */
export type TokenPoolingMode = 'mean' | 'first';

/**
 * Configuration of {@link TokenPooling}.
 *
 * @category Models
 */
export interface TokenPoolingArgs extends ViTLayerArgs {
  /** `'mean'`: average over tokens (global average pooling); `'first'`: the first token (a class token). */
  mode: TokenPoolingMode;
}

/**
 * Pools a token sequence `[batch, tokens, dim]` into one vector `[batch, dim]`: the mean over tokens (a ViT's
 * "GAP" representation) or the first token (the class token's output). No weights.
 *
 * @example
 * ```ts
 * const pooled = tokenPooling({ mode: 'first' }).apply(encoded); // [batch, dim]
 * ```
 *
 * @category Models
 */
export class TokenPooling extends tfl.layers.Layer {
  /** Class name used in serialized models. */
  static className = 'TokenPooling';
  /** The pooling mode. */
  readonly mode: TokenPoolingMode;

  /** @param args See {@link TokenPoolingArgs}. */
  constructor(args: TokenPoolingArgs) {
    super(args);
    assertOneOf('TokenPooling: mode', args?.mode, ['mean', 'first'] as const);
    this.mode = args.mode;
    this.inputSpec = [{ ndim: 3 }];
  }

  /** `[batch, tokens, dim]` → `[batch, dim]`. */
  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = (Array.isArray(inputShape[0]) ? inputShape[0] : inputShape) as tfl.Shape;
    if (shape.length !== 3) throw new Error(`TokenPooling: input must be [batch, tokens, dim], got [${shape}]`);
    return [shape[0], shape[2]];
  }

  /** Pools the tokens. */
  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = Array.isArray(inputs) ? inputs[0] : inputs;
      if (this.mode === 'mean') return tf.mean(x, 1);
      const [batch, , dim] = x.shape;
      return tf.reshape(tf.slice(x, [0, 0, 0], [batch, 1, dim]), [batch, dim]);
    });
  }

  /** The layer's configuration (for serialization). */
  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), mode: this.mode };
  }
}
registerSerializable(TokenPooling);

/**
 * Creates a {@link TokenPooling} layer.
 *
 * @category Models
 */
export function tokenPooling(args: TokenPoolingArgs): TokenPooling {
  return new TokenPooling(args);
}
