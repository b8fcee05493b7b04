/**
 * `fitViT`: a training loop for classifiers that `model.fit` cannot be: a seeded shuffle per epoch, micro-batched
 * steps (the same update as the whole batch in less memory), a pluggable batch trainer (threads in Node), the best
 * epoch's weights, early stopping, and checkpoints from which a run resumes exactly as if never interrupted.
 *
 * Browser-safe: no Node built-ins. Node's extras (threads, progress bar, checkpoint folder) are in `vit-tfjs/node`.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { AdamW } from '../optimizers/adamw';
import type { LearningRateSchedule } from '../optimizers/schedules';
import { RandomGenerator, globalRandom } from '../utils/random';
import { assertInRange, assertNonNegativeInteger, assertOneOf, assertPositiveInteger } from '../utils/validate';
import { checkSparseLabels } from './labels';
import { sparseCategoricalCrossentropyFromLogits } from './losses';
import { type MetricFunction, sparseCategoricalAccuracy, sparseTopKAccuracy } from './metrics';
import { type TrainStepResult, trainStep } from './train_step';
import { evaluateSource } from './evaluate';
import { type DataSource, type FitData, iterateBatches, toSource, yieldToEventLoop } from './fit_data';
import {
  type CheckpointState,
  type CheckpointStore,
  type EncodedWeights,
  type TrainingCheckpoint,
  decodeNamed,
  encodeNamed,
  modelArtifacts,
  setModelWeights,
} from './fit_checkpoint';

export type { ArrayData, BatchStream, FitBatch, FitBatchXsYs, FitData } from './fit_data';

/**
 * Per-example loss `(labels, logits) → [batch]`, as {@link sparseCategoricalCrossentropyFromLogits}.
 *
 * @category Training
 */
export type FitLoss = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/**
 * What runs one optimizer step on a batch for {@link fitViT}: in this thread, or split between threads.
 *
 * @category Training
 */
export interface BatchTrainer {
  /** Threads that share each batch (default 1); the random draws depend on it, so checkpoints record it. */
  readonly threads?: number;
  /** One optimizer step on the batch; returns the batch's mean loss and the model's outputs (fitViT disposes them). */
  step(x: tf.Tensor, y: tf.Tensor): Promise<TrainStepResult> | TrainStepResult;
  /**
   * The model's outputs for a batch in inference mode (`model.apply(x, { training: false })`), if the trainer can
   * compute them faster than this thread alone (e.g. split between its threads): `fitViT` validates with it.
   * The caller disposes the result.
   */
  predict?(x: tf.Tensor): Promise<tf.Tensor> | tf.Tensor;
  /** Releases what the trainer holds (e.g. worker threads); the model and optimizer stay usable. */
  dispose(): Promise<void> | void;
}

/**
 * Options {@link fitViT} gives a {@link BatchTrainerFactory}.
 *
 * @category Training
 */
export interface BatchTrainerOptions {
  /** Largest number of images run forward and backward at once (see {@link FitViTOptions.microBatchSize}). */
  microBatchSize: number;
  /** The per-example loss. */
  loss: FitLoss;
  /** Whether the loss is the default one (sparse categorical cross-entropy from logits). */
  defaultLoss: boolean;
  /** Skip the update of a batch whose loss is not finite (see {@link FitViTOptions.nonFiniteLoss}). */
  skipNonFinite: boolean;
}

/**
 * Makes the {@link BatchTrainer} of a run. The default runs {@link trainStep} in this thread; `vit-tfjs/node`'s
 * `dataParallelTrainer({ threads })` splits each batch between worker threads.
 *
 * @category Training
 */
export type BatchTrainerFactory = (model: tfl.LayersModel, optimizer: tf.Optimizer, options: BatchTrainerOptions) => Promise<BatchTrainer>;

/**
 * How a monitored log value is compared: `'auto'`: `'max'` for keys containing `acc` or `top`, else `'min'` (as Keras).
 *
 * @category Training
 */
export type MonitorMode = 'auto' | 'min' | 'max';

/**
 * Options of {@link FitViTOptions.bestWeights}.
 *
 * @category Training
 */
export interface BestWeightsOptions {
  /** The log key to watch; default `'val_accuracy'` (with validation data), else `'accuracy'`. */
  monitor?: string;
  /** See {@link MonitorMode}; default `'auto'`. */
  mode?: MonitorMode;
  /** A value must beat the best by more than this to count (default 0). */
  minDelta?: number;
  /** Copy the best epoch's weights into the model when training ends (default true). */
  restore?: boolean;
}

