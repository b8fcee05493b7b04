import { ResolvedViTOptions, resolveViTOptions, ViTClassifierOptions } from './options';

/**
 * Parameter counts of a {@link createViTClassifier} model, by part.
 *
 * @category Models
 */
export interface ViTParameterCount {
  /** Trainable parameters (what `model.countParams()` counts minus the normalization statistics). */
  trainable: number;
  /** Non-trainable: the `Normalization` layer's mean, variance and count (`2·channels + 1`), or 0. */
  nonTrainable: number;
  /** `trainable + nonTrainable`. */
  total: number;
  /** Trainable parameters per part. */
  breakdown: {
    /** Patch projection (kernel, bias), position embedding and class token. */
    patchEncoder: number;
    /** All transformer blocks (2 LayerNorms, attention, MLP each). */
    transformer: number;
    /** The final LayerNorm. */
    finalNorm: number;
    /** The head's hidden MLP layers and the logits layer. */
    head: number;
  };
}

/**
 * Forward-pass cost of one image through a {@link createViTClassifier} model.
 *
 * @category Models
 */
export interface ViTFlops {
  /** Multiply–adds. */
  macs: number;
  /** Floating-point operations, counting a multiply–add as 2 (`2 · macs`). */
  flops: number;
  /** Multiply–adds per part. */
  breakdown: {
    /** The patch projection. */
    patchEmbedding: number;
    /** Query, key, value and output projections of all blocks. */
    attentionProjections: number;
    /** The `q·kᵀ` and `softmax·v` products of all blocks. */
    attentionProducts: number;
    /** The MLPs of all blocks. */
    mlp: number;
    /** The head's MLP and logits layer. */
    head: number;
  };
}

function resolved(options: ViTClassifierOptions | ResolvedViTOptions): ResolvedViTOptions {
  return 'numPatches' in options ? (options as ResolvedViTOptions) : resolveViTOptions(options as ViTClassifierOptions);
}

function tokens(o: ResolvedViTOptions): number {
  return o.numPatches + (o.representation === 'cls' ? 1 : 0);
}

function representationWidth(o: ResolvedViTOptions): number {
  return o.representation === 'flatten' ? tokens(o) * o.projectionDim : o.projectionDim;
}

/** `[d0, d1, ..., dn]` → the dense chain's weights (`Σ d_{i-1}·d_i + d_i`) and multiply–adds per vector. */
function chain(widths: number[]): { params: number; macs: number } {
  let params = 0;
  let macs = 0;
  for (let i = 1; i < widths.length; i++) {
    params += widths[i - 1] * widths[i] + widths[i];
    macs += widths[i - 1] * widths[i];
  }
  return { params, macs };
}

/**
 * The parameter count of the model {@link createViTClassifier} builds for `options`, in closed form (computed
 * from the options alone, without building the model).
 *
 * With D = projectionDim, N = patches (+1 with a class token), P = patchSize²·channels, H·k = numHeads·keyDim:
 * patch encoder `P·D + D + N·D (+ D)`; each block `4D` (two LayerNorms) `+ 4·(D·H·k + H·k) − H·k + D`
 * (query, key, value, output projections with biases) `+` its MLP chain from D; final LayerNorm `2D`; head
 * chain from the representation (N·D flattened, or D) through `mlpHeadUnits` to `numClasses`.
 *
 * @example
 * ```ts
 * countViTParameters().trainable; // 21666762, the reference Keras model's count
 * ```
 *
 * @category Models
 */
export function countViTParameters(options: ViTClassifierOptions | ResolvedViTOptions = {}): ViTParameterCount {
  const o = resolved(options);
  const d = o.projectionDim;
  const hk = o.numHeads * o.keyDim;
  const p = o.patchSize * o.patchSize * o.inputShape[2];
  const n = tokens(o);
  const patchEncoder = p * d + d + n * d + (o.representation === 'cls' ? d : 0);
  const attention = 3 * (d * hk + hk) + (hk * d + d);
  const block = 2 * (2 * d) + attention + chain([d, ...o.transformerUnits]).params;
  const transformer = o.transformerLayers * block;
  const finalNorm = 2 * d;
  const head = chain([representationWidth(o), ...o.mlpHeadUnits, o.numClasses]).params;
  const trainable = patchEncoder + transformer + finalNorm + head;
  const nonTrainable = o.normalization === false ? 0 : 2 * o.inputShape[2] + 1;
  return { trainable, nonTrainable, total: trainable + nonTrainable, breakdown: { patchEncoder, transformer, finalNorm, head } };
}

/**
 * Forward FLOPs per image of the model {@link createViTClassifier} builds for `options`, in closed form.
 *
 * Counts the multiply–adds of every dense layer (patch projection; query, key, value and output projections;
 * block MLPs; head) and of the two attention products (`q·kᵀ`: N²·H·k, `softmax·v`: N²·H·k per block), and
 * reports `flops = 2 · macs`. As fvcore/ptflops-style counts, it leaves out element-wise work (normalization,
 * softmax, activations, residual additions, bias additions, dropout) and the preprocessing (resizing, augmentation).
 *
 * @example
 * ```ts
 * estimateViTFlops({ preset: 'vit-cifar-tiny' }).flops; // ≈ 1.1e8
 * ```
 *
 * @category Models
 */
export function estimateViTFlops(options: ViTClassifierOptions | ResolvedViTOptions = {}): ViTFlops {
  const o = resolved(options);
  const d = o.projectionDim;
  const hk = o.numHeads * o.keyDim;
  const p = o.patchSize * o.patchSize * o.inputShape[2];
  const n = tokens(o);
  const patchEmbedding = o.numPatches * p * d;
  const attentionProjections = o.transformerLayers * n * (3 * d * hk + hk * d);
  const attentionProducts = o.transformerLayers * 2 * n * n * hk;
  const mlp = o.transformerLayers * n * chain([d, ...o.transformerUnits]).macs;
  const head = chain([representationWidth(o), ...o.mlpHeadUnits, o.numClasses]).macs;
  const macs = patchEmbedding + attentionProjections + attentionProducts + mlp + head;
  return { macs, flops: 2 * macs, breakdown: { patchEmbedding, attentionProjections, attentionProducts, mlp, head } };
}
