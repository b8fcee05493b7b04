import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ActivationName } from '../ops/activations';
import { layerNorm } from '../ops/layer_norm';
import { layerRandom, RandomGenerator } from '../utils/random';
import { assertInRange, assertPositiveInteger, assertPositiveNumber } from '../utils/validate';
import { addAttentionWeights, attentionForward, AttentionWeights } from './attention_core';
import { dropPath } from './drop_path';
import { assertRank, CallKwargs, generatorFor, Initializer, ones, singleInput, singleShape, zeros } from './layer_utils';
import { addMlpWeights, DenseWeights, mlpForward, validateMlpOptions } from './mlp';
import { registerSerializable } from '../utils/serialization';
import type { ViTLayerArgs } from './layer_args';

/**
 * Options of {@link TransformerBlock}.
 *
 * @category Layers
 */
export interface TransformerBlockArgs extends ViTLayerArgs {
  /** Number of attention heads. */
  numHeads: number;
  /** Query/key (and value) size per head. */
  keyDim: number;
  /** Widths of the MLP's dense layers; the last must equal the token width (residual connection). */
  mlpUnits: number[];
  /** Dropout after each MLP activation (training only). Default 0.1, as the reference recipe. */
  dropout?: number;
  /** Dropout on the attention probabilities; default `dropout`. */
  attentionDropout?: number;
  /** LayerNorm epsilon. Default 1e-6. */
  epsilon?: number;
  /** MLP activation. Default `'gelu'`. */
  activation?: ActivationName;
  /**
   * Whether the activation also follows the MLP's last dense layer. Default true: the Keras ViT tutorial's `mlp()`
   * (activation after every layer). `false`: the MLP of the ViT paper, torchvision, timm and Hugging Face,
   * Dense → GELU → Dense (dropout still follows both), which pretrained PyTorch checkpoints need.
   */
  mlpOutputActivation?: boolean;
  /** Stochastic-depth rate of both residual branches (training only). Default 0. */
  dropPath?: number;
  /** Seed of the layer's own random generator (initializers, dropout); default: the library's global generator. */
  seed?: number;
}

/**
 * The pre-norm transformer encoder block of the Keras ViT tutorial (and of the ViT paper):
 *
 * ```
 * x2  = x  + dropPath(MultiHeadAttention(LayerNorm(x)))        // self-attention, attention dropout inside
 * out = x2 + dropPath(MLP(LayerNorm(x2)))                        // Dense → GELU → Dropout, per mlpUnits entry
 * ```
 *
 * Weights (Keras-style names): `layer_norm_1/gamma|beta`, `attention/query|key|value/kernel|bias`,
 * `attention/attention_output/kernel|bias`, `layer_norm_2/gamma|beta`, `mlp/dense_i/kernel|bias`.
 * With width 64, 4 heads of 64 and MLP [128, 64] (the reference) that is 83,200 parameters.
 *
 * @example
 * ```ts
 * const block = new TransformerBlock({ numHeads: 4, keyDim: 64, mlpUnits: [128, 64], dropout: 0.1 });
 * block.apply(tokens); // [B, 144, 64] → [B, 144, 64]
 * ```
 *
 * @category Layers
 */
export class TransformerBlock extends tfl.layers.Layer {
  static className = 'TransformerBlock';
  /** Number of attention heads. */
  readonly numHeads: number;
  /** Query/key/value size per head. */
  readonly keyDim: number;
  /** MLP widths. */
  readonly mlpUnits: number[];
  /** MLP dropout rate. */
  readonly dropout: number;
  /** Attention-probability dropout rate. */
  readonly attentionDropout: number;
  /** LayerNorm epsilon. */
  readonly epsilon: number;
  /** MLP activation. */
  readonly activation: ActivationName;
  /** Whether the activation follows the MLP's last dense layer too (see {@link TransformerBlockArgs.mlpOutputActivation}). */
  readonly mlpOutputActivation: boolean;
  /** Stochastic-depth rate. */
  readonly dropPath: number;
  /** Seed of the layer's own generator, if any. */
  readonly seed?: number;
  private readonly rng: RandomGenerator;
  private width = -1;
  private norm1: { gamma: tfl.LayerVariable; beta: tfl.LayerVariable } | null = null;
  private norm2: { gamma: tfl.LayerVariable; beta: tfl.LayerVariable } | null = null;
  private attention: AttentionWeights | null = null;
  private mlp: DenseWeights[] = [];

