import * as tf from '@tensorflow/tfjs-core';
import { globalRandom } from '../utils/random';
import { assertInRange } from '../utils/validate';
import { dropoutMask } from './dropout';
import { customNode } from './fast_util';
import { prepareFastPath, useFastOps, useSimdKernels } from './mode';
import { stridedMatMul } from './wasm/strided_matmul';

/**
 * Options of {@link scaledDotProductAttention}.
 *
 * @category Ops
 */
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

/**
 * Result of {@link scaledDotProductAttention}.
 *
 * @category Ops
 */
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
 * On the fast path (see {@link OpsMode}) this runs as two nodes with hand-written gradients,
 * `scores = softmax(...)` and `output = dropout(scores)·V`; on wasm their products (forward and backward) run
 * through the library's SIMD kernel, which reads every (example, head) matrix in place from the [B, T, H, d]
 * projections and writes the outputs there: no per-head transposes but those of Kᵀ and Vᵀ.
 *
 * @example
 * ```ts
 * const { output } = ops.scaledDotProductAttention(q, k, v, { dropout: 0.1, training: true, seed: rng.nextSeed() });
 * ```
 *
 * @category Ops
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

/**
 * How a per-(example, head) matrix sits in a rank-4 tensor: `'tokens'` [B, rows, H, cols] (the projections'
 * layout, heads interleaved in each token) or `'heads'` [B, H, rows, cols].
 */
type HeadLayout = 'tokens' | 'heads';

/** An operand of {@link headProduct}: a rank-4 tensor, its layout, and whether its matrices enter transposed. */
interface HeadOperand {
  x: tf.Tensor;
  layout: HeadLayout;
  transpose?: boolean;
}

/** Rows and columns of the (example, head) matrices of `o` as stored. */
function matrixShape(o: HeadOperand): [number, number] {
  const [, a, b, c] = o.x.shape as number[];
  return o.layout === 'tokens' ? [a, c] : [b, c];
}

/** Element strides of the (example, head) matrices of a tensor in `layout` with `rows` × `cols` matrices. */
function headStrides(layout: HeadLayout, heads: number, rows: number, cols: number): { batch: [number, number]; row: number } {
  return layout === 'tokens' ? { batch: [rows * heads * cols, cols], row: heads * cols } : { batch: [heads * rows * cols, rows * cols], row: cols };
}

/**
 * `alpha · op(A)·op(B)` for every (example, head), in `outLayout`. With the SIMD kernels the products read A in
 * place through strides (transposed or not, either layout) and B and the output in either layout, so the only copy
 * is that of a transposed B; otherwise heads-first copies and a batched `tf.matMul`.
 */
function headProduct(a: HeadOperand, b: HeadOperand, outLayout: HeadLayout, alpha = 1): tf.Tensor {
  const [batch, d1, d2] = a.x.shape as number[];
  const heads = a.layout === 'tokens' ? d2 : d1;
  const [ar, ac] = matrixShape(a);
  const [m, k] = a.transpose ? [ac, ar] : [ar, ac];
  const [br, bc] = matrixShape(b);
  const n = b.transpose ? br : bc;
  const outShape = outLayout === 'tokens' ? [batch, m, heads, n] : [batch, heads, m, n];
  if (!useSimdKernels()) {
    const headsFirst = (o: HeadOperand) => {
      const t = o.layout === 'tokens' ? tf.transpose(o.x, [0, 2, 1, 3]) : o.x;
      return tf.reshape(t, [batch * heads, ...matrixShape(o)]);
    };
    let y = tf.matMul(headsFirst(a), headsFirst(b), a.transpose, b.transpose);
    if (alpha !== 1) y = tf.mul(y, alpha);
    y = tf.reshape(y, [batch, heads, m, n]);
    return outLayout === 'tokens' ? tf.transpose(y, [0, 2, 1, 3]) : y;
  }
  // B's rows must be contiguous: a transposed B is copied heads-first, [B, H, n, k] → [B, H, k, n].
  const bx = b.transpose ? tf.transpose(b.x, b.layout === 'tokens' ? [0, 2, 3, 1] : [0, 1, 3, 2]) : b.x;
  const bStrides = b.transpose ? headStrides('heads', heads, k, n) : headStrides(b.layout, heads, br, bc);
  const aStrides = headStrides(a.layout, heads, ar, ac);
  return stridedMatMul(a.x, bx, outShape, {
    batch: [batch, heads],
    m,
    n,
    k,
    a: { batch: aStrides.batch, row: a.transpose ? 1 : aStrides.row, depth: a.transpose ? aStrides.row : 1 },
    b: bStrides,
    c: headStrides(outLayout, heads, m, n),
    alpha,
  });
}

/** scores = softmax(scale · Q·Kᵀ + bias) as one node with a hand-written gradient. */
function scoresNode(scale: number, bias: tf.Tensor | null): (q: tf.Tensor, k: tf.Tensor) => tf.Tensor {
  return customNode<[tf.Tensor, tf.Tensor]>((query, key, save) => {
    let logits = headProduct({ x: query, layout: 'tokens' }, { x: key, layout: 'tokens', transpose: true }, 'heads', scale);
    if (bias != null) logits = tf.add(logits, bias);
    const p = tf.softmax(logits); // [B, H, Tq, Tk]
    save([query, key, p]);
    return {
      value: p,
      gradFunc: (dp: tf.Tensor, [qs, ks, ps]: tf.Tensor[]) => {
        // softmax: dL = P⊙dP − P⊙Σ(P⊙dP)
        const g = tf.mul(ps, dp);
        const dl = tf.sub(g, tf.mul(ps, tf.sum(g, -1, true)));
        // dQ = scale·dL·K, dK = scale·dLᵀ·Q
        const dq = headProduct({ x: dl, layout: 'heads' }, { x: ks, layout: 'tokens' }, 'tokens', scale);
        const dk = headProduct({ x: dl, layout: 'heads', transpose: true }, { x: qs, layout: 'tokens' }, 'tokens', scale);
        return [dq, dk];
      },
    };
  });
}

/** output = (scores ⊙ dropMask)·V as one node with a hand-written gradient. */
function valueNode(dropMask: tf.Tensor | null): (p: tf.Tensor, v: tf.Tensor) => tf.Tensor {
  return customNode<[tf.Tensor, tf.Tensor]>((p, value, save) => {
    const probs = dropMask != null ? tf.mul(p, dropMask) : p;
    const out = headProduct({ x: probs, layout: 'heads' }, { x: value, layout: 'tokens' }, 'tokens'); // [B, Tq, H, dv]
    // P itself is kept anyway (it is the scores node's output); P⊙M is recomputed rather than kept.
    save(dropMask != null ? [p, value, dropMask] : [p, value]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [ps, vs] = saved;
        const m = saved.length > 2 ? saved[2] : null;
        const pd = m != null ? tf.mul(ps, m) : ps;
        // dP = dY·Vᵀ (⊙ M), dV = (P⊙M)ᵀ·dY
        let dp = headProduct({ x: dy, layout: 'tokens' }, { x: vs, layout: 'tokens', transpose: true }, 'heads');
        if (m != null) dp = tf.mul(dp, m);
        const dv = headProduct({ x: pd, layout: 'heads', transpose: true }, { x: dy, layout: 'tokens' }, 'tokens');
        return [dp, dv];
      },
    };
  });
}

/**
 * The fast formulation of {@link scaledDotProductAttention} (see there); any backend (the SIMD products only on
 * wasm).
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
