import type * as tfl from '@tensorflow/tfjs-layers';
import type { FlipMode } from '../layers/random_flip';
import {
  assertFiniteNumber,
  assertInRange,
  assertOneOf,
  assertPositiveInteger,
  assertPositiveNumber,
  show,
} from '../utils/validate';
import { VIT_PRESETS, ViTPresetName, VIT_PRESET_NAMES } from './presets';

/**
 * How the transformer's output tokens become one vector for the head.
 *
 * @category Models
 */
export type ViTRepresentation = 'flatten' | 'gap' | 'cls';

/**
 * The representations {@link ViTClassifierOptions.representation} accepts.
 *
 * @category Models
 */
export const VIT_REPRESENTATIONS: readonly ViTRepresentation[] = ['flatten', 'gap', 'cls'];


/**
 * The built-in augmentation of {@link createViTClassifier}, applied (in training only) after normalization and
 * resizing, in this order: random flip, random rotation, random zoom. A field left out is off.
 *
 * @category Models
 */
export interface AugmentationSpec {
  /** Random flip direction, or `false` for none. */
  flip?: FlipMode | false;
  /** Random rotation factor: angles uniform in `[-factor·2π, factor·2π]` (Keras's `RandomRotation(factor)`); 0 = off. */
  rotation?: number;
  /** Random zoom factor in height and width (Keras's `RandomZoom(factor, factor)`); 0 = off. */
  zoom?: number;
  /**
   * Random shift as a fraction of the height and width (Keras's `RandomTranslation(factor, factor)`: reflect fill,
   * bilinear), after the zoom; 0 = off. 0.125 on 32-pixel images shifts by up to 4 pixels, like the CIFAR recipes'
   * "random crop with padding 4".
   */
  translation?: number;
}

/**
 * Given normalization statistics, one value per channel (or one value for all channels).
 *
 * @category Models
 */
export interface NormalizationStatistics {
  /** Per-channel mean. */
  mean: number | number[];
  /** Per-channel variance (≥ 0). */
  variance: number | number[];
}

/**
 * Options of {@link createViTClassifier}. Every field is optional: the defaults are the chosen preset's
 * (`'keras-cifar10'`, the reference Keras recipe, unless `preset` says otherwise), and any field given overrides it.
 *
 * @category Models
 */
export interface ViTClassifierOptions {
  /** Starting point for every option not given (see {@link VIT_PRESETS}); default `'keras-cifar10'`. */
  preset?: ViTPresetName;
  /** Input image shape `[height, width, channels]`; default `[32, 32, 3]`. */
  inputShape?: [number, number, number];
  /** Number of classes (the logits' size); default 10. */
  numClasses?: number;
  /**
   * Size the (normalized) images are resized to before the patches are cut, `size` or `[height, width]`
   * (bilinear). Default: 72 in `'keras-cifar10'`; the input size (no resizing) in the compact presets.
   */
  imageSize?: number | [number, number];
  /** Patch side in pixels; must divide the image size. Default 6 (`'keras-cifar10'`). */
  patchSize?: number;
  /** Token width D. Default 64. */
  projectionDim?: number;
  /** Attention heads. Default 4. */
  numHeads?: number;
  /** Per-head query/key (and value) width. Default: the preset's (64 in `'keras-cifar10'`), else `projectionDim / numHeads`. */
  keyDim?: number;
  /** Number of transformer blocks. Default 8. */
  transformerLayers?: number;
  /**
   * Widths of each block's MLP (GELU after every layer, as the reference); the last must equal `projectionDim`.
   * Default `[mlpRatio·projectionDim, projectionDim]`.
   */
  transformerUnits?: number[];
  /** Hidden width of the blocks' MLP relative to `projectionDim`, when `transformerUnits` is not given. Default 2. */
  mlpRatio?: number;
  /**
   * Whether GELU also follows the last layer of each block's MLP. Default true (the Keras reference); `false` gives the
   * standard ViT MLP Dense → GELU → Dense of the paper, torchvision, timm and Hugging Face (pretrained checkpoints).
   */
  mlpOutputActivation?: boolean;
  /** Hidden widths of the classifier head's MLP (GELU, dropout); `[]` for a linear head. Default `[2048, 1024]`. */
  mlpHeadUnits?: number[];
  /** Dropout on the attention weights. Default 0.1. */
  attentionDropout?: number;
  /** Dropout after each layer of the blocks' MLP. Default 0.1. */
  mlpDropout?: number;
  /** Dropout on the pooled/flattened representation, before the head. Default 0.5. */
  representationDropout?: number;
  /** Dropout after each hidden layer of the head. Default 0.5. */
  headDropout?: number;
  /** Stochastic depth: the rate rises linearly from 0 (first block) to this (last block), as timm. Default 0. */
  dropPathRate?: number;
  /** Epsilon of every LayerNormalization. Default 1e-6. */
  layerNormEpsilon?: number;
  /** `'flatten'` all tokens (the reference), `'gap'` (mean over tokens) or `'cls'` (a class token). Default `'flatten'`. */
  representation?: ViTRepresentation;
  /**
   * `true`: the preset's augmentation (reference: horizontal flip, rotation 0.02, zoom 0.2); `false`: none;
   * an {@link AugmentationSpec}; or a list of layers (serializable ones, for save/load) applied in order after resizing.
   */
  augmentation?: boolean | AugmentationSpec | tfl.layers.Layer[];
  /**
   * Input normalization: `'adapt'` (default) adds a `Normalization` layer whose statistics come from data with
   * {@link adaptNormalization} (until then it is the identity); `{ mean, variance }` gives them; `false` adds no layer.
   */
  normalization?: 'adapt' | NormalizationStatistics | false;
  /** The model's name. Default `'vit_classifier'`. */
  name?: string;
  /**
   * Seed of every random choice the model makes: weight initialization, dropout masks, augmentation draws. Without
   * it, they come from the library's global generator (see `setGlobalSeed`).
   */
  seed?: number;
}