/**
 * Options of {@link FitViTOptions.earlyStopping} (Keras's `EarlyStopping`).
 *
 * @category Training
 */
export interface EarlyStoppingOptions {
  /** The log key to watch; default `'val_loss'` (with validation data), else `'loss'`. */
  monitor?: string;
  /** See {@link MonitorMode}; default `'auto'`. */
  mode?: MonitorMode;
  /** Epochs without improvement after which training stops (default 0: the first one that does not improve). */
  patience?: number;
  /** A value must beat the best by more than this to count as an improvement (default 0). */
  minDelta?: number;
}

/**
 * Per-epoch information for {@link FitCallbacks.onEpochEnd} and {@link FitProgress.onEpochEnd}.
 *
 * @category Training
 */
export interface EpochInfo {
  /** The epoch (0-based). */
  epoch: number;
  /** Epochs the run is to train in all. */
  epochs: number;
  /** Seconds the epoch took, validation included. */
  seconds: number;
  /** Training images of the epoch per second (validation time included). */
  imagesPerSecond: number;
  /** Whether this epoch is the new best one (see {@link FitViTOptions.bestWeights}). */
  improved: boolean;
  /** The best epoch so far (0-based; -1 without {@link FitViTOptions.bestWeights}). */
  bestEpoch: number;
  /** The run's history so far, this epoch included (resumed epochs too); read it, do not change it. */
  history: Record<string, number[]>;
}

/**
 * Callbacks of {@link fitViT}; each may be async (fitViT waits for it).
 *
 * @category Training
 */
export interface FitCallbacks {
  /** Before the first epoch this call trains; `initialEpoch` > 0 when resuming from a checkpoint. */
  onTrainBegin?(info: { initialEpoch: number; epochs: number; resumedFrom: string | null; threads: number; microBatchSize: number }): void | Promise<void>;
  /** At the start of each epoch (0-based). */
  onEpochBegin?(epoch: number): void | Promise<void>;
  /** After each optimizer step: the batch's mean loss and metrics, and `size` (its number of images). */
  onBatchEnd?(step: number, logs: Record<string, number>): void | Promise<void>;
  /** After each epoch (and its checkpoint): the epoch's logs (training means, `val_` keys for validation). */
  onEpochEnd?(epoch: number, logs: Record<string, number>, info: EpochInfo): void | Promise<void>;
  /** When training ends (also when interrupted), before the best weights are restored. */
  onTrainEnd?(history: FitHistory): void | Promise<void>;
}

/**
 * A progress display for {@link fitViT} (e.g. `vit-tfjs/node`'s `progressBar()`): told when each epoch begins and
 * after each step, with the running means and the images per second.
 *
 * @category Training
 */
export interface FitProgress {
  /** An epoch begins; `steps` is undefined for a stream of batches. */
  onEpochBegin(info: { epoch: number; epochs: number; steps: number | undefined; metrics: string[] }): void;
  /** After step `step` (1-based count of steps done): running means of the epoch so far. */
  onStep(info: { step: number; images: number; imagesPerSecond: number; logs: Record<string, number> }): void;
  /** The epoch's training is done (validation follows). */
  onEpochEnd(): void;
}

/**
 * Options of {@link fitViT}.
 *
 * @category Training
 */
