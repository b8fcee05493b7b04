import * as tf from '@tensorflow/tfjs-core';
import { sparseLabelsOneHot } from './labels';

/**
 * Sparse categorical cross-entropy computed from logits, per example: `logsumexp(logits) − logits[label]`
 * (Keras's `SparseCategoricalCrossentropy(from_logits=True)`), numerically stable for logits of any size.
 * Its gradient is `softmax(logits) − onehot(label)`.
 *
 * Pass it as the `loss` of `model.compile`: tfjs-layers' own `'sparseCategoricalCrossentropy'` expects
 * probabilities, not the logits that {@link createViTClassifier} outputs. Labels are class indices of shape
 * `[batch]` or `[batch, 1]` (any numeric dtype); an index outside `[0, numClasses)` contributes `logsumexp(logits)`.
 *
 * @param yTrue Class indices, `[batch]` or `[batch, 1]`.
 * @param yPred Logits, `[batch, numClasses]`.
 * @returns The loss of each example, `[batch]` (`model.fit` averages it).
 *
 * @example
 * ```ts
 * model.compile({
 *   optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 }),
 *   loss: sparseCategoricalCrossentropyFromLogits,
 *   metrics: [sparseCategoricalAccuracy, sparseTopKAccuracy(5)],
 * });
 * ```
 */
export function sparseCategoricalCrossentropyFromLogits(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const logits = yPred.dtype === 'float32' ? yPred : tf.cast(yPred, 'float32');
    const oneHot = sparseLabelsOneHot(yTrue, logits);
    const axis = logits.rank - 1;
    // tf.logSumExp subtracts the maximum first; its gradient is softmax(logits), so dLoss = softmax − onehot.
    return tf.sub(tf.logSumExp(logits, axis), tf.sum(tf.mul(logits, oneHot), axis));
  });
}
