/**
 * Attention maps of a ViT: the attention probabilities of every transformer block in an inference pass, attention
 * rollout (Abnar & Zuidema 2020) and its gradient-weighted variant (Chefer et al. 2021).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { show } from '../utils/validate';

/**
 * Options of {@link getAttentionMaps}.
 *
 * @category Attention
 */
export interface AttentionMapsOptions {
  /**
   * Which transformer blocks, as indices in model order (0 = the first, `block_1` in {@link createViTClassifier}'s
   * names; −1 = the last) or layer names. Default: every block.
   */
  blocks?: (number | string)[];
  /** Which heads (indices; −1 = the last), in this order. Default: every head. */
  heads?: number[];
}

/**
 * How {@link attentionRolloutMatrix} fuses the heads of a block: their mean (the paper's) or their maximum.
 *
 * @category Attention
 */
export type HeadFusion = 'mean' | 'max';

/**
 * Which row of the rolled-out attention becomes the map: the class token's (`'classToken'`, for models with one) or
 * the mean over all tokens (`'mean'`, for models that pool or flatten the tokens).
 *
 * @category Attention
 */
export type RolloutSource = 'classToken' | 'mean';

/**
 * Options of {@link attentionRolloutMatrix}.
 *
 * @category Attention
 */
export interface RolloutMatrixOptions {
  /** How the heads are fused. Default `'mean'`. */
  headFusion?: HeadFusion;
  /**
   * Fraction in [0, 1) of each fused matrix's entries, the lowest, set to 0 before the identity is added
   * (`floor(discardRatio·T²)` entries per image: those below the smallest value kept). Default 0.
   */
  discardRatio?: number;
  /** Never discard the first token's attention to itself (the class token's, as the reference code does). Default false. */
  keepFirstToken?: boolean;
}

/**
 * Options of {@link attentionRollout}.
 *
 * @category Attention
 */
export interface AttentionRolloutOptions {
  /** How the heads are fused. Default `'mean'`. */
  headFusion?: HeadFusion;
  /** See {@link RolloutMatrixOptions.discardRatio}. Default 0. */
  discardRatio?: number;
  /** Which blocks enter the product, as in {@link AttentionMapsOptions.blocks}. Default: every block. */
  blocks?: (number | string)[];
  /** Which row becomes the map; default `'classToken'` when the model has a class token, else `'mean'`. */
  source?: RolloutSource;
}

/**
 * Options of {@link gradientAttentionRollout}.
 *
 * @category Attention
 */
export interface GradientRolloutOptions {
  /** The class whose logit is explained: one for every image, or one per image. Default: each image's predicted class. */
  classIndex?: number | number[];
  /** See {@link RolloutMatrixOptions.discardRatio}. Default 0. */
  discardRatio?: number;
  /** Which blocks enter the product, as in {@link AttentionMapsOptions.blocks}. Default: every block. */
  blocks?: (number | string)[];
  /** Which row becomes the map; default `'classToken'` when the model has a class token, else `'mean'`. */
  source?: RolloutSource;
}

/**
 * Where the patch tokens of a model lie: the patch grid and whether a class token comes first.
 *
 * @category Attention
 */
export interface PatchLayout {
  /** Rows of the patch grid. */
  rows: number;
  /** Columns of the patch grid. */
  cols: number;
  /** Whether token 0 is a class token (the patches then are tokens 1 … rows·cols). */
  classToken: boolean;
}

/** What the maps need of a TransformerBlock (by shape, so that a block of another copy of the library works too). */
interface AttentionBlock extends tfl.layers.Layer {
  numHeads: number;
  forwardWithAttention(x: tf.Tensor, probabilityOffset?: tf.Tensor): { output: tf.Tensor; scores: tf.Tensor };
}

function transformerBlocks(fn: string, model: tfl.LayersModel): AttentionBlock[] {
  if (model == null || !Array.isArray((model as tfl.LayersModel).layers)) {
    throw new Error(`${fn}: model must be a tf.LayersModel, got ${show(model)}`);
  }
  const blocks = model.layers.filter(
    (l) => l.getClassName() === 'TransformerBlock' && typeof (l as Partial<AttentionBlock>).forwardWithAttention === 'function',
  ) as AttentionBlock[];
  if (blocks.length === 0) throw new Error(`${fn}: model '${model.name}' has no TransformerBlock layer`);
  return blocks;
}

