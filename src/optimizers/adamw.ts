/**
 * AdamW: Adam with decoupled weight decay (Loshchilov & Hutter, "Decoupled Weight Decay Regularization").
 */
import * as tf from '@tensorflow/tfjs-core';

/** A named tensor, as `tf.Optimizer.getWeights` returns (tfjs-core does not export the type from its root). */
/**
 * A named tensor, as `tf.Optimizer.getWeights` returns them (tfjs-core does not export its own type).
 *
 * @category Optimizers
 */
export type NamedTensor = { name: string; tensor: tf.Tensor };
import { assertFiniteNumber, assertInRange, assertOneOf, assertPositiveNumber } from '../utils/validate';
import { LearningRateSchedule, deserializeSchedule, serializeSchedule } from './schedules';
import { registerSerializable } from '../utils/serialization';

/**
 * How the weight decay is applied (both are decoupled from the gradient, both decay before the Adam step):
 * - `'lr-scaled'` (default; `torch.optim.AdamW`, Keras 3 `AdamW`): `w ← w·(1 − lr·wd) − lr·adamStep`.
 *   With a learning-rate schedule the decay follows the schedule through `lr`.
 * - `'tfa'` (TensorFlow Addons `AdamW`, used by the Keras ViT-on-CIFAR-10 recipe): `w ← w − wd·w − lr·adamStep`,
 *   decay not scaled by `lr`. It does not follow the learning-rate schedule by itself; to make it follow one
 *   (as TFA users do with a callable `weight_decay`), pass a schedule as `weightDecay`.
 *
 * @category Optimizers
 */
export type WeightDecayMode = 'lr-scaled' | 'tfa';

/**
 * One rule of {@link AdamWConfig.exclude}.
 *
 * @category Optimizers
 */
export type WeightDecayExcludeRule = RegExp | string | ((variableName: string) => boolean);

/**
 * The common no-decay choice (timm, BERT, MAE): biases, LayerNorm `gamma`/`beta`, position embeddings and the class
 * token. Matches the final `/`-separated segment of a variable name, ignoring tfjs's `_N` uniqueness suffix
 * (e.g. `encoder/layer_norm/gamma`, `dense_Dense3/bias_1`).
 *
 * @example
 * const opt = new AdamW({ learningRate: 1e-3, weightDecay: 0.05, exclude: NO_DECAY_COMMON });
 *
 * @category Optimizers
 */
export const NO_DECAY_COMMON: RegExp = /(^|\/)(bias|gamma|beta|position_embedding|class_token)(_\d+)?$/;

/**
 * Options of {@link AdamW}.
 *
 * @category Optimizers
 */
export interface AdamWConfig {
  /** Learning rate (≥ 0) or a schedule of the 0-based step. Default 1e-3. */
  learningRate?: number | LearningRateSchedule;
  /** Exponential decay of the first moment, in [0, 1). Default 0.9. */
  beta1?: number;
  /** Exponential decay of the second moment, in [0, 1). Default 0.999. */
  beta2?: number;
  /** Added to `√v̂` (> 0). Default 1e-7 (tfjs's and Keras's default). */
  epsilon?: number;
  /** Weight-decay coefficient (≥ 0) or a schedule of the 0-based step. Default 0.004 (Keras 3). */
  weightDecay?: number | LearningRateSchedule;
  /** See {@link WeightDecayMode}. Default `'lr-scaled'`. */
  weightDecayMode?: WeightDecayMode;
  /**
   * Variables that are NOT decayed (they still get the Adam step). A RegExp is tested on the full variable name; a
   * string matches a variable whose full name, or final path segment without a `_N` suffix, equals it; a
   * function gets the name. An array excludes what any rule matches. Default: every variable decays. See
   * {@link NO_DECAY_COMMON}. Functions cannot be serialized (`getConfig` throws).
   */
  exclude?: WeightDecayExcludeRule | WeightDecayExcludeRule[] | null;
  /**
   * If set (> 0), gradients are first rescaled like `tf.clip_by_global_norm`: `g ← g · clip / max(‖g‖, clip)`
   * with `‖g‖` the global L2 norm over all gradients of the step.
   */
  clipGlobalNorm?: number | null;
}

