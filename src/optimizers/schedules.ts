/**
 * Learning-rate schedules for {@link AdamW} (and anything else that needs a step → value map).
 *
 * A schedule is a serializable object with `value(step)`, where `step` is the optimizer's 0-based iteration
 * count (the number of updates already applied), as in Keras. Formulas follow Keras 3's
 * `keras.optimizers.schedules`.
 */
import * as tf from '@tensorflow/tfjs-core';
import { assertFiniteNumber, assertInRange, assertNonNegativeInteger, assertPositiveInteger, show } from '../utils/validate';
import { registerSerializable } from '../utils/serialization';

/**
 * A learning-rate schedule: maps the 0-based optimizer step to a learning rate. Serializable.
 *
 * @category Optimizers
 */
export abstract class LearningRateSchedule extends tf.serialization.Serializable {
  /** The learning rate to use for the update that follows `step` completed updates. */
  abstract value(step: number): number;
}

function assertNonNegativeNumber(name: string, v: unknown): asserts v is number {
  assertFiniteNumber(name, v);
  if (v < 0) throw new Error(`${name} must be ≥ 0, got ${v}`);
}

function assertStep(step: number): void {
  if (typeof step !== 'number' || !Number.isFinite(step) || step < 0) {
    throw new Error(`schedule step must be a finite number ≥ 0, got ${String(step)}`);
  }
}

/**
 * Serializes a schedule as `{ className, config }` (used in optimizer configs).
 *
 * @category Optimizers
 */
export function serializeSchedule(schedule: LearningRateSchedule): tf.serialization.ConfigDict {
  return { className: schedule.getClassName(), config: schedule.getConfig() };
}

/**
 * Rebuilds a schedule from {@link serializeSchedule}'s output (the class must be registered).
 *
 * @category Optimizers
 */
export function deserializeSchedule(obj: tf.serialization.ConfigDict): LearningRateSchedule {
  const className = (obj['className'] ?? obj['class_name']) as string;
  const config = obj['config'] as tf.serialization.ConfigDict;
  const map = tf.serialization.SerializationMap.getMap().classNameMap;
  const entry = map[className];
  if (entry == null) throw new Error(`Unknown learning-rate schedule class '${className}'`);
  const [cls, fromConfig] = entry;
  const out = fromConfig(cls, config);
  if (!(out instanceof LearningRateSchedule)) throw new Error(`'${className}' is not a LearningRateSchedule`);
  return out;
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of {@link LinearWarmup}.
 *
 * @category Optimizers
 */
export interface LinearWarmupConfig {
  /** Learning rate reached at the end of warmup (and kept after it unless `after` is given). */
  targetLearningRate: number;
  /** Number of warmup steps (≥ 1). */
  warmupSteps: number;
  /** Learning rate at step 0. Default 0. */
  initialLearningRate?: number;
  /** Schedule used after warmup, evaluated at `step − warmupSteps`. */
  after?: LearningRateSchedule;
}

/**
 * Linear warmup: `initial + (target − initial) · step / warmupSteps` for `step < warmupSteps`, then `target`
 * (or `after.value(step − warmupSteps)`).
 *
 * @example
 * const lr = linearWarmup({ targetLearningRate: 1e-3, warmupSteps: 500, after: cosineDecay({ initialLearningRate: 1e-3, decaySteps: 9500 }) });
 *
 * @category Optimizers
 */
export class LinearWarmup extends LearningRateSchedule {
  /** Registered class name (used by `tf.serialization`). */
  static className = 'LinearWarmup';
  /** See {@link LinearWarmupConfig}. */
  readonly targetLearningRate: number;
  /** See {@link LinearWarmupConfig}. */
  readonly warmupSteps: number;
  /** See {@link LinearWarmupConfig}. */
  readonly initialLearningRate: number;
  /** See {@link LinearWarmupConfig}. */
  readonly after?: LearningRateSchedule;

  constructor(config: LinearWarmupConfig) {
    super();
    assertNonNegativeNumber('targetLearningRate', config.targetLearningRate);
    assertPositiveInteger('warmupSteps', config.warmupSteps);
    const initial = config.initialLearningRate ?? 0;
    assertNonNegativeNumber('initialLearningRate', initial);
    this.targetLearningRate = config.targetLearningRate;
    this.warmupSteps = config.warmupSteps;
    this.initialLearningRate = initial;
    this.after = config.after;
  }

  /** @inheritDoc */
  override value(step: number): number {
    assertStep(step);
    if (step < this.warmupSteps) {
      return this.initialLearningRate + ((this.targetLearningRate - this.initialLearningRate) * step) / this.warmupSteps;
    }
    return this.after != null ? this.after.value(step - this.warmupSteps) : this.targetLearningRate;
  }

  /** @inheritDoc */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      targetLearningRate: this.targetLearningRate,
      warmupSteps: this.warmupSteps,
      initialLearningRate: this.initialLearningRate,
      after: this.after != null ? serializeSchedule(this.after) : null,
    };
  }

  /** Builds an instance from {@link LinearWarmup.getConfig}'s output. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const after = config['after'] as tf.serialization.ConfigDict | null | undefined;
    return new cls({ ...config, after: after != null ? deserializeSchedule(after) : undefined });
  }
}
registerSerializable(LinearWarmup);

/**
 * Creates a {@link LinearWarmup} schedule.
 *
 * @example
 * ```ts
 * // 0 → 1e-3 over the first 500 steps, then cosine decay to 0 over the next 9,500
 * const schedule = linearWarmup({ targetLearningRate: 1e-3, warmupSteps: 500, after: cosineDecay({ initialLearningRate: 1e-3, decaySteps: 9500 }) });
 * const optimizer = new AdamW({ learningRate: schedule, weightDecay: 0.05 });
 * ```
 *
 * @category Optimizers
 */
