/**
 * PyTorch ViT checkpoints (torchvision, timm, Hugging Face) → vit-tfjs classifiers. Browser-safe.
 */
import type { CheckpointTensor, CheckpointTensors } from './checkpoint_tensors';
import {
  detectLayout,
  layoutSignatures,
  layoutSpec,
  LayoutSpec,
  VIT_CHECKPOINT_LAYOUTS,
  ViTCheckpointLayout,
} from './layouts/vit_layouts';
import { setViTWeights, TorchBlockWeights, TorchViTWeights } from './layouts/vit_weights';
import { freezeViT, type ViTFreeze } from './freeze';
import { resamplePositionEmbeddingData } from './resample_position_embedding';
import { createViTClassifier, ViTClassifier } from '../models/vit_classifier';
import type { ViTClassifierOptions } from '../models/options';
import { assertOneOf, assertPositiveInteger, assertPositiveNumber, show } from '../utils/validate';

/**
 * The architecture of a PyTorch ViT, as read from a checkpoint's shapes (or given by name in
 * {@link PYTORCH_VIT_ARCHITECTURES}).
 *
 * @category Interop
 */
export interface ViTCheckpointConfig {
  /** The key layout. */
  layout: ViTCheckpointLayout;
  /** `[height, width]` of the images, from the position embedding's patch grid. */
  imageSize: [number, number];
  /** Patch side (the patch embedding's kernel size). */
  patchSize: number;
  /** Input channels. */
  channels: number;
  /** Token width D. */
  hiddenDim: number;
  /** Number of transformer blocks. */
  depth: number;
  /** Attention heads (not in the weights: the `numHeads` option, by default D / 64). */
  numHeads: number;
  /** Hidden width of the blocks' MLP. */
  mlpDim: number;
  /** Classes of the checkpoint's head, or null when it has none (a backbone such as `ViTModel`). */
  numClasses: number | null;
  /** The implementation's LayerNorm epsilon (torchvision and timm 1e-6, Hugging Face 1e-12). */
  layerNormEpsilon: number;
}

/**
 * What the model {@link createViTFromCheckpoint} returns expects as input. The model takes NHWC float32 RGB images of
 * `imageSize`, with pixel values in `[0, maxPixelValue]` (255 by default: raw 8-bit pixels); its first layer
 * (`input_norm`) computes `(x / maxPixelValue − mean) / std` per channel, i.e. PyTorch's `ToTensor()` followed by
 * `Normalize(mean, std)`. Resizing and cropping (e.g. torchvision's "resize 256, center crop 224") are the caller's.
 *
 * @category Interop
 */
export interface ViTPreprocessing {
  /** `[height, width]` of the input images. */
  imageSize: [number, number];
  /** Per-channel mean on the [0, 1] scale (PyTorch's `Normalize` mean). */
  mean: number[];
  /** Per-channel standard deviation on the [0, 1] scale. */
  std: number[];
  /** The pixel value that means 1.0 in PyTorch (255 for raw 8-bit pixels). */
  maxPixelValue: number;
}


/**
 * Options of {@link createViTFromCheckpoint}.
 *
 * @category Interop
 */