interface Slot {
  m: tf.Variable;
  v: tf.Variable;
}

function matchesRule(rule: WeightDecayExcludeRule, name: string): boolean {
  if (typeof rule === 'function') return rule(name);
  if (rule instanceof RegExp) {
    rule.lastIndex = 0;
    return rule.test(name);
  }
  if (name === rule) return true;
  const last = name.slice(name.lastIndexOf('/') + 1);
  return last === rule || last.replace(/_\d+$/, '') === rule;
}

function assertNonNegative(name: string, v: unknown): asserts v is number {
  assertFiniteNumber(name, v);
  if (v < 0) throw new Error(`${name} must be ≥ 0, got ${v}`);
}

/**
 * Adam with decoupled weight decay, as a `tf.Optimizer`: use it with `model.compile({ optimizer })`,
 * `optimizer.minimize(f)` or `optimizer.applyGradients(grads)`.
 *
 * The Adam part is tfjs's `tf.train.adam` op for op (so `weightDecay: 0` reproduces it bit for bit). Per step
 * `t` (0-based `iterations`), with `lr = learningRate(t)` and `wd = weightDecay(t)`:
 * `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`, `m̂ = m / (1−β1^(t+1))`, `v̂ = v / (1−β2^(t+1))`, then for a decayed
 * variable `w ← w·(1 − lr·wd)` (`'lr-scaled'`) or `w ← w − wd·w` (`'tfa'`), and `w ← w − lr·m̂ / (√v̂ + ε)`.
 *
 * State is kept per variable name. `getWeights()` returns `iter`, `beta1_power`, `beta2_power` (the running
 * `β^(t+1)` products, so a resumed run is bit-identical), then `${name}/m` for every variable and `${name}/v`;
 * `setWeights` restores it (it also accepts tfjs `Adam`'s list without the powers). When restored state is applied
 * to variables with other names (a freshly built model gets new unique names), it is matched by position, with a
 * shape check, as tfjs's own Adam does.
 *
 * @example
 * const opt = new AdamW({ learningRate: cosineDecay({ initialLearningRate: 1e-3, decaySteps: 10000 }),
 *   weightDecay: 1e-4, weightDecayMode: 'tfa', exclude: NO_DECAY_COMMON, clipGlobalNorm: 1 });
 * model.compile({ optimizer: opt, loss: 'categoricalCrossentropy' });
 *
 * @category Optimizers
 */
export class AdamW extends tf.Optimizer {
  /** Registered class name (used by `tf.serialization`). */
  static get className(): string {
    return 'AdamW';
  }

  /** See {@link AdamWConfig}. */
  readonly learningRate: number | LearningRateSchedule;
  /** See {@link AdamWConfig}. */
  readonly beta1: number;
  /** See {@link AdamWConfig}. */
  readonly beta2: number;
  /** See {@link AdamWConfig}. */
  readonly epsilon: number;
  /** See {@link AdamWConfig}. */
  readonly weightDecay: number | LearningRateSchedule;
  /** See {@link AdamWConfig}. */
  readonly weightDecayMode: WeightDecayMode;
  /** See {@link AdamWConfig}. */
  readonly exclude: WeightDecayExcludeRule[];
  /** See {@link AdamWConfig}. */
  readonly clipGlobalNorm: number | null;

  private accBeta1: tf.Variable;
  private accBeta2: tf.Variable;
  private slots = new Map<string, Slot>();
  /** Restored slots not yet matched to a live variable (see class doc). */
  private pending: { name: string; slot: Slot }[] = [];
  /** The `iter` scalar of the last {@link AdamW.getWeights}: owned here, freed by the next call or `dispose`. */
  private iterTensor: tf.Tensor | null = null;

