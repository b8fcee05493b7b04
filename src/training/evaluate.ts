import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { assertPositiveInteger } from '../utils/validate';
import { checkSparseLabels } from './labels';
import { sparseCategoricalCrossentropyFromLogits } from './losses';
import { type MetricFunction, sparseTopKAccuracy } from './metrics';
import { type DataSource, type FitData, iterateBatches, toSource } from './fit_data';

/**
 * Options of {@link evaluate}.
 *
 * @category Training
 */
export interface EvaluateOptions {
  /** Images run through the model at once (inference mode); default 32. */
  batchSize?: number;
  /** The `k` of the top-k accuracy; default 5. */
  topK?: number;
  /** Per-example loss `(labels, logits) → [batch]`; default sparse categorical cross-entropy from logits. */
  loss?: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
  /** More metrics (per-example functions, keyed by their `name` in {@link EvaluateResult.metrics}). */
  metrics?: MetricFunction[];
  /**
   * Computes a batch's logits instead of `model.apply(x, { training: false })` (the caller of `predict` disposes
   * them): e.g. a `DataParallelTrainer`'s `predict`, which splits the batch between threads (`vit-tfjs/node`'s
   * `evaluateNode` does this).
   */
  predict?: (x: tf.Tensor) => Promise<tf.Tensor> | tf.Tensor;
}

/**
 * What {@link evaluate} returns.
 *
 * @category Training
 */
export interface EvaluateResult {
  /** Mean loss over the examples. */
  loss: number;
  /** Top-1 accuracy: the fraction of examples whose arg-max class is the label (first index wins a tie). */
  accuracy: number;
  /** Top-k accuracy (`k` = {@link EvaluateResult.k}), ties with the k-th score counting as hits (TensorFlow's `in_top_k`). */
  topKAccuracy: number;
  /** The `k` of {@link EvaluateResult.topKAccuracy}. */
  k: number;
  /** `confusionMatrix[trueClass][predictedClass]`: counts of examples. */
  confusionMatrix: number[][];
  /** Number of examples evaluated. */
  examples: number;
  /** The mean of each metric of {@link EvaluateOptions.metrics}, by name. */
  metrics: Record<string, number>;
}

/** Sums of the loss and of each metric over a source, in inference mode, and optionally the confusion matrix. @internal */
export async function evaluateSource(
  model: tfl.LayersModel,
  source: DataSource,
  options: {
    batchSize: number;
    loss: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
    metrics: MetricFunction[];
    confusion: boolean;
    what: string;
    predict?: (x: tf.Tensor) => Promise<tf.Tensor> | tf.Tensor;
  },
): Promise<{ loss: number; metrics: number[]; examples: number; confusion: number[][] | null }> {
  const numClasses = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  const confusion = options.confusion ? Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0)) : null;
  let loss = 0;
  const metrics = options.metrics.map(() => 0);
  let examples = 0;
  for await (const { batch, owned } of iterateBatches(source, 0, options.batchSize, null, options.what)) {
    try {
      const { x, y } = batch;
      const external = options.predict != null ? await options.predict(x) : null;
      const [sums, predicted] = (() => {
        try {
          return tf.tidy(() => {
            const logits = external ?? (model.apply(x.dtype === 'float32' ? x : tf.cast(x, 'float32'), { training: false }) as tf.Tensor);
            const values = [options.loss(y, logits), ...options.metrics.map((m) => m(y, logits))].map((v) => tf.sum(v));
            return [tf.stack(values), confusion != null ? tf.argMax(logits, -1) : null];
          });
        } finally {
          external?.dispose(); // also when a loss or metric throws
        }
      })();
      try {
        const s = await sums.data();
        loss += s[0];
        for (let k = 0; k < metrics.length; k++) metrics[k] += s[k + 1];
        if (confusion != null && predicted != null) {
          const p = await predicted.data();
          const t = await y.data();
          for (let i = 0; i < p.length; i++) {
            const label = t[i];
            if (!Number.isInteger(label) || label < 0 || label >= numClasses) {
              throw new Error(`${options.what}: label ${label} at position ${examples + i} is outside [0, ${numClasses}) (${numClasses} classes)`);
            }
            confusion[label][p[i]]++;
          }
        }
        examples += x.shape[0];
      } finally {
        tf.dispose([sums, predicted as tf.Tensor]);
      }
    } finally {
      if (owned) tf.dispose([batch.x, batch.y]);
    }
  }
  if (examples === 0) throw new Error(`${options.what} holds no examples`);
  return { loss, metrics, examples, confusion };
}

/**
 * Evaluates a classifier in inference mode: mean loss, top-1 and top-k accuracy, the confusion matrix, and the
 * mean of any further metrics. Data as {@link fitViT} takes it: tensors `{ x, y }`, typed arrays
 * `{ images, labels }` (e.g. a {@link CifarSplit}, batches copied to float32 one at a time) or batches.
 *
 * @example
 * ```ts
 * const test = await evaluate(model, cifar.test, { batchSize: 64 });
 * console.log(`top-1 ${test.accuracy}, top-5 ${test.topKAccuracy}`, test.confusionMatrix);
 * ```
 *
 * @category Training
 */
export async function evaluate(model: tfl.LayersModel, data: FitData, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  const batchSize = options.batchSize ?? 32;
  assertPositiveInteger('evaluate: batchSize', batchSize);
  const k = options.topK ?? 5;
  assertPositiveInteger('evaluate: topK', k);
  const source = toSource(data, 'evaluate: data');
  const numClasses = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;
  if (source.kind === 'indexed' && source.labels != null) checkSparseLabels(source.labels, numClasses, 'evaluate: data');
  const extra = options.metrics ?? [];
  const r = await evaluateSource(model, source, {
    batchSize,
    loss: options.loss ?? sparseCategoricalCrossentropyFromLogits,
    metrics: [sparseTopKAccuracy(k), ...extra],
    confusion: true,
    what: 'evaluate: data',
    predict: options.predict,
  });
  const confusion = r.confusion as number[][];
  const hits = confusion.reduce((a, row, i) => a + row[i], 0);
  return {
    loss: r.loss / r.examples,
    accuracy: hits / r.examples,
    topKAccuracy: r.metrics[0] / r.examples,
    k,
    confusionMatrix: confusion,
    examples: r.examples,
    metrics: Object.fromEntries(extra.map((m, i) => [m.name, r.metrics[i + 1] / r.examples])),
  };
}
