import * as tf from '@tensorflow/tfjs-core';

/**
 * Class-index labels as a tensor or as plain numbers (a typed array or an array).
 *
 * @category Training
 */
export type SparseLabelValues = tf.Tensor | ArrayLike<number>;

/**
 * Checks that every label is a class index in `[0, numClasses)`: an integer, not negative, below `numClasses`.
 * Throws an error naming the first bad value and its position (the flat index, which is the example's index for
 * labels of shape `[batch]` or `[batch, 1]`), e.g. `sparseCategoricalCrossentropyFromLogits: label 11 at position 3
 * is outside [0, 10) (10 classes)`. Keras raises on such labels too; without the check, a label ≥ `numClasses`
 * would train on an all-zero target and a fractional one would be truncated silently.
 *
 * For a tensor this reads its values with `dataSync()`: a synchronous download of `batch` numbers, cheap on the
 * cpu and wasm backends; on webgl/webgpu it waits for the queued work. It creates no tensor, so it may run inside
 * `tf.tidy` and gradient functions.
 *
 * @param labels Class indices: a tensor of any numeric dtype (any shape) or plain numbers.
 * @param numClasses The number of classes (a positive integer).
 * @param context Prefixes the error message (the function the labels were given to).
 *
 * @example
 * ```ts
 * checkSparseLabels(tf.tensor1d([0, 3, 9]), 10);        // fine
 * checkSparseLabels(new Int32Array([0, 11]), 10, 'fit'); // Error: fit: label 11 at position 1 is outside [0, 10) (10 classes)
 * ```
 *
 * @category Training
 */
export function checkSparseLabels(labels: SparseLabelValues, numClasses: number, context = 'labels'): void {
  if (!Number.isInteger(numClasses) || numClasses < 1) {
    throw new Error(`${context}: the number of classes must be a positive integer, got ${String(numClasses)}`);
  }
  let values: ArrayLike<number>;
  if (labels instanceof tf.Tensor) {
    if (labels.dtype === 'string' || labels.dtype === 'complex64') {
      throw new Error(`${context}: labels must be numeric class indices, got a ${labels.dtype} tensor`);
    }
    values = labels.dataSync() as ArrayLike<number>;
  } else {
    values = labels;
  }
  const bad = firstBadLabel(values, numClasses);
  if (bad < 0) return;
  const v = Number(values[bad]);
  const what = Number.isInteger(v) ? `is outside [0, ${numClasses}) (${numClasses} classes)` : 'is not an integer class index';
  throw new Error(`${context}: label ${String(v)} at position ${bad} ${what}`);
}

/** Index of the first value that is not an integer in `[0, numClasses)`, or -1. */
function firstBadLabel(values: ArrayLike<number>, numClasses: number): number {
  for (let i = 0; i < values.length; i++) {
    const v = Number(values[i]);
    // `!(v >= 0)` also catches NaN.
    if (!(v >= 0) || v >= numClasses || !Number.isInteger(v)) return i;
  }
  return -1;
}

/**
 * Turns sparse labels (`[batch]` or `[batch, 1]`, any dtype holding class indices) into a one-hot `float32` matrix
 * matching `logits` `[batch, numClasses]`, after {@link checkSparseLabels} (errors are prefixed with `context`).
 * @internal
 */
export function sparseLabelsOneHot(labels: tf.Tensor, logits: tf.Tensor, context = 'labels'): tf.Tensor {
  if (logits.rank < 2) {
    throw new Error(`${context}: logits must have shape [batch, numClasses], got [${logits.shape}]`);
  }
  const numClasses = logits.shape[logits.rank - 1];
  const batchShape = logits.shape.slice(0, -1);
  const batchSize = batchShape.reduce((a, b) => a * b, 1);
  if (labels.size !== batchSize) {
    throw new Error(
      `${context}: labels of shape [${labels.shape}] do not match logits of shape [${logits.shape}]: expected ${batchSize} class indices`,
    );
  }
  checkSparseLabels(labels, numClasses, context);
  return tf.tidy(() => {
    const indices = tf.cast(tf.reshape(labels, [batchSize]), 'int32');
    // int32 one-hot, then cast: tfjs-backend-wasm 4.22's OneHot writes integer bits into a float32 output.
    return tf.reshape(tf.cast(tf.oneHot(indices, numClasses), 'float32'), [...batchShape, numClasses]);
  });
}
