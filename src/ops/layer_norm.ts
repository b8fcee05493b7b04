import * as tf from '@tensorflow/tfjs-core';

/**
 * Layer normalization over the last axis: `(x − mean) / √(var + epsilon) · gamma + beta`,
 * with the biased (population) variance, as Keras's `LayerNormalization`.
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, epsilon: number): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const { mean, variance } = tf.moments(x, axis, true);
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
    if (gamma != null) y = tf.mul(y, gamma);
    if (beta != null) y = tf.add(y, beta);
    return y;
  });
}
