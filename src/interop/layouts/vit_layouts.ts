/**
 * The state-dict key layouts of the PyTorch ViT implementations vit-tfjs reads and writes. Browser-safe.
 *
 * Where each name comes from:
 * - torchvision `torchvision/models/vision_transformer.py`: `VisionTransformer` (`conv_proj` Conv2d, `class_token`,
 *   `encoder` = `Encoder` with `pos_embedding`, `layers.encoder_layer_{i}` = `EncoderBlock` (`ln_1`,
 *   `self_attention` = `nn.MultiheadAttention` with fused `in_proj_weight`/`in_proj_bias` and `out_proj`, `ln_2`,
 *   `mlp` = `MLPBlock`, a `torchvision.ops.MLP`: Linear `0`, GELU, Dropout, Linear `3`, Dropout), `ln`), `heads.head`.
 *   Checkpoints older than `MLPBlock._version = 2` name the linears `mlp.linear_1`/`mlp.linear_2`; both are read.
 * - timm `timm/models/vision_transformer.py`: `VisionTransformer` (`patch_embed.proj` Conv2d, `cls_token`,
 *   `pos_embed`, `blocks.{i}` = `Block` (`norm1`, `attn.qkv` fused Linear(D, 3D), `attn.proj`, `norm2`,
 *   `mlp.fc1`, `mlp.fc2`), `norm`, `head`).
 * - Hugging Face `transformers/models/vit/modeling_vit.py`: `ViTForImageClassification` (`vit` = `ViTModel` without
 *   pooler: `embeddings.{cls_token, position_embeddings, patch_embeddings.projection}`, `encoder.layer.{i}.
 *   {layernorm_before, attention.attention.{query,key,value}, attention.output.dense, layernorm_after,
 *   intermediate.dense, output.dense}`, `layernorm`), `classifier`; a bare `ViTModel` has the same names without
 *   `vit.` and may add `pooler.dense` (unused by a class-token classifier, skipped). These are the names of the
 *   published Hub checkpoints (`google/vit-*`) and of transformers 4.x's `state_dict()`.
 * - transformers 5.x renamed the blocks: `vit.layers.{i}.{layernorm_before, attention.{q_proj,k_proj,v_proj,o_proj},
 *   layernorm_after, mlp.fc1, mlp.fc2}` (embeddings, `vit.layernorm`, `classifier` unchanged); its
 *   `from_pretrained` converts the Hub names on load, its `load_state_dict` takes only the new ones (layout
 *   `'hf-v5'`).
 *
 * @internal
 */

/**
 * The PyTorch ViT implementations whose checkpoints {@link createViTFromCheckpoint} reads and
 * {@link exportViTCheckpoint} writes:
 * - `'torchvision'`: `torchvision.models.VisionTransformer`, e.g. `vit_b_16`;
 * - `'timm'`: `timm.models.vision_transformer.VisionTransformer`, e.g. `vit_base_patch16_224`;
 * - `'hf'`: Hugging Face `ViTForImageClassification` / `ViTModel` under the names of the published Hub checkpoints
 *   (e.g. `google/vit-base-patch16-224`) and of transformers 4.x: `vit.encoder.layer.N.attention.attention.query.weight`,
 *   `…attention.output.dense`, `…intermediate.dense`, `…output.dense`. What `from_pretrained` reads in every
 *   transformers version (5.x renames them on load) and what 4.x's `load_state_dict(strict=True)` takes;
 * - `'hf-v5'`: the same model under transformers 5.x's names: `vit.layers.N.attention.{q_proj,k_proj,v_proj,o_proj}`,
 *   `vit.layers.N.mlp.{fc1,fc2}`, `vit.layers.N.layernorm_{before,after}` (embeddings, `vit.layernorm` and
 *   `classifier` as `'hf'`): what 5.x's `model.state_dict()` gives and its `load_state_dict(strict=True)` takes.
 *
 * `'hf'` and `'hf-v5'` differ in names only (same LayerNorm epsilon 1e-12, preprocessing and resampling). Reading
 * tells them apart by the block keys (`vit.layers.*` is `'hf-v5'`); both are also read without the `vit.` prefix
 * (a bare `ViTModel`, whose `pooler` is skipped).
 *
 * @category Interop
 */