export interface ViTFromCheckpointOptions {
  /**
   * The key layout; default: detected from the keys (a signature key per layout; Hugging Face's two namings, `'hf'`
   * for the Hub / transformers 4.x names and `'hf-v5'` for transformers 5.x's, by their block keys).
   */
  layout?: ViTCheckpointLayout;
  /** Attention heads (the weights do not tell). Default: hidden width / 64, as every standard ViT (B, L, H). */
  numHeads?: number;
  /**
   * Classes of the returned model. Default: the checkpoint head's. A different number (or a checkpoint without head)
   * gives a new head, initialized like `createViTClassifier`'s (Glorot uniform, zero bias), for fine-tuning.
   */
  numClasses?: number;
  /**
   * Image size of the returned model, `size` or `[height, width]` (a multiple of the patch size). Default: the
   * checkpoint's. Another size resamples the position embedding (see {@link resamplePositionEmbedding}) with the
   * checkpoint implementation's own method unless `resample` says otherwise.
   */
  imageSize?: number | [number, number];
  /**
   * `[rows, cols]` of the patch grid the checkpoint's position embedding covers. Needed only for non-square grids
   * (timm models built with a `(height, width)` `img_size`); default: the square root of the number of patches.
   */
  sourceGrid?: [number, number];
  /** How the position embedding is resampled; default the layout's: torchvision `alignCorners`, timm `antialias`, Hugging Face plain bicubic. */
  resample?: { antialias?: boolean; alignCorners?: boolean };
  /** Which weights train; default `'none'` (all). See {@link ViTFreeze}. */
  freeze?: ViTFreeze;
  /**
   * Per-channel mean of the preprocessing on the [0, 1] scale. Default: the layout's usual one: ImageNet's
   * (0.485, 0.456, 0.406) for torchvision; 0.5 for timm's `vit_*` (their `pretrained_cfg`, `IMAGENET_INCEPTION_MEAN`;
   * check `model.pretrained_cfg` of the model you downloaded: DeiT-style ones use ImageNet's) and for Hugging Face's
   * `google/vit-*`.
   */
  mean?: number[];
  /** Per-channel std on the [0, 1] scale; default as {@link ViTFromCheckpointOptions.mean}. */
  std?: number[];
  /** Pixel value of a full-intensity channel in the model's input; default 255 (raw pixels). 1 for inputs in [0, 1]. */
  maxPixelValue?: number;
  /** Stochastic-depth rate for fine-tuning (rising over the blocks as timm's); default 0. */
  dropPathRate?: number;
  /** Seed of the new head's initialization (see `createViTClassifier`). */
  seed?: number;
  /** The model's name; default `'vit_classifier'`. */
  name?: string;
}

/**
 * What {@link createViTFromCheckpoint} returns.
 *
 * @category Interop
 */
export interface ViTFromCheckpoint {
  /** The classifier, with the checkpoint's weights (and a new head when the class count changed). */
  model: ViTClassifier;
  /** The detected (or given) layout. */
  layout: ViTCheckpointLayout;
  /** The checkpoint's architecture. */
  config: ViTCheckpointConfig;
  /** What the model's inputs must be. */
  preprocessing: ViTPreprocessing;
  /** Whether the head is new (random), not the checkpoint's. */
  newHead: boolean;
  /** Checkpoint keys that were read past (Hugging Face `ViTModel`'s pooler and mask token). */
  ignoredKeys: string[];
}

const OPTION_KEYS = new Set([
  'layout',
  'numHeads',
  'numClasses',
  'imageSize',
  'sourceGrid',
  'resample',
  'freeze',
  'mean',
  'std',
  'maxPixelValue',
  'dropPathRate',
  'seed',
  'name',
]);

const shapeText = (s: readonly number[]): string => `[${s.join(', ')}]`;

/** Reads the keys of one layout, checking shapes; remembers what it consumed. */
class KeyReader {
  readonly used = new Set<string>();
  constructor(
    private readonly tensors: CheckpointTensors,
    private readonly spec: LayoutSpec,
  ) {}

  private where(): string {
    return `${this.spec.layout} layout (detected by '${this.spec.signature}')`;
  }

  has(key: string): boolean {
    return this.find(key) != null;
  }

  private find(key: string): string | null {
    if (Object.prototype.hasOwnProperty.call(this.tensors, key)) return key;
    for (const alias of this.spec.aliases(key)) if (Object.prototype.hasOwnProperty.call(this.tensors, alias)) return alias;
    return null;
  }

  /** The tensor of `key`; `expected` entries of -1 match any size. */
  get(key: string, expected: number[]): CheckpointTensor {
    const found = this.find(key);
    if (found == null) throw new Error(`createViTFromCheckpoint: missing key '${key}' (${this.where()})`);
    const t = this.tensors[found];
    const ok = t.shape.length === expected.length && expected.every((e, i) => e < 0 || e === t.shape[i]);
    if (!ok) {
      const want = shapeText(expected).replace(/-1/g, '*');
      throw new Error(`createViTFromCheckpoint: key '${found}' has shape ${shapeText(t.shape)}, expected ${want} (${this.where()})`);
    }
    this.used.add(found);
    return t;
  }

  data(key: string, expected: number[]): Float32Array {
    return this.get(key, expected).data;
  }