/**
 * {@link ViTClassifierOptions} after presets, defaults and derived values are applied and checked.
 *
 * @category Models
 */
export interface ResolvedViTOptions {
  /** The preset the options started from. */
  preset: ViTPresetName;
  /** See {@link ViTClassifierOptions.inputShape}. */
  inputShape: [number, number, number];
  /** See {@link ViTClassifierOptions.numClasses}. */
  numClasses: number;
  /** `[height, width]` the patches are cut from (after resizing). */
  imageSize: [number, number];
  /** See {@link ViTClassifierOptions.patchSize}. */
  patchSize: number;
  /** Number of patches, `(height / patchSize) · (width / patchSize)`. */
  numPatches: number;
  /** See {@link ViTClassifierOptions.projectionDim}. */
  projectionDim: number;
  /** See {@link ViTClassifierOptions.numHeads}. */
  numHeads: number;
  /** See {@link ViTClassifierOptions.keyDim}. */
  keyDim: number;
  /** See {@link ViTClassifierOptions.transformerLayers}. */
  transformerLayers: number;
  /** See {@link ViTClassifierOptions.transformerUnits}. */
  transformerUnits: number[];
  /** See {@link ViTClassifierOptions.mlpOutputActivation}. */
  mlpOutputActivation: boolean;
  /** See {@link ViTClassifierOptions.mlpHeadUnits}. */
  mlpHeadUnits: number[];
  /** See {@link ViTClassifierOptions.attentionDropout}. */
  attentionDropout: number;
  /** See {@link ViTClassifierOptions.mlpDropout}. */
  mlpDropout: number;
  /** See {@link ViTClassifierOptions.representationDropout}. */
  representationDropout: number;
  /** See {@link ViTClassifierOptions.headDropout}. */
  headDropout: number;
  /** See {@link ViTClassifierOptions.dropPathRate}. */
  dropPathRate: number;
  /** See {@link ViTClassifierOptions.layerNormEpsilon}. */
  layerNormEpsilon: number;
  /** See {@link ViTClassifierOptions.representation}. */
  representation: ViTRepresentation;
  /** The augmentation layers given, or the built-in augmentation to build (`null` = none). */
  augmentation: AugmentationSpec | tfl.layers.Layer[] | null;
  /** See {@link ViTClassifierOptions.normalization}. */
  normalization: 'adapt' | { mean: number[]; variance: number[] } | false;
  /** See {@link ViTClassifierOptions.name}. */
  name: string;
  /** See {@link ViTClassifierOptions.seed}. */
  seed?: number;
}

const OPTION_KEYS: ReadonlySet<string> = new Set([
  'preset',
  'inputShape',
  'numClasses',
  'imageSize',
  'patchSize',
  'projectionDim',
  'numHeads',
  'keyDim',
  'transformerLayers',
  'transformerUnits',
  'mlpRatio',
  'mlpOutputActivation',
  'mlpHeadUnits',
  'attentionDropout',
  'mlpDropout',
  'representationDropout',
  'headDropout',
  'dropPathRate',
  'layerNormEpsilon',
  'representation',
  'augmentation',
  'normalization',
  'name',
  'seed',
]);

function assertUnitsList(name: string, value: unknown, allowEmpty: boolean): asserts value is number[] {
  if (!Array.isArray(value) || (!allowEmpty && value.length === 0)) {
    throw new Error(`${name} must be ${allowEmpty ? 'an' : 'a non-empty'} array of positive integers, got ${show(value)}`);
  }
  value.forEach((v, i) => assertPositiveInteger(`${name}[${i}]`, v));
}

