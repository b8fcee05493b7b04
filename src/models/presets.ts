import type { AugmentationSpec, ViTClassifierOptions } from './options';

/**
 * Names of the built-in presets of {@link createViTClassifier}.
 *
 * @category Models
 */
export type ViTPresetName = 'keras-cifar10' | 'vit-cifar-tiny' | 'vit-cifar-small' | 'vit-cifar-cpu-hour';

/**
 * The preset names, in order of size.
 *
 * @category Models
 */
export const VIT_PRESET_NAMES: readonly ViTPresetName[] = ['keras-cifar10', 'vit-cifar-tiny', 'vit-cifar-small', 'vit-cifar-cpu-hour'];

/**
 * A preset: the options it sets and the augmentation `augmentation: true` stands for.
 *
 * @category Models
 */
export interface ViTPreset {
  /** One line on what the preset is for. */
  description: string;
  /** The options the preset sets (user options override them). */
  options: Readonly<Omit<ViTClassifierOptions, 'preset'>>;
  /** What `augmentation: true` builds with this preset. */
  augmentation: Readonly<AugmentationSpec>;
}

/**
 * The built-in presets (timm-style: `createViTClassifier({ preset: 'vit-cifar-tiny', numClasses: 100 })`).
 * Parameter counts and forward FLOPs (1 multiply–add = 2 FLOPs; dense layers and attention products, see
 * {@link estimateViTFlops}) are for 32×32×3 inputs and 10 classes:
 *
 * | preset | image → patches | tokens × dim | blocks (heads × keyDim, MLP) | pooling, head | trainable params | forward FLOPs / image |
 * |---|---|---|---|---|---|---|
 * | `keras-cifar10` (default) | 32 → resize 72, patch 6 | 144 × 64 | 8 (4 × 64, [128, 64]) | flatten, MLP [2048, 1024] | 21,666,762 (+7 normalization) | 402,567,168 (0.40 G) |
 * | `vit-cifar-tiny` | 32, patch 4 | 64 × 128 | 6 (4 × 32, [256, 128]) | mean of tokens, linear | 810,890 (+7) | 114,035,200 (0.11 G) |
 * | `vit-cifar-small` | 32, patch 4 | 65 × 192 (class token) | 7 (3 × 64, [384, 192]) | class token, linear | 2,103,562 (+7) | 292,267,008 (0.29 G) |
| `vit-cifar-cpu-hour` | 32, patch 4 | 64 × 96 | 4 (3 × 32, [192, 96], no GELU after the last) | mean of tokens, linear | 311,146 (+7) | 44,631,936 (0.045 G) |
 *
 * - `keras-cifar10`: the Keras "Image classification with Vision Transformer" recipe (Normalization, Resizing 72,
 *   flip, rotation 0.02, zoom 0.2; dropout 0.1 in the blocks, 0.5 in the head). Meant for accuracy with many
 *   epochs on a fast backend; its flatten head holds 87% of the weights.
 * - `vit-cifar-tiny`: a compact ViT for training 32×32 images from scratch on a CPU: no upscaling, 4×4 patches,
 *   global average pooling, stochastic depth 0.1, lighter augmentation (horizontal flip, rotation 0.02, zoom 0.1).
 * - `vit-cifar-small`: the ViT-Lite-7/4 layout (7 blocks, 4×4 patches, class token) at width 192: about 2.6× the
 *   compute of `vit-cifar-tiny` for higher accuracy, same augmentation.
 *
 * @category Models
 */
export const VIT_PRESETS: Readonly<Record<ViTPresetName, ViTPreset>> = {
  'keras-cifar10': {
    description: 'The reference Keras ViT-on-CIFAR-10 recipe (72×72 resize, patch 6, dim 64, 8 blocks, flatten + MLP head).',
    options: {
      inputShape: [32, 32, 3],
      numClasses: 10,
      imageSize: 72,
      patchSize: 6,
      projectionDim: 64,
      numHeads: 4,
      keyDim: 64,
      transformerLayers: 8,
      mlpRatio: 2,
      mlpHeadUnits: [2048, 1024],
      attentionDropout: 0.1,
      mlpDropout: 0.1,
      representationDropout: 0.5,
      headDropout: 0.5,
      dropPathRate: 0,
      layerNormEpsilon: 1e-6,
      representation: 'flatten',
      augmentation: true,
      normalization: 'adapt',
    },
    augmentation: { flip: 'horizontal', rotation: 0.02, zoom: 0.2 },
  },
  'vit-cifar-tiny': {
    description: 'Compact ViT for 32×32 from scratch on a CPU: patch 4, dim 128, 6 blocks, mean pooling.',
    options: {
      inputShape: [32, 32, 3],
      numClasses: 10,
      patchSize: 4,
      projectionDim: 128,
      numHeads: 4,
      transformerLayers: 6,
      mlpRatio: 2,
      mlpHeadUnits: [],
      attentionDropout: 0,
      mlpDropout: 0,
      representationDropout: 0,
      headDropout: 0,
      dropPathRate: 0.1,
      layerNormEpsilon: 1e-6,
      representation: 'gap',
      augmentation: true,
      normalization: 'adapt',
    },
    augmentation: { flip: 'horizontal', rotation: 0.02, zoom: 0.1 },
  },
  'vit-cifar-small': {
    description: 'Compact ViT-Lite-7/4-style model for 32×32 on a CPU: patch 4, dim 192, 7 blocks, class token.',
    options: {
      inputShape: [32, 32, 3],
      numClasses: 10,
      patchSize: 4,
      projectionDim: 192,
      numHeads: 3,
      transformerLayers: 7,
      mlpRatio: 2,
      mlpHeadUnits: [],
      attentionDropout: 0,
      mlpDropout: 0,
      representationDropout: 0,
      headDropout: 0,
      dropPathRate: 0.1,
      layerNormEpsilon: 1e-6,
      representation: 'cls',
      augmentation: true,
      normalization: 'adapt',
    },
    augmentation: { flip: 'horizontal', rotation: 0.02, zoom: 0.1 },
  },
  'vit-cifar-cpu-hour': {
    description: 'Most accurate ViT we found for 1 hour of CIFAR training on 2 CPU cores: patch 4, dim 96, 4 blocks, mean pooling, flips.',
    options: {
      inputShape: [32, 32, 3],
      numClasses: 10,
      patchSize: 4,
      projectionDim: 96,
      numHeads: 3,
      transformerLayers: 4,
      mlpRatio: 2,
      mlpOutputActivation: false,
      mlpHeadUnits: [],
      attentionDropout: 0,
      mlpDropout: 0,
      representationDropout: 0,
      headDropout: 0,
      dropPathRate: 0,
      layerNormEpsilon: 1e-6,
      representation: 'gap',
      augmentation: true,
      normalization: 'adapt',
    },
    augmentation: { flip: 'horizontal' },
  },
};
