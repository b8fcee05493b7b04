/**
 * Position-embedding resampling to another patch grid: PyTorch's bicubic `F.interpolate` on the 2-D grid, as timm's
 * `resample_abs_pos_embed`, torchvision's `interpolate_embeddings` and Hugging Face's `interpolate_pos_encoding` use
 * it. Browser-safe.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { CheckpointTensor } from './checkpoint_tensors';
import { assertNonNegativeInteger, assertPositiveInteger, show } from '../utils/validate';

/**
 * Options of {@link resamplePositionEmbedding}.
 *
 * @category Interop
 */
export interface ResamplePositionEmbeddingOptions {
  /** Leading tokens that are not on the grid (the class token): kept as they are. Default 1. */
  numPrefixTokens?: number;
  /**
   * PyTorch's `antialias` (bicubic with Keys' a = −0.5 over a support widened when downsampling, as PIL). Default
   * true, as timm's `resample_abs_pos_embed`. `false` is the plain bicubic (a = −0.75) of Hugging Face's
   * `interpolate_pos_encoding` and torchvision's `interpolate_embeddings`.
   */
  antialias?: boolean;
  /** PyTorch's `align_corners` (torchvision's `interpolate_embeddings` uses true); not with `antialias`. Default false. */
  alignCorners?: boolean;
}

/** 1-D resampling weights: for each output index, the first input index and the weights of consecutive inputs. */
interface AxisWeights {
  start: Int32Array;
  weights: Float64Array[];
  indices: Int32Array[];
}

/** Keys' cubic convolution kernel with parameter `a` (PyTorch: −0.75 plain bicubic, −0.5 antialiased). */
function cubic(x: number, a: number): number {
  const t = Math.abs(x);
  if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
  if (t < 2) return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a;
  return 0;
}

/** PyTorch's `upsample_bicubic2d` along one axis (align_corners false/true, border clamped). */
function plainWeights(inSize: number, outSize: number, alignCorners: boolean): AxisWeights {
  const start = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  const indices: Int32Array[] = [];
  const scale = alignCorners ? (outSize > 1 ? (inSize - 1) / (outSize - 1) : 0) : inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const real = alignCorners ? scale * o : scale * (o + 0.5) - 0.5; // cubic: not clamped at 0
    const i0 = Math.floor(real);
    const t = real - i0;
    const w = new Float64Array([cubic(t + 1, -0.75), cubic(t, -0.75), cubic(1 - t, -0.75), cubic(2 - t, -0.75)]);
    const idx = new Int32Array(4);
    for (let k = 0; k < 4; k++) idx[k] = Math.min(Math.max(i0 - 1 + k, 0), inSize - 1);
    start[o] = i0 - 1;
    weights.push(w);
    indices.push(idx);
  }
  return { start, weights, indices };
}

/** PyTorch's `_upsample_bicubic2d_aa` along one axis (`_compute_indices_weights_aa`, align_corners false). */
function antialiasWeights(inSize: number, outSize: number): AxisWeights {
  const start = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  const indices: Int32Array[] = [];
  const scale = inSize / outSize;
  const support = scale >= 1 ? 2 * scale : 2; // interp_size / 2 · scale
  const invscale = scale >= 1 ? 1 / scale : 1;
  for (let o = 0; o < outSize; o++) {
    const center = scale * (o + 0.5);
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xsize = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    const w = new Float64Array(Math.max(xsize, 0));
    let total = 0;
    for (let j = 0; j < xsize; j++) {
      w[j] = cubic((j + xmin - center + 0.5) * invscale, -0.5);
      total += w[j];
    }
    if (total !== 0) for (let j = 0; j < xsize; j++) w[j] /= total;
    const idx = new Int32Array(w.length);
    for (let j = 0; j < w.length; j++) idx[j] = xmin + j;
    start[o] = xmin;
    weights.push(w);
    indices.push(idx);
  }
  return { start, weights, indices };
}

