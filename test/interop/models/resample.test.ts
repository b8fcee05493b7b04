/**
 * Position-embedding resampling against torch.nn.functional.interpolate(mode='bicubic') (resample.json, written by
 * scripts/interop/make_vit_fixtures.py): 'plain' (antialias=False, align_corners=False: Hugging Face's
 * interpolate_pos_encoding), 'antialias' (antialias=True: timm's resample_abs_pos_embed default) and 'alignCorners'
 * (align_corners=True: torchvision's interpolate_embeddings), up, down and to non-square grids, prefix token kept.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { checkpointTensor } from '../../../src/interop/checkpoint_tensors';
import { createViTFromCheckpoint } from '../../../src/interop/create_from_checkpoint';
import { resamplePositionEmbedding, resizeViTImageSize } from '../../../src/interop/resample_position_embedding';
import { createViTClassifier } from '../../../src/models/vit_classifier';
import { CASES, maxAbsDiff, pixelsTensor, readCheckpoint, readJson } from './fixtures';

interface ResampleCase {
  fromGrid: [number, number];
  toGrid: [number, number];
  numPrefixTokens: number;
  input: number[][];
  plain: number[][];
  antialias: number[][];
  alignCorners: number[][];
  plainFloat32: number[][];
  antialiasFloat32: number[][];
  alignCornersFloat32: number[][];
}
const CASES_R: ResampleCase[] = readJson('resample.json');
const VARIANTS = {
  plain: { antialias: false, alignCorners: false },
  antialias: { antialias: true, alignCorners: false },
  alignCorners: { antialias: false, alignCorners: true },
} as const;

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('resamplePositionEmbedding', () => {
  for (const c of CASES_R) {
    for (const [variant, opts] of Object.entries(VARIANTS)) {
      // The reference is torch's float64 interpolation (ours is float64 rounded to float32: within 1e-6 of it); torch's
      // float32 interpolation (timm casts to float32) accumulates in float32: within 4e-6 of ours (values up to ~3).
      it(`${c.fromGrid.join('×')} → ${c.toGrid.join('×')} (${c.numPrefixTokens} prefix) ${variant} equals torch (float64 1e-6, float32 4e-6)`, () => {
        const expected = c[variant as keyof typeof VARIANTS];
        const input = tf.tensor2d(c.input);
        const out = resamplePositionEmbedding(input, c.fromGrid, c.toGrid, { numPrefixTokens: c.numPrefixTokens, ...opts });
        expect(out.shape).toEqual([expected.length, expected[0].length]);
        expect(maxAbsDiff(out.dataSync(), expected)).toBeLessThan(1e-6);
        expect(maxAbsDiff(out.dataSync(), c[`${variant}Float32` as 'plainFloat32'])).toBeLessThan(4e-6);
        // Prefix tokens are copied exactly.
        for (let t = 0; t < c.numPrefixTokens; t++) expect(Array.from(out.dataSync().slice(t * 3, t * 3 + 3))).toEqual(Array.from(input.dataSync().slice(t * 3, t * 3 + 3)));
        tf.dispose([input, out]);
      });
    }
  }

  it('takes [1, tokens, dim] CheckpointTensors and keeps their rank; defaults to timm (antialias, one prefix token)', () => {
    const c = CASES_R[1];
    const flat = new Float32Array(c.input.flat());
    const t = checkpointTensor([1, c.input.length, 3], flat);
    const out = resamplePositionEmbedding(t, c.fromGrid, c.toGrid);
    expect(out.shape).toEqual([1, c.antialias.length, 3]);
    expect(maxAbsDiff(out.data, c.antialias)).toBeLessThan(1e-6);
  });

  it('refuses grids that do not fit the embedding, bad grids and antialias with alignCorners', () => {
    const t = tf.zeros([17, 4]);
    expect(() => resamplePositionEmbedding(t, [4, 5], [2, 2])).toThrow('the embedding has 17 tokens, but fromGrid 4×5 with 1 prefix token(s) needs 21');
    expect(() => resamplePositionEmbedding(t, [4, 4], [0, 2])).toThrow('toGrid[0]');
    expect(() => resamplePositionEmbedding(t, [4, 4], [2, 2], { antialias: true, alignCorners: true })).toThrow('cannot both be true');
    expect(() => resamplePositionEmbedding(tf.zeros([2, 17, 4]) as tf.Tensor, [4, 4], [2, 2])).toThrow('expected [tokens, dim] or [1, tokens, dim], got [2, 17, 4]');
    t.dispose();
  });
});

describe('imageSize of createViTFromCheckpoint and resizeViTImageSize', () => {
  it('resamples the checkpoint position embedding with the layout method, the rest unchanged', () => {
    const c = CASES['tv-a'];
    const before = tf.memory().numTensors;
    const tensors = readCheckpoint('tv-a.safetensors');
    const { model, preprocessing } = createViTFromCheckpoint(tensors, { numHeads: 2, imageSize: [24, 40] });
    expect(preprocessing.imageSize).toEqual([24, 40]);
    expect(model.inputs[0].shape).toEqual([null, 24, 40, 3]);
    const pos = tensors['encoder.pos_embedding'];
    const expected = resamplePositionEmbedding(pos, [4, 4], [3, 5], { alignCorners: true, antialias: false }); // torchvision's way
    const got = model.getLayer('patch_embed').getWeights()[2]; // kernel, bias, position_embedding, class_token
    expect(got.shape).toEqual([16, 32]);
    expect(Array.from(got.dataSync())).toEqual(Array.from(expected.data));
    const x = tf.zeros([1, 24, 40, 3]);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([1, c.config.num_classes]);
    tf.dispose([x, y]);
    model.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('resizeViTImageSize: same logits at the same size, a resampled copy at another, the original untouched', () => {
    const c = CASES['tv-b'];
    const { model } = createViTFromCheckpoint(readCheckpoint('tv-b.safetensors'), { numHeads: 3 });
    const before = tf.memory().numTensors;
    const same = resizeViTImageSize(model, 24);
    const x = pixelsTensor(c);
    const y = same.predict(x) as tf.Tensor;
    expect(maxAbsDiff(y.dataSync(), c.logits)).toBeLessThan(1e-4);
    const bigger = resizeViTImageSize(model, [36, 30], { name: 'bigger' });
    expect(bigger.name).toBe('bigger');
    expect(bigger.inputs[0].shape).toEqual([null, 36, 30, 3]);
    const pos = model.getLayer('patch_embed').getWeights()[2];
    const expected = resamplePositionEmbedding(pos, [4, 4], [6, 5]);
    const got = bigger.getLayer('patch_embed').getWeights()[2];
    expect(maxAbsDiff(got.dataSync(), [Array.from(expected.dataSync())])).toBe(0);
    const x2 = tf.zeros([2, 36, 30, 3]);
    const z = bigger.predict(x2) as tf.Tensor;
    expect(z.shape).toEqual([2, 5]);
    tf.dispose([x, y, x2, z, expected]);
    same.dispose();
    bigger.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('resizeViTImageSize keeps the input size of a model that resizes, and refuses flatten models', () => {
    const m = createViTClassifier({ preset: 'vit-cifar-small', imageSize: 48, transformerLayers: 1, seed: 1 });
    const r = resizeViTImageSize(m, 64);
    expect(r.inputs[0].shape).toEqual([null, 32, 32, 3]);
    expect(r.getLayer('resizing').getConfig()).toMatchObject({ height: 64, width: 64 });
    expect((r.getLayer('patch_embed').getConfig() as { numPatches: number }).numPatches).toBe(256);
    expect(() => resizeViTImageSize(m, 50)).toThrow('imageSize 50×50 is not a multiple of the patch size 4');
    const flat = createViTClassifier({ preset: 'keras-cifar10', transformerLayers: 1, mlpHeadUnits: [], seed: 1 });
    expect(() => resizeViTImageSize(flat, 36)).toThrow("representation 'flatten'");
    [m, r, flat].forEach((x) => x.dispose());
  });
});
