/**
 * exportViTCheckpoint: the names and shapes of each layout's state dict (as the fixtures, written by PyTorch, have
 * them), the values of a loaded checkpoint back bit for bit, conversion between layouts, and export → safetensors →
 * read → the same logits. Errors name the first key or shape (or layer) that does not fit.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import type { CheckpointTensors } from '../../../src/interop/checkpoint_tensors';
import {
  createViTFromCheckpoint,
  vitOptionsForCheckpointConfig,
} from '../../../src/interop/create_from_checkpoint';
import { freezeViT } from '../../../src/interop/freeze';
import { pytorchViTConfig } from '../../../src/interop/pytorch_architectures';
import { exportViTCheckpoint } from '../../../src/interop/export_checkpoint';
import { readSafetensors, writeSafetensors } from '../../../src/interop/safetensors';
import { countViTParameters } from '../../../src/models/flops';
import { createViTClassifier } from '../../../src/models/vit_classifier';
import { CASES, maxAbsDiff, pixelsTensor, readCheckpoint } from './fixtures';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function expectSameTensors(got: CheckpointTensors, want: CheckpointTensors): void {
  expect(Object.keys(got).sort()).toEqual(Object.keys(want).sort());
  for (const k of Object.keys(want)) {
    expect([k, got[k].shape]).toEqual([k, want[k].shape]);
    expect(Buffer.from(got[k].data.buffer, got[k].data.byteOffset, got[k].data.byteLength).equals(
      Buffer.from(want[k].data.buffer, want[k].data.byteOffset, want[k].data.byteLength))).toBe(true);
  }
}

describe('exportViTCheckpoint', () => {
  for (const [name, c] of Object.entries(CASES)) {
    it(`${name}: the ${c.layout} state dict's names (in state_dict order) and shapes, and its values bit for bit`, () => {
      const tensors = readCheckpoint(c.files[c.files.length - 1]);
      const { model } = createViTFromCheckpoint(tensors, { numHeads: c.config.num_heads });
      const before = tf.memory().numTensors;
      const out = exportViTCheckpoint(model, c.layout);
      expect(tf.memory().numTensors).toBe(before);
      expect(Object.keys(out)).toEqual(c.keys);
      for (const k of c.keys) expect([k, out[k].shape]).toEqual([k, c.shapes[k]]);
      expectSameTensors(out, tensors);
      model.dispose();
    });
  }

  it("converts between layouts: tv-a exported as timm, hf and hf-v5 equals the generator's timm-a, hf-a and hf-v5-a", () => {
    const { model } = createViTFromCheckpoint(readCheckpoint('tv-a.pth'), { numHeads: 2 });
    expectSameTensors(exportViTCheckpoint(model, 'timm'), readCheckpoint('timm-a.safetensors'));
    expectSameTensors(exportViTCheckpoint(model, 'hf'), readCheckpoint('hf-a.safetensors'));
    expectSameTensors(exportViTCheckpoint(model, 'hf-v5'), readCheckpoint('hf-v5-a.safetensors'));
    model.dispose();
  });

  it("hf and hf-v5: the two Hugging Face namings of one model, key for key (transformers 5.x's renames)", () => {
    const { model } = createViTFromCheckpoint(readCheckpoint('hf-a.safetensors'), { numHeads: 2 });
    const hub = exportViTCheckpoint(model, 'hf');
    const v5 = exportViTCheckpoint(model, 'hf-v5');
    const hubKeys = Object.keys(hub);
    const v5Keys = Object.keys(v5);
    expect(v5Keys.length).toBe(hubKeys.length);
    // Same order; block keys renamed, the rest unchanged.
    const renamed = hubKeys.map((k) =>
      k
        .replace(/^vit\.encoder\.layer\.(\d+)\.attention\.attention\.query\./, 'vit.layers.$1.attention.q_proj.')
        .replace(/^vit\.encoder\.layer\.(\d+)\.attention\.attention\.key\./, 'vit.layers.$1.attention.k_proj.')
        .replace(/^vit\.encoder\.layer\.(\d+)\.attention\.attention\.value\./, 'vit.layers.$1.attention.v_proj.')
        .replace(/^vit\.encoder\.layer\.(\d+)\.attention\.output\.dense\./, 'vit.layers.$1.attention.o_proj.')
        .replace(/^vit\.encoder\.layer\.(\d+)\.intermediate\.dense\./, 'vit.layers.$1.mlp.fc1.')
        .replace(/^vit\.encoder\.layer\.(\d+)\.output\.dense\./, 'vit.layers.$1.mlp.fc2.')
        .replace(/^vit\.encoder\.layer\.(\d+)\.layernorm_/, 'vit.layers.$1.layernorm_'),
    );
    expect(v5Keys).toEqual(renamed);
    hubKeys.forEach((k, i) => {
      expect([v5Keys[i], v5[v5Keys[i]].shape]).toEqual([v5Keys[i], hub[k].shape]);
      expect(Array.from(v5[v5Keys[i]].data)).toEqual(Array.from(hub[k].data));
    });
    expect(v5Keys.filter((k) => k.startsWith('vit.layers.0.'))).toEqual([
      'vit.layers.0.attention.q_proj.weight',
      'vit.layers.0.attention.q_proj.bias',
      'vit.layers.0.attention.k_proj.weight',
      'vit.layers.0.attention.k_proj.bias',
      'vit.layers.0.attention.v_proj.weight',
      'vit.layers.0.attention.v_proj.bias',
      'vit.layers.0.attention.o_proj.weight',
      'vit.layers.0.attention.o_proj.bias',
      'vit.layers.0.mlp.fc1.weight',
      'vit.layers.0.mlp.fc1.bias',
      'vit.layers.0.mlp.fc2.weight',
      'vit.layers.0.mlp.fc2.bias',
      'vit.layers.0.layernorm_before.weight',
      'vit.layers.0.layernorm_before.bias',
      'vit.layers.0.layernorm_after.weight',
      'vit.layers.0.layernorm_after.bias',
    ]);
    expect(v5['vit.layers.1.attention.q_proj.weight'].shape).toEqual([32, 32]);
    expect(v5['vit.layers.1.mlp.fc1.weight'].shape).toEqual([64, 32]);
    expect(v5['vit.layers.1.mlp.fc2.weight'].shape).toEqual([32, 64]);
    expect(v5['classifier.weight'].shape).toEqual([10, 32]);
    model.dispose();
  });

  it('export → writeSafetensors → readSafetensors → createViTFromCheckpoint gives the same logits (every layout)', () => {
    const c = CASES['tv-c'];
    const { model } = createViTFromCheckpoint(readCheckpoint('tv-c.pth'), { numHeads: 4 });
    const x = pixelsTensor(c);
    const y = model.predict(x) as tf.Tensor;
    for (const layout of ['torchvision', 'timm', 'hf', 'hf-v5'] as const) {
      const bytes = writeSafetensors(exportViTCheckpoint(model, layout), { format: 'pt' });
      // The exported model keeps its LayerNorm epsilon and preprocessing; say so when reading it back as another layout.
      const back = createViTFromCheckpoint(readSafetensors(bytes), { numHeads: 4, mean: c.mean, std: c.std });
      expect(back.layout).toBe(layout);
      const hf = layout === 'hf' || layout === 'hf-v5';
      if (hf) expect(back.config.layerNormEpsilon).toBe(1e-12);
      const z = back.model.predict(x) as tf.Tensor;
      expect(maxAbsDiff(z.dataSync(), [Array.from(y.dataSync())])).toBeLessThan(hf ? 1e-4 : 1e-6);
      z.dispose();
      back.model.dispose();
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it('refuses models that are not PyTorch ViTs, naming the layer', () => {
    const keras = createViTClassifier({ preset: 'vit-cifar-tiny', transformerLayers: 1, seed: 1 });
    expect(() => exportViTCheckpoint(keras, 'torchvision')).toThrow("'patch_embed' has no class token (build it with representation: 'cls')");
    const small = createViTClassifier({ preset: 'vit-cifar-small', transformerLayers: 1, seed: 1 });
    expect(() => exportViTCheckpoint(small, 'timm')).toThrow("'block_1' applies GELU after its MLP's last layer too (build it with mlpOutputActivation: false)");
    expect(() => exportViTCheckpoint(small, 'onnx' as 'timm')).toThrow('layout');
    keras.dispose();
    small.dispose();
  });
});

describe('createViTFromCheckpoint options and errors', () => {
  const tv = (): CheckpointTensors => readCheckpoint('tv-a.safetensors');

  it("ViT-B/16's architecture has torchvision vit_b_16's 86,567,656 parameters (built without weights)", () => {
    const options = vitOptionsForCheckpointConfig(pytorchViTConfig('vit-b-16'));
    expect(countViTParameters(options).trainable).toBe(86_567_656);
    expect(countViTParameters(vitOptionsForCheckpointConfig(pytorchViTConfig('vit-l-16'))).trainable).toBe(304_326_632); // torchvision vit_l_16
    expect(countViTParameters(vitOptionsForCheckpointConfig(pytorchViTConfig('vit-b-32'))).trainable).toBe(88_224_232); // torchvision vit_b_32
    const before = tf.memory().numTensors;
    const model = createViTClassifier(options);
    const trainable = model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b as number), 1), 0);
    expect(trainable).toBe(86_567_656);
    expect(model.countParams()).toBe(86_567_656 + 7); // + the normalization's mean, variance, count
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('numClasses replaces the head (new, seeded); freeze sets trainable', () => {
    const { model, newHead, config } = createViTFromCheckpoint(tv(), { numHeads: 2, numClasses: 4, seed: 3, freeze: 'backbone' });
    expect(newHead).toBe(true);
    expect(config.numClasses).toBe(10);
    expect(model.outputs[0].shape).toEqual([null, 4]);
    expect(model.trainableWeights.map((w) => w.originalName)).toEqual(['logits/dense_0/kernel', 'logits/dense_0/bias']);
    freezeViT(model, { trainLastBlocks: 1 });
    expect(model.trainableWeights.map((w) => w.originalName.split('/')[0])).toEqual([...new Array(16).fill('block_2'), 'norm', 'norm', 'logits', 'logits']);
    freezeViT(model, 'none');
    expect(model.trainableWeights.length).toBe(4 + 2 * 16 + 2 + 2);
    expect(() => freezeViT(model, { trainLastBlocks: 3 })).toThrow('freeze.trainLastBlocks is 3 but the model has 2 blocks');
    expect(() => freezeViT(model, 'head' as 'none')).toThrow("freeze must be 'none', 'backbone' or { trainLastBlocks: n }");
    model.dispose();
  });

  it('a module. prefix is removed; HF ViTModel (no vit., pooler, no classifier) needs numClasses and skips the pooler', () => {
    const t = tv();
    const prefixed = Object.fromEntries(Object.entries(t).map(([k, v]) => [`module.${k}`, v]));
    const a = createViTFromCheckpoint(prefixed, { numHeads: 2 });
    expect(a.layout).toBe('torchvision');
    a.model.dispose();
    const hf = readCheckpoint('hf-a.safetensors');
    const bare: CheckpointTensors = {};
    for (const [k, v] of Object.entries(hf)) if (k.startsWith('vit.')) bare[k.slice(4)] = v;
    bare['pooler.dense.weight'] = { shape: [32, 32], data: new Float32Array(1024), sourceDtype: 'F32' };
    bare['pooler.dense.bias'] = { shape: [32], data: new Float32Array(32), sourceDtype: 'F32' };
    expect(() => createViTFromCheckpoint(bare, { numHeads: 2 })).toThrow("the checkpoint has no classification head ('classifier.weight'): give numClasses");
    const b = createViTFromCheckpoint(bare, { numHeads: 2, numClasses: 3 });
    expect([b.layout, b.newHead, b.config.numClasses]).toEqual(['hf', true, null]);
    expect(b.ignoredKeys).toEqual(['pooler.dense.weight', 'pooler.dense.bias']);
    b.model.dispose();
  });

  it('HF ViTModel under transformers 5.x names (layers.N.*, no vit.) is read as hf-v5, with the same weights as hf', () => {
    const strip = (t: CheckpointTensors): CheckpointTensors => {
      const out: CheckpointTensors = {};
      for (const [k, v] of Object.entries(t)) if (k.startsWith('vit.')) out[k.slice(4)] = v;
      out['pooler.dense.weight'] = { shape: [32, 32], data: new Float32Array(1024), sourceDtype: 'F32' };
      out['pooler.dense.bias'] = { shape: [32], data: new Float32Array(32), sourceDtype: 'F32' };
      return out;
    };
    const v5 = strip(readCheckpoint('hf-v5-a.safetensors'));
    expect(Object.keys(v5)).toContain('layers.1.attention.q_proj.weight');
    const a = createViTFromCheckpoint(v5, { numHeads: 2, numClasses: 3, seed: 1 });
    expect([a.layout, a.newHead, a.config.numClasses, a.config.depth]).toEqual(['hf-v5', true, null, 2]);
    expect(a.ignoredKeys).toEqual(['pooler.dense.weight', 'pooler.dense.bias']);
    const b = createViTFromCheckpoint(strip(readCheckpoint('hf-a.safetensors')), { numHeads: 2, numClasses: 3, seed: 1 });
    expect(b.layout).toBe('hf');
    const x = pixelsTensor(CASES['hf-a']);
    const ya = a.model.predict(x) as tf.Tensor;
    const yb = b.model.predict(x) as tf.Tensor;
    expect(maxAbsDiff(ya.dataSync(), yb.arraySync() as number[][])).toBe(0);
    tf.dispose([x, ya, yb]);
    a.model.dispose();
    b.model.dispose();
  });

  it('the Hugging Face namings are told apart by the block keys; a forced layout of the other naming, or mixed names, fail', () => {
    const v5 = readCheckpoint('hf-v5-a.safetensors');
    expect(() => createViTFromCheckpoint(v5, { numHeads: 2, layout: 'hf' })).toThrow('unknown checkpoint layout (not hf)');
    expect(() => createViTFromCheckpoint(readCheckpoint('hf-a.safetensors'), { numHeads: 2, layout: 'hf-v5' })).toThrow('unknown checkpoint layout (not hf-v5)');
    const forced = createViTFromCheckpoint(v5, { numHeads: 2, layout: 'hf-v5' });
    expect(forced.layout).toBe('hf-v5');
    forced.model.dispose();
    const mixed = readCheckpoint('hf-v5-a.safetensors');
    mixed['vit.encoder.layer.0.attention.attention.query.weight'] = mixed['vit.layers.0.attention.q_proj.weight'];
    expect(() => createViTFromCheckpoint(mixed, { numHeads: 2 })).toThrow(
      "unexpected key 'vit.encoder.layer.0.attention.attention.query.weight' [32, 32]: not part of a hf-v5 ViT classifier of depth 2 (detected by 'vit.layers.*'",
    );
    const missing = readCheckpoint('hf-v5-a.safetensors');
    delete missing['vit.layers.1.mlp.fc2.bias'];
    expect(() => createViTFromCheckpoint(missing, { numHeads: 2 })).toThrow(
      "createViTFromCheckpoint: missing key 'vit.layers.1.mlp.fc2.bias' (hf-v5 layout (detected by 'vit.layers.*'))",
    );
  });

  it('errors name the first key or shape that does not fit', () => {
    const before = tf.memory().numTensors;
    const missing = tv();
    delete missing['encoder.layers.encoder_layer_1.ln_2.bias'];
    expect(() => createViTFromCheckpoint(missing, { numHeads: 2 })).toThrow(
      "createViTFromCheckpoint: missing key 'encoder.layers.encoder_layer_1.ln_2.bias' (torchvision layout (detected by 'conv_proj.weight'))",
    );
    const wrong = tv();
    wrong['encoder.layers.encoder_layer_0.mlp.3.weight'] = { shape: [32, 65], data: new Float32Array(32 * 65), sourceDtype: 'F32' };
    expect(() => createViTFromCheckpoint(wrong, { numHeads: 2 })).toThrow(
      "key 'encoder.layers.encoder_layer_0.mlp.3.weight' has shape [32, 65], expected [32, 64] (torchvision layout",
    );
    const extra = tv();
    extra['heads.pre_logits.weight'] = { shape: [32, 32], data: new Float32Array(1024), sourceDtype: 'F32' };
    expect(() => createViTFromCheckpoint(extra, { numHeads: 2 })).toThrow("unexpected key 'heads.pre_logits.weight' [32, 32]: not part of a torchvision ViT classifier of depth 2");
    expect(() => createViTFromCheckpoint({ 'fc.weight': { shape: [2, 2], data: new Float32Array(4), sourceDtype: 'F32' } })).toThrow(
      "unknown checkpoint layout: none of the signature keys (torchvision: 'conv_proj.weight', timm: 'patch_embed.proj.weight', " +
        "hf: 'vit.embeddings.patch_embeddings.projection.weight', hf-v5: 'vit.layers.*', hf: 'embeddings.patch_embeddings.projection.weight', " +
        "hf-v5: 'layers.*') is present; the checkpoint's first keys are 'fc.weight'",
    );
    expect(() => createViTFromCheckpoint(tv(), { layout: 'timm', numHeads: 2 })).toThrow('unknown checkpoint layout (not timm)');
    expect(() => createViTFromCheckpoint(tv())).toThrow('the hidden width 32 is not a multiple of 64: give numHeads');
    expect(() => createViTFromCheckpoint(tv(), { numHeads: 3 })).toThrow('numHeads 3 does not divide the hidden width 32');
    expect(() => createViTFromCheckpoint(tv(), { numHeads: 2, imageSize: 30 })).toThrow("imageSize 30×30 is not a multiple of the checkpoint's patch size 8");
    expect(() => createViTFromCheckpoint(tv(), { numHeads: 2, sourceGrid: [2, 4] })).toThrow("sourceGrid 2×4 does not fit the 16 patch tokens of 'encoder.pos_embedding'");
    expect(() => createViTFromCheckpoint(tv(), { numHeads: 2, mean: [0.5] })).toThrow('mean must be 3 finite numbers');
    expect(() => createViTFromCheckpoint(tv(), { heads: 2 } as never)).toThrow("unknown option 'heads'");
    const timm = readCheckpoint('timm-a.safetensors');
    timm['blocks.0.attn.qkv.weight'] = { shape: [96, 31], data: new Float32Array(96 * 31), sourceDtype: 'F32' };
    expect(() => createViTFromCheckpoint(timm, { numHeads: 2 })).toThrow("key 'blocks.0.attn.qkv.weight' has shape [96, 31], expected [96, 32] (timm layout");
    expect(tf.memory().numTensors).toBe(before);
  });
});
