/**
 * PyTorch ViT weights ↔ the weights of a vit-tfjs classifier: the array transforms, shared by the checkpoint import and
 * export. Everything here works on row-major Float32Arrays. @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

/** The weights of a ViT in PyTorch's conventions (`nn.Linear` weights `[out, in]`, fused q/k/v `[3D, D]`). @internal */
export interface TorchViTWeights {
  patchWeight: Float32Array; // [D, C, p, p]
  patchBias: Float32Array; // [D]
  classToken: Float32Array; // [1, 1, D]
  posEmbed: Float32Array; // [1, 1 + N, D]
  blocks: TorchBlockWeights[];
  normWeight: Float32Array;
  normBias: Float32Array;
  headWeight: Float32Array | null; // [K, D]
  headBias: Float32Array | null; // [K]
}

/** One encoder block in PyTorch's conventions. @internal */
export interface TorchBlockWeights {
  ln1Weight: Float32Array;
  ln1Bias: Float32Array;
  qkvWeight: Float32Array; // [3D, D]: rows of q, k, v, each head-major
  qkvBias: Float32Array; // [3D]
  outWeight: Float32Array; // [D, D]
  outBias: Float32Array;
  ln2Weight: Float32Array;
  ln2Bias: Float32Array;
  fc1Weight: Float32Array; // [M, D]
  fc1Bias: Float32Array;
  fc2Weight: Float32Array; // [D, M]
  fc2Bias: Float32Array;
}

/** `[rows, cols]` → `[cols, rows]`. @internal */
export function transpose2d(a: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(a.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = a[r * cols + c];
  return out;
}

/**
 * Conv2d weight `[D, C, p, p]` → the kernel `[p·p·C, D]` of `Patches` (which flattens a patch row, column, channel)
 * followed by the `PatchEncoder`'s dense projection. @internal
 */
export function convToPatchKernel(w: Float32Array, d: number, c: number, p: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let o = 0; o < d; o++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < p; i++) {
        for (let j = 0; j < p; j++) out[((i * p + j) * c + ch) * d + o] = w[((o * c + ch) * p + i) * p + j];
      }
    }
  }
  return out;
}

/** The inverse of {@link convToPatchKernel}. @internal */
export function patchKernelToConv(k: Float32Array, d: number, c: number, p: number): Float32Array {
  const out = new Float32Array(k.length);
  for (let o = 0; o < d; o++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < p; i++) {
        for (let j = 0; j < p; j++) out[((o * c + ch) * p + i) * p + j] = k[((i * p + j) * c + ch) * d + o];
      }
    }
  }
  return out;
}

/** The variables of a layer by their name inside the layer (`attention/query/kernel`), without tfjs's `_N` suffixes. */
export function layerVariables(layer: tfl.layers.Layer): Map<string, tfl.LayerVariable> {
  const out = new Map<string, tfl.LayerVariable>();
  for (const v of layer.weights) {
    let name = v.originalName;
    const at = name.indexOf(`${layer.name}/`);
    if (at >= 0) name = name.slice(at + layer.name.length + 1);
    out.set(name.replace(/_\d+$/, ''), v);
  }
  return out;
}

function variable(vars: Map<string, tfl.LayerVariable>, layer: string, name: string): tfl.LayerVariable {
  const v = vars.get(name);
  if (v == null) throw new Error(`layer '${layer}' has no weight '${name}' (it has ${[...vars.keys()].join(', ')})`);
  return v;
}

/** Writes `data` into a layer's weight, checking the size. */
function write(vars: Map<string, tfl.LayerVariable>, layer: string, name: string, data: Float32Array): void {
  const v = variable(vars, layer, name);
  const size = v.shape.reduce((a, b) => (a as number) * (b as number), 1) as number;
  if (size !== data.length) throw new Error(`layer '${layer}' weight '${name}' has ${size} values, the checkpoint gives ${data.length}`);
  const t = tf.tensor(data, v.shape as number[], 'float32');
  v.write(t);
  t.dispose();
}

function read(vars: Map<string, tfl.LayerVariable>, layer: string, name: string): Float32Array {
  return new Float32Array(variable(vars, layer, name).read().dataSync() as Float32Array);
}

/** The ViT dims the transforms need. @internal */
export interface ViTDims {
  dim: number;
  channels: number;
  patchSize: number;
  numHeads: number;
  mlpDim: number;
  depth: number;
}

/**
 * Writes PyTorch-convention weights into a classifier built by `createViTClassifier` with `representation: 'cls'`
 * (layers `patch_embed`, `block_1…N`, `norm`, `logits`); the head only when `w.headWeight` is given. @internal
 */
