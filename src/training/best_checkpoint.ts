import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { assertFiniteNumber, assertOneOf } from '../utils/validate';

/**
 * Where {@link BestWeightsCallback} saves each new best model: an IO handler, a URL string, or a function of the epoch.
 *
 * @category Training
 */
export type BestWeightsSaveTarget =
  | tf.io.IOHandler
  | string
  | ((epoch: number, value: number) => tf.io.IOHandler | string);

/**
 * Options of {@link keepBestWeights}.
 *
 * @category Training
 */
export interface KeepBestWeightsOptions {
  /** The log key to watch, e.g. `'val_accuracy'` (default), `'val_loss'`, `'accuracy'`. */
  monitor?: string;
  /**
   * `'max'`: higher is better; `'min'`: lower is better; `'auto'` (default): `'max'` when the key contains `acc`
   * or `top`, else `'min'` (as Keras).
   */
  mode?: 'auto' | 'min' | 'max';
  /** A new value must beat the best by more than this to count as better (default 0). */
  minDelta?: number;
  /** Copies the best weights back into the model when training ends (default `true`). */
  restoreOnTrainEnd?: boolean;
  /**
   * Also saves the whole model (`model.save`) each time the monitored value improves, as Keras's
   * `ModelCheckpoint(save_best_only=True)`: e.g. `fileIO('./best')` from `vit-tfjs/node`, or `'indexeddb://best'`.
   */
  saveTo?: BestWeightsSaveTarget;
  /** Saves the optimizer state too (`model.save(..., { includeOptimizer })`; default `false`). */
  includeOptimizer?: boolean;
  /** Logs each improvement with `console.log` (default `false`). */
  verbose?: boolean;
}

/**
 * A `model.fit` callback that keeps, in memory, a copy of the model's weights from the epoch with the best
 * monitored value (for example the best validation accuracy), and restores them at the end of training or on
 * request — Keras's `ModelCheckpoint(save_best_only=True)` followed by `load_weights`, without a round trip
 * through storage. Create it with {@link keepBestWeights}.
 *
 * Copies hold all the model's weights, trainable or not (e.g. an adapted `Normalization`). A copy is cheap: it
 * shares the tensor's memory until the optimizer replaces the variable's value. Older copies are disposed as soon
 * as a better epoch arrives; call {@link BestWeightsCallback.dispose} when the callback is no longer needed.
 *
 * @category Training
 */
export class BestWeightsCallback extends tfl.Callback {
  /** The watched log key. */
  readonly monitor: string;
  /** Whether higher (`'max'`) or lower (`'min'`) values are better. */
  readonly mode: 'min' | 'max';
  private readonly minDelta: number;
  private readonly restoreOnTrainEnd: boolean;
  private readonly saveTo?: BestWeightsSaveTarget;
  private readonly includeOptimizer: boolean;
  private readonly verbose: boolean;
  private best: number;
  private epochOfBest = -1;
  private weights: tf.Tensor[] | null = null;

  /** @param options See {@link KeepBestWeightsOptions}. */
  constructor(options: KeepBestWeightsOptions = {}) {
    super();
    this.monitor = options.monitor ?? 'val_accuracy';
    if (typeof this.monitor !== 'string' || this.monitor.length === 0) {
      throw new Error(`monitor must be a non-empty log key, got ${String(this.monitor)}`);
    }
    const mode = options.mode ?? 'auto';
    assertOneOf('mode', mode, ['auto', 'min', 'max'] as const);
    this.mode = mode === 'auto' ? (/acc|top/.test(this.monitor) ? 'max' : 'min') : mode;
    this.minDelta = options.minDelta ?? 0;
    assertFiniteNumber('minDelta', this.minDelta);
    if (this.minDelta < 0) throw new Error(`minDelta must be ≥ 0, got ${this.minDelta}`);
    this.restoreOnTrainEnd = options.restoreOnTrainEnd ?? true;
    this.saveTo = options.saveTo;
    this.includeOptimizer = options.includeOptimizer ?? false;
    this.verbose = options.verbose ?? false;
    this.best = this.mode === 'max' ? -Infinity : Infinity;
  }