  constructor(config: AdamWConfig = {}) {
    super();
    const lr = config.learningRate ?? 1e-3;
    if (!(lr instanceof LearningRateSchedule)) assertNonNegative('learningRate', lr);
    const beta1 = config.beta1 ?? 0.9;
    const beta2 = config.beta2 ?? 0.999;
    assertInRange('beta1', beta1, 0, 1, { openHigh: true });
    assertInRange('beta2', beta2, 0, 1, { openHigh: true });
    const epsilon = config.epsilon ?? 1e-7;
    assertPositiveNumber('epsilon', epsilon);
    const wd = config.weightDecay ?? 0.004;
    if (!(wd instanceof LearningRateSchedule)) assertNonNegative('weightDecay', wd);
    const mode = config.weightDecayMode ?? 'lr-scaled';
    assertOneOf('weightDecayMode', mode, ['lr-scaled', 'tfa'] as const);
    const exclude = config.exclude == null ? [] : Array.isArray(config.exclude) ? [...config.exclude] : [config.exclude];
    exclude.forEach((r, i) => {
      if (!(r instanceof RegExp) && typeof r !== 'string' && typeof r !== 'function') {
        throw new Error(`exclude[${i}] must be a RegExp, a string or a function, got ${String(r)}`);
      }
    });
    const clip = config.clipGlobalNorm ?? null;
    if (clip != null) assertPositiveNumber('clipGlobalNorm', clip);
    this.learningRate = lr;
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.epsilon = epsilon;
    this.weightDecay = wd;
    this.weightDecayMode = mode;
    this.exclude = exclude;
    this.clipGlobalNorm = clip;
    [this.accBeta1, this.accBeta2] = tf.tidy(() => [tf.variable(tf.scalar(beta1), false), tf.variable(tf.scalar(beta2), false)]);
  }

  /** The learning rate used by the next update (evaluates the schedule at the current step). */
  currentLearningRate(): number {
    return this.evaluate('learningRate', this.learningRate);
  }

  /** The weight-decay coefficient used by the next update. */
  currentWeightDecay(): number {
    return this.evaluate('weightDecay', this.weightDecay);
  }

  /** Whether the variable named `name` is decayed (i.e. not matched by `exclude`). */
  isDecayed(name: string): boolean {
    return !this.exclude.some((rule) => matchesRule(rule, name));
  }

  private evaluate(what: string, v: number | LearningRateSchedule): number {
    if (typeof v === 'number') return v;
    const step = this.iterations;
    const out = v.value(step);
    if (typeof out !== 'number' || !Number.isFinite(out) || out < 0) {
      throw new Error(`${what} schedule ${v.getClassName()} returned ${String(out)} at step ${step}; expected a finite number ≥ 0`);
    }
    return out;
  }

  private slotFor(name: string, value: tf.Variable): Slot {
    let slot = this.slots.get(name);
    if (slot != null) return slot;
    // Restored state: exact name first, then position (tfjs Adam's behaviour) with a shape check.
    let idx = this.pending.findIndex((p) => p.name === name);
    if (idx < 0 && this.pending.length > 0) idx = 0;
    if (idx >= 0) {
      const p = this.pending.splice(idx, 1)[0];
      if (!tf.util.arraysEqual(p.slot.m.shape, value.shape)) {
        throw new Error(
          `AdamW state '${p.name}' has shape [${p.slot.m.shape.join(',')}] but variable '${name}' has shape [${value.shape.join(',')}]`,
        );
      }
      slot = p.slot;
    } else {
      slot = tf.tidy(() => ({ m: tf.variable(tf.zerosLike(value), false), v: tf.variable(tf.zerosLike(value), false) }));
    }
    this.slots.set(name, slot);
    return slot;
  }

