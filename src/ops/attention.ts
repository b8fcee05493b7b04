import * as tf from '@tensorflow/tfjs-core';
import { globalRandom } from '../utils/random';
import { assertInRange } from '../utils/validate';
import { dropoutMask } from './dropout';
import { prepareFastPath, useFastOps, useWasmBatchMatMul } from './mode';
import { wasmBatchMatMul } from './wasm/batch_matmul';
import { customNode } from './fast_util';

/** Options of {@link scaledDotProductAttention}. */
export interface AttentionOptions {
  /**
   * Boolean-like mask broadcastable to [batch, heads, queryLength, keyLength] (or [batch, queryLength, keyLength],
   * which is broadcast over heads): 1 where a query may attend to a key, 0 where it may not.
   */
  mask?: tf.Tensor | null;
  /** Dropout rate applied to the attention probabilities (only when `training`). */
  dropout?: number;
  /** Whether dropout is active. */
  training?: boolean;
  /**
   * Seed of the dropout mask (drawn with {@link dropoutMask}); defaults to a draw from {@link globalRandom}.
   * The same seed gives the same mask on every backend and on both formulations.
   */
  seed?: number;
  /** Multiplier of the scores; defaults to 1/√keyDim. */
  scale?: number;
}

/** Result of {@link scaledDotProductAttention}. */
export interface AttentionResult {
  /** [batch, queryLength, heads, valueDim]. */
  output: tf.Tensor;
  /** Attention probabilities [batch, heads, queryLength, keyLength] (after softmax, before dropout). */
  scores: tf.Tensor;
}

/**
 * Multi-head scaled dot-product attention, `softmax(Q·Kᵀ·scale + maskBias)·V`, per head.
 *
 * Layout: `query` [B, Tq, H, dk], `key` [B, Tk, H, dk], `value` [B, Tk, H, dv] (what a projection of
 * [B, T, dim] by a [dim, H, d] kernel gives after a reshape), output [B, Tq, H, dv].
 * Masked positions get −1e9 added before the softmax (as Keras's `MultiHeadAttention`, whose softmax
 * fills masked logits with a large negative number). With `training` and `dropout` > 0 the probabilities
 * are multiplied by a {@link dropoutMask} before the product with V (`scores` are returned before dropout).
 *
 * On the wasm backend (see {@link OpsMode}) this runs as two nodes with hand-written gradients,
 * `scores = softmax(...)` and `output = dropout(scores)·V`, whose batched products (forward and backward)
 * all run through XNNPACK, one (batch, head) slice at a time, without transposed products.
 *
 * @example
 * ```ts
 * const { output } = scaledDotProductAttention(q, k, v, { dropout: 0.1, training: true, seed: rng.nextSeed() });
 * ```
 */
export function scaledDotProductAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  return useFastOps() ? attentionFast(query, key, value, options) : attentionReference(query, key, value, options);
}

interface Prepared {
  scale: number;
  mask: tf.Tensor | null;
  dropRate: number;
  seed: number;
}

function prepare(query: tf.Tensor, key: tf.Tensor, value: tf.Tensor, options: AttentionOptions): Prepared {
  const [q, k, v] = [query, key, value];
  if (q.rank !== 4 || k.rank !== 4 || v.rank !== 4) {
    throw new Error(
      `scaledDotProductAttention: query, key and value must have rank 4 [batch, length, heads, dim], got [${q.shape}], [${k.shape}], [${v.shape}]`,
    );
  }
  if (k.shape[0] !== q.shape[0] || v.shape[0] !== q.shape[0] || k.shape[2] !== q.shape[2] || v.shape[2] !== q.shape[2]) {
    throw new Error(`scaledDotProductAttention: batch and heads of query [${q.shape}], key [${k.shape}], value [${v.shape}] differ`);
  }
  if (k.shape[3] !== q.shape[3]) {
    throw new Error(`scaledDotProductAttention: key dim of query [${q.shape}] and key [${k.shape}] differ`);
  }
  if (v.shape[1] !== k.shape[1]) {
    throw new Error(`scaledDotProductAttention: key [${k.shape}] and value [${v.shape}] have different lengths`);
  }
  const { mask = null, dropout = 0, training = false } = options;
  assertInRange('dropout', dropout, 0, 1, { openHigh: true });
  const scale = options.scale ?? 1 / Math.sqrt(q.shape[3] as number);
  const dropRate = training ? dropout : 0;
  const seed = dropRate > 0 ? (options.seed ?? globalRandom().nextSeed()) : 0;
  return { scale, mask, dropRate, seed };
}

/** −1e9 where the mask is 0, broadcastable to [B, H, Tq, Tk]. */
function maskBias(mask: tf.Tensor): tf.Tensor {
  const m = mask.rank === 3 ? tf.expandDims(mask, 1) : mask;
  return tf.mul(tf.sub(1, tf.cast(m, 'float32')), -1e9);
}

/**
 * The plain formulation of {@link scaledDotProductAttention} (transposes, batched `tf.matMul`, tfjs's default
 * gradients), kept as the reference the fast path is tested and benchmarked against. Same dropout masks.
 * @internal
 */