/**
 * Resamples a grid `[rows, cols, dim]` (row-major) to `[toRows, toCols, dim]`, separably: columns first, then
 * rows, in float64, rounded to float32 at the end. @internal
 */
export function resampleGrid(
  grid: Float32Array,
  from: [number, number],
  to: [number, number],
  dim: number,
  options: { antialias: boolean; alignCorners: boolean },
): Float32Array {
  const [h, w] = from;
  const [H, W] = to;
  const wx = options.antialias ? antialiasWeights(w, W) : plainWeights(w, W, options.alignCorners);
  const wy = options.antialias ? antialiasWeights(h, H) : plainWeights(h, H, options.alignCorners);
  const tmp = new Float64Array(h * W * dim); // [h, W, dim]
  for (let r = 0; r < h; r++) {
    for (let c = 0; c < W; c++) {
      const ws = wx.weights[c];
      const is = wx.indices[c];
      const o = (r * W + c) * dim;
      for (let k = 0; k < ws.length; k++) {
        const i = (r * w + is[k]) * dim;
        const f = ws[k];
        for (let d = 0; d < dim; d++) tmp[o + d] += f * grid[i + d];
      }
    }
  }
  const out = new Float32Array(H * W * dim);
  const acc = new Float64Array(dim);
  for (let r = 0; r < H; r++) {
    const ws = wy.weights[r];
    const is = wy.indices[r];
    for (let c = 0; c < W; c++) {
      acc.fill(0);
      for (let k = 0; k < ws.length; k++) {
        const i = (is[k] * W + c) * dim;
        const f = ws[k];
        for (let d = 0; d < dim; d++) acc[d] += f * tmp[i + d];
      }
      out.set(acc, (r * W + c) * dim);
    }
  }
  return out;
}

function checkGrid(name: string, grid: unknown): [number, number] {
  if (!Array.isArray(grid) || grid.length !== 2) throw new Error(`resamplePositionEmbedding: ${name} must be [rows, cols], got ${show(grid)}`);
  assertPositiveInteger(`resamplePositionEmbedding: ${name}[0]`, grid[0]);
  assertPositiveInteger(`resamplePositionEmbedding: ${name}[1]`, grid[1]);
  return [grid[0], grid[1]];
}

/**
 * Resamples the values of a position embedding `[tokens, dim]` (row-major, prefix tokens first) from one patch grid
 * to another; the prefix tokens are copied. The Float32Array version of {@link resamplePositionEmbedding}.
 * @internal
 */
export function resamplePositionEmbeddingData(
  data: Float32Array,
  dim: number,
  fromGrid: [number, number],
  toGrid: [number, number],
  options: ResamplePositionEmbeddingOptions = {},
): Float32Array {
  const prefix = options.numPrefixTokens ?? 1;
  assertNonNegativeInteger('resamplePositionEmbedding: numPrefixTokens', prefix);
  const antialias = options.antialias ?? true;
  const alignCorners = options.alignCorners ?? false;
  if (antialias && alignCorners) throw new Error('resamplePositionEmbedding: antialias and alignCorners cannot both be true (as in PyTorch)');
  const tokens = data.length / dim;
  if (tokens !== prefix + fromGrid[0] * fromGrid[1]) {
    throw new Error(
      `resamplePositionEmbedding: the embedding has ${tokens} tokens, but fromGrid ${fromGrid[0]}×${fromGrid[1]} with ` +
        `${prefix} prefix token(s) needs ${prefix + fromGrid[0] * fromGrid[1]}`,
    );
  }
  const out = new Float32Array((prefix + toGrid[0] * toGrid[1]) * dim);
  out.set(data.subarray(0, prefix * dim));
  if (fromGrid[0] === toGrid[0] && fromGrid[1] === toGrid[1]) out.set(data.subarray(prefix * dim), prefix * dim);
  else out.set(resampleGrid(data.subarray(prefix * dim), fromGrid, toGrid, dim, { antialias, alignCorners }), prefix * dim);
  return out;
}

