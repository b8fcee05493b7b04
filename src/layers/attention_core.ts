/**
 * The weights and forward pass of multi-head attention, shared by {@link MultiHeadAttention} and
 * {@link TransformerBlock} (internal).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { scaledDotProductAttention } from '../ops/attention';
import { linear } from '../ops/linear';
import { RandomGenerator } from '../utils/random';
import { glorotUniform, WeightAdder, zeros } from './layer_utils';

/** Sizes of a multi-head attention. @internal */
export interface AttentionDims {
  queryDim: number;
  keyInputDim: number;
  valueInputDim: number;
  numHeads: number;
  keyDim: number;
  valueDim: number;
  outputDim: number;
  useBias: boolean;
}

/** A projection kernel and its optional bias. @internal */
export interface Projection {
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable | null;
}

/** The four projections of a multi-head attention, in Keras's shapes. @internal */
export interface AttentionWeights {
  query: Projection;
  key: Projection;
  value: Projection;
  output: Projection;
}

/**
 * Adds the weights of a multi-head attention (through the owning layer's `addWeight`), in the shapes and names of Keras's
 * `MultiHeadAttention`: `query|key|value/kernel` [inputDim, heads, keyDim|valueDim], `.../bias` [heads, dim],
 * `attention_output/kernel` [heads, valueDim, outputDim], `attention_output/bias` [outputDim]. @internal
 */
export function addAttentionWeights(
  addWeight: WeightAdder,
  dims: AttentionDims,
  rng: RandomGenerator,
  prefix = '',
): AttentionWeights {
  const projection = (name: string, kernelShape: number[], biasShape: number[]): Projection => ({
    kernel: addWeight(`${prefix}${name}/kernel`, kernelShape, glorotUniform(rng)),
    bias: dims.useBias ? addWeight(`${prefix}${name}/bias`, biasShape, zeros()) : null,
  });
  const { numHeads: h, keyDim, valueDim } = dims;
  return {
    query: projection('query', [dims.queryDim, h, keyDim], [h, keyDim]),
    key: projection('key', [dims.keyInputDim, h, keyDim], [h, keyDim]),
    value: projection('value', [dims.valueInputDim, h, valueDim], [h, valueDim]),
    output: projection('attention_output', [h, valueDim, dims.outputDim], [dims.outputDim]),
  };
}

/** Options of {@link attentionForward}. @internal */
export interface AttentionForwardOptions {
  mask?: tf.Tensor | null;
  dropout: number;
  training: boolean;
  rng: RandomGenerator;
  /**
   * Added to the attention probabilities before they weight the values (inference only; the plain tf-op
   * formulation). Zeros give the same output; the gradient with respect to it is the gradient with respect to the
   * probabilities where they are used (attention maps' gradient-weighted rollout).
   */
  probabilityOffset?: tf.Tensor;
}

/**
 * softmax(Q·Kᵀ/√keyDim)·V per head, then the output projection: query [B, Tq, dq], value [B, Tv, dv],
 * key [B, Tv, dk] → output [B, Tq, outputDim] and scores [B, heads, Tq, Tv]. @internal
 */
export function attentionForward(
  weights: AttentionWeights,
  query: tf.Tensor,
  value: tf.Tensor,
  key: tf.Tensor,
  options: AttentionForwardOptions,
): { output: tf.Tensor; scores: tf.Tensor } {
  const read = (p: Projection): [tf.Tensor, tf.Tensor | null] => [p.kernel.read(), p.bias == null ? null : p.bias.read()];
  const q = linear(query, ...read(weights.query)); // [B, Tq, H, dk]
  const k = linear(key, ...read(weights.key));
  const v = linear(value, ...read(weights.value));
  if (options.probabilityOffset != null) return offsetAttention(weights, q, k, v, options.probabilityOffset, options.mask ?? null);
  const seed = options.training && options.dropout > 0 ? options.rng.nextSeed() : undefined;
  const attention = scaledDotProductAttention(q, k, v, {
    mask: options.mask ?? null,
    dropout: options.dropout,
    training: options.training,
    seed,
  });
  const [batch, tq, heads, dv] = attention.output.shape as [number, number, number, number];
  const outKernel = weights.output.kernel.read();
  const outputDim = outKernel.shape[2] as number;
  const output = linear(
    tf.reshape(attention.output, [batch, tq, heads * dv]),
    tf.reshape(outKernel, [heads * dv, outputDim]),
    weights.output.bias == null ? null : weights.output.bias.read(),
  );
  return { output, scores: attention.scores };
}

/**
 * Inference attention with `offset` [B, heads, Tq, Tv] added to the probabilities before the product with the values,
 * from the projections q [B, Tq, H, dk], k, v [B, Tv, H, d]; the probabilities themselves come from
 * {@link scaledDotProductAttention}, as in the forward pass. @internal
 */
function offsetAttention(
  weights: AttentionWeights,
  q: tf.Tensor,
  k: tf.Tensor,
  v: tf.Tensor,
  offset: tf.Tensor,
  mask: tf.Tensor | null,
): { output: tf.Tensor; scores: tf.Tensor } {
  const { scores } = scaledDotProductAttention(q, k, v, { mask });
  const probs = tf.add(scores, offset);
  const out = tf.transpose(tf.matMul(probs, tf.transpose(v, [0, 2, 1, 3])), [0, 2, 1, 3]); // [B, Tq, H, dv]
  const [batch, tq, heads, dv] = out.shape as [number, number, number, number];
  const outKernel = weights.output.kernel.read();
  const output = linear(
    tf.reshape(out, [batch, tq, heads * dv]),
    tf.reshape(outKernel, [heads * dv, outKernel.shape[2] as number]),
    weights.output.bias == null ? null : weights.output.bias.read(),
  );
  return { output, scores };
}
