import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layerNorm } from '../ops/layer_norm';
import { assertPositiveNumber } from '../utils/validate';
import { CallKwargs, ones, singleInput, singleShape, zeros } from './layer_utils';
import { registerSerializable } from '../utils/serialization';
import type { ViTLayerArgs } from './layer_args';

/**
 * Options of {@link LayerNorm}.
 *
 * @category Layers
 */
export interface LayerNormArgs extends ViTLayerArgs {
  /** Added to the variance. Default 1e-6 (the reference recipe's; Keras's default is 1e-3). */
  epsilon?: number;
}

/**
 * Layer normalization over the last axis with a learned scale `gamma` and offset `beta` — the same function and
 * weights (`gamma`, `beta`) as Keras's `LayerNormalization(axis=-1)`, computed by {@link layerNorm}, whose
 * closed-form gradient is much cheaper on wasm than tfjs-layers' `layerNormalization` (whose backward pass
 * differentiates through `tf.tile`, one slice per repeat).
 *
 * @example
 * ```ts
 * const normed = new LayerNorm({ epsilon: 1e-6 }).apply(tokens); // [B, T, D] → [B, T, D]
 * ```
 *
 * @category Layers
 */
export class LayerNorm extends tfl.layers.Layer {
  static className = 'LayerNorm';
  /** Added to the variance. */
  readonly epsilon: number;
  private gamma: tfl.LayerVariable | null = null;
  private beta: tfl.LayerVariable | null = null;

  constructor(args: LayerNormArgs = {}) {
    super(args);
    assertPositiveNumber('LayerNorm: epsilon', args.epsilon ?? 1e-6);
    this.epsilon = args.epsilon ?? 1e-6;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape, 'LayerNorm');
    const dim = shape[shape.length - 1];
    if (shape.length < 2 || dim == null) throw new Error(`LayerNorm: input must have rank ≥ 2 and a known last axis, got [${shape}]`);
    this.gamma = this.addWeight('gamma', [dim], 'float32', ones());
    this.beta = this.addWeight('beta', [dim], 'float32', zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    return singleShape(inputShape, 'LayerNorm');
  }

  override call(inputs: tf.Tensor | tf.Tensor[], _kwargs?: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs, 'LayerNorm');
      const gamma = (this.gamma as tfl.LayerVariable).read();
      if (x.shape[x.rank - 1] !== gamma.shape[0]) {
        throw new Error(`LayerNorm: input has ${x.shape[x.rank - 1]} features but layer '${this.name}' was built for ${gamma.shape[0]}`);
      }
      return layerNorm(x, gamma, (this.beta as tfl.LayerVariable).read(), this.epsilon);
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), epsilon: this.epsilon };
  }
}
registerSerializable(LayerNorm);

/**
 * Creates a {@link LayerNorm} layer.
 *
 * @example
 * ```ts
 * const y = layerNormLayer({ epsilon: 1e-6 }).apply(x);
 * ```
 *
 * @category Layers
 */
export function layerNormLayer(args: LayerNormArgs = {}): LayerNorm {
  return new LayerNorm(args);
}