export type ViTCheckpointLayout = 'torchvision' | 'timm' | 'hf' | 'hf-v5';

/**
 * The layouts {@link ViTCheckpointLayout} names.
 *
 * @category Interop
 */
export const VIT_CHECKPOINT_LAYOUTS: readonly ViTCheckpointLayout[] = ['torchvision', 'timm', 'hf', 'hf-v5'];

/** The keys of one transformer block; `qkv*` is one fused key or the three of query, key, value. @internal */
export interface BlockKeys {
  ln1Weight: string;
  ln1Bias: string;
  qkvWeight: string | [string, string, string];
  qkvBias: string | [string, string, string];
  outWeight: string;
  outBias: string;
  ln2Weight: string;
  ln2Bias: string;
  fc1Weight: string;
  fc1Bias: string;
  fc2Weight: string;
  fc2Bias: string;
}

/** How a layout names things, and its conventions. @internal */
export interface LayoutSpec {
  layout: ViTCheckpointLayout;
  /** What selects the layout (a key, or a key pattern), for messages. */
  signature: string;
  /** Whether a checkpoint with these keys has this layout. */
  matches(keys: ReadonlySet<string>): boolean;
  patchWeight: string;
  patchBias: string;
  classToken: string;
  posEmbed: string;
  normWeight: string;
  normBias: string;
  headWeight: string;
  headBias: string;
  block(i: number): BlockKeys;
  /** The block index of a key of the blocks, else null. */
  blockIndex(key: string): number | null;
  /** Older names of a key, tried when the key itself is absent. */
  aliases(key: string): string[];
  /** Keys that are read past (not part of a class-token classifier). */
  ignorable(key: string): boolean;
  /** LayerNorm epsilon of the implementation. */
  layerNormEpsilon: number;
  /** Per-channel mean and std of the published weights' preprocessing (on images scaled to [0, 1]). */
  mean: number[];
  std: number[];
  /** How the implementation resamples position embeddings to another grid (torch's bicubic `F.interpolate`). */
  resample: { antialias: boolean; alignCorners: boolean };
}

/** ImageNet statistics (torchvision's weights transforms, timm's `IMAGENET_DEFAULT_*`). */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
/** See {@link IMAGENET_MEAN}. */
export const IMAGENET_STD = [0.229, 0.224, 0.225];
/** timm's `IMAGENET_INCEPTION_*` (its vit_* pretrained configs) and google/vit-*'s preprocessor: 0.5. */
const HALF = [0.5, 0.5, 0.5];

function indexOf(re: RegExp, key: string): number | null {
  const m = re.exec(key);
  return m == null ? null : Number(m[1]);
}

const TORCHVISION: LayoutSpec = {
  layout: 'torchvision',
  signature: 'conv_proj.weight',
  matches: (keys) => keys.has('conv_proj.weight'),
  patchWeight: 'conv_proj.weight',
  patchBias: 'conv_proj.bias',
  classToken: 'class_token',
  posEmbed: 'encoder.pos_embedding',
  normWeight: 'encoder.ln.weight',
  normBias: 'encoder.ln.bias',
  headWeight: 'heads.head.weight',
  headBias: 'heads.head.bias',
  block(i) {
    const p = `encoder.layers.encoder_layer_${i}.`;
    return {
      ln1Weight: `${p}ln_1.weight`,
      ln1Bias: `${p}ln_1.bias`,
      qkvWeight: `${p}self_attention.in_proj_weight`,
      qkvBias: `${p}self_attention.in_proj_bias`,
      outWeight: `${p}self_attention.out_proj.weight`,
      outBias: `${p}self_attention.out_proj.bias`,
      ln2Weight: `${p}ln_2.weight`,
      ln2Bias: `${p}ln_2.bias`,
      fc1Weight: `${p}mlp.0.weight`,
      fc1Bias: `${p}mlp.0.bias`,
      fc2Weight: `${p}mlp.3.weight`,
      fc2Bias: `${p}mlp.3.bias`,
    };
  },
  blockIndex: (key) => indexOf(/^encoder\.layers\.encoder_layer_(\d+)\./, key),
  // MLPBlock._load_from_state_dict (version < 2): linear_1 → 0, linear_2 → 3.
  aliases: (key) => {
    const m = /^(encoder\.layers\.encoder_layer_\d+\.mlp\.)([03])\.(weight|bias)$/.exec(key);
    return m == null ? [] : [`${m[1]}linear_${m[2] === '0' ? 1 : 2}.${m[3]}`];
  },
  ignorable: () => false,
  layerNormEpsilon: 1e-6,
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
  // torchvision.models.vision_transformer.interpolate_embeddings: bicubic, align_corners=True.
  resample: { antialias: false, alignCorners: true },
};