function selectBlocks(fn: string, all: AttentionBlock[], blocks: (number | string)[] | undefined): number[] {
  if (blocks == null) return all.map((_, i) => i);
  if (!Array.isArray(blocks) || blocks.length === 0) {
    throw new Error(`${fn}: options.blocks must be a non-empty array of block indices or layer names, got ${show(blocks)}`);
  }
  return blocks.map((b, k) => {
    if (typeof b === 'string') {
      const i = all.findIndex((l) => l.name === b);
      if (i < 0) throw new Error(`${fn}: options.blocks[${k}]: no TransformerBlock named '${b}' (blocks: ${all.map((l) => l.name).join(', ')})`);
      return i;
    }
    if (!Number.isInteger(b) || b < -all.length || b >= all.length) {
      throw new Error(`${fn}: options.blocks[${k}] must be an integer in [${-all.length}, ${all.length}) (the model has ${all.length} blocks), got ${show(b)}`);
    }
    return b < 0 ? all.length + b : b;
  });
}

function checkImages(fn: string, model: tfl.LayersModel, images: tf.Tensor): void {
  if (!(images instanceof tf.Tensor)) throw new Error(`${fn}: images must be a tf.Tensor, got ${show(images)}`);
  if (model.inputs.length !== 1) throw new Error(`${fn}: model '${model.name}' must have one input, it has ${model.inputs.length}`);
  const expected = model.inputs[0].shape;
  const ok = images.rank === expected.length && expected.every((d, i) => i === 0 || d == null || d === images.shape[i]);
  if (!ok) throw new Error(`${fn}: images have shape [${images.shape}], the model takes [${expected.map((d) => d ?? 'batch')}]`);
  if (images.shape[0] === 0) throw new Error(`${fn}: images must hold at least one image`);
}

/**
 * Runs `model` on `images` in inference, layer by layer through its graph (the model's own layer objects), with
 * `onBlock` in place of each transformer block. Stops after the block `stopAfter` when given (returns null then).
 */
function execute(
  model: tfl.LayersModel,
  images: tf.Tensor,
  blocks: AttentionBlock[],
  onBlock: (index: number, x: tf.Tensor) => tf.Tensor,
  stopAfter?: number,
): tf.Tensor[] | null {
  const values = new Map<number, tf.Tensor>([[model.inputs[0].id, images]]);
  const blockIndex = new Map<tfl.layers.Layer, number>(blocks.map((b, i) => [b, i]));
  for (const layer of model.layers) {
    for (const node of layer.inboundNodes) {
      const ins = node.inputTensors;
      if (ins.length === 0 || !ins.every((t) => values.has(t.id)) || node.outputTensors.every((t) => values.has(t.id))) continue;
      const xs = ins.map((t) => values.get(t.id) as tf.Tensor);
      const bi = blockIndex.get(layer);
      let outs: tf.Tensor[];
      if (bi != null) {
        outs = [onBlock(bi, xs[0])];
      } else {
        const r = layer.apply(xs.length === 1 ? xs[0] : xs, { ...(node.callArgs ?? {}), training: false }) as tf.Tensor | tf.Tensor[];
        outs = Array.isArray(r) ? r : [r];
      }
      node.outputTensors.forEach((t, k) => values.set(t.id, outs[k]));
      if (bi != null && bi === stopAfter) return null;
    }
  }
  return model.outputs.map((o) => {
    const v = values.get(o.id);
    if (v == null) throw new Error(`model '${model.name}': could not run its graph layer by layer`);
    return v;
  });
}

function checkHeads(fn: string, heads: number[] | undefined, numHeads: number): number[] | null {
  if (heads == null) return null;
  if (!Array.isArray(heads) || heads.length === 0) throw new Error(`${fn}: options.heads must be a non-empty array of head indices, got ${show(heads)}`);
  return heads.map((h, k) => {
    if (!Number.isInteger(h) || h < -numHeads || h >= numHeads) {
      throw new Error(`${fn}: options.heads[${k}] must be an integer in [${-numHeads}, ${numHeads}) (the blocks have ${numHeads} heads), got ${show(h)}`);
    }
    return h < 0 ? numHeads + h : h;
  });
}

