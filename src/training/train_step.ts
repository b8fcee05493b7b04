import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { assertPositiveInteger } from '../utils/validate';
import { checkSparseLabels } from './labels';
import { sparseCategoricalCrossentropyFromLogits } from './losses';
import { isSparseLabelLoss } from './sparse_labels';

/**
 * What a training step on the wasm backend throws when the WebAssembly heap runs out (it cannot grow past 4 GiB):
 * the message says so and what to do (a smaller batch, or `microBatchSize`); `cause` is the original error (a
 * `RuntimeError: memory access out of bounds`, `Aborted(OOM)` or a failed allocation).
 *
 * @example
 * ```ts
 * try {
 *   trainStep(model, optimizer, xs, ys);
 * } catch (err) {
 *   if (err instanceof WasmOutOfMemoryError) console.error(err.message); // …pass microBatchSize…
 *   throw err;
 * }
 * ```
 *
 * @category Training
 */
export class WasmOutOfMemoryError extends Error {
  constructor(message: string, options: { cause: unknown }) {
    super(message, options);
    this.name = 'WasmOutOfMemoryError';
  }
}

/** Messages of the errors a WebAssembly heap that ran out produces (emscripten, V8, SpiderMonkey, JavaScriptCore). */
const OUT_OF_MEMORY = /memory access out of bounds|out of bounds memory access|Aborted\(OOM\)|\bOOM\b|out of memory|Cannot enlarge memory|Maximum memory size exceeded|Array buffer allocation failed|allocation failed|could not allocate/i;

function isWasmOutOfMemory(err: unknown): boolean {
  if (err instanceof WasmOutOfMemoryError || err == null) return false;
  const message = err instanceof Error ? err.message : String(err);
  if (!OUT_OF_MEMORY.test(message)) return false;
  const runtimeError = typeof WebAssembly !== 'undefined' && err instanceof WebAssembly.RuntimeError;
  return runtimeError || tf.getBackend() === 'wasm';
}

/** `err`, or a {@link WasmOutOfMemoryError} explaining it when it is the wasm heap running out. */
function explainOutOfMemory(err: unknown, context: string, batch: number, micro: number): unknown {
  if (!isWasmOutOfMemory(err)) return err;
  const original = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  const split = micro >= batch ? `as one batch` : `in micro-batches of ${micro}`;
  const suggestion = Math.max(1, Math.floor(Math.min(micro, batch) / 2));
  return new WasmOutOfMemoryError(
    `${context}: the WebAssembly heap ran out of memory (the wasm backend cannot use more than 4 GiB) in a step on ` +
      `${batch} images ${split}. Train with a smaller batch, or pass { microBatchSize: ${suggestion} } (or smaller) to ` +
      `split each batch into micro-batches: the same update in less memory. The backend may be unusable after this ` +
      `error: restart the process (or reload the page). Original error: ${original}`,
    { cause: err },
  );
}

/** The parts of tfjs-core's engine state (public in its typings) that hold a gradient tape. */
interface TapeState {
  activeTape: { saved?: tf.Tensor[] }[] | null;
  gradientDepth: number;
}

/**
 * After a step that threw inside `tf.variableGrads` (an error in the loss, a full heap): tfjs keeps the tensors
 * that the forward pass saved for the backward pass (kept, outside every tidy) until that pass runs, so they
 * would leak. Frees them, when the failed tape was the outermost one (not a gradient of a gradient).
 */
function releaseTapeAfterError(depthBefore: number): void {
  const state = tf.engine().state as unknown as TapeState;
  if (depthBefore !== 0 || state.gradientDepth !== 0 || state.activeTape == null) return;
  for (const node of state.activeTape) for (const t of node.saved ?? []) t.dispose();
  state.activeTape = [];
}

/**
 * Options of {@link trainStep}.
 *
 * @category Training
 */
export interface TrainStepOptions {
  /**
   * Largest number of images run forward and backward at once; a larger batch is split into micro-batches whose
   * gradients are summed (weighted by size) before one optimizer step — the same update as the whole batch, in
   * less memory. Default: the whole batch. The wasm backend's heap stops at 4 GiB, and the reference preset keeps
   * 20–40 MB of activations per image, so use 32 there for batches of 256.
   */
  microBatchSize?: number;
  /**
   * Per-example loss `(labels, logits) → [batch]`; default {@link sparseCategoricalCrossentropyFromLogits}. With it,
   * the labels are checked first (class indices in `[0, numClasses)`, see {@link checkSparseLabels}).
   */
  loss?: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
  /** See {@link ApplyGradientsOptions.skipNonFinite}. Default false (the update is applied, as tfjs does). */
  skipNonFinite?: boolean;
}

