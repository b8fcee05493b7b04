import * as tf from '@tensorflow/tfjs-core';
import { sparseLabelsOneHot } from './labels';
import { assertInRange } from '../utils/validate';
import { registerTrainingFunction, registerTrainingFunctionFactory } from './serialization';
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

/**
 * {@link sparseCategoricalCrossentropyFromLogits} against smoothed targets: the one-hot label becomes
 * `(1 − smoothing)·onehot + smoothing / numClasses`, so per example
 * `logsumexp(logits) − (1 − smoothing)·logits[label] − smoothing · mean(logits)` — PyTorch's
 * `CrossEntropyLoss(label_smoothing=smoothing)` and Keras's `CategoricalCrossentropy(from_logits=True,
 * label_smoothing=smoothing)` on one-hot labels (Keras's sparse loss has no smoothing). `smoothing` 0 is the plain
 * loss. Labels are checked as there, and a compiled model saves it by name with its parameter.
 *
 * @param smoothing The probability mass spread over all classes, in `[0, 1)`; 0.1 is the usual choice.
 *
 * @example
 * ```ts
 * await fitViT(model, data, { loss: sparseCategoricalCrossentropyWithLabelSmoothing(0.1) });
 * ```
 *
 * @category Training
 */
export function sparseCategoricalCrossentropyWithLabelSmoothing(smoothing: number): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor {
  assertInRange('sparseCategoricalCrossentropyWithLabelSmoothing: smoothing', smoothing, 0, 1, { openHigh: true });
  const loss = (yTrue: tf.Tensor, yPred: tf.Tensor): tf.Tensor =>
    tf.tidy(() => {
      const logits = yPred.dtype === 'float32' ? yPred : tf.cast(yPred, 'float32');
      const oneHot = sparseLabelsOneHot(yTrue, logits, 'sparseCategoricalCrossentropyWithLabelSmoothing');
      const axis = logits.rank - 1;
      const target = tf.add(tf.mul(oneHot, 1 - smoothing), smoothing / logits.shape[axis]);
      return tf.sub(tf.logSumExp(logits, axis), tf.sum(tf.mul(logits, target), axis));
    });
  Object.defineProperty(loss, 'name', { value: `sparseCategoricalCrossentropyWithLabelSmoothing(${smoothing})` });
  return registerTrainingFunction(markSparseLabelLoss(loss), 'sparseCategoricalCrossentropyWithLabelSmoothing', { smoothing });
}
registerTrainingFunctionFactory('sparseCategoricalCrossentropyWithLabelSmoothing', (params) =>
  sparseCategoricalCrossentropyWithLabelSmoothing(Number(params.get('smoothing'))),
);