  /** One fused key, or three keys concatenated (q, k, v) along the first axis. */
  fused(keys: string | [string, string, string], d: number, rank: 1 | 2): Float32Array {
    if (typeof keys === 'string') return this.data(keys, rank === 2 ? [3 * d, d] : [3 * d]);
    const size = rank === 2 ? d * d : d;
    const out = new Float32Array(3 * size);
    keys.forEach((k, j) => out.set(this.data(k, rank === 2 ? [d, d] : [d]), j * size));
    return out;
  }
}

function checkOptions(options: ViTFromCheckpointOptions): void {
  if (options == null || typeof options !== 'object' || Array.isArray(options)) {
    throw new Error(`createViTFromCheckpoint: options must be an object, got ${show(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw new Error(`createViTFromCheckpoint: unknown option '${key}' (known options: ${[...OPTION_KEYS].join(', ')})`);
  }
  if (options.layout != null) assertOneOf('createViTFromCheckpoint: layout', options.layout, VIT_CHECKPOINT_LAYOUTS);
  if (options.numHeads != null) assertPositiveInteger('createViTFromCheckpoint: numHeads', options.numHeads);
  if (options.numClasses != null) assertPositiveInteger('createViTFromCheckpoint: numClasses', options.numClasses);
  if (options.maxPixelValue != null) assertPositiveNumber('createViTFromCheckpoint: maxPixelValue', options.maxPixelValue);
}

/** Strips a `module.` prefix that every key has (a model saved from `DataParallel`/DDP). */
function stripModulePrefix(tensors: CheckpointTensors): CheckpointTensors {
  const keys = Object.keys(tensors);
  if (keys.length === 0 || !keys.every((k) => k.startsWith('module.'))) return tensors;
  const out: CheckpointTensors = {};
  for (const k of keys) out[k.slice('module.'.length)] = tensors[k];
  return out;
}

/** The grid of a position embedding of `tokens` patch tokens. */
function gridOf(patches: number, given: [number, number] | undefined, key: string): [number, number] {
  if (given != null) {
    if (!Array.isArray(given) || given.length !== 2) throw new Error(`createViTFromCheckpoint: sourceGrid must be [rows, cols], got ${show(given)}`);
    assertPositiveInteger('createViTFromCheckpoint: sourceGrid[0]', given[0]);
    assertPositiveInteger('createViTFromCheckpoint: sourceGrid[1]', given[1]);
    if (given[0] * given[1] !== patches) {
      throw new Error(`createViTFromCheckpoint: sourceGrid ${given[0]}×${given[1]} does not fit the ${patches} patch tokens of '${key}'`);
    }
    return [given[0], given[1]];
  }
  const side = Math.round(Math.sqrt(patches));
  if (side * side !== patches) {
    throw new Error(
      `createViTFromCheckpoint: '${key}' has ${patches} patch tokens (after one class token), not a square grid; ` +
        'give sourceGrid: [rows, cols] (a position embedding without the class token is not supported)',
    );
  }
  return [side, side];
}

/** Reads and checks every weight of a checkpoint in `spec`'s layout. */
function readWeights(
  tensors: CheckpointTensors,
  spec: LayoutSpec,
  numHeadsOption: number | undefined,
  sourceGrid: [number, number] | undefined,
): { weights: TorchViTWeights; config: ViTCheckpointConfig; ignoredKeys: string[] } {
  const r = new KeyReader(tensors, spec);
  const patch = r.get(spec.patchWeight, [-1, -1, -1, -1]);
  const [d, c, p, q] = patch.shape;
  if (p !== q) throw new Error(`createViTFromCheckpoint: key '${spec.patchWeight}' has non-square patches ${shapeText(patch.shape)} (expected [D, C, p, p])`);
  const patchBias = r.data(spec.patchBias, [d]);
  const classToken = r.data(spec.classToken, [1, 1, d]);
  const pos = r.get(spec.posEmbed, [1, -1, d]);
  const grid = gridOf(pos.shape[1] - 1, sourceGrid, spec.posEmbed);

  let depth = 0;
  for (const key of Object.keys(tensors)) {
    const i = spec.blockIndex(key);
    if (i != null) depth = Math.max(depth, i + 1);
  }
  if (depth === 0) throw new Error(`createViTFromCheckpoint: missing key '${spec.block(0).ln1Weight}': no transformer blocks (${spec.layout} layout)`);
  const numHeads = numHeadsOption ?? d / 64;
  if (!Number.isInteger(numHeads)) {
    throw new Error(`createViTFromCheckpoint: the hidden width ${d} is not a multiple of 64: give numHeads (the weights do not tell the number of heads)`);
  }
  if (d % numHeads !== 0) throw new Error(`createViTFromCheckpoint: numHeads ${numHeads} does not divide the hidden width ${d}`);

  let mlpDim = -1;
  const blocks: TorchBlockWeights[] = [];
  for (let i = 0; i < depth; i++) {
    const k = spec.block(i);
    const ln1Weight = r.data(k.ln1Weight, [d]);
    const ln1Bias = r.data(k.ln1Bias, [d]);
    const qkvWeight = r.fused(k.qkvWeight, d, 2);
    const qkvBias = r.fused(k.qkvBias, d, 1);
    const outWeight = r.data(k.outWeight, [d, d]);
    const outBias = r.data(k.outBias, [d]);
    const ln2Weight = r.data(k.ln2Weight, [d]);
    const ln2Bias = r.data(k.ln2Bias, [d]);
    const fc1 = r.get(k.fc1Weight, [mlpDim, d]);
    mlpDim = fc1.shape[0];
    blocks.push({
      ln1Weight,
      ln1Bias,
      qkvWeight,
      qkvBias,
      outWeight,
      outBias,
      ln2Weight,
      ln2Bias,
      fc1Weight: fc1.data,
      fc1Bias: r.data(k.fc1Bias, [mlpDim]),
      fc2Weight: r.data(k.fc2Weight, [d, mlpDim]),
      fc2Bias: r.data(k.fc2Bias, [d]),
    });
  }
  const normWeight = r.data(spec.normWeight, [d]);
  const normBias = r.data(spec.normBias, [d]);
  let headWeight: Float32Array | null = null;
  let headBias: Float32Array | null = null;
  let numClasses: number | null = null;
  if (r.has(spec.headWeight) || r.has(spec.headBias)) {
    const head = r.get(spec.headWeight, [-1, d]);
    numClasses = head.shape[0];
    headWeight = head.data;
    headBias = r.data(spec.headBias, [numClasses]);
  }
  const ignoredKeys: string[] = [];
  for (const key of Object.keys(tensors)) {
    if (r.used.has(key)) continue;
    if (spec.ignorable(key)) {
      ignoredKeys.push(key);
      continue;
    }
    throw new Error(
      `createViTFromCheckpoint: unexpected key '${key}' ${shapeText(tensors[key].shape)}: not part of a ${spec.layout} ViT ` +
        `classifier of depth ${depth} (detected by '${spec.signature}'; variants with extra parts, such as register tokens, ` +
        'layer scale, a pre-logits layer or mean pooling, are not supported)',
    );
  }
  const config: ViTCheckpointConfig = {
    layout: spec.layout,
    imageSize: [grid[0] * p, grid[1] * p],
    patchSize: p,
    channels: c,
    hiddenDim: d,
    depth,
    numHeads,
    mlpDim,
    numClasses,
    layerNormEpsilon: spec.layerNormEpsilon,
  };
  const weights: TorchViTWeights = {
    patchWeight: patch.data,
    patchBias,
    classToken,
    posEmbed: pos.data,
    blocks,
    normWeight,
    normBias,
    headWeight,
    headBias,
  };
  return { weights, config, ignoredKeys };
}

/**
 * The `createViTClassifier` options of a PyTorch ViT architecture: class token, pre-norm blocks with the standard
 * MLP (Dense → exact GELU → Dense, `mlpOutputActivation: false`), the implementation's LayerNorm epsilon, no dropout,
 * a linear head, no augmentation, and the input normalization `(x / maxPixelValue − mean) / std`.
 *
 * @param config The architecture (from a checkpoint, or see {@link PYTORCH_VIT_ARCHITECTURES}).
 * @param extra Image size, classes, preprocessing and so on (as {@link ViTFromCheckpointOptions}).
 *
 * @example
 * ```ts
 * const options = vitOptionsForCheckpointConfig(pytorchViTConfig('vit-b-16'));
 * countViTParameters(options).trainable; // 86567656, torchvision's vit_b_16
 * ```
 *
 * @category Interop
 */
export function vitOptionsForCheckpointConfig(
  config: ViTCheckpointConfig,
  extra: Pick<ViTFromCheckpointOptions, 'numClasses' | 'imageSize' | 'mean' | 'std' | 'maxPixelValue' | 'dropPathRate' | 'seed' | 'name'> = {},
): ViTClassifierOptions {
  const spec = layoutSpec(config.layout);
  const size: [number, number] =
    extra.imageSize == null ? config.imageSize : typeof extra.imageSize === 'number' ? [extra.imageSize, extra.imageSize] : [extra.imageSize[0], extra.imageSize[1]];
  const c = config.channels;
  const mean = extra.mean ?? (c === 3 ? spec.mean : undefined);
  const std = extra.std ?? (c === 3 ? spec.std : undefined);
  if (mean == null || std == null) throw new Error(`createViTFromCheckpoint: the checkpoint has ${c} input channels: give mean and std (${c} values each)`);
  for (const [name, v] of [['mean', mean], ['std', std]] as const) {
    if (!Array.isArray(v) || v.length !== c || v.some((x) => typeof x !== 'number' || !Number.isFinite(x))) {
      throw new Error(`createViTFromCheckpoint: ${name} must be ${c} finite numbers (one per channel), got ${show(v)}`);
    }
  }
  if (std.some((s) => s <= 0)) throw new Error(`createViTFromCheckpoint: std must be > 0, got ${show(std)}`);
  const scale = extra.maxPixelValue ?? 255;
  return {
    inputShape: [size[0], size[1], c],
    imageSize: size,
    numClasses: extra.numClasses ?? config.numClasses ?? 1000,
    patchSize: config.patchSize,
    projectionDim: config.hiddenDim,
    numHeads: config.numHeads,
    keyDim: config.hiddenDim / config.numHeads,
    transformerLayers: config.depth,
    transformerUnits: [config.mlpDim, config.hiddenDim],
    mlpOutputActivation: false,
    mlpHeadUnits: [],
    attentionDropout: 0,
    mlpDropout: 0,
    representationDropout: 0,
    headDropout: 0,
    dropPathRate: extra.dropPathRate ?? 0,
    layerNormEpsilon: config.layerNormEpsilon,
    representation: 'cls',
    augmentation: false,
    // (x − scale·mean) / (scale·std) = (x / scale − mean) / std.
    normalization: { mean: mean.map((m) => m * scale), variance: std.map((s) => (s * scale) ** 2) },
    name: extra.name,
    seed: extra.seed,
  };
}

/**
 * Builds a vit-tfjs classifier from the state dict of a PyTorch Vision Transformer: torchvision's
 * `VisionTransformer` (`vit_b_16`, ...), timm's `VisionTransformer` (`vit_base_patch16_224`, ...) or Hugging Face's
 * `ViTForImageClassification`/`ViTModel` (`google/vit-base-patch16-224`, ...), as read by `readSafetensors` or
 * `readTorchCheckpoint` (or their file versions in `vit-tfjs/node`). Hugging Face checkpoints are read under both
 * namings: the Hub's / transformers 4.x's (`vit.encoder.layer.N.attention.attention.query.weight`, layout `'hf'`) and
 * transformers 5.x's `state_dict()` names (`vit.layers.N.attention.q_proj.weight`, layout `'hf-v5'`).
 *
 * The layout is detected from a signature key (see {@link ViTCheckpointLayout}); the architecture (patch size,
 * width, depth, MLP width, classes, image size) from the shapes. The model is `createViTClassifier`'s with a class
 * token, the standard MLP and the implementation's LayerNorm epsilon, and its first layer normalizes raw pixels
 * (see {@link ViTPreprocessing}): its logits equal PyTorch's within 1e-4 (the tests check every layout on the cpu and
 * wasm backends against logits computed by torchvision). The conv patch embedding becomes `Patches` + dense
 * (kernel `[p·p·C, D]` in the patch's row, column, channel order), the fused `in_proj`/`qkv` (or HF's query, key,
 * value) the Keras-style kernels `[D, heads, D/heads]`, the output projection `[heads, D/heads, D]`.
 *
 * @param tensors The state dict (a `module.` prefix on every key is removed).
 * @throws Error naming the first key or shape that does not fit: a missing key, a shape other than the layout's,
 *   a key the layout does not have (and the layout it looked like), or no known layout at all.
 *
 * @example
 * ```ts
 * import { readCheckpointFile } from 'vit-tfjs/node';
 * const tensors = await readCheckpointFile('vit_b_16-c867db91.pth');     // torchvision's ViT-B/16 weights
 * const { model, preprocessing } = createViTFromCheckpoint(tensors, {
 *   numClasses: 10, imageSize: 32, freeze: { trainLastBlocks: 2 },        // a new head, 2×2 patches of 16
 * });
 * // model.predict(images): images [n, 32, 32, 3], raw pixels 0–255
 * ```
 *
 * @category Interop
 */
export function createViTFromCheckpoint(tensors: CheckpointTensors, options: ViTFromCheckpointOptions = {}): ViTFromCheckpoint {
  checkOptions(options);
  if (tensors == null || typeof tensors !== 'object') throw new Error(`createViTFromCheckpoint: tensors must be a name → tensor map, got ${show(tensors)}`);
  const all = stripModulePrefix(tensors);
  const keys = new Set(Object.keys(all));
  const spec = detectLayout(keys, options.layout);
  if (spec == null) {
    const first = [...keys].slice(0, 5).map((k) => `'${k}'`).join(', ');
    throw new Error(
      `createViTFromCheckpoint: unknown checkpoint layout${options.layout != null ? ` (not ${options.layout})` : ''}: none of the ` +
        `signature keys (${layoutSignatures()}) is present; the checkpoint's first keys are ${first || '(none)'}`,
    );
  }
  const { weights, config, ignoredKeys } = readWeights(all, spec, options.numHeads, options.sourceGrid);
  if (config.numClasses == null && options.numClasses == null) {
    throw new Error(`createViTFromCheckpoint: the checkpoint has no classification head ('${spec.headWeight}'): give numClasses for a new one`);
  }
  const vitOptions = vitOptionsForCheckpointConfig(config, options);
  const size = vitOptions.imageSize as [number, number];
  if (size[0] % config.patchSize !== 0 || size[1] % config.patchSize !== 0) {
    throw new Error(`createViTFromCheckpoint: imageSize ${size[0]}×${size[1]} is not a multiple of the checkpoint's patch size ${config.patchSize}`);
  }
  const fromGrid: [number, number] = [config.imageSize[0] / config.patchSize, config.imageSize[1] / config.patchSize];
  const toGrid: [number, number] = [size[0] / config.patchSize, size[1] / config.patchSize];
  const resample = { ...spec.resample, ...(options.resample ?? {}) };
  if (resample.antialias && resample.alignCorners && options.resample?.antialias == null) resample.antialias = false;
  if (resample.antialias && resample.alignCorners && options.resample?.alignCorners == null) resample.alignCorners = false;
  const posEmbed = resamplePositionEmbeddingData(weights.posEmbed, config.hiddenDim, fromGrid, toGrid, { numPrefixTokens: 1, ...resample });

  const newHead = config.numClasses == null || vitOptions.numClasses !== config.numClasses;
  const model = createViTClassifier(vitOptions);
  try {
    setViTWeights(
      model,
      { ...weights, posEmbed, headWeight: newHead ? null : weights.headWeight, headBias: newHead ? null : weights.headBias },
      { dim: config.hiddenDim, channels: config.channels, patchSize: config.patchSize, numHeads: config.numHeads, mlpDim: config.mlpDim, depth: config.depth },
    );
    if (options.freeze != null) freezeViT(model, options.freeze);
  } catch (err) {
    model.dispose();
    throw err;
  }
  const o = vitOptions.normalization as { mean: number[]; variance: number[] };
  const scale = options.maxPixelValue ?? 255;
  return {
    model,
    layout: spec.layout,
    config,
    preprocessing: { imageSize: size, mean: o.mean.map((m) => m / scale), std: o.variance.map((v) => Math.sqrt(v) / scale), maxPixelValue: scale },
    newHead,
    ignoredKeys,
  };
}
