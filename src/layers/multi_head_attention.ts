import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { layerRandom, RandomGenerator } from '../utils/random';
import { assertInRange, assertPositiveInteger } from '../utils/validate';
import { addAttentionWeights, attentionForward, AttentionWeights } from './attention_core';
import { assertRank, CallKwargs, generatorFor } from './layer_utils';
import { registerSerializable } from '../utils/serialization';
import type { ViTLayerArgs } from './layer_args';

/**
 * Options of {@link MultiHeadAttention} (Keras's names, camelCase).
 *
 * @category Layers
 */
export interface MultiHeadAttentionArgs extends ViTLayerArgs {
  /** Number of attention heads. */
  numHeads: number;
  /** Size of each head for query and key. */
  keyDim: number;
  /** Size of each head for value; default `keyDim`. */
  valueDim?: number;
  /** Dropout rate on the attention probabilities (training only). Default 0. */
  dropout?: number;
  /** Whether the projections have biases. Default true. */
  useBias?: boolean;
  /** Width of the output; default the query's last axis. */
  outputShape?: number;
  /**
   * Also return the attention probabilities [batch, heads, Tq, Tv], as a second output. Set it here for
   * functional models (the output count must be known when the model is built); eager callers may instead
   * pass `{ returnAttentionScores: true }` to `apply`.
   */
  returnAttentionScores?: boolean;
  /** Seed of the layer's own random generator (initializers, dropout); default: the library's global generator. */
  seed?: number;
}

/**
 * Keyword arguments of {@link MultiHeadAttention}'s `apply`/`call`.
 *
 * @category Layers
 */
export interface MultiHeadAttentionKwargs extends CallKwargs {
  /** [batch, Tq, Tv] (or broadcastable): 1 where a query may attend to a key, 0 where not. */
  attentionMask?: tf.Tensor;
  /** Return `[output, scores]` instead of `output`. */
  returnAttentionScores?: boolean;
}

/**
 * Multi-head attention with Keras's semantics, names and weight shapes (`query|key|value/kernel`
 * [dim, heads, keyDim], `attention_output/kernel` [heads, valueDim, outputDim]), so weights map one-to-one
 * to a Keras model's.
 *
 * Inputs: one tensor (self-attention), `[query, value]`, `[query, value, key]`, or
 * `[query, value, key, mask]` (the mask as a model input, for functional models). The mask [batch, Tq, Tv]
 * has 1 where a query may attend to a key; masked logits get −1e9 before the softmax, as in Keras.
 *
 * The class is registered as `VitMultiHeadAttention` so that it does not replace tfjs-layers' own
 * `MultiHeadAttention` in the serialization registry.
 *
 * @example
 * ```ts
 * const mha = new MultiHeadAttention({ numHeads: 4, keyDim: 64, dropout: 0.1 });
 * const y = mha.apply([x, x]) as tf.Tensor;                       // self-attention, [B, T, dim]
 * const [out, scores] = mha.apply([x, x], { returnAttentionScores: true }) as tf.Tensor[];
 * ```
 *
 * @category Layers
 */
export class MultiHeadAttention extends tfl.layers.Layer {
  static className = 'VitMultiHeadAttention';
  /** Number of heads. */
  readonly numHeads: number;
  /** Query/key size per head. */
  readonly keyDim: number;
  /** Value size per head. */
  readonly valueDim: number;
  /** Attention-probability dropout rate. */
  readonly dropout: number;
  /** Whether projections have biases. */
  readonly useBias: boolean;
  /** Output width, if set (the `outputShape` option). */
  readonly outputDim?: number;
  /** Whether the scores are a second output. */
  readonly returnAttentionScores: boolean;
  /** Seed of the layer's own generator, if any. */
  readonly seed?: number;
  private readonly rng: RandomGenerator;
  private weightsOf: AttentionWeights | null = null;
  private dims: { query: number; value: number; key: number } | null = null;

  constructor(args: MultiHeadAttentionArgs) {
    super(args);
    const c = args ?? ({} as MultiHeadAttentionArgs);
    assertPositiveInteger('MultiHeadAttention: numHeads', c.numHeads);
    assertPositiveInteger('MultiHeadAttention: keyDim', c.keyDim);
    if (c.valueDim != null) assertPositiveInteger('MultiHeadAttention: valueDim', c.valueDim);
    if (c.outputShape != null) assertPositiveInteger('MultiHeadAttention: outputShape', c.outputShape);
    assertInRange('MultiHeadAttention: dropout', c.dropout ?? 0, 0, 1, { openHigh: true });
    this.numHeads = c.numHeads;
    this.keyDim = c.keyDim;
    this.valueDim = c.valueDim ?? c.keyDim;
    this.dropout = c.dropout ?? 0;
    this.useBias = c.useBias ?? true;
    this.outputDim = c.outputShape ?? undefined;
    this.returnAttentionScores = c.returnAttentionScores ?? false;
    this.seed = c.seed ?? undefined;
    this.rng = generatorFor(this.seed);
  }