  constructor(args: TransformerBlockArgs) {
    super(args);
    const c = args ?? ({} as TransformerBlockArgs);
    assertPositiveInteger('TransformerBlock: numHeads', c.numHeads);
    assertPositiveInteger('TransformerBlock: keyDim', c.keyDim);
    const rate = c.dropout ?? 0.1;
    const activation = c.activation ?? 'gelu';
    validateMlpOptions('TransformerBlock', c.mlpUnits, activation, rate, 'mlpUnits');
    assertInRange('TransformerBlock: attentionDropout', c.attentionDropout ?? rate, 0, 1, { openHigh: true });
    assertPositiveNumber('TransformerBlock: epsilon', c.epsilon ?? 1e-6);
    assertInRange('TransformerBlock: dropPath', c.dropPath ?? 0, 0, 1, { openHigh: true });
    this.numHeads = c.numHeads;
    this.keyDim = c.keyDim;
    this.mlpUnits = [...c.mlpUnits];
    this.dropout = rate;
    this.attentionDropout = c.attentionDropout ?? rate;
    this.epsilon = c.epsilon ?? 1e-6;
    this.activation = activation;
    this.mlpOutputActivation = c.mlpOutputActivation ?? true;
    this.dropPath = c.dropPath ?? 0;
    this.seed = c.seed ?? undefined;
    this.rng = generatorFor(this.seed);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape, 'TransformerBlock');
    assertRank('TransformerBlock', shape, 3, 'input [batch, tokens, width]');
    const width = shape[2];
    if (width == null) throw new Error('TransformerBlock: the token width (last axis) must be known');
    const last = this.mlpUnits[this.mlpUnits.length - 1];
    if (last !== width) {
      throw new Error(`TransformerBlock: the last mlpUnits entry (${last}) must equal the token width ${width} (residual connection)`);
    }
    this.width = width;
    this.norm1 = { gamma: this.addWeight('layer_norm_1/gamma', [width], 'float32', ones()), beta: this.addWeight('layer_norm_1/beta', [width], 'float32', zeros()) };
    const add = (n: string, s: number[], init: Initializer) => this.addWeight(n, s, 'float32', init);
    this.attention = addAttentionWeights(
      add,
      { queryDim: width, keyInputDim: width, valueInputDim: width, numHeads: this.numHeads, keyDim: this.keyDim, valueDim: this.keyDim, outputDim: width, useBias: true },
      this.rng,
      'attention/',
    );
    this.norm2 = { gamma: this.addWeight('layer_norm_2/gamma', [width], 'float32', ones()), beta: this.addWeight('layer_norm_2/beta', [width], 'float32', zeros()) };
    this.mlp = addMlpWeights(add, width, this.mlpUnits, this.rng, 'mlp/');
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape, 'TransformerBlock');
    assertRank('TransformerBlock', shape, 3, 'input [batch, tokens, width]');
    return shape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => this.forward(singleInput(inputs, 'TransformerBlock'), kwargs?.training === true).output);
  }

  /**
   * The inference forward pass of {@link call} that also returns the attention probabilities [batch, heads, T, T]
   * it computes (the same numbers). With `probabilityOffset` [batch, heads, T, T] added to the probabilities where
   * they weight the values (zeros: the same output), for gradients with respect to them. Used by the attention maps.
   * @internal
   */
  forwardWithAttention(x: tf.Tensor, probabilityOffset?: tf.Tensor): { output: tf.Tensor; scores: tf.Tensor } {
    return tf.tidy(() => this.forward(x, false, probabilityOffset));
  }

  private forward(x: tf.Tensor, training: boolean, probabilityOffset?: tf.Tensor): { output: tf.Tensor; scores: tf.Tensor } {
    assertRank('TransformerBlock', x.shape, 3, 'input [batch, tokens, width]');
    if (x.shape[2] !== this.width) {
      throw new Error(`TransformerBlock: input has width ${x.shape[2]} but layer '${this.name}' was built for ${this.width}`);
    }
    const rng = layerRandom(this.rng);
    const branch = (y: tf.Tensor): tf.Tensor => (training && this.dropPath > 0 ? dropPath(y, this.dropPath, rng.nextSeed()) : y);
    const n1 = this.norm1 as { gamma: tfl.LayerVariable; beta: tfl.LayerVariable };
    const n2 = this.norm2 as { gamma: tfl.LayerVariable; beta: tfl.LayerVariable };

    const h1 = layerNorm(x, n1.gamma.read(), n1.beta.read(), this.epsilon);
    const { output: attended, scores } = attentionForward(this.attention as AttentionWeights, h1, h1, h1, {
      dropout: this.attentionDropout,
      training,
      rng,
      probabilityOffset,
    });
    const x2 = tf.add(x, branch(attended));
    const h2 = layerNorm(x2, n2.gamma.read(), n2.beta.read(), this.epsilon);
    const m = mlpForward(h2, this.mlp, this.activation, this.dropout, training, rng, this.mlpOutputActivation);
    return { output: tf.add(x2, branch(m)), scores };
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      mlpUnits: this.mlpUnits,
      dropout: this.dropout,
      attentionDropout: this.attentionDropout,
      epsilon: this.epsilon,
      activation: this.activation,
      dropPath: this.dropPath,
      seed: this.seed ?? null,
      // Only when not the default, so that the configs of models saved before the option existed are unchanged.
      ...(this.mlpOutputActivation ? {} : { mlpOutputActivation: false }),
    };
  }
}
registerSerializable(TransformerBlock);

/**
 * Creates a {@link TransformerBlock} layer.
 *
 * @example
 * ```ts
 * let x = tokens;
 * for (let i = 0; i < 8; i++) x = transformerBlock({ numHeads: 4, keyDim: 64, mlpUnits: [128, 64] }).apply(x) as tfl.SymbolicTensor;
 * ```
 *
 * @category Layers
 */
export function transformerBlock(args: TransformerBlockArgs): TransformerBlock {
  return new TransformerBlock(args);
}