  /** Applies one AdamW update. Keys (or `name`s) are registered variable names, as `minimize` produces. */
  applyGradients(variableGradients: tf.NamedTensorMap | NamedTensor[]): void {
    const entries: [string, tf.Tensor | null | undefined][] = Array.isArray(variableGradients)
      ? variableGradients.map((v) => [v.name, v.tensor])
      : Object.keys(variableGradients).map((k) => [k, variableGradients[k]]);
    const lr = this.currentLearningRate();
    const wd = this.currentWeightDecay();
    const decay = this.weightDecayMode === 'lr-scaled' ? lr * wd : wd;
    const registered = tf.engine().registeredVariables;
    for (const [name] of entries) {
      if (registered[name] == null) throw new Error(`AdamW.applyGradients: '${name}' is not a registered variable`);
    }
    tf.tidy(() => {
      let scale: tf.Tensor | null = null;
      if (this.clipGlobalNorm != null) {
        const grads = entries.map(([, g]) => g).filter((g): g is tf.Tensor => g != null);
        if (grads.length > 0) {
          const globalNorm = tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g)))));
          // tf.clip_by_global_norm: scale = clip * min(1 / globalNorm, 1 / clip).
          scale = tf.mul(this.clipGlobalNorm, tf.minimum(tf.div(1, globalNorm), 1 / this.clipGlobalNorm));
        }
      }
      const oneMinusAccBeta1 = tf.sub(1, this.accBeta1);
      const oneMinusAccBeta2 = tf.sub(1, this.accBeta2);
      for (const [name, rawGradient] of entries) {
        const value = registered[name];
        const { m: firstMoment, v: secondMoment } = this.slotFor(name, value);
        if (rawGradient == null) continue;
        // One tidy per variable: its temporaries are freed before the next variable's are made (for a
        // 19M-parameter kernel that is ~0.5 GB less peak memory, which the wasm heap never gives back).
        tf.tidy(() => {
          const gradient = scale != null ? tf.mul(rawGradient, scale) : rawGradient;
          const newFirstMoment = tf.add(tf.mul(firstMoment, this.beta1), tf.mul(gradient, 1 - this.beta1));
          const newSecondMoment = tf.add(tf.mul(secondMoment, this.beta2), tf.mul(tf.square(gradient), 1 - this.beta2));
          const biasCorrectedFirstMoment = tf.div(newFirstMoment, oneMinusAccBeta1);
          const biasCorrectedSecondMoment = tf.div(newSecondMoment, oneMinusAccBeta2);
          firstMoment.assign(newFirstMoment);
          secondMoment.assign(newSecondMoment);
          let base: tf.Tensor = value;
          if (decay !== 0 && this.isDecayed(name)) {
            base = this.weightDecayMode === 'lr-scaled' ? tf.mul(value, 1 - decay) : tf.sub(value, tf.mul(value, decay));
          }
          const newValue = tf.add(
            tf.mul(tf.div(biasCorrectedFirstMoment, tf.add(tf.sqrt(biasCorrectedSecondMoment), this.epsilon)), -lr),
            base,
          );
          value.assign(newValue);
        });
      }
      this.accBeta1.assign(tf.mul(this.accBeta1, this.beta1));
      this.accBeta2.assign(tf.mul(this.accBeta2, this.beta2));
    });
    this.incrementIterations();
  }

  /** Frees the optimizer's state. */
  override dispose(): void {
    this.accBeta1.dispose();
    this.accBeta2.dispose();
    for (const s of [...this.slots.values(), ...this.pending.map((p) => p.slot)]) {
      s.m.dispose();
      s.v.dispose();
    }
    this.slots.clear();
    this.pending = [];
    this.iterTensor?.dispose();
    this.iterTensor = null;
  }

  /**
   * The whole state: `iter`, `beta1_power`, `beta2_power`, every `${name}/m`, every `${name}/v`. The tensors belong
   * to the optimizer (do not dispose them): the variables live as long as it does, and the `iter` scalar until the
   * next `getWeights` or `dispose` — so `model.save(handler, { includeOptimizer: true })`, which never frees what it
   * gets, leaks nothing (with tfjs's own optimizers it leaks one scalar per save).
   */
  override async getWeights(): Promise<NamedTensor[]> {
    const all = [...[...this.slots.entries()].map(([name, slot]) => ({ name, slot })), ...this.pending];
    const iter = await this.saveIterations();
    this.iterTensor?.dispose();
    this.iterTensor = iter.tensor;
    return [
      iter,
      { name: 'beta1_power', tensor: this.accBeta1 },
      { name: 'beta2_power', tensor: this.accBeta2 },
      ...all.map(({ name, slot }) => ({ name: `${name}/m`, tensor: slot.m as tf.Tensor })),
      ...all.map(({ name, slot }) => ({ name: `${name}/v`, tensor: slot.v as tf.Tensor })),
    ];
  }

  /** Restores {@link getWeights}'s output (or tfjs Adam's: `iter`, moments). Replaces all current state. */
  override async setWeights(weightValues: NamedTensor[]): Promise<void> {
    const rest = await this.extractIterations(weightValues);
    const b1 = rest.find((w) => w.name === 'beta1_power');
    const b2 = rest.find((w) => w.name === 'beta2_power');
    const moments = rest.filter((w) => w !== b1 && w !== b2);
    const ms = moments.filter((w) => w.name.endsWith('/m'));
    const vs = moments.filter((w) => w.name.endsWith('/v'));
    if (ms.length + vs.length !== moments.length || ms.length !== vs.length) {
      throw new Error(`AdamW.setWeights: expected 'iter', optional beta powers, then '<name>/m' and '<name>/v' entries`);
    }
    const vByName = new Map(vs.map((w) => [w.name.slice(0, -2), w.tensor]));
    const restored = ms.map((w) => {
      const name = w.name.slice(0, -2);
      const v = vByName.get(name);
      if (v == null) throw new Error(`AdamW.setWeights: missing '${name}/v'`);
      return { name, slot: { m: tf.variable(w.tensor, false), v: tf.variable(v, false) } };
    });
    // Without saved powers (tfjs Adam's list), recompute them as tfjs's Adam.setWeights does. (Made before the old
    // state is freed: the values may be this optimizer's own, from its getWeights.)
    const powers = tf.tidy(() => [
      tf.variable(b1 != null ? tf.clone(b1.tensor) : tf.pow(this.beta1, this.iterations + 1), false),
      tf.variable(b2 != null ? tf.clone(b2.tensor) : tf.pow(this.beta2, this.iterations + 1), false),
    ]);
    this.dispose();
    [this.accBeta1, this.accBeta2] = powers;
    this.pending = restored;
  }

  /**
   * Serializable config. Schedules are stored as `{ className, config }`; `exclude` rules as
   * `{ kind: 'regexp' | 'string', name, flags }` (the pattern sits under `name`, the one key tfjs-layers leaves
   * untouched when it camel-cases a saved training config).
   */
  getConfig(): tf.serialization.ConfigDict {
    const exclude = this.exclude.map((r) => {
      if (typeof r === 'function') {
        throw new Error('AdamW.getConfig: an exclude predicate function cannot be serialized; use a RegExp or a string');
      }
      const entry: tf.serialization.ConfigDict =
        r instanceof RegExp ? { kind: 'regexp', name: r.source, flags: r.flags } : { kind: 'string', name: r };
      return entry;
    });
    const ser = (x: number | LearningRateSchedule) => (typeof x === 'number' ? x : serializeSchedule(x));
    return {
      learningRate: ser(this.learningRate),
      beta1: this.beta1,
      beta2: this.beta2,
      epsilon: this.epsilon,
      weightDecay: ser(this.weightDecay),
      weightDecayMode: this.weightDecayMode,
      exclude,
      clipGlobalNorm: this.clipGlobalNorm,
    };
  }

  /** Builds an instance from {@link AdamW.getConfig}'s output. */
  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    const de = (x: unknown) =>
      x != null && typeof x === 'object' ? deserializeSchedule(x as tf.serialization.ConfigDict) : (x as number | undefined);
    const exclude = ((config['exclude'] as tf.serialization.ConfigDict[] | null) ?? []).map((e) =>
      e['kind'] === 'regexp' ? new RegExp(e['name'] as string, (e['flags'] as string) ?? '') : (e['name'] as string),
    );
    const opts: AdamWConfig = {
      learningRate: de(config['learningRate']),
      beta1: config['beta1'] as number,
      beta2: config['beta2'] as number,
      epsilon: config['epsilon'] as number,
      weightDecay: de(config['weightDecay']),
      weightDecayMode: config['weightDecayMode'] as WeightDecayMode,
      exclude,
      clipGlobalNorm: (config['clipGlobalNorm'] as number | null) ?? null,
    };
    return new cls(opts);
  }
}
registerSerializable(AdamW);

/**
 * Creates an {@link AdamW} optimizer.
 *
 * @category Optimizers
 */
export function adamw(config: AdamWConfig = {}): AdamW {
  return new AdamW(config);
}