  /** Splits the inputs into query, value, key and optional mask shapes or tensors. */
  private static split<T>(inputs: T | T[], isList: boolean): { query: T; value: T; key: T; mask: T | null } {
    if (!isList) return { query: inputs as T, value: inputs as T, key: inputs as T, mask: null };
    const list = inputs as T[];
    if (list.length < 1 || list.length > 4) {
      throw new Error(`MultiHeadAttention: expected [query, value, key?, mask?], got ${list.length} inputs`);
    }
    const query = list[0];
    const value = list[1] ?? query;
    return { query, value, key: list[2] ?? value, mask: list[3] ?? null };
  }

  private static shapes(inputShape: tfl.Shape | tfl.Shape[]): ReturnType<typeof MultiHeadAttention.split<tfl.Shape>> {
    const isList = Array.isArray(inputShape[0]);
    const parts = MultiHeadAttention.split<tfl.Shape>(inputShape as tfl.Shape[], isList);
    assertRank('MultiHeadAttention', parts.query, 3, 'query [batch, Tq, dim]');
    assertRank('MultiHeadAttention', parts.value, 3, 'value [batch, Tv, dim]');
    assertRank('MultiHeadAttention', parts.key, 3, 'key [batch, Tv, dim]');
    return parts;
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const { query, value, key } = MultiHeadAttention.shapes(inputShape);
    const last = (s: tfl.Shape, what: string): number => {
      const d = s[2];
      if (d == null) throw new Error(`MultiHeadAttention: the last axis of ${what} must be known`);
      return d;
    };
    this.dims = { query: last(query, 'query'), value: last(value, 'value'), key: last(key, 'key') };
    this.weightsOf = addAttentionWeights(
      (n, s, init) => this.addWeight(n, s, 'float32', init),
      {
        queryDim: this.dims.query,
        keyInputDim: this.dims.key,
        valueInputDim: this.dims.value,
        numHeads: this.numHeads,
        keyDim: this.keyDim,
        valueDim: this.valueDim,
        outputDim: this.outputDim ?? this.dims.query,
        useBias: this.useBias,
      },
      this.rng,
    );
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    const { query, value } = MultiHeadAttention.shapes(inputShape);
    const output: tfl.Shape = [query[0], query[1], this.outputDim ?? query[2]];
    if (!this.returnAttentionScores) return output;
    return [output, [query[0], this.numHeads, query[1], value[1]]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: MultiHeadAttentionKwargs): tf.Tensor | tf.Tensor[] {
    return tf.tidy(() => {
      const { query, value, key, mask } = MultiHeadAttention.split<tf.Tensor>(inputs, Array.isArray(inputs));
      assertRank('MultiHeadAttention', query.shape, 3, 'query [batch, Tq, dim]');
      assertRank('MultiHeadAttention', value.shape, 3, 'value [batch, Tv, dim]');
      assertRank('MultiHeadAttention', key.shape, 3, 'key [batch, Tv, dim]');
      const dims = this.dims as { query: number; value: number; key: number };
      for (const [what, t, d] of [['query', query, dims.query], ['value', value, dims.value], ['key', key, dims.key]] as const) {
        if (t.shape[2] !== d) {
          throw new Error(`MultiHeadAttention: ${what} has ${t.shape[2]} channels but layer '${this.name}' was built for ${d}`);
        }
      }
      const { output, scores } = attentionForward(this.weightsOf as AttentionWeights, query, value, key, {
        mask: kwargs?.attentionMask ?? mask,
        dropout: this.dropout,
        training: kwargs?.training === true,
        rng: layerRandom(this.rng),
      });
      return this.returnAttentionScores || kwargs?.returnAttentionScores === true ? [output, scores] : output;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numHeads: this.numHeads,
      keyDim: this.keyDim,
      valueDim: this.valueDim,
      dropout: this.dropout,
      useBias: this.useBias,
      outputShape: this.outputDim ?? null,
      returnAttentionScores: this.returnAttentionScores,
      seed: this.seed ?? null,
    };
  }
}
registerSerializable(MultiHeadAttention);

/**
 * Creates a {@link MultiHeadAttention} layer.
 *
 * @example
 * ```ts
 * const y = multiHeadAttention({ numHeads: 4, keyDim: 64 }).apply([x, x]);
 * ```
 *
 * @category Layers
 */
export function multiHeadAttention(args: MultiHeadAttentionArgs): MultiHeadAttention {
  return new MultiHeadAttention(args);
}
