/**
 * vit-tfjs classifiers → PyTorch ViT state dicts (torchvision, timm, Hugging Face: Hub / transformers 4.x names and
 * transformers 5.x names). Browser-safe.
 */
import * as tfl from '@tensorflow/tfjs-layers';
import { checkpointTensor, type CheckpointTensors } from './checkpoint_tensors';
import { layoutSpec, VIT_CHECKPOINT_LAYOUTS, type ViTCheckpointLayout } from './layouts/vit_layouts';
import { getViTWeights } from './layouts/vit_weights';
import type { ViTCheckpointConfig } from './create_from_checkpoint';
import { assertOneOf } from '../utils/validate';

type Config = Record<string, unknown>;

function layerConfig(model: tfl.LayersModel, name: string): { className: string; config: Config } | null {
  const layer = model.layers.find((l) => l.name === name);
  return layer == null ? null : { className: layer.getClassName(), config: layer.getConfig() as Config };
}

/**
 * The {@link ViTCheckpointConfig} a model exports as, checking that it has the structure of a PyTorch ViT classifier.
 *
 * @throws Error naming the first layer that does not fit.
 * @internal
 */
export function exportableConfig(model: tfl.LayersModel, layout: ViTCheckpointLayout): ViTCheckpointConfig {
  const fail = (why: string): never => {
    throw new Error(`exportViTCheckpoint: model '${model.name}' cannot be written as a ${layout} ViT: ${why}`);
  };
  const patches = layerConfig(model, 'patches') ?? fail("it has no 'patches' layer");
  const encoder = layerConfig(model, 'patch_embed') ?? fail("it has no 'patch_embed' layer");
  if (encoder.config.classToken !== true) fail("'patch_embed' has no class token (build it with representation: 'cls')");
  const pool = layerConfig(model, 'pool');
  if (pool == null || pool.config.mode !== 'first') fail("it does not pool the class token (representation: 'cls')");
  if (layerConfig(model, 'mlp_head') != null) fail("it has an MLP head ('mlp_head'); PyTorch ViTs have a linear head");
  const logits = layerConfig(model, 'logits') ?? fail("it has no 'logits' layer");
  const units = logits.config.units as number[];
  if (units.length !== 1 || logits.config.activation !== 'linear') fail("'logits' is not one linear dense layer");
  const p = patches.config.patchSize as number;
  const patchLayer = model.getLayer('patches');
  const inShape = (patchLayer.input as tfl.SymbolicTensor).shape;
  const channels = inShape[3] as number;
  const imageSize: [number, number] = [Math.floor((inShape[1] as number) / p) * p, Math.floor((inShape[2] as number) / p) * p];
  if (imageSize[0] !== inShape[1] || imageSize[1] !== inShape[2]) fail(`its image size ${inShape[1]}×${inShape[2]} is not a multiple of the patch size ${p}`);
  const d = encoder.config.projectionDim as number;
  const blocks = model.layers.filter((l) => /^block_\d+$/.test(l.name));
  if (blocks.length === 0) fail('it has no transformer blocks');
  let numHeads = -1;
  let mlpDim = -1;
  let eps = -1;
  blocks.forEach((b, i) => {
    const c = b.getConfig() as Config;
    const name = `block_${i + 1}`;
    if (b.name !== name) fail(`its blocks are not named block_1 … block_${blocks.length}`);
    const mlpUnits = c.mlpUnits as number[];
    if (mlpUnits.length !== 2) fail(`'${name}' has an MLP of ${mlpUnits.length} layers (PyTorch ViTs: 2)`);
    if (c.activation !== 'gelu') fail(`'${name}' uses the activation '${String(c.activation)}' (PyTorch ViTs: exact GELU)`);
    if (c.mlpOutputActivation !== false) fail(`'${name}' applies GELU after its MLP's last layer too (build it with mlpOutputActivation: false)`);
    if ((c.numHeads as number) * (c.keyDim as number) !== d) fail(`'${name}' has ${c.numHeads} heads of ${c.keyDim}, not ${d} in all`);
    if (i === 0) {
      numHeads = c.numHeads as number;
      mlpDim = mlpUnits[0];
      eps = c.epsilon as number;
    } else if (c.numHeads !== numHeads || mlpUnits[0] !== mlpDim || c.epsilon !== eps) fail(`'${name}' differs from 'block_1' (heads, MLP width or epsilon)`);
  });
  const norm = layerConfig(model, 'norm') ?? fail("it has no final 'norm' layer");
  if (norm.config.epsilon !== eps) fail(`its final norm's epsilon ${String(norm.config.epsilon)} differs from the blocks' ${eps}`);
  return {
    layout,
    imageSize,
    patchSize: p,
    channels,
    hiddenDim: d,
    depth: blocks.length,
    numHeads,
    mlpDim,
    numClasses: units[0],
    layerNormEpsilon: eps,
  };
}