const TIMM: LayoutSpec = {
  layout: 'timm',
  signature: 'patch_embed.proj.weight',
  matches: (keys) => keys.has('patch_embed.proj.weight'),
  patchWeight: 'patch_embed.proj.weight',
  patchBias: 'patch_embed.proj.bias',
  classToken: 'cls_token',
  posEmbed: 'pos_embed',
  normWeight: 'norm.weight',
  normBias: 'norm.bias',
  headWeight: 'head.weight',
  headBias: 'head.bias',
  block(i) {
    const p = `blocks.${i}.`;
    return {
      ln1Weight: `${p}norm1.weight`,
      ln1Bias: `${p}norm1.bias`,
      qkvWeight: `${p}attn.qkv.weight`,
      qkvBias: `${p}attn.qkv.bias`,
      outWeight: `${p}attn.proj.weight`,
      outBias: `${p}attn.proj.bias`,
      ln2Weight: `${p}norm2.weight`,
      ln2Bias: `${p}norm2.bias`,
      fc1Weight: `${p}mlp.fc1.weight`,
      fc1Bias: `${p}mlp.fc1.bias`,
      fc2Weight: `${p}mlp.fc2.weight`,
      fc2Bias: `${p}mlp.fc2.bias`,
    };
  },
  blockIndex: (key) => indexOf(/^blocks\.(\d+)\./, key),
  aliases: () => [],
  ignorable: () => false,
  layerNormEpsilon: 1e-6,
  mean: HALF,
  std: HALF,
  // timm.layers.resample_abs_pos_embed: F.interpolate(mode='bicubic', antialias=True), align_corners=False.
  resample: { antialias: true, alignCorners: false },
};

/** Whether some key starts with `prefix`. */
function anyKeyStartsWith(keys: ReadonlySet<string>, prefix: string): boolean {
  for (const k of keys) if (k.startsWith(prefix)) return true;
  return false;
}

/** The keys of a Hub / transformers 4.x block (`ViTLayer`: attention.attention, attention.output, intermediate, output). */
function hfHubBlock(b: string): BlockKeys {
  const a = `${b}attention.attention.`;
  return {
    ln1Weight: `${b}layernorm_before.weight`,
    ln1Bias: `${b}layernorm_before.bias`,
    qkvWeight: [`${a}query.weight`, `${a}key.weight`, `${a}value.weight`],
    qkvBias: [`${a}query.bias`, `${a}key.bias`, `${a}value.bias`],
    outWeight: `${b}attention.output.dense.weight`,
    outBias: `${b}attention.output.dense.bias`,
    ln2Weight: `${b}layernorm_after.weight`,
    ln2Bias: `${b}layernorm_after.bias`,
    fc1Weight: `${b}intermediate.dense.weight`,
    fc1Bias: `${b}intermediate.dense.bias`,
    fc2Weight: `${b}output.dense.weight`,
    fc2Bias: `${b}output.dense.bias`,
  };
}

/** The keys of a transformers 5.x block (`attention.{q,k,v,o}_proj`, `mlp.fc1`, `mlp.fc2`). */
function hfV5Block(b: string): BlockKeys {
  const a = `${b}attention.`;
  return {
    ln1Weight: `${b}layernorm_before.weight`,
    ln1Bias: `${b}layernorm_before.bias`,
    qkvWeight: [`${a}q_proj.weight`, `${a}k_proj.weight`, `${a}v_proj.weight`],
    qkvBias: [`${a}q_proj.bias`, `${a}k_proj.bias`, `${a}v_proj.bias`],
    outWeight: `${a}o_proj.weight`,
    outBias: `${a}o_proj.bias`,
    ln2Weight: `${b}layernorm_after.weight`,
    ln2Bias: `${b}layernorm_after.bias`,
    fc1Weight: `${b}mlp.fc1.weight`,
    fc1Bias: `${b}mlp.fc1.bias`,
    fc2Weight: `${b}mlp.fc2.weight`,
    fc2Bias: `${b}mlp.fc2.bias`,
  };
}

