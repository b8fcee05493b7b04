/**
 * Saving and loading the training configuration of a compiled model (`model.save(handler, { includeOptimizer: true })`
 * then `tf.loadLayersModel(...)`) with the library's loss and metrics.
 *
 * tfjs-layers 4.x serializes a loss only when it is one of its own names (a loss function is stored as `{}`) and
 * resolves metric names only in its own table, so a model compiled with
 * {@link sparseCategoricalCrossentropyFromLogits} or {@link sparseTopKAccuracy} came back without a loss, or did
 * not load at all (`Unknown metric top-5-accuracy`). Importing the library wraps `LayersModel`'s
 * `getTrainingConfig` and `loadTrainingConfig` (once per tfjs-layers copy) so that the library's functions are
 * stored by name (`"vit>sparseCategoricalCrossentropyFromLogits"`, `"vit>sparseTopKAccuracy?k=5&name=top-5-accuracy"`)
 * and resolved back to the same functions on load; everything else goes through tfjs-layers unchanged.
 */
import type * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { acceptSparseLabels } from './sparse_labels';

/** A loss or metric function as `model.compile` takes it: `(yTrue, yPred) → per-example values`. */
type TrainingFunction = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

/**
 * Prefix of the library's names in a saved training config (as the `'vit>'` of its registered layer classes).
 * @internal
 */
export const TRAINING_FUNCTION_PREFIX = 'vit>';

/** The saved name of a registered function, kept on the function under a global symbol (shared by ESM and CJS copies). */
const NAME_KEY = Symbol.for('vit-tfjs.trainingFunctionName');
const PATCHED_KEY = Symbol.for('vit-tfjs.trainingConfigPatched');

const factories = new Map<string, (params: URLSearchParams) => TrainingFunction>();

/**
 * Gives a loss or metric function a name under which a saved training config stores it: `vit>${name}`, followed by
 * `?key=value&…` when `params` are given (a function made by a factory, such as `sparseTopKAccuracy(k)`; register
 * the factory with {@link registerTrainingFunctionFactory}). Without `params`, `name` resolves back to `fn` itself.
 * @internal
 */
export function registerTrainingFunction<F extends TrainingFunction>(fn: F, name: string, params?: Record<string, string | number>): F {
  const query = params == null ? '' : `?${new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)])).toString()}`;
  Object.defineProperty(fn, NAME_KEY, { value: `${TRAINING_FUNCTION_PREFIX}${name}${query}`, configurable: true });
  if (params == null) factories.set(name, () => fn);
  return fn;
}

/**
 * Registers how a saved name with parameters (`vit>${name}?…`) is turned back into a function.
 * @internal
 */
export function registerTrainingFunctionFactory(name: string, factory: (params: URLSearchParams) => TrainingFunction): void {
  factories.set(name, factory);
}

/**
 * The name under which a saved training config stores `fn` (e.g. `'vit>sparseTopKAccuracy?k=5&name=top-5-accuracy'`),
 * or `undefined` for a function the library did not make. {@link resolveTrainingFunction} turns it back into the
 * function (`DataParallelTrainer` sends a loss to its worker threads this way).
 *
 * @category Training
 * @example
 * ```ts
 * trainingFunctionName(sparseCategoricalCrossentropyFromLogits); // 'vit>sparseCategoricalCrossentropyFromLogits'
 * ```
 */
export function trainingFunctionName(fn: unknown): string | undefined {
  if (typeof fn !== 'function') return undefined;
  const name = (fn as unknown as Record<symbol, unknown>)[NAME_KEY];
  return typeof name === 'string' ? name : undefined;
}

/**
 * The library's loss or metric saved under `name` (see {@link trainingFunctionName}), e.g.
 * `resolveTrainingFunction('vit>sparseTopKAccuracy?k=3&name=top3')`. Throws for a `vit>` name it does not know
 * (a model saved by a newer version of the library) and for other names.
 *
 * @category Training
 * @example
 * ```ts
 * const loss = resolveTrainingFunction('vit>sparseCategoricalCrossentropyFromLogits');
 * ```
 */
export function resolveTrainingFunction(name: string): (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor {
  if (typeof name !== 'string' || !name.startsWith(TRAINING_FUNCTION_PREFIX)) {
    throw new Error(`resolveTrainingFunction: '${String(name)}' is not a vit-tfjs loss or metric name (they start with '${TRAINING_FUNCTION_PREFIX}')`);
  }
  const rest = name.slice(TRAINING_FUNCTION_PREFIX.length);
  const q = rest.indexOf('?');
  const base = q < 0 ? rest : rest.slice(0, q);
  const factory = factories.get(base);
  if (factory == null) {
    const known = [...factories.keys()].map((k) => `'${TRAINING_FUNCTION_PREFIX}${k}'`).join(', ');
    throw new Error(`vit-tfjs: unknown loss or metric '${name}' in the model's training config (known: ${known}); was it saved by a newer version?`);
  }
  return factory(new URLSearchParams(q < 0 ? '' : rest.slice(q + 1)));
}

/** Applies `fn` to each entry of a loss/metrics spec: one entry, an array, or a dictionary keyed by output name. */
function mapEntries(spec: unknown, fn: (entry: unknown, index: string | number | null) => unknown): unknown {
  if (spec == null) return spec;
  if (Array.isArray(spec)) return spec.map((e, i) => fn(e, i));
  if (typeof spec === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(spec)) out[key] = fn((spec as Record<string, unknown>)[key], key);
    return out;
  }
  return fn(spec, null);
}

