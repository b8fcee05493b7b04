/**
 * The library's functional ops, reached as `ops.<name>` from `vit-tfjs` (`import { ops } from 'vit-tfjs'`): the
 * building blocks its layers are made of, with fast formulations on the wasm and cpu backends (see
 * {@link setOpsMode}). Each takes and returns `tf.Tensor`s and is differentiable.
 *
 * They live in a namespace of their own because some share a name with a tfjs-layers layer of another meaning
 * (`ops.dropout` is a function, `tf.layers.dropout` a layer).
 *
 * @example
 * ```ts
 * import { ops } from 'vit-tfjs';
 * const y = ops.gelu(ops.linear(x, kernel, bias));
 * ```
 *
 * @category Ops
 * @packageDocumentation
 */

export { type ActivationName, applyActivation, gelu, geluTanh } from './activations';
export { linear } from './linear';
export { layerNorm } from './layer_norm';
export { type AttentionOptions, type AttentionResult, scaledDotProductAttention } from './attention';
export { dropout, dropoutMask } from './dropout';
export { dropPath } from '../layers/drop_path';
export { type OpsMode, getOpsMode, setOpsMode } from './mode';