/**
 * The attention probabilities of the model's transformer blocks in an inference pass on `images`: one tensor
 * `[batch, heads, tokens, tokens]` per selected block (row = query token, column = key token; every row sums to
 * 1), the very numbers the forward pass weights the values with (on the fast path and the reference path alike).
 *
 * The model runs once, layer by layer through its own layer objects (no copy, no rebuild), stopping after the last
 * selected block; it may be any functional model with one input whose blocks are {@link TransformerBlock}s, e.g.
 * one from {@link createViTClassifier} or loaded with `tf.loadLayersModel`. The caller disposes the tensors.
 *
 * @param images The model's input, e.g. raw pixels `[batch, 32, 32, 3]`.
 * @returns One tensor per selected block, in the order of `options.blocks`.
 *
 * @example
 * ```ts
 * const maps = getAttentionMaps(model, images, { blocks: [-1] });  // the last block: [batch, heads, 65, 65]
 * tf.dispose(maps);
 * ```
 *
 * @category Attention
 */
export function getAttentionMaps(model: tfl.LayersModel, images: tf.Tensor, options: AttentionMapsOptions = {}): tf.Tensor[] {
  const fn = 'getAttentionMaps';
  const all = transformerBlocks(fn, model);
  checkImages(fn, model, images);
  const selected = selectBlocks(fn, all, options?.blocks);
  const heads = options?.heads == null ? null : all.map((b) => checkHeads(fn, options.heads, b.numHeads));
  return tf.tidy(() => {
    const scores: tf.Tensor[] = new Array(all.length);
    execute(model, images, all, (i, x) => {
      const r = all[i].forwardWithAttention(x);
      scores[i] = r.scores;
      return r.output;
    }, Math.max(...selected));
    return selected.map((i) => {
      const h = heads?.[i];
      return h == null ? tf.clone(scores[i]) : tf.gather(scores[i], h, 1);
    });
  });
}

/**
 * Where the patches of `model` lie among its tokens: the grid of its `Patches` layer and whether its `PatchEncoder`
 * prepends a class token.
 *
 * @category Attention
 */
export function patchLayout(model: tfl.LayersModel): PatchLayout {
  const patches = model.layers.find((l) => l.getClassName() === 'Patches') as (tfl.layers.Layer & { patchSize: number }) | undefined;
  const encoder = model.layers.find((l) => l.getClassName() === 'PatchEncoder') as (tfl.layers.Layer & { classToken: boolean }) | undefined;
  if (patches == null) throw new Error(`patchLayout: model '${model.name}' has no Patches layer`);
  const shape = (patches.inboundNodes[0]?.inputTensors[0]?.shape ?? []) as (number | null)[];
  const [h, w] = [shape[1], shape[2]];
  if (h == null || w == null) throw new Error(`patchLayout: the image size of model '${model.name}' is not known`);
  return { rows: Math.floor(h / patches.patchSize), cols: Math.floor(w / patches.patchSize), classToken: encoder?.classToken === true };
}

function checkDiscard(fn: string, ratio: unknown): number {
  const r = ratio ?? 0;
  if (typeof r !== 'number' || !(r >= 0 && r < 1)) throw new Error(`${fn}: options.discardRatio must be a number in [0, 1), got ${show(ratio)}`);
  return r;
}

function checkFusion(fn: string, fusion: unknown): HeadFusion {
  const f = fusion ?? 'mean';
  if (f !== 'mean' && f !== 'max') throw new Error(`${fn}: options.headFusion must be 'mean' or 'max', got ${show(fusion)}`);
  return f;
}

/** Rollout of fused matrices [B, T, T] (see attentionRolloutMatrix). */
function rolloutFused(fused: tf.Tensor[], discardRatio: number, keepFirstToken: boolean): tf.Tensor {
  return tf.tidy(() => {
    const [batch, t] = fused[0].shape as [number, number, number];
    const eye = tf.eye(t);
    let joint: tf.Tensor = tf.tile(tf.expandDims(eye, 0), [batch, 1, 1]);
    const drop = Math.floor(discardRatio * t * t);
    for (const f of fused) {
      let a = f;
      if (drop > 0) {
        const flat = tf.reshape(a, [batch, t * t]);
        const kept = tf.topk(flat, t * t - drop).values; // descending
        const threshold = tf.slice(kept, [0, t * t - drop - 1], [batch, 1]);
        let keep = tf.greaterEqual(flat, threshold);
        if (keepFirstToken) keep = tf.logicalOr(keep, tf.cast(tf.oneHot(tf.zeros([batch], 'int32'), t * t), 'bool'));
        a = tf.reshape(tf.where(keep, flat, tf.zerosLike(flat)), [batch, t, t]);
      }
      a = tf.add(tf.mul(a, 0.5), tf.mul(eye, 0.5));
      a = tf.div(a, tf.sum(a, -1, true));
      joint = tf.matMul(a, joint);
    }
    return joint;
  });
}