function hasLibraryFunction(spec: unknown): boolean {
  let found = false;
  mapEntries(spec, (e) => {
    if (trainingFunctionName(e) != null) found = true;
    return e;
  });
  return found;
}

/** `serialized` (what tfjs-layers wrote for `spec`) with the library's functions written by name. */
function withLibraryNames(spec: unknown, serialized: unknown): unknown {
  if (typeof spec === 'function') {
    const name = trainingFunctionName(spec);
    // tfjs writes a single metric function as a one-entry array.
    if (Array.isArray(serialized)) return name != null ? [name, ...serialized.slice(1)] : serialized;
    return name ?? serialized;
  }
  if (Array.isArray(spec)) {
    const s = Array.isArray(serialized) ? serialized : [];
    return spec.map((e, i) => trainingFunctionName(e) ?? s[i]);
  }
  if (spec != null && typeof spec === 'object') {
    const s = (serialized != null && typeof serialized === 'object' ? serialized : {}) as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(spec)) out[key] = trainingFunctionName((spec as Record<string, unknown>)[key]) ?? s[key];
    return out;
  }
  return serialized;
}

interface TrainingConfigHolder {
  loss: unknown;
  metrics: unknown;
  compile(args: tfl.ModelCompileArgs): void;
}

/** Wraps `LayersModel.prototype.getTrainingConfig`/`loadTrainingConfig` of this tfjs-layers copy (once). */
function installTrainingConfigSerialization(): void {
  const proto = tfl.LayersModel.prototype as unknown as Record<string | symbol, unknown>;
  if (proto[PATCHED_KEY] === true) return;
  const originalGet = proto['getTrainingConfig'] as (this: TrainingConfigHolder) => Record<string, unknown>;
  const originalLoad = proto['loadTrainingConfig'] as (this: TrainingConfigHolder, config: Record<string, unknown>) => void;
  if (typeof originalGet !== 'function' || typeof originalLoad !== 'function') return;
  Object.defineProperty(proto, PATCHED_KEY, { value: true });

  proto['getTrainingConfig'] = function getTrainingConfig(this: TrainingConfigHolder): Record<string, unknown> {
    const { loss, metrics } = this;
    if (!hasLibraryFunction(loss) && !hasLibraryFunction(metrics)) return originalGet.call(this);
    // tfjs-layers serializes string losses only (a function becomes `{}`, an array of them throws): hand it names.
    this.loss = mapEntries(loss, (e) => trainingFunctionName(e) ?? e);
    let config: Record<string, unknown>;
    try {
      config = originalGet.call(this);
    } finally {
      this.loss = loss;
    }
    // It snake-cases what it writes: put the names back verbatim.
    return { ...config, loss: withLibraryNames(loss, config['loss']), metrics: withLibraryNames(metrics, config['metrics']) };
  };

  proto['loadTrainingConfig'] = function loadTrainingConfig(this: TrainingConfigHolder, config: Record<string, unknown>): void {
    if (config == null || typeof config !== 'object') return originalLoad.call(this, config);
    // tfjs-layers camel-cases each name and looks it up in its own tables: hand it tokens it passes through
    // unchanged, and swap them for the functions when it compiles.
    const tokens = new Map<string, TrainingFunction>();
    const toToken = (e: unknown): unknown => {
      if (typeof e !== 'string' || !e.startsWith(TRAINING_FUNCTION_PREFIX)) return e;
      const token = `vitTfjsTrainingFunction${tokens.size}`;
      tokens.set(token, resolveTrainingFunction(e));
      return token;
    };
    const swapped = { ...config, loss: mapEntries(config['loss'], toToken), metrics: mapEntries(config['metrics'], toToken) };
    if (tokens.size === 0) return originalLoad.call(this, config);
    const fromToken = (e: unknown): unknown => (typeof e === 'string' && tokens.has(e) ? tokens.get(e) : e);
    const compile = this.compile;
    const own = Object.getOwnPropertyDescriptor(this, 'compile');
    Object.defineProperty(this, 'compile', {
      configurable: true,
      writable: true,
      value: (args: tfl.ModelCompileArgs) =>
        compile.call(this, {
          ...args,
          loss: mapEntries(args.loss, fromToken) as tfl.ModelCompileArgs['loss'],
          metrics: mapEntries(args.metrics, fromToken) as tfl.ModelCompileArgs['metrics'],
        }),
    });
    try {
      originalLoad.call(this, swapped);
    } finally {
      if (own != null) Object.defineProperty(this, 'compile', own);
      else delete (this as unknown as Record<string, unknown>)['compile'];
    }
    // A model of the user's own (not a ViTClassifier) takes class-index labels again, as after acceptSparseLabels.
    acceptSparseLabels(this as unknown as tfl.LayersModel);
  };
}

installTrainingConfigSerialization();