function assertRate(name: string, value: unknown): asserts value is number {
  assertInRange(name, value, 0, 1, { openHigh: true });
}

function perChannel(name: string, value: unknown, channels: number): number[] {
  const list = typeof value === 'number' ? new Array<number>(channels).fill(value) : value;
  if (!Array.isArray(list) || list.length !== channels) {
    throw new Error(`${name} must be a number or an array of ${channels} numbers (one per channel), got ${show(value)}`);
  }
  list.forEach((v, i) => assertFiniteNumber(`${name}[${i}]`, v));
  return [...list];
}

function isLayerList(value: unknown): value is tfl.layers.Layer[] {
  return Array.isArray(value) && value.every((v) => v != null && typeof v === 'object' && typeof (v as { apply?: unknown }).apply === 'function');
}

/**
 * Applies the preset and the defaults to `options`, derives the dependent values and checks everything: an
 * invalid option throws an `Error` naming it (an unknown preset or option name, non-positive sizes, an image size
 * not divisible by the patch size, `keyDim` not given while `projectionDim` is not divisible by `numHeads`,
 * `transformerUnits` not ending in `projectionDim`, an unknown representation, rates outside [0, 1), ...).
 *
 * @example
 * ```ts
 * resolveViTOptions({ preset: 'vit-cifar-tiny' }).numPatches; // 64
 * ```
 *
 * @category Models
 */
