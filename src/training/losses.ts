import * as tf from '@tensorflow/tfjs-core';
import { sparseLabelsOneHot } from './labels';
import { registerTrainingFunction } from './serialization';
import { markSparseLabelLoss } from './sparse_labels';

/**
 * Sparse categorical cross-entropy computed from logits, per example: `logsumexp(logits) − logits[label]`
 * (Keras's `SparseCategoricalCrossentropy(from_logits=True)`), numerically stable for logits of any size.
 * Its gradient is `softmax(logits) − onehot(label)`.
 *
 * Pass it as the `loss` of `model.compile`: tfjs-layers' own `'sparseCategoricalCrossentropy'` expects
 * probabilities, not the logits that {@link createViTClassifier} outputs. Labels are class indices of shape
 * `[batch]` or `[batch, 1]` (any numeric dtype). A label that is negative, not an integer, or not below
 * `numClasses` throws an error naming the first such value and its position (as Keras raises); to check, the
 * labels are read with `dataSync()` (a download of `batch` numbers; see {@link checkSparseLabels}).
 *
 * A model compiled with it saves its training config with the loss by name
 * (`"vit>sparseCategoricalCrossentropyFromLogits"`), so `tf.loadLayersModel` of a model saved with
 * `includeOptimizer: true` comes back compiled with it, ready to train on.
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
 *
 * @category Training
 */
export function sparseCategoricalCrossentropyFromLogits(yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const logits = yPred.dtype === 'float32' ? yPred : tf.cast(yPred, 'float32');
    const oneHot = sparseLabelsOneHot(yTrue, logits, 'sparseCategoricalCrossentropyFromLogits');
    const axis = logits.rank - 1;
    // tf.logSumExp subtracts the maximum first; its gradient is softmax(logits), so dLoss = softmax − onehot.
    return tf.sub(tf.logSumExp(logits, axis), tf.sum(tf.mul(logits, oneHot), axis));
  });
}
registerTrainingFunction(markSparseLabelLoss(sparseCategoricalCrossentropyFromLogits), 'sparseCategoricalCrossentropyFromLogits');