export interface FitViTOptions {
  /** Epochs to train in all (a resumed run continues up to it); default 1. */
  epochs?: number;
  /** Images per optimizer step; default 32. */
  batchSize?: number;
  /**
   * Largest number of images run forward and backward at once: a larger batch sums the gradients of micro-batches
   * before one optimizer step (the same update as the whole batch). Default: {@link defaultMicroBatchSize}.
   */
  microBatchSize?: number;
  /**
   * The optimizer; default `new AdamW({ learningRate, weightDecay, weightDecayMode: 'tfa' })` (the reference recipe),
   * disposed when fitViT returns. Its state must round-trip through `getWeights`/`setWeights` for checkpoints.
   */
  optimizer?: tf.Optimizer;
  /** Learning rate of the default optimizer: a number or a schedule of the step (`cosineDecay`, ...); default 1e-3. */
  learningRate?: number | LearningRateSchedule;
  /** Weight decay of the default optimizer; default 1e-4. */
  weightDecay?: number;
  /** Per-example loss; default {@link sparseCategoricalCrossentropyFromLogits}. */
  loss?: FitLoss;
  /** Metrics, logged under their `name`; default `[sparseCategoricalAccuracy, sparseTopKAccuracy(5)]`. */
  metrics?: MetricFunction[];
  /** Shuffle the training examples each epoch (tensors and typed arrays only); default true. */
  shuffle?: boolean;
  /** Seed of the shuffle; default one drawn from {@link globalRandom}. (Seed the model's own draws with `setGlobalSeed`.) */
  seed?: number;
  /** Hold out the last fraction of the training examples for validation, as Keras; in (0, 1). */
  validationSplit?: number;
  /** Validation examples (any {@link FitData} form); not with `validationSplit`. */
  validationData?: FitData;
  /**
   * Images per validation batch; default the micro-batch size times the trainer's threads when the trainer
   * predicts (each thread gets a micro-batch), else the micro-batch size.
   */
  validationBatchSize?: number;
  /** Keep the best epoch's weights (by a monitored log value), and restore them at the end; `true`: the defaults. */
  bestWeights?: boolean | BestWeightsOptions;
  /** Stop when a monitored log value stops improving; `true`: the defaults. */
  earlyStopping?: boolean | EarlyStoppingOptions;
  /** Save a checkpoint after each epoch here (e.g. `fileCheckpointStore(dir)` of `vit-tfjs/node`). */
  checkpoint?: CheckpointStore;
  /**
   * With `checkpoint`: `true` continues its run (an error when there is none), `'auto'` continues one if there is,
   * `false` (default) refuses a store that already holds one. Every setting must match the checkpoint's.
   */
  resume?: boolean | 'auto';
  /** More settings a resumed run must share with its checkpoint (JSON values), checked before fitViT's own. */
  settings?: Record<string, unknown>;
  /** Callbacks (one object or several). */
  callbacks?: FitCallbacks | FitCallbacks[];
  /** A progress display; default none. */
  progress?: FitProgress;
  /** Makes the batch trainer; default: {@link trainStep} in this thread. */
  trainer?: BatchTrainerFactory;
  /** Stops the run after the current step once `aborted` is true (an `AbortSignal` fits); the result says `'interrupted'`. */
  signal?: { readonly aborted: boolean };
  /** Receives warnings (e.g. a resume with another thread count); default `console.warn`. */
  onWarning?: (message: string) => void;
  /**
   * What a batch whose loss is NaN or ±Infinity does (a bad batch, or a diverging run):
   * - `'stop'` (default): training stops before that update (Keras's `TerminateOnNaN` stops after it); the partial
   *   epoch is dropped, the status is `'non-finite-loss'`, and the model keeps the last finite weights (the best ones
   *   with `bestWeights`);
   * - `'skip'`: the update is skipped (weights and optimizer state untouched), the batch left out of the epoch's
   *   means, and the epoch's count of skipped batches reported through `onWarning`;
   * - `'apply'`: the update is applied as tfjs and Keras do, which makes every weight NaN.
   */
  nonFiniteLoss?: 'stop' | 'skip' | 'apply';
}

/**
 * What {@link fitViT} returns: Keras's History, and how the run ended.
 *
 * @category Training
 */
export interface FitHistory {
  /** The epochs (0-based) in {@link FitHistory.history}, resumed ones included. */
  epoch: number[];
  /** Per-epoch value of each log key (`loss`, metric names, `val_` keys), as Keras's `history.history`. */
  history: Record<string, number[]>;
  /**
   * `'completed'`, `'stopped-early'` (early stopping), `'interrupted'` (the signal; a partial epoch is dropped), or
   * `'non-finite-loss'` (a batch's loss was NaN or ±Infinity with `nonFiniteLoss: 'stop'`; its update was not applied
   * and the partial epoch is dropped, so the model and the last checkpoint hold the last finite weights).
   */
  status: 'completed' | 'stopped-early' | 'interrupted' | 'non-finite-loss';
  /** Epochs taken from the checkpoint (0 for a fresh run). */
  initialEpoch: number;
  /** The best epoch (0-based), or -1 without `bestWeights`. */
  bestEpoch: number;
  /** Its monitored value (NaN without `bestWeights`). */
  bestValue: number;
  /** Threads each batch was split between. */
  threads: number;
  /** The micro-batch size used. */
  microBatchSize: number;
}

/**
 * A resume whose settings differ from the checkpoint's: names the first setting that differs.
 *
 * @category Training
 */
