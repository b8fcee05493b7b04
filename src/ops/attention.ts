import * as tf from '@tensorflow/tfjs-core';

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
  /** Seed for the dropout mask. */
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
 * fills masked logits with a large negative number).
 */
export function scaledDotProductAttention(
  query: tf.Tensor,
  key: tf.Tensor,
  value: tf.Tensor,
  options: AttentionOptions = {},
): AttentionResult {
  const { mask = null, dropout = 0, training = false, seed } = options;
  const keyDim = query.shape[3] as number;
  const scale = options.scale ?? 1 / Math.sqrt(keyDim);
  return tf.tidy(() => {
    const q = tf.transpose(query, [0, 2, 1, 3]); // [B, H, Tq, dk]
    const k = tf.transpose(key, [0, 2, 1, 3]);
    const v = tf.transpose(value, [0, 2, 1, 3]);
    let logits = tf.mul(tf.matMul(q, k, false, true), scale); // [B, H, Tq, Tk]
    if (mask != null) {
      const m = mask.rank === 3 ? tf.expandDims(mask, 1) : mask;
      logits = tf.add(logits, tf.mul(tf.sub(1, tf.cast(m, 'float32')), -1e9));
    }
    const scores = tf.softmax(logits);
    let probs = scores;
    if (training && dropout > 0) probs = tf.dropout(scores, dropout, undefined, seed as number);
    const out = tf.matMul(probs, v); // [B, H, Tq, dv]
    return { output: tf.transpose(out, [0, 2, 1, 3]), scores };
  });
}
