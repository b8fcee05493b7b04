import * as tf from '@tensorflow/tfjs-core';

/** Activation names accepted by the library's dense computations. */
export type ActivationName = 'linear' | 'relu' | 'gelu' | 'gelu_tanh';

/**
 * Exact GELU, `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`, as Keras's `gelu(approximate=False)`
 * and `tf.nn.gelu` (the reference recipe's activation).
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/** GELU with the tanh approximation, `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`. */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(Math.sqrt(2 / Math.PI), tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

/** Applies the named activation. */
export function applyActivation(x: tf.Tensor, activation: ActivationName): tf.Tensor {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return gelu(x);
    case 'gelu_tanh':
      return geluTanh(x);
    default:
      throw new Error(`unknown activation '${String(activation)}' (expected linear, relu, gelu or gelu_tanh)`);
  }
}