export class CheckpointSettingsError extends Error {
  /**
   * @param key The setting.
   * @param saved Its value in the checkpoint.
   * @param current Its value in this run.
   */
  constructor(
    readonly key: string,
    readonly saved: unknown,
    readonly current: unknown,
  ) {
    super(`resume: the checkpoint was made with ${key} ${JSON.stringify(saved)}, not ${JSON.stringify(current)}`);
    this.name = 'CheckpointSettingsError';
  }
}

/**
 * The micro-batch size {@link fitViT} uses by default: the whole batch on tfjs-node (`tensorflow` backend), else
 * (the wasm heap stops at 4 GiB) at most 32 images for models above 5 M parameters (the `keras-cifar10` preset keeps
 * 20–40 MB of activations per image) and 64 for compact ones (`vit-cifar-tiny`, `vit-cifar-small`).
 *
 * @category Training
 */
export function defaultMicroBatchSize(model: tfl.LayersModel, batchSize: number): number {
  if (tf.getBackend() === 'tensorflow') return batchSize;
  return Math.min(batchSize, model.countParams() > 5e6 ? 32 : 64);
}

/** The default {@link BatchTrainerFactory}: {@link trainStep} in this thread. */
async function inThreadTrainer(model: tfl.LayersModel, optimizer: tf.Optimizer, options: BatchTrainerOptions): Promise<BatchTrainer> {
  return {
    threads: 1,
    step: (x, y) => trainStep(model, optimizer, x, y, { microBatchSize: options.microBatchSize, loss: options.loss, skipNonFinite: options.skipNonFinite }),
    dispose: () => undefined,
  };
}

interface Monitor {
  key: string;
  mode: 'min' | 'max';
  minDelta: number;
}

function monitorOf(name: string, key: string, mode: MonitorMode, minDelta: number, keys: string[]): Monitor {
  if (typeof key !== 'string' || !keys.includes(key)) {
    throw new Error(`fitViT: ${name}.monitor '${String(key)}' is not a log key of this run (${keys.join(', ')})`);
  }
  assertOneOf(`fitViT: ${name}.mode`, mode, ['auto', 'min', 'max'] as const);
  if (typeof minDelta !== 'number' || !(minDelta >= 0)) throw new Error(`fitViT: ${name}.minDelta must be a number ≥ 0, got ${minDelta}`);
  return { key, mode: mode === 'auto' ? (/acc|top/.test(key) ? 'max' : 'min') : mode, minDelta };
}

function improves(m: Monitor, value: number, best: number | null): boolean {
  if (!Number.isFinite(value)) return false;
  if (best == null) return true;
  return m.mode === 'max' ? value > best + m.minDelta : value < best - m.minDelta;
}

function optimizerSettings(optimizer: tf.Optimizer): unknown {
  try {
    return { className: optimizer.getClassName(), config: optimizer.getConfig() };
  } catch {
    return { className: optimizer.getClassName() };
  }
}

function checkSettings(saved: Record<string, unknown>, current: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(current)) {
    if (JSON.stringify(saved[key]) !== JSON.stringify(value)) throw new CheckpointSettingsError(key, saved[key], value);
  }
}

/**
 * Trains a classifier (logits out, class-index labels in) for a number of epochs, as Keras's `model.fit` with
 * what a long run needs:
 * - data as tensors `{ x, y }`, typed arrays `{ images, labels }` (e.g. CIFAR bytes) or a stream of batches, with a
 *   validation split (the last fraction, as Keras) or validation data;
 * - a shuffle per epoch from a seeded generator; `batchSize` split into micro-batches whose gradients are summed
 *   (the same update as the whole batch); learning-rate schedules per step (through the optimizer);
 * - the loss and metrics of each epoch (and `val_` ones), a Keras-like {@link FitHistory}, callbacks, early
 *   stopping, and the best epoch's weights restored at the end;
 * - a checkpoint after each epoch ({@link CheckpointStore}) holding the weights, the optimizer's state, the
 *   generators' states, the history, the best weights and the settings: a run killed at any moment and resumed
 *   (`resume: true`) ends with the same history and weights as one never interrupted (bit for bit on the cpu
 *   backend, and on wasm on one machine), and a resume with changed settings is refused, naming the setting.
 *
 * The model is not compiled or changed otherwise. For a reproducible run, call `setGlobalSeed` before building the
 * model and pass `seed`. In Node, `vit-tfjs/node` adds threads (`dataParallelTrainer`), a progress bar
 * (`progressBar`) and a checkpoint folder (`fileCheckpointStore`), or all three at once with `fitViTNode`.
 *
 * @example
 * ```ts
 * setGlobalSeed(42);
 * const model = createViTClassifier({ preset: 'vit-cifar-tiny' });
 * await adaptNormalization(model, cifar.train.images);
 * const history = await fitViT(model, cifar.train, {
 *   epochs: 10, batchSize: 256, validationSplit: 0.1, seed: 42,
 *   bestWeights: { monitor: 'val_accuracy' },
 * });
 * console.log(history.history.val_accuracy, history.bestEpoch);
 * const test = await evaluate(model, cifar.test);
 * ```
 *
 * @category Training
 */