  /** The best monitored value seen so far (`±Infinity` before the first epoch). */
  get bestValue(): number {
    return this.best;
  }

  /** The epoch (0-based, as in `fit`'s logs) of {@link BestWeightsCallback.bestValue}, or -1 before any. */
  get bestEpoch(): number {
    return this.epochOfBest;
  }

  /** Whether a copy of best weights is held. */
  get hasWeights(): boolean {
    return this.weights != null;
  }

  /** Starts a fresh search for the best epoch (each `fit` call); keeps nothing from an earlier `fit`. */
  override async onTrainBegin(): Promise<void> {
    this.release();
    this.best = this.mode === 'max' ? -Infinity : Infinity;
    this.epochOfBest = -1;
  }

  /** Compares the monitored value with the best so far; on improvement, copies the weights (and saves). */
  override async onEpochEnd(epoch: number, logs?: Record<string, number | tf.Scalar>): Promise<void> {
    const raw = logs?.[this.monitor] as number | tf.Scalar | undefined;
    if (raw == null) {
      throw new Error(
        `keepBestWeights: monitor '${this.monitor}' is not in the epoch logs (available: ${Object.keys(logs ?? {}).join(', ') || 'none'}); ` +
          `validation keys need validationData or validationSplit in fit`,
      );
    }
    const value = typeof raw === 'number' ? raw : (await raw.data())[0];
    if (!Number.isFinite(value)) return;
    const better = this.mode === 'max' ? value > this.best + this.minDelta : value < this.best - this.minDelta;
    if (!better) return;
    const model = this.requireModel();
    this.release();
    this.weights = model.getWeights().map((w) => tf.keep(tf.clone(w)));
    if (this.verbose) {
      const before = Number.isFinite(this.best) ? ` (was ${this.best})` : '';
      console.log(`Epoch ${epoch + 1}: ${this.monitor} improved to ${value}${before}; keeping these weights`);
    }
    this.best = value;
    this.epochOfBest = epoch;
    if (this.saveTo != null) {
      const target = typeof this.saveTo === 'function' ? this.saveTo(epoch, value) : this.saveTo;
      await model.save(target, { includeOptimizer: this.includeOptimizer });
    }
  }

  /** Restores the best weights into the model when training ends (unless `restoreOnTrainEnd` is false). */
  override async onTrainEnd(): Promise<void> {
    if (this.restoreOnTrainEnd && this.weights != null) this.restore();
  }

  /**
   * Copies the best weights into the model (the model passed to `fit`, or `model` if given). Does nothing when
   * no epoch has been recorded yet. The callback keeps its copy, so it can restore again.
   */
  restore(model?: tfl.LayersModel): void {
    if (this.weights == null) return;
    const target = model ?? this.requireModel();
    target.setWeights(this.weights);
  }

  /** Frees the held copy of weights. */
  dispose(): void {
    this.release();
  }

  private release(): void {
    if (this.weights != null) tf.dispose(this.weights);
    this.weights = null;
  }

  private requireModel(): tfl.LayersModel {
    if (this.model == null) throw new Error('keepBestWeights: the callback is not attached to a model (pass it to model.fit)');
    return this.model;
  }
}

/**
 * A callback for `model.fit` that keeps the weights of the best epoch (by default the highest `val_accuracy`) and
 * puts them back into the model when training ends; optionally it also saves the model at each improvement
 * (Keras's `ModelCheckpoint(save_best_only=True)`).
 *
 * @example
 * ```ts
 * const best = keepBestWeights({ monitor: 'val_accuracy', saveTo: fileIO('./checkpoints/best') });
 * await model.fit(x, y, { epochs: 10, validationSplit: 0.1, callbacks: [best] });
 * // the model now holds the weights of epoch best.bestEpoch (val_accuracy best.bestValue)
 * best.dispose();
 * ```
 *
 * @category Training
 */
export function keepBestWeights(options?: KeepBestWeightsOptions): BestWeightsCallback {
  return new BestWeightsCallback(options);
}
