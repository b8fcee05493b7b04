import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { assertPositiveInteger } from '../utils/validate';
import { sparseCategoricalCrossentropyFromLogits } from './losses';

/** Options of {@link trainStep}. */
export interface TrainStepOptions {
  /**
   * Largest number of images run forward and backward at once; a larger batch is split into micro-batches whose
   * gradients are summed (weighted by size) before one optimizer step — the same update as the whole batch, in
   * less memory. Default: the whole batch. The wasm backend's heap stops at 4 GiB, and the reference preset keeps
   * 20–40 MB of activations per image, so use 32 there for batches of 256.
   */
  microBatchSize?: number;
  /** Per-example loss `(labels, logits) → [batch]`; default sparse categorical cross-entropy from logits. */
  loss?: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
}

/** Result of {@link trainStep}. */
export interface TrainStepResult {
  /** Mean loss over the batch (before the update). */
  loss: number;
  /** The model's outputs for the batch (before the update), [batch, ...]; the caller disposes it. */
  outputs: tf.Tensor;
}

/**
 * One training step of a custom loop: forward in training mode, backward, one optimizer step — with optional
 * gradient accumulation over micro-batches (see {@link TrainStepOptions.microBatchSize}). Returns the batch loss
 * and outputs so that the caller can compute metrics without a second forward pass.
 *
 * @example
 * ```ts
 * const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4, weightDecayMode: 'tfa' });
 * const { loss, outputs } = trainStep(model, optimizer, xs, ys, { microBatchSize: 32 });
 * outputs.dispose();
 * ```
 */
export function trainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor,
  y: tf.Tensor,
  options: TrainStepOptions = {},
): TrainStepResult {
  const batch = x.shape[0];
  if (y.shape[0] !== batch) throw new Error(`trainStep: x has ${batch} examples but y has ${y.shape[0]}`);
  const micro = options.microBatchSize ?? batch;
  assertPositiveInteger('trainStep: microBatchSize', micro);
  const lossFn = options.loss ?? sparseCategoricalCrossentropyFromLogits;
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  let sums: tf.NamedTensorMap | null = null;
  let lossSum = 0;
  const outputs: tf.Tensor[] = [];
  try {
    for (let start = 0; start < batch; start += micro) {
      const size = Math.min(micro, batch - start);
      const { value, grads } = tf.variableGrads(() => {
        const xs = size === batch ? x : tf.slice(x, start, size);
        const ys = size === batch ? y : tf.slice(y, start, size);
        const out = model.apply(xs, { training: true }) as tf.Tensor;
        outputs.push(tf.keep(tf.clone(out)));
        // Each micro-batch's mean loss weighted by its share of the batch: the sum is the batch mean.
        return tf.mul(tf.mean(lossFn(ys, out)), size / batch) as tf.Scalar;
      }, variables);
      lossSum += value.dataSync()[0];
      value.dispose();
      if (sums == null) {
        sums = grads;
      } else {
        const previous: tf.NamedTensorMap = sums;
        sums = tf.tidy(() => Object.fromEntries(Object.keys(grads).map((k) => [k, tf.add(previous[k], grads[k])])));
        tf.dispose([...Object.values(previous), ...Object.values(grads)]);
      }
    }
    optimizer.applyGradients(sums as tf.NamedTensorMap);
  } finally {
    if (sums != null) tf.dispose(Object.values(sums));
  }
  const joined = outputs.length === 1 ? outputs[0] : tf.concat(outputs, 0);
  if (outputs.length > 1) tf.dispose(outputs);
  return { loss: lossSum, outputs: joined };
}