/**
 * Options of {@link applyAccumulatedGradients}.
 *
 * @category Training
 */
export interface ApplyGradientsOptions {
  /**
   * Skip the update when the batch loss is NaN or ±Infinity: the weights and the optimizer's state stay as they were
   * (its step count too) and the result says `skipped: true`. Without it a single such batch turns every weight into
   * NaN. (Keras has no such option; its `TerminateOnNaN` callback stops training after the update.)
   */
  skipNonFinite?: boolean;
}

/**
 * Result of {@link trainStep}.
 *
 * @category Training
 */
export interface TrainStepResult {
  /** Mean loss over the batch (before the update). */
  loss: number;
  /** The model's outputs for the batch (before the update), [batch, ...]; the caller disposes it. */
  outputs: tf.Tensor;
  /** True when the update was skipped because the loss was not finite (see {@link ApplyGradientsOptions.skipNonFinite}). */
  skipped?: boolean;
}

/**
 * Options of {@link accumulateGradients}.
 *
 * @category Training
 */
export interface AccumulateGradientsOptions extends TrainStepOptions {
  /**
   * The number of examples the loss is averaged over; default the batch `x` holds. A share of a larger batch (one
   * thread's part in data-parallel training) passes the whole batch size, so that the shares' sums add up to the
   * whole batch's mean loss and gradients.
   */
  totalBatchSize?: number;
}

/**
 * Result of {@link accumulateGradients}.
 *
 * @category Training
 */
export interface AccumulatedGradients {
  /** Gradient of the loss with respect to each of `model.trainableWeights`, in that order. */
  gradients: tf.Tensor[];
  /** The loss summed over the examples, divided by the total batch size. */
  loss: number;
  /** The model's outputs for the batch, [batch, ...]. */
  outputs: tf.Tensor;
}

/**
 * Forward in training mode and backward over a batch, in micro-batches whose gradients are summed: the mean loss
 * over `totalBatchSize` examples and its gradients, without an optimizer step. {@link trainStep} is this followed by
 * `optimizer.applyGradients`; data-parallel training runs it on each thread's share of a batch. The caller disposes
 * the gradients and outputs.
 *
 * With the default loss, labels that are negative, not integers or not below the number of classes throw an error
 * naming the first one and its position, before any work (they are read with `dataSync()`). On the wasm backend, a
 * heap that runs out of memory throws a {@link WasmOutOfMemoryError} that says what to do.
 *
 * @example
 * ```ts
 * const { gradients, loss, outputs } = accumulateGradients(model, xs, ys, { microBatchSize: 32 });
 * tf.dispose([...gradients, outputs]);
 * ```
 *
 * @category Training
 */
export function accumulateGradients(
  model: tfl.LayersModel,
  x: tf.Tensor,
  y: tf.Tensor,
  options: AccumulateGradientsOptions = {},
): AccumulatedGradients {
  const batch = x.shape[0];
  if (y.shape[0] !== batch) throw new Error(`trainStep: x has ${batch} examples but y has ${y.shape[0]}`);
  const micro = options.microBatchSize ?? batch;
  assertPositiveInteger('trainStep: microBatchSize', micro);
  const total = options.totalBatchSize ?? batch;
  assertPositiveInteger('trainStep: totalBatchSize', total);
  const lossFn = options.loss ?? sparseCategoricalCrossentropyFromLogits;
  if (isSparseLabelLoss(lossFn)) {
    const outputShape = model.outputs[0]?.shape;
    const numClasses = outputShape?.[outputShape.length - 1];
    if (model.outputs.length === 1 && typeof numClasses === 'number') checkSparseLabels(y, numClasses, 'trainStep');
  }
  const variables = model.trainableWeights.map((w) => w.read() as tf.Variable);
  if (variables.length === 0) throw new Error('trainStep: the model has no trainable weights');
  let sums: tf.Tensor[] | null = null;
  let lossSum = 0;
  const outputs: tf.Tensor[] = [];
  const tapeDepth = (tf.engine().state as unknown as TapeState).gradientDepth;
  try {
    for (let start = 0; start < batch; start += micro) {
      const size = Math.min(micro, batch - start);
      const { value, grads } = tf.variableGrads(() => {
        const xs = size === batch ? x : tf.slice(x, start, size);
        const ys = size === batch ? y : tf.slice(y, start, size);
        const out = model.apply(xs, { training: true }) as tf.Tensor;
        outputs.push(tf.keep(tf.clone(out)));
        // Each micro-batch's mean loss weighted by its share of the batch: the sum is the batch mean.
        return tf.mul(tf.mean(lossFn(ys, out)), size / total) as tf.Scalar;
      }, variables);
      lossSum += value.dataSync()[0];
      value.dispose();
      // A weight the loss does not depend on gets a zero gradient.
      const ordered = variables.map((v) => grads[v.name] ?? tf.zerosLike(v));
      if (sums == null) {
        sums = ordered;
      } else {
        const previous: tf.Tensor[] = sums;
        sums = tf.tidy(() => previous.map((g, i) => tf.add(g, ordered[i])));
        tf.dispose([...previous, ...ordered]);
      }
    }
  } catch (err) {
    tf.dispose([...(sums ?? []), ...outputs]);
    releaseTapeAfterError(tapeDepth);
    throw explainOutOfMemory(err, 'trainStep', batch, micro);
  }
  const joined = outputs.length === 1 ? outputs[0] : tf.concat(outputs, 0);
  if (outputs.length > 1) tf.dispose(outputs);
  return { gradients: sums as tf.Tensor[], loss: lossSum, outputs: joined };
}