/**
 * Attention rollout (Abnar & Zuidema 2020) of per-block attention `[batch, heads, T, T]` (e.g. from
 * {@link getAttentionMaps}, first block first): per block the heads are fused (mean or max), the lowest
 * `discardRatio` of the entries set to 0, the residual connection accounted for as `0.5·A + 0.5·I`, the rows
 * renormalised to sum 1, and the blocks multiplied, `Ã = A_L·…·A_1`. Returns `Ã` `[batch, T, T]`: row i says how much
 * of token i's final representation flows from each input token.
 *
 * @example
 * ```ts
 * const joint = attentionRolloutMatrix(getAttentionMaps(model, images), { headFusion: 'max', discardRatio: 0.9 });
 * ```
 *
 * @category Attention
 */
export function attentionRolloutMatrix(attention: tf.Tensor[], options: RolloutMatrixOptions = {}): tf.Tensor {
  const fn = 'attentionRolloutMatrix';
  const fusion = checkFusion(fn, options?.headFusion);
  const discard = checkDiscard(fn, options?.discardRatio);
  if (!Array.isArray(attention) || attention.length === 0) throw new Error(`${fn}: attention must be a non-empty array of tensors [batch, heads, T, T]`);
  const shape0 = attention[0]?.shape ?? [];
  attention.forEach((a, i) => {
    if (!(a instanceof tf.Tensor) || a.rank !== 4 || a.shape[2] !== a.shape[3] || a.shape[0] !== shape0[0] || a.shape[2] !== shape0[2]) {
      throw new Error(`${fn}: attention[${i}] must be a tensor [batch, heads, T, T] like attention[0] [${shape0}], got ${a instanceof tf.Tensor ? `[${a.shape}]` : show(a)}`);
    }
  });
  return tf.tidy(() => {
    const fused = attention.map((a) => (fusion === 'mean' ? tf.mean(a, 1) : tf.max(a, 1)));
    return rolloutFused(fused, discard, options?.keepFirstToken === true);
  });
}

function sourceOf(fn: string, source: unknown, layout: PatchLayout): RolloutSource {
  const s = source ?? (layout.classToken ? 'classToken' : 'mean');
  if (s !== 'classToken' && s !== 'mean') throw new Error(`${fn}: options.source must be 'classToken' or 'mean', got ${show(source)}`);
  if (s === 'classToken' && !layout.classToken) throw new Error(`${fn}: options.source 'classToken': the model has no class token`);
  return s;
}

/** The map [batch, rows, cols] from a joint attention [batch, T, T]. */
function mapOf(joint: tf.Tensor, layout: PatchLayout, source: RolloutSource): tf.Tensor {
  return tf.tidy(() => {
    const [batch, t] = joint.shape as [number, number, number];
    const first = layout.classToken ? 1 : 0;
    const n = layout.rows * layout.cols;
    if (t - first !== n) throw new Error(`the model has ${t} tokens, expected ${n} patches${first ? ' and a class token' : ''}`);
    const rows = source === 'classToken' ? tf.slice(joint, [0, 0, first], [batch, 1, n]) : tf.mean(tf.slice(joint, [0, 0, first], [batch, t, n]), 1, true);
    return tf.reshape(rows, [batch, layout.rows, layout.cols]);
  });
}

/** The checked options both rollouts share: discard ratio, patch layout, map source, blocks in model order. */
function rolloutSetup(
  fn: string,
  model: tfl.LayersModel,
  options: { discardRatio?: number; source?: RolloutSource; blocks?: AttentionMapsOptions['blocks'] },
): { discard: number; layout: PatchLayout; source: ReturnType<typeof sourceOf>; order: number[] } {
  const discard = checkDiscard(fn, options?.discardRatio);
  const layout = patchLayout(model);
  const source = sourceOf(fn, options?.source, layout);
  const order = [...selectBlocks(fn, transformerBlocks(fn, model), options?.blocks)].sort((a, b) => a - b);
  return { discard, layout, source, order };
}

/**
 * Attention rollout of `model` on `images`: one map `[batch, rows, cols]` over the patch grid per image, the row of
 * the rolled-out attention ({@link attentionRolloutMatrix}) of the class token (models with one) or the mean of all
 * rows (models that pool or flatten the tokens), restricted to the patch tokens. Larger = more of the final
 * representation flows from that patch, through attention and residual connections alike; it says where
 * information comes from, not why the model chose a class (see {@link gradientAttentionRollout}).
 *
 * @example
 * ```ts
 * const maps = attentionRollout(model, images, { discardRatio: 0.5 }); // [batch, 8, 8] for 8×8 patches
 * ```
 *
 * @category Attention
 */
