/**
 * The published ViT sizes, to build their architecture without weights. Browser-safe.
 */
import type { ViTCheckpointConfig } from './create_from_checkpoint';
import { layoutSpec, VIT_CHECKPOINT_LAYOUTS, type ViTCheckpointLayout } from './layouts/vit_layouts';
import { assertOneOf, show } from '../utils/validate';

/**
 * The published ViT sizes (the ViT paper's B, L, H; torchvision's `vit_b_16`, `vit_b_32`, `vit_l_16`, `vit_l_32`,
 * `vit_h_14`; timm's `vit_{base,large,huge}_patch*_224`; HF's `google/vit-{base,large,huge}-patch*-224*`), at 224×224.
 *
 * @category Interop
 */
export const PYTORCH_VIT_ARCHITECTURES = {
  'vit-b-16': { patchSize: 16, hiddenDim: 768, depth: 12, numHeads: 12, mlpDim: 3072 },
  'vit-b-32': { patchSize: 32, hiddenDim: 768, depth: 12, numHeads: 12, mlpDim: 3072 },
  'vit-l-16': { patchSize: 16, hiddenDim: 1024, depth: 24, numHeads: 16, mlpDim: 4096 },
  'vit-l-32': { patchSize: 32, hiddenDim: 1024, depth: 24, numHeads: 16, mlpDim: 4096 },
  'vit-h-14': { patchSize: 14, hiddenDim: 1280, depth: 32, numHeads: 16, mlpDim: 5120 },
} as const;

/**
 * A name of {@link PYTORCH_VIT_ARCHITECTURES}.
 *
 * @category Interop
 */
export type PyTorchViTArchitecture = keyof typeof PYTORCH_VIT_ARCHITECTURES;

/**
 * The {@link ViTCheckpointConfig} of a published ViT size, without any weights: with
 * {@link vitOptionsForCheckpointConfig} and `createViTClassifier` it builds the architecture (randomly initialized),
 * e.g. to check sizes and memory before downloading, or to train one from scratch.
 *
 * @example
 * ```ts
 * const config = pytorchViTConfig('vit-b-16');                 // 224×224, patch 16, 768 wide, 12 blocks, 1000 classes
 * const model = createViTClassifier(vitOptionsForCheckpointConfig(config));
 * ```
 *
 * @category Interop
 */
export function pytorchViTConfig(
  name: PyTorchViTArchitecture,
  options: { layout?: ViTCheckpointLayout; numClasses?: number; imageSize?: number } = {},
): ViTCheckpointConfig {
  const arch = PYTORCH_VIT_ARCHITECTURES[name];
  if (arch == null) throw new Error(`pytorchViTConfig: unknown architecture ${show(name)} (known: ${Object.keys(PYTORCH_VIT_ARCHITECTURES).join(', ')})`);
  const layout = options.layout ?? 'torchvision';
  assertOneOf('pytorchViTConfig: layout', layout, VIT_CHECKPOINT_LAYOUTS);
  const size = options.imageSize ?? 224;
  return {
    layout,
    imageSize: [size, size],
    patchSize: arch.patchSize,
    channels: 3,
    hiddenDim: arch.hiddenDim,
    depth: arch.depth,
    numHeads: arch.numHeads,
    mlpDim: arch.mlpDim,
    numClasses: options.numClasses ?? 1000,
    layerNormEpsilon: layoutSpec(layout).layerNormEpsilon,
  };
}