export async function fitViT(model: tfl.LayersModel, data: FitData, options: FitViTOptions = {}): Promise<FitHistory> {
  // --- options ---
  const epochs = options.epochs ?? 1;
  assertPositiveInteger('fitViT: epochs', epochs);
  const batchSize = options.batchSize ?? 32;
  assertPositiveInteger('fitViT: batchSize', batchSize);
  const microBatchSize = options.microBatchSize ?? defaultMicroBatchSize(model, batchSize);
  assertPositiveInteger('fitViT: microBatchSize', microBatchSize);
  const shuffle = options.shuffle ?? true;
  if (typeof shuffle !== 'boolean') throw new Error(`fitViT: shuffle must be true or false, got ${String(shuffle)}`);
  if (options.seed != null && !Number.isFinite(options.seed)) throw new Error(`fitViT: seed must be a finite number, got ${options.seed}`);
  const resume = options.resume ?? false;
  if (resume !== true && resume !== false && resume !== 'auto') throw new Error(`fitViT: resume must be true, false or 'auto', got ${String(resume)}`);
  if (resume !== false && options.checkpoint == null) throw new Error('fitViT: resume needs a checkpoint store (the checkpoint option)');
  const lossFn = options.loss ?? sparseCategoricalCrossentropyFromLogits;
  const metrics = options.metrics ?? [sparseCategoricalAccuracy, sparseTopKAccuracy(5)];
  const metricNames = metrics.map((m) => m.name);
  if (new Set(['loss', ...metricNames]).size !== metricNames.length + 1 || metricNames.some((n) => !n)) {
    throw new Error(`fitViT: metrics need distinct, non-empty names other than 'loss', got [${metricNames.join(', ')}]`);
  }
  const callbacks = options.callbacks == null ? [] : Array.isArray(options.callbacks) ? options.callbacks : [options.callbacks];
  const warn = options.onWarning ?? ((m: string) => console.warn(m));
  const nonFiniteLoss = options.nonFiniteLoss ?? 'stop';
  assertOneOf('fitViT: nonFiniteLoss', nonFiniteLoss, ['stop', 'skip', 'apply'] as const);
  const numClasses = model.outputs[0].shape[model.outputs[0].shape.length - 1] as number;

  // --- data ---
  let train: DataSource = toSource(data, 'fitViT: data');
  let validation: DataSource | null = null;
  if (options.validationSplit != null) {
    if (options.validationData != null) throw new Error('fitViT: give validationSplit or validationData, not both');
    assertInRange('fitViT: validationSplit', options.validationSplit, 0, 1, { openLow: true, openHigh: true });
    if (train.kind !== 'indexed') throw new Error('fitViT: validationSplit needs tensors or typed arrays; give a stream of batches validationData instead');
    const n = train.size;
    const nTrain = Math.floor(n * (1 - options.validationSplit));
    if (nTrain < 1 || nTrain >= n) {
      throw new Error(`fitViT: validationSplit ${options.validationSplit} of ${n} examples leaves ${nTrain} for training and ${n - nTrain} for validation`);
    }
    validation = train.range(nTrain, n);
    train = train.range(0, nTrain);
  } else if (options.validationData != null) {
    validation = toSource(options.validationData, 'fitViT: validationData');
  }
  for (const [src, what] of [[train, 'fitViT: data'], [validation, 'fitViT: validationData']] as const) {
    if (src?.kind === 'indexed') {
      if (src.size === 0) throw new Error(`${what} holds no examples`);
      if (src.labels != null) checkSparseLabels(src.labels, numClasses, what);
    }
  }
  if (options.validationBatchSize != null) assertPositiveInteger('fitViT: validationBatchSize', options.validationBatchSize);

  const logKeys = ['loss', ...metricNames];
  const allKeys = validation != null ? [...logKeys, ...logKeys.map((k) => `val_${k}`)] : logKeys;
  const bestOpts = options.bestWeights === true ? {} : options.bestWeights === false || options.bestWeights == null ? null : options.bestWeights;
  const bestMonitor =
    bestOpts == null
      ? null
      : monitorOf('bestWeights', bestOpts.monitor ?? (validation != null ? 'val_accuracy' : 'accuracy'), bestOpts.mode ?? 'auto', bestOpts.minDelta ?? 0, allKeys);
  const restoreBest = bestOpts?.restore ?? true;
  const esOpts = options.earlyStopping === true ? {} : options.earlyStopping === false || options.earlyStopping == null ? null : options.earlyStopping;
  const esMonitor =
    esOpts == null
      ? null
      : monitorOf('earlyStopping', esOpts.monitor ?? (validation != null ? 'val_loss' : 'loss'), esOpts.mode ?? 'auto', esOpts.minDelta ?? 0, allKeys);
  const patience = esOpts?.patience ?? 0;
  assertNonNegativeInteger('fitViT: earlyStopping.patience', patience);

  const ownsOptimizer = options.optimizer == null;
  if (!ownsOptimizer && !(options.optimizer instanceof tf.Optimizer)) throw new Error('fitViT: optimizer must be a tf.Optimizer');
  const optimizer =
    options.optimizer ?? new AdamW({ learningRate: options.learningRate ?? 1e-3, weightDecay: options.weightDecay ?? 1e-4, weightDecayMode: 'tfa' });

  let bestWeights: tf.Tensor[] | null = null;
  try {
    const settings: Record<string, unknown> = {
      ...(options.settings ?? {}),
      batchSize,
      microBatchSize,
      shuffle,
      seed: options.seed ?? null,
      validationSplit: options.validationSplit ?? null,
      trainExamples: train.kind === 'indexed' ? train.size : null,
      validationExamples: validation?.kind === 'indexed' ? validation.size : null,
      optimizer: optimizerSettings(optimizer),
      loss: lossFn.name,
      metrics: metricNames,
      bestWeights: bestMonitor,
      earlyStopping: esMonitor == null ? null : { ...esMonitor, patience },
    };

    // --- a fresh run, or the checkpoint's ---
    const store = options.checkpoint;
    const loaded = store != null ? await store.load() : null;
    if (store != null && loaded == null && resume === true) throw new Error(`resume: no checkpoint in ${store.location} to resume from`);
    if (store != null && loaded != null && resume === false) {
      throw new Error(`checkpoint: ${store.location} already holds a run (epoch ${loaded.state.epoch}); continue it with resume: true`);
    }
    const resuming = loaded != null && resume !== false ? loaded : null;
    if (resuming != null) {
      if (resuming.state.version !== 2) throw new Error(`resume: the checkpoint in ${store!.location} has format version ${String(resuming.state.version)}, not 2`);
      checkSettings(resuming.state.settings, settings);
    }
    const shuffleRng = new RandomGenerator(options.seed ?? globalRandom().nextSeed());
    let history: Record<string, number[]> = {};
    let startEpoch = 0;
    let best: { epoch: number; value: number | null } = { epoch: -1, value: null };
    let early = { wait: 0, best: null as number | null, stopped: false };
    if (resuming != null) {
      const s = resuming.state;
      const w = resuming.model;
      setModelWeights(model, w.weightSpecs ?? [], (w.weightData ?? new ArrayBuffer(0)) as ArrayBuffer, `resume: the checkpoint's model in ${store!.location}`);
      const opt = decodeNamed(resuming.optimizer);
      try {
        await optimizer.setWeights(opt);
      } finally {
        tf.dispose(opt.map((o) => o.tensor));
      }
      if (resuming.bestWeights != null) bestWeights = decodeNamed(resuming.bestWeights).map((n) => tf.keep(n.tensor));
      history = s.history;
      startEpoch = s.epoch;
      best = s.best;
      early = s.earlyStopping;
      shuffleRng.setState(s.rng.shuffle);
      // Last: the user built the model (drawing from the global generator) before calling fitViT.
      globalRandom().setState(s.rng.global);
    }

    const trainer = await (options.trainer ?? inThreadTrainer)(model, optimizer, {
      microBatchSize,
      loss: lossFn,
      defaultLoss: lossFn === sparseCategoricalCrossentropyFromLogits,
      skipNonFinite: nonFiniteLoss !== 'apply',
    });
    const threads = trainer.threads ?? 1;
    const validationBatchSize = options.validationBatchSize ?? microBatchSize * (trainer.predict != null ? threads : 1);
    if (resuming != null && resuming.state.threads !== threads) {
      warn(
        `resume: the checkpoint was trained on ${resuming.state.threads} thread(s), this run uses ${threads}: ` +
          'training continues, but its random draws differ from an uninterrupted run',
      );
    }
    const result = (status: FitHistory['status']): FitHistory => ({
      epoch: (history.loss ?? []).map((_, i) => i),
      history,
      status,
      initialEpoch: startEpoch,
      bestEpoch: best.epoch,
      bestValue: best.value ?? NaN,
      threads,
      microBatchSize,
    });

    let status: FitHistory['status'] = early.stopped ? 'stopped-early' : 'completed';
    try {
      for (const cb of callbacks) {
        await cb.onTrainBegin?.({ initialEpoch: startEpoch, epochs, resumedFrom: resuming != null ? store!.location : null, threads, microBatchSize });
      }
      for (let epoch = startEpoch; epoch < epochs && status === 'completed'; epoch++) {
        for (const cb of callbacks) await cb.onEpochBegin?.(epoch);
        const t0 = Date.now();
        const order = train.kind === 'indexed' && shuffle ? shuffleRng.shuffle(Int32Array.from({ length: train.size }, (_, i) => i)) : null;
        const steps = train.kind === 'indexed' ? Math.ceil(train.size / batchSize) : undefined;
        options.progress?.onEpochBegin({ epoch, epochs, steps, metrics: logKeys });
        const sums = new Float64Array(logKeys.length);
        let seen = 0;
        let step = 0;
        let skippedSteps = 0;
        for await (const { batch, owned } of iterateBatches(train, epoch, batchSize, order, 'fitViT: data')) {
          // Let the event loop run (signals, timers, output): the awaits of a cpu or wasm step resolve as microtasks.
          await yieldToEventLoop();
          if (options.signal?.aborted) {
            if (owned) tf.dispose([batch.x, batch.y]);
            status = 'interrupted';
            break;
          }
          const { values, skipped } = await runStep(trainer, batch, owned, metrics);
          const size = batch.x.shape[0];
          if (skipped || !Number.isFinite(values[0])) {
            if (nonFiniteLoss === 'stop') {
              warn(
                `fitViT: the loss of epoch ${epoch + 1}, batch ${step + 1} is ${values[0]}: training stops before that update ` +
                  `(nonFiniteLoss: 'stop'); the partial epoch is dropped`,
              );
              status = 'non-finite-loss';
              break;
            }
            if (nonFiniteLoss === 'skip') {
              skippedSteps++;
              step++;
              continue;
            }
          }
          for (let k = 0; k < values.length; k++) sums[k] += values[k] * size;
          seen += size;
          step++;
          const running = Object.fromEntries(logKeys.map((k, i) => [k, sums[i] / seen]));
          options.progress?.onStep({ step, images: seen, imagesPerSecond: seen / Math.max(1e-3, (Date.now() - t0) / 1000), logs: running });
          if (callbacks.length > 0) {
            const logs = { ...Object.fromEntries(logKeys.map((k, i) => [k, values[i]])), size };
            for (const cb of callbacks) await cb.onBatchEnd?.(step - 1, logs);
          }
        }
        options.progress?.onEpochEnd();
        if (status === 'interrupted' || status === 'non-finite-loss') break;
        if (skippedSteps > 0) warn(`fitViT: epoch ${epoch + 1}: ${skippedSteps} of ${step} batches had a non-finite loss and were skipped (nonFiniteLoss: 'skip')`);
        if (seen === 0 && skippedSteps === 0) throw new Error(`fitViT: data yielded no batches in epoch ${epoch + 1} (pass a function (epoch) => batches for a one-shot iterable)`);

        const logs: Record<string, number> = Object.fromEntries(logKeys.map((k, i) => [k, sums[i] / seen]));
        if (validation != null) {
          const v = await evaluateSource(model, validation, {
            batchSize: validationBatchSize,
            loss: lossFn,
            metrics,
            confusion: false,
            what: 'fitViT: validationData',
            predict: trainer.predict?.bind(trainer),
          });
          logs.val_loss = v.loss / v.examples;
          metricNames.forEach((name, i) => (logs[`val_${name}`] = v.metrics[i] / v.examples));
        }
        for (const [k, v] of Object.entries(logs)) (history[k] ??= []).push(v);

        let improved = false;
        if (bestMonitor != null && improves(bestMonitor, logs[bestMonitor.key], best.value)) {
          improved = true;
          best = { epoch, value: logs[bestMonitor.key] };
          if (bestWeights != null) tf.dispose(bestWeights);
          bestWeights = model.weights.map((w) => tf.keep(tf.clone(w.read())));
        }
        if (esMonitor != null) {
          if (improves(esMonitor, logs[esMonitor.key], early.best)) {
            early = { wait: 0, best: logs[esMonitor.key], stopped: false };
          } else if (++early.wait >= patience) {
            early = { ...early, stopped: true };
          }
        }
        if (store != null) {
          await store.save(await makeCheckpoint(model, optimizer, bestWeights, {
            version: 2,
            epoch: epoch + 1,
            settings,
            history,
            rng: { global: globalRandom().getState(), shuffle: shuffleRng.getState() },
            best,
            earlyStopping: early,
            threads,
          }));
        }
        const seconds = (Date.now() - t0) / 1000;
        const info: EpochInfo = { epoch, epochs, seconds, imagesPerSecond: seen / Math.max(1e-3, seconds), improved, bestEpoch: best.epoch, history };
        for (const cb of callbacks) await cb.onEpochEnd?.(epoch, logs, info);
        if (early.stopped) status = 'stopped-early';
      }
    } finally {
      await trainer.dispose();
    }
    const out = result(status);
    for (const cb of callbacks) await cb.onTrainEnd?.(out);
    if (status !== 'interrupted' && restoreBest && bestWeights != null) model.setWeights(bestWeights);
    return out;
  } finally {
    if (bestWeights != null) tf.dispose(bestWeights);
    if (ownsOptimizer) optimizer.dispose();
  }
}