export function attentionRollout(model: tfl.LayersModel, images: tf.Tensor, options: AttentionRolloutOptions = {}): tf.Tensor {
  const fusion = checkFusion('attentionRollout', options?.headFusion);
  const { discard, layout, source, order } = rolloutSetup('attentionRollout', model, options);
  return tf.tidy(() => {
    const maps = getAttentionMaps(model, images, { blocks: order });
    const joint = attentionRolloutMatrix(maps, { headFusion: fusion, discardRatio: discard, keepFirstToken: layout.classToken });
    return mapOf(joint, layout, source);
  });
}

function checkClasses(fn: string, classIndex: number | number[] | undefined, batch: number, numClasses: number): number[] | null {
  if (classIndex == null) return null;
  const list = Array.isArray(classIndex) ? classIndex : new Array<number>(batch).fill(classIndex);
  if (list.length !== batch) throw new Error(`${fn}: options.classIndex has ${list.length} entries for ${batch} images`);
  list.forEach((c, k) => {
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) {
      throw new Error(`${fn}: options.classIndex${Array.isArray(classIndex) ? `[${k}]` : ''} must be an integer in [0, ${numClasses}), got ${show(c)}`);
    }
  });
  return list;
}

/**
 * The gradients of the chosen logits (their sum over the batch; the images are independent) with respect to the
 * attention probabilities of every block where they weight the values, with the probabilities: `{ scores,
 * gradients, logits }`, each block's `[batch, heads, T, T]`. @internal
 */
export function attentionGradients(
  model: tfl.LayersModel,
  images: tf.Tensor,
  classIndex?: number | number[],
  fn = 'attentionGradients',
): { scores: tf.Tensor[]; gradients: tf.Tensor[]; logits: tf.Tensor; classes: number[] } {
  const blocks = transformerBlocks(fn, model);
  checkImages(fn, model, images);
  return tf.tidy(() => {
    const scores: tf.Tensor[] = new Array(blocks.length);
    const outputs = execute(model, images, blocks, (i, x) => {
      const r = blocks[i].forwardWithAttention(x);
      scores[i] = r.scores;
      return r.output;
    }) as tf.Tensor[];
    const logits = outputs[0];
    if (logits.rank !== 2) throw new Error(`${fn}: the model's output must be logits [batch, classes], got [${logits.shape}]`);
    const [batch, numClasses] = logits.shape as [number, number];
    const classes = checkClasses(fn, classIndex, batch, numClasses) ?? (tf.argMax(logits, 1).arraySync() as number[]);
    const pick = tf.oneHot(tf.tensor1d(classes, 'int32'), numClasses);
    const offsets = scores.map((s) => tf.zerosLike(s));
    const gradients = tf.grads((...zs: tf.Tensor[]) => {
      const out = execute(model, images, blocks, (i, x) => blocks[i].forwardWithAttention(x, zs[i]).output) as tf.Tensor[];
      return tf.sum(tf.mul(out[0], pick));
    })(offsets);
    return { scores, gradients, logits, classes };
  });
}

/**
 * Gradient-weighted attention rollout ("grad rollout", after Chefer et al. 2021): as {@link attentionRollout}, but
 * each block's heads are fused as the mean over heads of the positive part of attention × its gradient with respect
 * to the chosen class's logit, `E_h[(A ⊙ ∂y_c/∂A)⁺]`, before the identity is added and the rows renormalised. The map
 * `[batch, rows, cols]` shows the patches whose attention raised that class's logit: "why this class".
 *
 * @example
 * ```ts
 * const why = gradientAttentionRollout(model, images, { classIndex: 3 }); // [batch, rows, cols], for class 3
 * ```
 *
 * @category Attention
 */
export function gradientAttentionRollout(model: tfl.LayersModel, images: tf.Tensor, options: GradientRolloutOptions = {}): tf.Tensor {
  const fn = 'gradientAttentionRollout';
  const { discard, layout, source, order } = rolloutSetup(fn, model, options);
  return tf.tidy(() => {
    const { scores, gradients } = attentionGradients(model, images, options?.classIndex, fn);
    const fused = order.map((i) => tf.mean(tf.relu(tf.mul(scores[i], gradients[i])), 1));
    return mapOf(rolloutFused(fused, discard, layout.classToken), layout, source);
  });
}