export function linearWarmup(config: LinearWarmupConfig): LinearWarmup {
  return new LinearWarmup(config);
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of {@link CosineDecay} (Keras 3's `CosineDecay`).
 *
 * @category Optimizers
 */
export interface CosineDecayConfig {
  /** Learning rate at step 0 (start of warmup if `warmupTarget` is set, else start of decay). */
  initialLearningRate: number;
  /** Number of decay steps (≥ 1), counted after warmup. */
  decaySteps: number;
  /** Floor, as a fraction of the decay's starting rate: the rate ends at `alpha · start`. Default 0. */
  alpha?: number;
  /** Warmup length in steps. Default 0. */
  warmupSteps?: number;
  /** Rate reached at the end of warmup (the decay starts from it). Default: no warmup. */
  warmupTarget?: number | null;
}

/**
 * Cosine decay with optional linear warmup, exactly Keras 3's formula. With `w = warmupSteps`, `s0` the decay's
 * start rate (`warmupTarget` if set, else `initialLearningRate`):
 * - `step < w` (with `warmupTarget`): `initial + (warmupTarget − initial) · step / w`;
 * - otherwise, `t = min(step − w, decaySteps)`: `s0 · ((1 − alpha) · ½(1 + cos(π t / decaySteps)) + alpha)`.
 *
 * @example
 * const lr = cosineDecay({ initialLearningRate: 0, warmupTarget: 1e-3, warmupSteps: 100, decaySteps: 900, alpha: 0.01 });
 *
 * @category Optimizers
 */
export class CosineDecay extends LearningRateSchedule {
  /** Registered class name (used by `tf.serialization`). */
  static className = 'CosineDecay';
  /** See {@link CosineDecayConfig}. */
  readonly initialLearningRate: number;
  /** See {@link CosineDecayConfig}. */
  readonly decaySteps: number;
  /** See {@link CosineDecayConfig}. */
  readonly alpha: number;
  /** See {@link CosineDecayConfig}. */
  readonly warmupSteps: number;
  /** See {@link CosineDecayConfig}. */
  readonly warmupTarget: number | null;

  constructor(config: CosineDecayConfig) {
    super();
    assertNonNegativeNumber('initialLearningRate', config.initialLearningRate);
    assertPositiveInteger('decaySteps', config.decaySteps);
    const alpha = config.alpha ?? 0;
    assertInRange('alpha', alpha, 0, 1);
    const warmupSteps = config.warmupSteps ?? 0;
    assertNonNegativeInteger('warmupSteps', warmupSteps);
    const warmupTarget = config.warmupTarget ?? null;
    if (warmupTarget != null) assertNonNegativeNumber('warmupTarget', warmupTarget);
    this.initialLearningRate = config.initialLearningRate;
    this.decaySteps = config.decaySteps;
    this.alpha = alpha;
    this.warmupSteps = warmupSteps;
    this.warmupTarget = warmupTarget;
  }

  /** @inheritDoc */
  override value(step: number): number {
    assertStep(step);
    let start = this.initialLearningRate;
    if (this.warmupTarget != null) {
      if (step < this.warmupSteps) {
        return this.initialLearningRate + ((this.warmupTarget - this.initialLearningRate) * step) / this.warmupSteps;
      }
      start = this.warmupTarget;
    }
    const t = Math.min(Math.max(step - (this.warmupTarget != null ? this.warmupSteps : 0), 0), this.decaySteps);
    const cosine = 0.5 * (1 + Math.cos((Math.PI * t) / this.decaySteps));
    return start * ((1 - this.alpha) * cosine + this.alpha);
  }

  /** @inheritDoc */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      initialLearningRate: this.initialLearningRate,
      decaySteps: this.decaySteps,
      alpha: this.alpha,
      warmupSteps: this.warmupSteps,
      warmupTarget: this.warmupTarget,
    };
  }
}
registerSerializable(CosineDecay);