/**
 * Resamples a learned position embedding to another patch grid (another image size or patch size): the grid
 * tokens are interpolated bicubically on the 2-D grid, exactly as PyTorch's
 * `F.interpolate(mode='bicubic', align_corners=False)` with `antialias` as timm's `resample_abs_pos_embed` (the
 * default), and the prefix tokens (the class token) are kept apart, unchanged. Computed in float64 on the CPU (the
 * tests check it against torch within 1e-6).
 *
 * @param positionEmbedding `[tokens, dim]` or `[1, tokens, dim]`, as a `tf.Tensor` or a {@link CheckpointTensor};
 *   the result has the same kind and rank.
 * @param fromGrid `[rows, cols]` of patches the embedding was trained on (e.g. `[14, 14]` for 224 / 16).
 * @param toGrid `[rows, cols]` wanted (e.g. `[2, 2]` for 32 / 16).
 *
 * @example
 * ```ts
 * const pos = tf.randomNormal([1 + 14 * 14, 768]);
 * const small = resamplePositionEmbedding(pos, [14, 14], [2, 2]); // [1 + 4, 768], the class token first
 * ```
 *
 * @category Interop
 */
export function resamplePositionEmbedding<T extends tf.Tensor | CheckpointTensor>(
  positionEmbedding: T,
  fromGrid: [number, number],
  toGrid: [number, number],
  options: ResamplePositionEmbeddingOptions = {},
): T {
  const from = checkGrid('fromGrid', fromGrid);
  const to = checkGrid('toGrid', toGrid);
  const shape = [...positionEmbedding.shape];
  if (!(shape.length === 2 || (shape.length === 3 && shape[0] === 1))) {
    throw new Error(`resamplePositionEmbedding: expected [tokens, dim] or [1, tokens, dim], got [${shape.join(', ')}]`);
  }
  const dim = shape[shape.length - 1];
  const isTensor = positionEmbedding instanceof tf.Tensor;
  const data = isTensor ? ((positionEmbedding as tf.Tensor).dataSync() as Float32Array) : (positionEmbedding as CheckpointTensor).data;
  const out = resamplePositionEmbeddingData(data, dim, from, to, options);
  const tokens = out.length / dim;
  const outShape = shape.length === 3 ? [1, tokens, dim] : [tokens, dim];
  if (isTensor) return tf.tensor(out, outShape, 'float32') as T;
  return { shape: outShape, data: out, sourceDtype: (positionEmbedding as CheckpointTensor).sourceDtype } as T;
}

/**
 * Options of {@link resizeViTImageSize}.
 *
 * @category Interop
 */
export interface ResizeViTImageSizeOptions extends Omit<ResamplePositionEmbeddingOptions, 'numPrefixTokens'> {
  /** The new model's name; default the model's. */
  name?: string;
}

type LayerConfigEntry = { className: string; config: Record<string, unknown> };

/**
 * A copy of a ViT classifier (one that {@link createViTClassifier} or {@link createViTFromCheckpoint} built, or one
 * loaded from disk) for another image size: the same layers and weights, the patch grid cut from `imageSize`, and the
 * `PatchEncoder`'s position embedding resampled by {@link resamplePositionEmbedding} (class token kept). Without a
 * `resizing` layer the new model takes `[imageSize, 3]` inputs; with one, it keeps its input size and resizes to
 * `imageSize`. The model given is left as it is (dispose it if you no longer need it).
 *
 * @param imageSize The size the patches are cut from: a multiple of the patch size, `size` or `[height, width]`.
 * @throws Error when the model has no `patches`/`patch_embed` layers, when `imageSize` is not a multiple of the patch
 *   size, or for a `'flatten'` representation (its head's width depends on the number of tokens).
 *
 * @example
 * ```ts
 * const model = createViTClassifier({ preset: 'vit-cifar-small' });   // 32×32 inputs, 8×8 patches of 4
 * const bigger = resizeViTImageSize(model, 64);                          // 64×64 inputs, 16×16 patches
 * ```
 *
 * @category Interop
 */
