import * as tf from '@tensorflow/tfjs-core';
import { assertPositiveInteger } from '../utils/validate';
import { sparseLabelsOneHot } from './labels';
import { registerTrainingFunction, registerTrainingFunctionFactory } from './serialization';

/**
 * A metric function as `model.compile({ metrics })` takes it: per-example values that `fit`/`evaluate` average.
 * tfjs-layers names the metric (the History and log key) after the function's `name`.
 *
 * @category Training
 */
export type MetricFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

function named(fn: MetricFunction, name: string): MetricFunction {
  Object.defineProperty(fn, 'name', { value: name, configurable: true });
  return fn;
}

/**
 * Top-k hits per example: 1 when the true class is among the `k` largest predictions, else 0. As TensorFlow's
 * `in_top_k`, classes tied with the k-th largest value count as in the top k (the test is "fewer than k classes
 * score strictly higher than the true class"); a non-finite score of the true class is a miss.
 */
function topKHits(yTrue: tf.Tensor, yPred: tf.Tensor, k: number, name: string): tf.Tensor {
  return tf.tidy(() => {
    const axis = yPred.rank - 1;
    const scores = tf.cast(yPred, 'float32');
    const oneHot = sparseLabelsOneHot(yTrue, scores, name);
    // The true class's score, picked with a mask so that -Infinity scores elsewhere cannot make NaNs.
    const trueScore = tf.sum(tf.where(tf.cast(oneHot, 'bool'), scores, tf.zerosLike(scores)), axis, true);
    const higher = tf.sum(tf.cast(tf.greater(scores, trueScore), 'float32'), axis);
    const finite = tf.logicalNot(tf.logicalOr(tf.isNaN(trueScore), tf.isInf(trueScore)));
    return tf.cast(tf.logicalAnd(tf.less(higher, k), tf.reshape(finite, higher.shape)), 'float32');
  });
}

/**
 * Sparse top-k accuracy for `model.compile({ metrics })`: the fraction of examples whose true class (an index,
 * labels `[batch]` or `[batch, 1]`) is among the `k` highest scores (logits or probabilities, `[batch, numClasses]`).
 * Ties with the k-th score count as hits, as TensorFlow's `in_top_k` and Keras's `SparseTopKCategoricalAccuracy`.
 *
 * The History and log key is `name`, by default `top-${k}-accuracy` as in the reference Keras recipe
 * (`val_top-5-accuracy` for validation). A saved training config stores it as
 * `"vit>sparseTopKAccuracy?k=5&name=top-5-accuracy"`, which `tf.loadLayersModel` resolves back (with the library
 * imported). Labels that are negative, not integers or not below the number of classes throw an error naming the
 * first one and its position (see {@link checkSparseLabels}).
 *
 * @param k How many of the top classes count as a hit (a positive integer).
 * @param name The metric's key in logs and the History.
 *
 * @example
 * ```ts
 * model.compile({ optimizer, loss: sparseCategoricalCrossentropyFromLogits,
 *   metrics: [sparseCategoricalAccuracy, sparseTopKAccuracy(5)] });
 * const history = await model.fit(x, y, { validationSplit: 0.1 });
 * history.history['val_top-5-accuracy'];
 * ```
 *
 * @category Training
 */
export function sparseTopKAccuracy(k = 5, name = `top-${k}-accuracy`): MetricFunction {
  assertPositiveInteger('k', k);
  if (typeof name !== 'string' || name.length === 0) throw new Error(`name must be a non-empty string, got ${String(name)}`);
  return registerTrainingFunction(named((yTrue, yPred) => topKHits(yTrue, yPred, k, name), name), 'sparseTopKAccuracy', { k, name });
}
registerTrainingFunctionFactory('sparseTopKAccuracy', (params) => {
  const k = Number(params.get('k'));
  return sparseTopKAccuracy(k, params.get('name') ?? `top-${k}-accuracy`);
});

/**
 * Sparse categorical accuracy for `model.compile({ metrics })`: 1 per example whose true class (an index, labels
 * `[batch]` or `[batch, 1]`) is the arg-max of the scores (logits or probabilities; the first index wins a tie, as
 * Keras's `sparse_categorical_accuracy`), else 0.
 *
 * Its key in logs and the History is `accuracy` (`val_accuracy` for validation), as in the reference Keras recipe.
 * Use it instead of the string `'accuracy'`: with a loss function of its own (such as
 * {@link sparseCategoricalCrossentropyFromLogits}), tfjs-layers resolves `'accuracy'` to its one-hot
 * `categoricalAccuracy`, which is wrong for sparse labels. A saved training config stores it as
 * `"vit>sparseCategoricalAccuracy"`. Labels that are negative, not integers or not below the number of classes
 * throw an error naming the first one and its position (see {@link checkSparseLabels}).
 *
 * @param yTrue Class indices, `[batch]` or `[batch, 1]`.
 * @param yPred Scores, `[batch, numClasses]`.
 * @returns 1 or 0 per example, `[batch]`.
 *
 * @category Training
 */
export const sparseCategoricalAccuracy: MetricFunction = registerTrainingFunction(
  named(
    (yTrue, yPred) =>
      tf.tidy(() => {
        const oneHot = sparseLabelsOneHot(yTrue, yPred, 'accuracy');
        const axis = yPred.rank - 1;
        const predicted = tf.argMax(yPred, axis);
        const actual = tf.argMax(oneHot, axis);
        return tf.cast(tf.equal(predicted, actual), 'float32');
      }),
    'accuracy',
  ),
  'sparseCategoricalAccuracy',
);