/**
 * Creates a {@link CosineDecay} schedule.
 *
 * @example
 * ```ts
 * const schedule = cosineDecay({ initialLearningRate: 0, warmupTarget: 1e-3, warmupSteps: 500, decaySteps: 9500 });
 * await fitViT(model, data, { learningRate: schedule }); // evaluated once per optimizer step
 * ```
 *
 * @category Optimizers
 */
export function cosineDecay(config: CosineDecayConfig): CosineDecay {
  return new CosineDecay(config);
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of {@link PiecewiseConstantDecay}.
 *
 * @category Optimizers
 */
export interface PiecewiseConstantDecayConfig {
  /** Strictly increasing step boundaries. */
  boundaries: number[];
  /** Rates: one more than `boundaries`. */
  values: number[];
}

/**
 * Step (piecewise-constant) schedule, Keras's `PiecewiseConstantDecay`: `values[0]` for `step ≤ boundaries[0]`,
 * `values[i]` for `boundaries[i−1] < step ≤ boundaries[i]`, and the last value after the last boundary.
 *
 * @example
 * const lr = piecewiseConstantDecay({ boundaries: [1000, 2000], values: [1e-3, 1e-4, 1e-5] });
 *
 * @category Optimizers
 */
export class PiecewiseConstantDecay extends LearningRateSchedule {
  /** Registered class name (used by `tf.serialization`). */
  static className = 'PiecewiseConstantDecay';
  /** See {@link PiecewiseConstantDecayConfig}. */
  readonly boundaries: number[];
  /** See {@link PiecewiseConstantDecayConfig}. */
  readonly values: number[];

  constructor(config: PiecewiseConstantDecayConfig) {
    super();
    const { boundaries, values } = config;
    if (!Array.isArray(boundaries) || !Array.isArray(values) || values.length !== boundaries.length + 1) {
      throw new Error(
        `values must have exactly one more entry than boundaries, got ${show(boundaries)} and ${show(values)}`,
      );
    }
    boundaries.forEach((b, i) => {
      assertFiniteNumber(`boundaries[${i}]`, b);
      if (i > 0 && b <= boundaries[i - 1]) throw new Error(`boundaries must be strictly increasing, got ${show(boundaries)}`);
    });
    values.forEach((v, i) => assertNonNegativeNumber(`values[${i}]`, v));
    this.boundaries = [...boundaries];
    this.values = [...values];
  }

  /** @inheritDoc */
  override value(step: number): number {
    assertStep(step);
    for (let i = 0; i < this.boundaries.length; i++) if (step <= this.boundaries[i]) return this.values[i];
    return this.values[this.values.length - 1];
  }

  /** @inheritDoc */
  override getConfig(): tf.serialization.ConfigDict {
    return { boundaries: [...this.boundaries], values: [...this.values] };
  }
}
registerSerializable(PiecewiseConstantDecay);

/**
 * Creates a {@link PiecewiseConstantDecay} (step) schedule.
 *
 * @category Optimizers
 */
export function piecewiseConstantDecay(config: PiecewiseConstantDecayConfig): PiecewiseConstantDecay {
  return new PiecewiseConstantDecay(config);
}

// ---------------------------------------------------------------------------------------------------------------

/**
 * Options of {@link ExponentialDecay}.
 *
 * @category Optimizers
 */
export interface ExponentialDecayConfig {
  /** Rate at step 0. */
  initialLearningRate: number;
  /** Steps per decay period (≥ 1). */
  decaySteps: number;
  /** Factor per period, in (0, 1]. */
  decayRate: number;
  /** If true, decay in whole periods (`floor(step / decaySteps)`). Default false. */
  staircase?: boolean;
}

/**
 * Exponential decay (Keras's `ExponentialDecay`): `initial · decayRate^(step / decaySteps)` (exponent floored
 * when `staircase`).
 *
 * @example
 * const lr = exponentialDecay({ initialLearningRate: 1e-3, decaySteps: 1000, decayRate: 0.5 });
 *
 * @category Optimizers
 */
export class ExponentialDecay extends LearningRateSchedule {
  /** Registered class name (used by `tf.serialization`). */
  static className = 'ExponentialDecay';
  /** See {@link ExponentialDecayConfig}. */
  readonly initialLearningRate: number;
  /** See {@link ExponentialDecayConfig}. */
  readonly decaySteps: number;
  /** See {@link ExponentialDecayConfig}. */
  readonly decayRate: number;
  /** See {@link ExponentialDecayConfig}. */
  readonly staircase: boolean;

  constructor(config: ExponentialDecayConfig) {
    super();
    assertNonNegativeNumber('initialLearningRate', config.initialLearningRate);
    assertPositiveInteger('decaySteps', config.decaySteps);
    assertInRange('decayRate', config.decayRate, 0, 1, { openLow: true });
    this.initialLearningRate = config.initialLearningRate;
    this.decaySteps = config.decaySteps;
    this.decayRate = config.decayRate;
    this.staircase = config.staircase ?? false;
  }

  /** @inheritDoc */
  override value(step: number): number {
    assertStep(step);
    let p = step / this.decaySteps;
    if (this.staircase) p = Math.floor(p);
    return this.initialLearningRate * Math.pow(this.decayRate, p);
  }

  /** @inheritDoc */
  override getConfig(): tf.serialization.ConfigDict {
    return {
      initialLearningRate: this.initialLearningRate,
      decaySteps: this.decaySteps,
      decayRate: this.decayRate,
      staircase: this.staircase,
    };
  }
}
registerSerializable(ExponentialDecay);

/**
 * Creates an {@link ExponentialDecay} schedule.
 *
 * @category Optimizers
 */
export function exponentialDecay(config: ExponentialDecayConfig): ExponentialDecay {
  return new ExponentialDecay(config);
}