/**
 * Writes a vit-tfjs ViT classifier as the state dict of a PyTorch ViT: exactly the names and shapes that
 * torchvision's `VisionTransformer`, timm's `VisionTransformer` or Hugging Face's `ViTForImageClassification` of the
 * same size expect from `load_state_dict(strict=True)` (none of them has buffers), as float32. Write it with
 * `writeSafetensors(tensors, { format: 'pt' })`. The inverse of {@link createViTFromCheckpoint}: the model must have
 * its structure (class token, standard MLP without activation after its last layer, linear head), as every model
 * `createViTFromCheckpoint` returns has.
 *
 * Hugging Face has two namings (see {@link ViTCheckpointLayout}): `'hf'` writes the names of the published Hub
 * checkpoints (`vit.encoder.layer.N.attention.attention.query.weight`, ...): save it as `model.safetensors` next to a
 * `config.json` and load it with `ViTForImageClassification.from_pretrained(folder)` (any transformers version: 5.x
 * renames them on load), or with `load_state_dict(strict=True)` in transformers 4.x. `'hf-v5'` writes transformers
 * 5.x's own names (`vit.layers.N.attention.q_proj.weight`, ...), which its `load_state_dict(strict=True)` takes.
 *
 * The model's input normalization is not part of a state dict: feed the PyTorch model `Normalize(mean, std)` images
 * with the statistics of `createViTFromCheckpoint`'s `preprocessing`. The PyTorch side must be built with the same
 * sizes (`image_size`, `patch_size`, `num_layers`, `num_heads`, `hidden_dim`, `mlp_dim`, `num_classes`) and LayerNorm
 * epsilon (Hugging Face's default is 1e-12; a model converted from torchvision or timm has 1e-6: set
 * `layer_norm_eps=1e-6` in `ViTConfig`).
 *
 * @throws Error naming the first layer that does not fit a PyTorch ViT.
 *
 * @example
 * ```ts
 * const tensors = exportViTCheckpoint(model, 'torchvision');
 * const bytes = writeSafetensors(tensors, { format: 'pt' });  // torchvision: model.load_state_dict(load_file(path))
 * const hub = writeSafetensors(exportViTCheckpoint(model, 'hf'), { format: 'pt' });  // model.safetensors for from_pretrained
 * ```
 *
 * @category Interop
 */
export function exportViTCheckpoint(model: tfl.LayersModel, layout: ViTCheckpointLayout): CheckpointTensors {
  assertOneOf('exportViTCheckpoint: layout', layout, VIT_CHECKPOINT_LAYOUTS);
  const config = exportableConfig(model, layout);
  const { hiddenDim: d, channels: c, patchSize: p, depth, mlpDim: m, numHeads } = config;
  const k = config.numClasses as number;
  const w = getViTWeights(model, { dim: d, channels: c, patchSize: p, numHeads, mlpDim: m, depth }, k);
  const spec = layoutSpec(layout);
  const tokens = w.posEmbed.length / d;
  const out: CheckpointTensors = {};
  const put = (key: string, shape: number[], data: Float32Array): void => {
    out[key] = checkpointTensor(shape, data);
  };
  // In each implementation's state_dict order (parameters in the order the modules register them).
  const classToken = (): void => put(spec.classToken, [1, 1, d], w.classToken);
  const posEmbed = (): void => put(spec.posEmbed, [1, tokens, d], w.posEmbed);
  const patch = (): void => {
    put(spec.patchWeight, [d, c, p, p], w.patchWeight);
    put(spec.patchBias, [d], w.patchBias);
  };
  for (const part of layout === 'torchvision' ? [classToken, patch, posEmbed] : [classToken, posEmbed, patch]) part();
  const hf = layout === 'hf' || layout === 'hf-v5';
  for (let i = 0; i < depth; i++) {
    const keys = spec.block(i);
    const b = w.blocks[i];
    const ln1 = (): void => {
      put(keys.ln1Weight, [d], b.ln1Weight);
      put(keys.ln1Bias, [d], b.ln1Bias);
    };
    const attention = (): void => {
      if (typeof keys.qkvWeight === 'string' && typeof keys.qkvBias === 'string') {
        put(keys.qkvWeight, [3 * d, d], b.qkvWeight);
        put(keys.qkvBias, [3 * d], b.qkvBias);
      } else {
        for (let j = 0; j < 3; j++) {
          put((keys.qkvWeight as string[])[j], [d, d], b.qkvWeight.slice(j * d * d, (j + 1) * d * d));
          put((keys.qkvBias as string[])[j], [d], b.qkvBias.slice(j * d, (j + 1) * d));
        }
      }
      put(keys.outWeight, [d, d], b.outWeight);
      put(keys.outBias, [d], b.outBias);
    };
    const ln2 = (): void => {
      put(keys.ln2Weight, [d], b.ln2Weight);
      put(keys.ln2Bias, [d], b.ln2Bias);
    };
    const mlp = (): void => {
      put(keys.fc1Weight, [m, d], b.fc1Weight);
      put(keys.fc1Bias, [m], b.fc1Bias);
      put(keys.fc2Weight, [d, m], b.fc2Weight);
      put(keys.fc2Bias, [d], b.fc2Bias);
    };
    // HF's ViTLayer registers attention, the MLP, then layernorm_before and layernorm_after; the others norm first.
    for (const part of hf ? [attention, mlp, ln1, ln2] : [ln1, attention, ln2, mlp]) part();
  }
  put(spec.normWeight, [d], w.normWeight);
  put(spec.normBias, [d], w.normBias);
  put(spec.headWeight, [k, d], w.headWeight as Float32Array);
  put(spec.headBias, [k], w.headBias as Float32Array);
  return out;
}