/**
 * One training step of a custom loop: forward in training mode, backward, one optimizer step — with optional
 * gradient accumulation over micro-batches (see {@link TrainStepOptions.microBatchSize}). Returns the batch loss
 * and outputs so that the caller can compute metrics without a second forward pass.
 *
 * Labels are checked as in {@link accumulateGradients}; on the wasm backend, running out of memory throws a
 * {@link WasmOutOfMemoryError} whose message says to use a smaller batch or `microBatchSize`.
 *
 * @example
 * ```ts
 * const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4, weightDecayMode: 'tfa' });
 * const { loss, outputs } = trainStep(model, optimizer, xs, ys, { microBatchSize: 32 });
 * outputs.dispose();
 * ```
 *
 * @category Training
 */
export function trainStep(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  x: tf.Tensor,
  y: tf.Tensor,
  options: TrainStepOptions = {},
): TrainStepResult {
  const accumulated = accumulateGradients(model, x, y, options);
  try {
    return applyAccumulatedGradients(model, optimizer, accumulated, { skipNonFinite: options.skipNonFinite });
  } catch (err) {
    throw explainOutOfMemory(err, 'trainStep', x.shape[0], options.microBatchSize ?? x.shape[0]);
  }
}

/**
 * The optimizer step that ends {@link trainStep}: applies `accumulated.gradients` (in the order of
 * `model.trainableWeights`) with `optimizer` and disposes them; returns the loss and the outputs (the caller
 * disposes the outputs; on an error they are disposed too). For loops that compute the gradients themselves, e.g.
 * summed over several threads' shares of a batch.
 *
 * @example
 * ```ts
 * const { loss, outputs } = applyAccumulatedGradients(model, optimizer, accumulateGradients(model, xs, ys));
 * outputs.dispose();
 * ```
 *
 * @category Training
 */
export function applyAccumulatedGradients(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  accumulated: AccumulatedGradients,
  options: ApplyGradientsOptions = {},
): TrainStepResult {
  const { gradients, loss, outputs } = accumulated;
  if (options.skipNonFinite === true && !Number.isFinite(loss)) {
    tf.dispose(gradients);
    return { loss, outputs, skipped: true };
  }
  try {
    optimizer.applyGradients(namedGradients(model, gradients));
  } catch (err) {
    outputs.dispose();
    throw err;
  } finally {
    tf.dispose(gradients);
  }
  return { loss, outputs };
}

/**
 * `gradients` (in the order of `model.trainableWeights`) keyed by variable name, as `Optimizer.applyGradients` takes them.
 *
 * @category Training
 */
export function namedGradients(model: tfl.LayersModel, gradients: tf.Tensor[]): tf.NamedTensorMap {
  const weights = model.trainableWeights;
  if (weights.length !== gradients.length) {
    throw new Error(`namedGradients: ${gradients.length} gradients for ${weights.length} trainable weights`);
  }
  return Object.fromEntries(weights.map((w, i) => [(w.read() as tf.Variable).name, gradients[i]]));
}