export function resolveViTOptions(options: ViTClassifierOptions = {}): ResolvedViTOptions {
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`options must be an object, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) {
      throw new Error(`unknown option '${key}' (known options: ${[...OPTION_KEYS].join(', ')})`);
    }
  }
  const presetName = options.preset ?? 'keras-cifar10';
  assertOneOf('preset', presetName, VIT_PRESET_NAMES);
  const defined = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as ViTClassifierOptions;
  const o: ViTClassifierOptions = { ...VIT_PRESETS[presetName].options, ...defined };

  const inputShape = o.inputShape ?? [32, 32, 3];
  if (!Array.isArray(inputShape) || inputShape.length !== 3) {
    throw new Error(`inputShape must be [height, width, channels], got ${show(inputShape)}`);
  }
  inputShape.forEach((v, i) => assertPositiveInteger(`inputShape[${i}]`, v));

  const numClasses = o.numClasses ?? 10;
  assertPositiveInteger('numClasses', numClasses);

  let imageSize: [number, number];
  if (o.imageSize == null) imageSize = [inputShape[0], inputShape[1]];
  else if (typeof o.imageSize === 'number') {
    assertPositiveInteger('imageSize', o.imageSize);
    imageSize = [o.imageSize, o.imageSize];
  } else if (Array.isArray(o.imageSize) && o.imageSize.length === 2) {
    o.imageSize.forEach((v, i) => assertPositiveInteger(`imageSize[${i}]`, v));
    imageSize = [o.imageSize[0], o.imageSize[1]];
  } else {
    throw new Error(`imageSize must be a positive integer or [height, width], got ${show(o.imageSize)}`);
  }

  const patchSize = o.patchSize;
  assertPositiveInteger('patchSize', patchSize);
  if (imageSize[0] % patchSize !== 0 || imageSize[1] % patchSize !== 0) {
    throw new Error(
      `imageSize ${imageSize[0]}×${imageSize[1]} is not divisible by patchSize ${patchSize}` +
        (o.imageSize == null ? ' (imageSize defaults to the input size; set imageSize to resize)' : ''),
    );
  }
  const numPatches = (imageSize[0] / patchSize) * (imageSize[1] / patchSize);

  const projectionDim = o.projectionDim;
  assertPositiveInteger('projectionDim', projectionDim);
  const numHeads = o.numHeads;
  assertPositiveInteger('numHeads', numHeads);
  let keyDim = o.keyDim;
  if (keyDim == null) {
    if (projectionDim % numHeads !== 0) {
      throw new Error(`projectionDim ${projectionDim} is not divisible by numHeads ${numHeads}; give keyDim explicitly`);
    }
    keyDim = projectionDim / numHeads;
  }
  assertPositiveInteger('keyDim', keyDim);
  const transformerLayers = o.transformerLayers;
  assertPositiveInteger('transformerLayers', transformerLayers);

  let transformerUnits = o.transformerUnits;
  if (transformerUnits == null) {
    const mlpRatio = o.mlpRatio ?? 2;
    assertPositiveNumber('mlpRatio', mlpRatio);
    transformerUnits = [Math.max(1, Math.round(mlpRatio * projectionDim)), projectionDim];
  }
  assertUnitsList('transformerUnits', transformerUnits, false);
  if (transformerUnits[transformerUnits.length - 1] !== projectionDim) {
    throw new Error(
      `transformerUnits must end with projectionDim (${projectionDim}) for the residual connection, got ${show(transformerUnits)}`,
    );
  }
  const mlpOutputActivation = o.mlpOutputActivation ?? true;
  if (typeof mlpOutputActivation !== 'boolean') throw new Error(`mlpOutputActivation must be true or false, got ${show(mlpOutputActivation)}`);
  const mlpHeadUnits = o.mlpHeadUnits ?? [];
  assertUnitsList('mlpHeadUnits', mlpHeadUnits, true);

  const attentionDropout = o.attentionDropout ?? 0;
  assertRate('attentionDropout', attentionDropout);
  const mlpDropout = o.mlpDropout ?? 0;
  assertRate('mlpDropout', mlpDropout);
  const representationDropout = o.representationDropout ?? 0;
  assertRate('representationDropout', representationDropout);
  const headDropout = o.headDropout ?? 0;
  assertRate('headDropout', headDropout);
  const dropPathRate = o.dropPathRate ?? 0;
  assertRate('dropPathRate', dropPathRate);
  const layerNormEpsilon = o.layerNormEpsilon ?? 1e-6;
  assertPositiveNumber('layerNormEpsilon', layerNormEpsilon);

  const representation = o.representation ?? 'flatten';
  assertOneOf('representation', representation, VIT_REPRESENTATIONS);

  let augmentation: AugmentationSpec | tfl.layers.Layer[] | null;
  const aug = o.augmentation ?? false;
  if (aug === false) augmentation = null;
  else if (aug === true) augmentation = { ...(VIT_PRESETS[presetName].augmentation ?? {}) };
  else if (isLayerList(aug)) augmentation = [...aug];
  else if (typeof aug === 'object' && !Array.isArray(aug)) augmentation = checkAugmentationSpec(aug);
  else {
    throw new Error(`augmentation must be true, false, { flip, rotation, zoom, translation } or an array of layers, got ${String(aug)}`);
  }

  let normalization: ResolvedViTOptions['normalization'];
  const norm = o.normalization ?? 'adapt';
  if (norm === false || norm === 'adapt') normalization = norm;
  else if (typeof norm === 'object' && norm != null && !Array.isArray(norm)) {
    const channels = inputShape[2];
    const mean = perChannel('normalization.mean', norm.mean, channels);
    const variance = perChannel('normalization.variance', norm.variance, channels);
    variance.forEach((v, i) => {
      if (v < 0) throw new Error(`normalization.variance[${i}] must be ≥ 0, got ${v}`);
    });
    normalization = { mean, variance };
  } else {
    throw new Error(`normalization must be 'adapt', { mean, variance } or false, got ${show(norm)}`);
  }

  const name = o.name ?? 'vit_classifier';
  if (typeof name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(name)) {
    throw new Error(`name must be a non-empty string of letters, digits, '_', '.', '-', got ${show(name)}`);
  }
  if (o.seed != null) assertFiniteNumber('seed', o.seed);

  return {
    preset: presetName,
    inputShape: [inputShape[0], inputShape[1], inputShape[2]],
    numClasses,
    imageSize,
    patchSize,
    numPatches,
    projectionDim,
    numHeads,
    keyDim,
    transformerLayers,
    transformerUnits: [...transformerUnits],
    mlpOutputActivation,
    mlpHeadUnits: [...mlpHeadUnits],
    attentionDropout,
    mlpDropout,
    representationDropout,
    headDropout,
    dropPathRate,
    layerNormEpsilon,
    representation,
    augmentation,
    normalization,
    name,
    seed: o.seed,
  };
}

function checkAugmentationSpec(spec: AugmentationSpec): AugmentationSpec | null {
  for (const key of Object.keys(spec)) {
    if (!['flip', 'rotation', 'zoom', 'translation'].includes(key)) {
      throw new Error(`unknown augmentation option '${key}' (known: flip, rotation, zoom, translation)`);
    }
  }
  const out: AugmentationSpec = {};
  if (spec.flip != null && spec.flip !== false) {
    assertOneOf('augmentation.flip', spec.flip, ['horizontal', 'vertical', 'horizontal_and_vertical'] as const);
    out.flip = spec.flip;
  }
  if (spec.rotation != null && spec.rotation !== 0) {
    assertInRange('augmentation.rotation', spec.rotation, 0, 1, { openLow: true });
    out.rotation = spec.rotation;
  }
  if (spec.zoom != null && spec.zoom !== 0) {
    assertInRange('augmentation.zoom', spec.zoom, 0, 1, { openLow: true, openHigh: true });
    out.zoom = spec.zoom;
  }
  if (spec.translation != null && spec.translation !== 0) {
    assertInRange('augmentation.translation', spec.translation, 0, 1, { openLow: true });
    out.translation = spec.translation;
  }
  return out.flip == null && out.rotation == null && out.zoom == null && out.translation == null ? null : out;
}