/**
 * A Hugging Face spec: `'hf'` (Hub / transformers 4.x block names under `encoder.layer.`) or `'hf-v5'`
 * (transformers 5.x names under `layers.`); `prefix` is `'vit.'` (`ViTForImageClassification`) or `''` (`ViTModel`).
 */
function hfSpec(prefix: string, layout: 'hf' | 'hf-v5' = 'hf'): LayoutSpec {
  const p = prefix;
  const patchWeight = `${p}embeddings.patch_embeddings.projection.weight`;
  const v5Blocks = `${p}layers.`;
  const blocks = layout === 'hf-v5' ? v5Blocks : `${p}encoder.layer.`;
  return {
    layout,
    signature: layout === 'hf-v5' ? `${v5Blocks}*` : patchWeight,
    // Both namings share the embeddings' names: the block keys tell them apart.
    matches: (keys) => keys.has(patchWeight) && (layout === 'hf-v5') === anyKeyStartsWith(keys, v5Blocks),
    patchWeight,
    patchBias: `${p}embeddings.patch_embeddings.projection.bias`,
    classToken: `${p}embeddings.cls_token`,
    posEmbed: `${p}embeddings.position_embeddings`,
    normWeight: `${p}layernorm.weight`,
    normBias: `${p}layernorm.bias`,
    headWeight: 'classifier.weight',
    headBias: 'classifier.bias',
    block: (i) => (layout === 'hf-v5' ? hfV5Block(`${blocks}${i}.`) : hfHubBlock(`${blocks}${i}.`)),
    blockIndex: (key) => (key.startsWith(blocks) ? indexOf(/^(\d+)\./, key.slice(blocks.length)) : null),
    aliases: () => [],
    // ViTModel's pooler (dense + tanh on the class token, unused by ViTForImageClassification) and the mask token of
    // ViTForMaskedImageModeling's embeddings.
    ignorable: (key) => key === `${p}pooler.dense.weight` || key === `${p}pooler.dense.bias` || key === `${p}embeddings.mask_token`,
    // ViTConfig.layer_norm_eps default.
    layerNormEpsilon: 1e-12,
    // google/vit-* preprocessor_config.json: image_mean = image_std = [0.5, 0.5, 0.5].
    mean: HALF,
    std: HALF,
    // ViTEmbeddings.interpolate_pos_encoding: F.interpolate(mode='bicubic', align_corners=False).
    resample: { antialias: false, alignCorners: false },
  };
}

/** The spec of `layout` (Hugging Face: `ViTForImageClassification`'s names, with `vit.`, unless `hfPrefix` says ''). @internal */
export function layoutSpec(layout: ViTCheckpointLayout, hfPrefix = 'vit.'): LayoutSpec {
  if (layout === 'torchvision') return TORCHVISION;
  if (layout === 'timm') return TIMM;
  return hfSpec(hfPrefix, layout);
}

/** Every spec detection considers, in order. */
function candidates(): LayoutSpec[] {
  return [TORCHVISION, TIMM, hfSpec('vit.'), hfSpec('vit.', 'hf-v5'), hfSpec(''), hfSpec('', 'hf-v5')];
}

/** The signatures of every layout, for error messages. @internal */
export function layoutSignatures(): string {
  return candidates()
    .map((s) => `${s.layout}: '${s.signature}'`)
    .join(', ');
}

/**
 * The layout `keys` have (see {@link LayoutSpec.matches}); `forced` restricts it to one layout (for a Hugging Face
 * checkpoint, with or without `vit.`). Null when none matches.
 * @internal
 */
export function detectLayout(keys: ReadonlySet<string>, forced?: ViTCheckpointLayout): LayoutSpec | null {
  for (const spec of candidates()) {
    if (forced != null && spec.layout !== forced) continue;
    if (spec.matches(keys)) return spec;
  }
  return null;
}
