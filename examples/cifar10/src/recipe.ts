/**
 * Training recipes: the settings a run starts from (`--recipe`), each overridable by its own option, and how they
 * become the optimizer, its learning-rate schedule and the loss.
 */
import {
  AdamW,
  NO_DECAY_COMMON,
  type LearningRateSchedule,
  type ViTPresetName,
  type WeightDecayMode,
  cosineDecay,
  sparseCategoricalCrossentropyWithLabelSmoothing,
} from 'vit-tfjs';

/** `constant`: the learning rate throughout; `warmup-cosine`: linear warmup from 0, then cosine decay to 0 at the last step. */
export type ScheduleName = 'constant' | 'warmup-cosine';

/** Which variables weight decay spares: `none`, or `common` (biases, LayerNorm γ/β, position embeddings, class token). */
export type DecayExclusions = 'none' | 'common';

/** The settings a recipe fixes (each has its own command-line option). */
export interface Recipe {
  preset: ViTPresetName;
  epochs: number;
  batchSize: number;
  learningRate: number;
  schedule: ScheduleName;
  /** Warmup length in epochs (fractions allowed) of `warmup-cosine`. */
  warmupEpochs: number;
  weightDecay: number;
  weightDecayMode: WeightDecayMode;
  decayExclusions: DecayExclusions;
  /** Label smoothing ε of the cross-entropy (0: none). */
  labelSmoothing: number;
}

/** Names of the recipes. */
export type RecipeName = 'keras' | 'cpu-hour';

/**
 * - `keras`: the Keras tutorial's recipe (the reference model, AdamW 1e-3 with TF-Addons weight decay 1e-4, constant
 *   rate, 10 epochs): meant for a GPU.
 * - `cpu-hour`: the best CIFAR-10 accuracy we measured for one hour on a 2-core CPU (see the README): the
 *   `vit-cifar-cpu-hour` preset for 15 epochs, peak rate 3e-3 after a 1-epoch warmup then cosine decay, label
 *   smoothing 0.1, lr-scaled weight decay 0.05 sparing biases, norms and position embeddings.
 */
export const RECIPES: Readonly<Record<RecipeName, Readonly<Recipe>>> = {
  keras: {
    preset: 'keras-cifar10',
    epochs: 10,
    batchSize: 256,
    learningRate: 1e-3,
    schedule: 'constant',
    warmupEpochs: 0,
    weightDecay: 1e-4,
    weightDecayMode: 'tfa',
    decayExclusions: 'none',
    labelSmoothing: 0,
  },
  'cpu-hour': {
    preset: 'vit-cifar-cpu-hour',
    epochs: 15,
    batchSize: 256,
    learningRate: 3e-3,
    schedule: 'warmup-cosine',
    warmupEpochs: 1,
    weightDecay: 0.05,
    weightDecayMode: 'lr-scaled',
    decayExclusions: 'common',
    labelSmoothing: 0.1,
  },
};

/** The learning rate (a number or a schedule of the optimizer step) for `epochs` epochs of `stepsPerEpoch` steps. */
export function learningRateOf(r: Recipe, stepsPerEpoch: number): number | LearningRateSchedule {
  if (r.schedule === 'constant') return r.learningRate;
  const total = r.epochs * stepsPerEpoch;
  const warmupSteps = Math.round(r.warmupEpochs * stepsPerEpoch);
  if (warmupSteps >= total) throw new Error(`--warmup-epochs ${r.warmupEpochs} leaves no step for the decay in ${r.epochs} epoch(s)`);
  return warmupSteps > 0
    ? cosineDecay({ initialLearningRate: 0, warmupTarget: r.learningRate, warmupSteps, decaySteps: total - warmupSteps })
    : cosineDecay({ initialLearningRate: r.learningRate, decaySteps: total });
}

/** The optimizer of a recipe. */
export function optimizerOf(r: Recipe, stepsPerEpoch: number): AdamW {
  return new AdamW({
    learningRate: learningRateOf(r, stepsPerEpoch),
    weightDecay: r.weightDecay,
    weightDecayMode: r.weightDecayMode,
    exclude: r.decayExclusions === 'common' ? NO_DECAY_COMMON : undefined,
  });
}

/** The loss of a recipe: `undefined` for fitViT's default (sparse categorical cross-entropy from logits). */
export function lossOf(r: Recipe) {
  return r.labelSmoothing > 0 ? sparseCategoricalCrossentropyWithLabelSmoothing(r.labelSmoothing) : undefined;
}

/**
 * The settings a `--resume` must repeat: every recipe setting but the epoch count, which a run with a constant rate
 * may grow; with a schedule the epochs fix its length, so they must stay too.
 */
export function resumeSettings(r: Recipe): Record<string, unknown> {
  const keys: (keyof Recipe)[] = ['preset', 'batchSize', 'learningRate', 'schedule', 'warmupEpochs', 'weightDecay', 'weightDecayMode', 'decayExclusions', 'labelSmoothing'];
  const settings: Record<string, unknown> = Object.fromEntries(keys.map((k) => [k, r[k]]));
  if (r.schedule !== 'constant') settings.epochs = r.epochs;
  return settings;
}

/** One line for the log. */
export function describeRecipe(r: Recipe): string {
  const schedule = r.schedule === 'constant' ? 'constant' : `${r.warmupEpochs}-epoch warmup then cosine decay`;
  const decay = `${r.weightDecayMode} weight decay ${r.weightDecay}${r.decayExclusions === 'common' ? ' (not biases, norms, position embeddings)' : ''}`;
  const ls = r.labelSmoothing > 0 ? `, label smoothing ${r.labelSmoothing}` : '';
  return `AdamW lr ${r.learningRate} (${schedule}), ${decay}${ls}`;
}