export function setViTWeights(model: tfl.LayersModel, w: TorchViTWeights, dims: ViTDims): void {
  const { dim: d, channels: c, patchSize: p, depth, mlpDim: m } = dims;
  const enc = layerVariables(model.getLayer('patch_embed'));
  write(enc, 'patch_embed', 'projection/kernel', convToPatchKernel(w.patchWeight, d, c, p));
  write(enc, 'patch_embed', 'projection/bias', w.patchBias);
  write(enc, 'patch_embed', 'position_embedding', w.posEmbed);
  write(enc, 'patch_embed', 'class_token', w.classToken);
  for (let i = 0; i < depth; i++) {
    const name = `block_${i + 1}`;
    const b = w.blocks[i];
    const vars = layerVariables(model.getLayer(name));
    write(vars, name, 'layer_norm_1/gamma', b.ln1Weight);
    write(vars, name, 'layer_norm_1/beta', b.ln1Bias);
    // in_proj rows j·D … (j+1)·D − 1 are q, k, v; Keras's kernel [D, heads, keyDim] is that block transposed.
    ['query', 'key', 'value'].forEach((proj, j) => {
      write(vars, name, `attention/${proj}/kernel`, transpose2d(b.qkvWeight.subarray(j * d * d, (j + 1) * d * d), d, d));
      write(vars, name, `attention/${proj}/bias`, b.qkvBias.subarray(j * d, (j + 1) * d));
    });
    write(vars, name, 'attention/attention_output/kernel', transpose2d(b.outWeight, d, d));
    write(vars, name, 'attention/attention_output/bias', b.outBias);
    write(vars, name, 'layer_norm_2/gamma', b.ln2Weight);
    write(vars, name, 'layer_norm_2/beta', b.ln2Bias);
    write(vars, name, 'mlp/dense_0/kernel', transpose2d(b.fc1Weight, m, d));
    write(vars, name, 'mlp/dense_0/bias', b.fc1Bias);
    write(vars, name, 'mlp/dense_1/kernel', transpose2d(b.fc2Weight, d, m));
    write(vars, name, 'mlp/dense_1/bias', b.fc2Bias);
  }
  const norm = layerVariables(model.getLayer('norm'));
  write(norm, 'norm', 'gamma', w.normWeight);
  write(norm, 'norm', 'beta', w.normBias);
  if (w.headWeight != null && w.headBias != null) {
    const head = layerVariables(model.getLayer('logits'));
    const k = w.headBias.length;
    write(head, 'logits', 'dense_0/kernel', transpose2d(w.headWeight, k, d));
    write(head, 'logits', 'dense_0/bias', w.headBias);
  }
}

/** Reads a classifier's weights in PyTorch's conventions (the inverse of {@link setViTWeights}). @internal */
export function getViTWeights(model: tfl.LayersModel, dims: ViTDims, numClasses: number): TorchViTWeights {
  const { dim: d, channels: c, patchSize: p, depth, mlpDim: m } = dims;
  const enc = layerVariables(model.getLayer('patch_embed'));
  const blocks: TorchBlockWeights[] = [];
  for (let i = 0; i < depth; i++) {
    const name = `block_${i + 1}`;
    const vars = layerVariables(model.getLayer(name));
    const qkvWeight = new Float32Array(3 * d * d);
    const qkvBias = new Float32Array(3 * d);
    ['query', 'key', 'value'].forEach((proj, j) => {
      qkvWeight.set(transpose2d(read(vars, name, `attention/${proj}/kernel`), d, d), j * d * d);
      qkvBias.set(read(vars, name, `attention/${proj}/bias`), j * d);
    });
    blocks.push({
      ln1Weight: read(vars, name, 'layer_norm_1/gamma'),
      ln1Bias: read(vars, name, 'layer_norm_1/beta'),
      qkvWeight,
      qkvBias,
      outWeight: transpose2d(read(vars, name, 'attention/attention_output/kernel'), d, d),
      outBias: read(vars, name, 'attention/attention_output/bias'),
      ln2Weight: read(vars, name, 'layer_norm_2/gamma'),
      ln2Bias: read(vars, name, 'layer_norm_2/beta'),
      fc1Weight: transpose2d(read(vars, name, 'mlp/dense_0/kernel'), d, m),
      fc1Bias: read(vars, name, 'mlp/dense_0/bias'),
      fc2Weight: transpose2d(read(vars, name, 'mlp/dense_1/kernel'), m, d),
      fc2Bias: read(vars, name, 'mlp/dense_1/bias'),
    });
  }
  const norm = layerVariables(model.getLayer('norm'));
  const head = layerVariables(model.getLayer('logits'));
  return {
    patchWeight: patchKernelToConv(read(enc, 'patch_embed', 'projection/kernel'), d, c, p),
    patchBias: read(enc, 'patch_embed', 'projection/bias'),
    classToken: read(enc, 'patch_embed', 'class_token'),
    posEmbed: read(enc, 'patch_embed', 'position_embedding'),
    blocks,
    normWeight: read(norm, 'norm', 'gamma'),
    normBias: read(norm, 'norm', 'beta'),
    headWeight: transpose2d(read(head, 'logits', 'dense_0/kernel'), d, numClasses),
    headBias: read(head, 'logits', 'dense_0/bias'),
  };
}
