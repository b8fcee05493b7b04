import * as tf from '@tensorflow/tfjs-core';

/**
 * Turns sparse labels (`[batch]` or `[batch, 1]`, any dtype holding class indices) into a one-hot `float32` matrix
 * matching `logits` `[batch, numClasses]`.
 * @internal
 */
export function sparseLabelsOneHot(labels: tf.Tensor, logits: tf.Tensor): tf.Tensor {
  if (logits.rank < 2) {
    throw new Error(`logits must have shape [batch, numClasses], got [${logits.shape}]`);
  }
  const numClasses = logits.shape[logits.rank - 1];
  const batchShape = logits.shape.slice(0, -1);
  const batchSize = batchShape.reduce((a, b) => a * b, 1);
  if (labels.size !== batchSize) {
    throw new Error(
      `labels of shape [${labels.shape}] do not match logits of shape [${logits.shape}]: expected ${batchSize} class indices`,
    );
  }
  return tf.tidy(() => {
    const indices = tf.cast(tf.reshape(labels, [batchSize]), 'int32');
    // int32 one-hot, then cast: tfjs-backend-wasm 4.22's OneHot writes integer bits into a float32 output.
    return tf.reshape(tf.cast(tf.oneHot(indices, numClasses), 'float32'), [...batchShape, numClasses]);
  });
}
