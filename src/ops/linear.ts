import * as tf from '@tensorflow/tfjs-core';
import { ActivationName, applyActivation } from './activations';

/**
 * A dense projection over the last axis: `activation(x · kernel + bias)`, for `x` of any rank ≥ 2.
 *
 * `x` [..., inDim], `kernel` [inDim, outDim], `bias` [outDim] → [..., outDim].
 * This is the single place every dense computation of the library goes through, so that a backend-specific
 * fast path (see the performance notes) applies to all layers at once.
 */
export function linear(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias?: tf.Tensor | null,
  activation: ActivationName = 'linear',
): tf.Tensor {
  return tf.tidy(() => {
    const inDim = kernel.shape[0];
    const outDim = kernel.shape[kernel.shape.length - 1];
    const lead = x.shape.slice(0, -1);
    const x2 = tf.reshape(x, [-1, inDim]);
    let y = tf.matMul(x2, tf.reshape(kernel, [inDim, outDim]));
    if (bias != null) y = tf.add(y, tf.reshape(bias, [outDim]));
    y = applyActivation(y, activation);
    return tf.reshape(y, [...lead, outDim]);
  });
}
