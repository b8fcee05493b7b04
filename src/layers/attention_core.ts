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