export function attentionReference(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  const { scale, mask, dropRate, seed } = prepare(query, key, value, options);
  return tf.tidy(() => {
    const q = tf.transpose(query, [0, 2, 1, 3]); // [B, H, Tq, dk]
    const k = tf.transpose(key, [0, 2, 1, 3]);
    const v = tf.transpose(value, [0, 2, 1, 3]);
    let logits = tf.mul(tf.matMul(q, k, false, true), scale); // [B, H, Tq, Tk]
    if (mask != null) logits = tf.add(logits, maskBias(mask));
    const scores = tf.softmax(logits);
    let probs = scores;
    if (dropRate > 0) probs = tf.mul(scores, dropoutMask(scores.shape, dropRate, seed));
    const out = tf.matMul(probs, v); // [B, H, Tq, dv]
    return { output: tf.transpose(out, [0, 2, 1, 3]), scores };
  });
}

/** [n, m, k] · [n, k, p] → [n, m, p], non-transposed; through XNNPACK on wasm. */
function bmm(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return useWasmBatchMatMul() ? wasmBatchMatMul(a, b) : tf.matMul(a, b);
}

/** [B, T, H, d] → [B·H, T, d] */
function headsFirst(x: tf.Tensor): tf.Tensor {
  const [b, t, h, d] = x.shape as number[];
  return tf.reshape(tf.transpose(x, [0, 2, 1, 3]), [b * h, t, d]);
}

/** [B, T, H, d] → [B·H, d, T] */
function headsFirstTransposed(x: tf.Tensor): tf.Tensor {
  const [b, t, h, d] = x.shape as number[];
  return tf.reshape(tf.transpose(x, [0, 2, 3, 1]), [b * h, d, t]);
}

/** [B·H, T, d] → [B, T, H, d] */
function headsBack(x: tf.Tensor, b: number, h: number): tf.Tensor {
  const [, t, d] = x.shape as number[];
  return tf.transpose(tf.reshape(x, [b, h, t, d]), [0, 2, 1, 3]);
}

/** scores = softmax(scale · Q·Kᵀ + bias) as one node; gradient by non-transposed batched products. */
function scoresNode(scale: number, bias: tf.Tensor | null): (q: tf.Tensor, k: tf.Tensor) => tf.Tensor {
  return customNode<[tf.Tensor, tf.Tensor]>((query, key, save) => {
    const [b, tq, h] = query.shape as number[];
    const tk = key.shape[1] as number;
    const q = tf.mul(headsFirst(query), scale); // [BH, Tq, d]
    let logits = tf.reshape(bmm(q, headsFirstTransposed(key)), [b, h, tq, tk]);
    if (bias != null) logits = tf.add(logits, bias);
    const p = tf.softmax(logits);
    save([q, key, p]); // q heads-first and scaled, as the gradient of K uses it
    return {
      value: p,
      gradFunc: (dp: tf.Tensor, [qScaled, ks, ps]: tf.Tensor[]) => {
        // softmax: dL = P⊙dP − P⊙Σ(P⊙dP)
        const g = tf.mul(ps, dp);
        const dl = tf.reshape(tf.sub(g, tf.mul(ps, tf.sum(g, -1, true))), [b * h, tq, tk]);
        // dK = dLᵀ·Q rather than dKᵀ = Qᵀ·dL: XNNPACK packs the second operand of every slice anew, and Q
        // [Tq, d] is smaller than dL [Tq, Tk]; the transpose of dL is a cheap batched one.
        const dq = tf.mul(bmm(dl, headsFirst(ks)), scale); // [BH, Tq, d]
        const dk = bmm(tf.transpose(dl, [0, 2, 1]), qScaled); // [BH, Tk, d]
        return [headsBack(dq, b, h), headsBack(dk, b, h)];
      },
    };
  });
}

/** output = (scores ⊙ dropMask)·V as one node; gradient by non-transposed batched products. */
function valueNode(dropMask: tf.Tensor | null): (p: tf.Tensor, v: tf.Tensor) => tf.Tensor {
  return customNode<[tf.Tensor, tf.Tensor]>((p, value, save) => {
    const [b, h, tq, tk] = p.shape as number[];
    const probs = dropMask != null ? tf.mul(p, dropMask) : p;
    const out = bmm(tf.reshape(probs, [b * h, tq, tk]), headsFirst(value)); // [BH, Tq, dv]
    save(dropMask != null ? [p, value, dropMask] : [p, value]);
    return {
      value: headsBack(out, b, h),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [ps, vs] = saved;
        const m = saved.length > 2 ? saved[2] : null;
        const dyH = headsFirst(dy); // [BH, Tq, dv]
        let dp = tf.reshape(bmm(dyH, headsFirstTransposed(vs)), [b, h, tq, tk]);
        if (m != null) dp = tf.mul(dp, m);
        // dV = (P⊙M)ᵀ·dY (second operand dY [Tq, dv], smaller than P [Tq, Tk]; see scoresNode).
        const pd = tf.reshape(m != null ? tf.mul(ps, m) : ps, [b * h, tq, tk]);
        const dv = bmm(tf.transpose(pd, [0, 2, 1]), dyH); // [BH, Tk, dv]
        return [dp, headsBack(dv, b, h)];
      },
    };
  });
}

/**
 * The fast formulation of {@link scaledDotProductAttention} (see there); any backend (the XNNPACK batched
 * product only on wasm).
 * @internal
 */
export function attentionFast(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  const { scale, mask, dropRate, seed } = prepare(query, key, value, options);
  prepareFastPath();
  return tf.tidy(() => {
    const [b, tq, h] = query.shape as number[];
    const tk = key.shape[1] as number;
    const bias = mask != null ? maskBias(mask) : null;
    const scores = scoresNode(scale, bias)(query, key);
    const dropMask = dropRate > 0 ? dropoutMask([b, h, tq, tk] as number[], dropRate, seed) : null;
    const output = valueNode(dropMask)(scores, value);
    return { output, scores };
  });
}