export function resizeViTImageSize(
  model: tfl.LayersModel,
  imageSize: number | [number, number],
  options: ResizeViTImageSizeOptions = {},
): tfl.LayersModel {
  const size: [number, number] = typeof imageSize === 'number' ? [imageSize, imageSize] : [imageSize?.[0], imageSize?.[1]];
  assertPositiveInteger('resizeViTImageSize: imageSize[0]', size[0]);
  assertPositiveInteger('resizeViTImageSize: imageSize[1]', size[1]);
  const layerOf = (name: string): tfl.layers.Layer | undefined => model.layers.find((l) => l.name === name);
  const patchesLayer = layerOf('patches');
  const encoder = layerOf('patch_embed');
  if (patchesLayer == null || encoder == null || encoder.getClassName() !== 'PatchEncoder') {
    throw new Error(`resizeViTImageSize: model '${model.name}' has no 'patches' and 'patch_embed' (PatchEncoder) layers`);
  }
  if (layerOf('flatten') != null) {
    throw new Error(`resizeViTImageSize: model '${model.name}' flattens its tokens (representation 'flatten'): its head is tied to the number of patches`);
  }
  const p = patchesLayer.getConfig().patchSize as number;
  if (size[0] % p !== 0 || size[1] % p !== 0) {
    throw new Error(`resizeViTImageSize: imageSize ${size[0]}×${size[1]} is not a multiple of the patch size ${p}`);
  }
  const encoderConfig = encoder.getConfig();
  const classToken = encoderConfig.classToken === true;
  const patchInput = patchesLayer.inputSpec?.[0]?.shape ?? (patchesLayer.input as tfl.SymbolicTensor).shape;
  const oldGrid: [number, number] = [Math.floor((patchInput[1] as number) / p), Math.floor((patchInput[2] as number) / p)];
  const newGrid: [number, number] = [size[0] / p, size[1] / p];

  const config = model.getConfig() as unknown as { layers: LayerConfigEntry[]; name: string };
  const copy = JSON.parse(JSON.stringify(config)) as { layers: LayerConfigEntry[]; name: string };
  const resizing = copy.layers.find((l) => l.config.name === 'resizing');
  for (const l of copy.layers) {
    if (l.className === 'InputLayer' && resizing == null) {
      const shape = l.config.batchInputShape as (number | null)[];
      l.config.batchInputShape = [shape[0], size[0], size[1], shape[3]];
    }
    if (l.config.name === 'patch_embed') l.config.numPatches = newGrid[0] * newGrid[1];
  }
  if (resizing != null) {
    resizing.config.height = size[0];
    resizing.config.width = size[1];
  }
  if (options.name != null) copy.name = options.name;
  const ctor = model.constructor as unknown as {
    fromConfig: (cls: unknown, config: unknown, customObjects?: unknown, fastWeightInit?: boolean) => tfl.LayersModel;
  };
  const resized = ctor.fromConfig(model.constructor, copy, undefined, true);
  for (const layer of model.layers) {
    const weights = layer.getWeights();
    if (weights.length === 0) continue;
    const target = resized.getLayer(layer.name);
    if (layer.name !== 'patch_embed') {
      target.setWeights(weights);
      continue;
    }
    const names = layer.weights.map((w) => w.originalName);
    const posIndex = names.findIndex((n) => /position_embedding$/.test(n));
    const pos = weights[posIndex];
    const resampled = resamplePositionEmbedding(pos, oldGrid, newGrid, { ...options, numPrefixTokens: classToken ? 1 : 0 });
    target.setWeights(weights.map((w, i) => (i === posIndex ? resampled : w)));
    resampled.dispose();
  }
  return resized;
}