/**
 * One optimizer step and the batch's mean loss and metrics (and whether the trainer skipped the update); disposes
 * what it made (and the batch when owned).
 */
async function runStep(
  trainer: BatchTrainer,
  batch: { x: tf.Tensor; y: tf.Tensor },
  owned: boolean,
  metrics: MetricFunction[],
): Promise<{ values: number[]; skipped: boolean }> {
  let outputs: tf.Tensor | null = null;
  try {
    const x = batch.x.dtype === 'float32' ? batch.x : tf.cast(batch.x, 'float32');
    const y = batch.y.dtype === 'int32' || batch.y.dtype === 'float32' ? batch.y : tf.cast(batch.y, 'int32');
    try {
      const r = await trainer.step(x, y);
      outputs = r.outputs;
      const out = outputs;
      const skipped = r.skipped === true;
      if (metrics.length === 0) return { values: [r.loss], skipped };
      const m = tf.tidy(() => tf.stack(metrics.map((fn) => tf.mean(fn(y, out)))));
      const values = Array.from(await m.data());
      m.dispose();
      return { values: [r.loss, ...values], skipped };
    } finally {
      if (x !== batch.x) x.dispose();
      if (y !== batch.y) y.dispose();
    }
  } finally {
    if (outputs != null) outputs.dispose();
    if (owned) tf.dispose([batch.x, batch.y]);
  }
}

async function makeCheckpoint(
  model: tfl.LayersModel,
  optimizer: tf.Optimizer,
  bestWeights: tf.Tensor[] | null,
  state: CheckpointState,
): Promise<TrainingCheckpoint> {
  const named = await optimizer.getWeights();
  let optimizerWeights: EncodedWeights;
  try {
    optimizerWeights = await encodeNamed(named);
  } finally {
    // getWeights makes some tensors afresh (e.g. 'iter'); the others are the optimizer's variables.
    tf.dispose(named.map((n) => n.tensor).filter((t) => !(t instanceof tf.Variable)));
  }
  let best: EncodedWeights | null = null;
  if (bestWeights != null) best = await encodeNamed(bestWeights.map((t, i) => ({ name: `${i}/${model.weights[i].name}`, tensor: t })));
  return { state: JSON.parse(JSON.stringify(state)) as CheckpointState, model: await modelArtifacts(model), optimizer: optimizerWeights, bestWeights: best };
}
