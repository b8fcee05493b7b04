/**
 * Attention maps against independent references: per-block probabilities against a float64 softmax(QKᵀ/√d) from the
 * blocks' own weights, rollout against a float64 implementation of Abnar & Zuidema's formula on hand-made matrices,
 * the gradient-weighted variant against finite differences, and memory.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { TransformerBlock } from '../../src/layers/transformer_block';
import {
  attentionGradients,
  attentionRollout,
  attentionRolloutMatrix,
  getAttentionMaps,
  gradientAttentionRollout,
  patchLayout,
} from '../../src/models/attention_maps';
import { VIT_PRESET_NAMES, ViTPresetName } from '../../src/models/presets';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { ViTClassifierOptions, ViTRepresentation } from '../../src/models/options';
import { setOpsMode } from '../../src/ops/mode';
import { describeBackends, expectNoTensorLeak } from '../helpers/backends';
import { fillWeights, layerNorm64, Mat, maxAbsDiff, mha64, MhaWeights64, testValues } from '../helpers/reference';

type M3 = number[][][];

/** A small model: 16×16×3 images, patches of 4 (16 patches), 2 blocks of 2 heads, width 16. */
function tinyModel(extra: ViTClassifierOptions = {}): tfl.LayersModel {
  return createViTClassifier({
    preset: 'vit-cifar-tiny',
    inputShape: [16, 16, 3],
    imageSize: 16,
    patchSize: 4,
    projectionDim: 16,
    numHeads: 2,
    keyDim: 8,
    transformerLayers: 2,
    transformerUnits: [32, 16],
    mlpHeadUnits: [],
    augmentation: false,
    normalization: { mean: 100, variance: 3000 },
    numClasses: 3,
    seed: 3,
    ...extra,
  });
}

function pixels(n: number, h = 16, w = 16, seed = 1): tf.Tensor4D {
  return tf.tensor4d(testValues(n * h * w * 3, seed).map((v) => 127.5 * (v + 1)), [n, h, w, 3]);
}

function blocksOf(model: tfl.LayersModel): TransformerBlock[] {
  return model.layers.filter((l) => l instanceof TransformerBlock) as TransformerBlock[];
}

/** Float64 scores [heads][T][T] of a block for one sequence x [T, D], from the block's own weights. */
function blockScores64(block: TransformerBlock, x: Mat): number[][][] {
  const byName = new Map(block.weights.map((w) => [w.originalName.slice(w.originalName.indexOf('/') + 1), w.read().arraySync()]));
  const get = (n: string) => {
    const v = byName.get(n);
    if (v == null) throw new Error(`no weight ${n} in ${[...byName.keys()]}`);
    return v as never;
  };
  const h = layerNorm64(x, get('layer_norm_1/gamma'), get('layer_norm_1/beta'), block.epsilon);
  const w: MhaWeights64 = {
    wq: get('attention/query/kernel'), bq: get('attention/query/bias'),
    wk: get('attention/key/kernel'), bk: get('attention/key/bias'),
    wv: get('attention/value/kernel'), bv: get('attention/value/bias'),
    wo: get('attention/attention_output/kernel'), bo: get('attention/attention_output/bias'),
  };
  return mha64(h, h, h, w, null).scores;
}

// ---------- float64 rollout (the paper's formula, plain loops) ----------

function eye64(t: number): Mat {
  return Array.from({ length: t }, (_, i) => Array.from({ length: t }, (_, j) => (i === j ? 1 : 0)));
}

function matmul(a: Mat, b: Mat): Mat {
  return a.map((row) => b[0].map((_, j) => row.reduce((s, v, k) => s + v * b[k][j], 0)));
}

/** Rollout of one image: fused [blocks][T][T] → joint [T][T]. */
function rollout64(fused: Mat[], discardRatio = 0, keepFirst = false): Mat {
  const t = fused[0].length;
  let joint = eye64(t);
  for (const f of fused) {
    let a = f.map((r) => r.slice());
    const drop = Math.floor(discardRatio * t * t);
    if (drop > 0) {
      const sorted = a.flat().sort((x, y) => x - y);
      const threshold = sorted[drop]; // the smallest value kept
      a = a.map((r, i) => r.map((v, j) => (v >= threshold || (keepFirst && i === 0 && j === 0) ? v : 0)));
    }
    a = a.map((r, i) => r.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0)));
    a = a.map((r) => {
      const s = r.reduce((x, y) => x + y, 0);
      return r.map((v) => v / s);
    });
    joint = matmul(a, joint);
  }
  return joint;
}

function fuse64(heads: Mat[], fusion: 'mean' | 'max'): Mat {
  return heads[0].map((r, i) =>
    r.map((_, j) => (fusion === 'mean' ? heads.reduce((s, h) => s + h[i][j], 0) / heads.length : Math.max(...heads.map((h) => h[i][j])))),
  );
}

/** Random row-stochastic matrices [batch][heads][T][T]. */
function stochastic(batch: number, heads: number, t: number, seed: number): number[][][][] {
  const v = testValues(batch * heads * t * t, seed);
  let k = 0;
  return Array.from({ length: batch }, () =>
    Array.from({ length: heads }, () =>
      Array.from({ length: t }, () => {
        const row = Array.from({ length: t }, () => Math.exp(2 * v[k++]));
        const s = row.reduce((a, b) => a + b, 0);
        return row.map((x) => x / s);
      }),
    ),
  );
}

describe('attentionRolloutMatrix against a float64 implementation of the formula', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it.each([
    ['mean', 0, false],
    ['max', 0, false],
    ['mean', 0.4, true],
    ['max', 0.7, false],
  ] as const)('fusion %s, discard %s (keep first token: %s)', (fusion, discardRatio, keepFirst) => {
    const [batch, heads, t] = [2, 3, 5];
    const blocks = [stochastic(batch, heads, t, 1), stochastic(batch, heads, t, 2), stochastic(batch, heads, t, 3)];
    const tensors = blocks.map((b) => tf.tensor4d(b));
    const joint = attentionRolloutMatrix(tensors, { headFusion: fusion, discardRatio, keepFirstToken: keepFirst });
    const got = joint.arraySync() as M3;
    for (let i = 0; i < batch; i++) {
      const ref = rollout64(blocks.map((b) => fuse64(b[i], fusion)), discardRatio, keepFirst);
      expect(maxAbsDiff(got[i], ref)).toBeLessThan(1e-5);
      // Rows of the joint attention stay distributions.
      for (const row of got[i]) expect(row.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    }
    tf.dispose([...tensors, joint]);
  });

  it('identity attention keeps every token on itself (uniform over the tokens when averaged)', () => {
    const t = 6;
    const id = tf.tile(tf.reshape(tf.eye(t), [1, 1, t, t]), [2, 4, 1, 1]);
    const joint = attentionRolloutMatrix([id, id, id]);
    expect(maxAbsDiff(joint.arraySync() as M3, [eye64(t), eye64(t)])).toBeLessThan(1e-6);
    const mean = tf.mean(joint, 1);
    expect(maxAbsDiff(mean.arraySync() as Mat, [new Array(t).fill(1 / t), new Array(t).fill(1 / t)])).toBeLessThan(1e-6);
    tf.dispose([id, joint, mean]);
  });

  it('blocks attending to one token send the mass to that token', () => {
    const [t, target, blocks] = [5, 3, 4];
    const one = tf.tensor4d([Array.from({ length: 2 }, () => Array.from({ length: t }, () => Array.from({ length: t }, (_, j) => (j === target ? 1 : 0))))]);
    const joint = attentionRolloutMatrix(new Array(blocks).fill(one));
    const rows = joint.arraySync() as M3;
    // (½A + ½I)^L with A = 1·e_targetᵀ: every row keeps 2^−L on itself, the rest on the target.
    for (let i = 0; i < t; i++) {
      expect(rows[0][i].indexOf(Math.max(...rows[0][i]))).toBe(target);
      if (i !== target) expect(rows[0][i][target]).toBeCloseTo(1 - 0.5 ** blocks, 6);
    }
    tf.dispose([one, joint]);
  });

  it('names bad options', () => {
    const a = tf.ones([1, 1, 2, 2]);
    expect(() => attentionRolloutMatrix([a], { headFusion: 'sum' as never })).toThrow(/^attentionRolloutMatrix: options.headFusion/);
    expect(() => attentionRolloutMatrix([a], { discardRatio: 1 })).toThrow(/^attentionRolloutMatrix: options.discardRatio/);
    expect(() => attentionRolloutMatrix([])).toThrow(/^attentionRolloutMatrix: attention/);
    a.dispose();
  });
});

describeBackends('getAttentionMaps', () => {
  afterEach(() => setOpsMode('auto'));

  it.each([
    ['cls', 'auto'],
    ['gap', 'auto'],
    ['cls', 'reference'],
    ['flatten', 'reference'],
  ] as const)('equals a float64 softmax(QKᵀ/√d) from the blocks own weights (%s, ops %s)', (representation, mode) => {
    setOpsMode(mode);
    const model = tinyModel({ representation });
    const blocks = blocksOf(model);
    blocks.forEach((b, i) => fillWeights(b, 20 + 10 * i, 1.5)); // sharper attention than the initial weights
    const x = pixels(2);
    const maps = getAttentionMaps(model, x);
    const t = 16 + (representation === 'cls' ? 1 : 0);
    expect(maps.map((m) => m.shape)).toEqual([[2, 2, t, t], [2, 2, t, t]]);
    // The blocks' inputs, from the model's own graph (predict of a sub-model sharing its layers).
    const sub = tfl.model({ inputs: model.inputs, outputs: blocks.map((b) => b.input as tfl.SymbolicTensor) });
    const inputs = sub.predict(x) as tf.Tensor[];
    blocks.forEach((b, k) => {
      const xs = inputs[k].arraySync() as M3;
      const got = maps[k].arraySync() as number[][][][];
      for (let i = 0; i < 2; i++) {
        const ref = blockScores64(b, xs[i]);
        expect(maxAbsDiff(got[i], ref)).toBeLessThan(2e-5);
        for (const head of got[i]) for (const row of head) expect(row.reduce((s, v) => s + v, 0)).toBeCloseTo(1, 5);
      }
    });
    // The attention is far from uniform, so the comparison means something.
    expect(Math.max(...(maps[1].dataSync() as Float32Array))).toBeGreaterThan(2 / t);
    // The pass that computed them is the model's: its logits are predict's.
    const { logits } = attentionGradients(model, x);
    const predicted = model.predict(x) as tf.Tensor;
    expect(maxAbsDiff(logits.dataSync(), predicted.dataSync())).toBeLessThan(1e-5);
    tf.dispose([x, ...maps, ...inputs, logits, predicted]);
    model.dispose();
  });

  it('selects blocks (index, negative index, name) and heads', () => {
    const model = tinyModel({ numHeads: 3, representation: 'cls' });
    const x = pixels(1);
    const all = getAttentionMaps(model, x);
    const some = getAttentionMaps(model, x, { blocks: [-1, 'block_1'], heads: [2, 0] });
    expect(some.map((m) => m.shape)).toEqual([[1, 2, 17, 17], [1, 2, 17, 17]]);
    const pick = (t: tf.Tensor, h: number) => tf.tidy(() => tf.slice(t, [0, h, 0, 0], [1, 1, 17, 17]).dataSync());
    expect(maxAbsDiff(pick(some[0], 0), pick(all[1], 2))).toBe(0);
    expect(maxAbsDiff(pick(some[1], 1), pick(all[0], 0))).toBe(0);
    tf.dispose([x, ...all, ...some]);
    model.dispose();
  });

  it('works for a model saved and loaded (the same maps)', async () => {
    const model = tinyModel({ representation: 'cls' });
    let artifacts: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
    const x = pixels(2);
    const a = getAttentionMaps(model, x);
    const b = getAttentionMaps(loaded, x);
    a.forEach((m, i) => expect(maxAbsDiff(m.dataSync(), b[i].dataSync())).toBe(0));
    expect(patchLayout(loaded)).toEqual({ rows: 4, cols: 4, classToken: true });
    tf.dispose([x, ...a, ...b]);
    model.dispose();
    loaded.dispose();
  });

  it('names bad arguments', () => {
    const model = tinyModel();
    const x = pixels(1);
    expect(() => getAttentionMaps(model, x, { blocks: [2] })).toThrow(/^getAttentionMaps: options.blocks\[0\] must be an integer in \[-2, 2\)/);
    expect(() => getAttentionMaps(model, x, { blocks: ['nope'] })).toThrow(/^getAttentionMaps: options.blocks\[0\]: no TransformerBlock named 'nope'/);
    expect(() => getAttentionMaps(model, x, { heads: [5] })).toThrow(/^getAttentionMaps: options.heads\[0\]/);
    expect(() => getAttentionMaps(model, tf.zeros([1, 8, 8, 3]))).toThrow(/^getAttentionMaps: images have shape \[1,8,8,3\]/);
    const plain = tfl.sequential({ layers: [tfl.layers.dense({ units: 2, inputShape: [3] })] });
    expect(() => getAttentionMaps(plain, tf.zeros([1, 3]))).toThrow(/^getAttentionMaps: model .* has no TransformerBlock/);
    expect(() => attentionRollout(model, x, { source: 'classToken' })).toThrow(/^attentionRollout: options.source 'classToken': the model has no class token/);
    expect(() => gradientAttentionRollout(model, x, { classIndex: 3 })).toThrow(/^gradientAttentionRollout: options.classIndex must be an integer in \[0, 3\)/);
    tf.dispose(x);
    model.dispose();
  });

  it('keeps tf.memory().numTensors flat across repeated calls', async () => {
    const model = tinyModel({ representation: 'cls' });
    const x = pixels(2);
    await expectNoTensorLeak(() => tf.dispose(getAttentionMaps(model, x, { heads: [1] })));
    await expectNoTensorLeak(() => tf.dispose(attentionRollout(model, x, { discardRatio: 0.5 })));
    await expectNoTensorLeak(() => tf.dispose(gradientAttentionRollout(model, x)));
    tf.dispose(x);
    model.dispose();
  });
});

describeBackends('attention rollout of a model', () => {
  it.each(['cls', 'gap'] as const)('is the float64 rollout of its maps, on the patch grid (%s)', (representation) => {
    const model = tinyModel({ representation });
    blocksOf(model).forEach((b, i) => fillWeights(b, 40 + 10 * i, 0.5));
    const x = pixels(2, 16, 16, 9);
    const maps = getAttentionMaps(model, x).map((m) => m.arraySync() as number[][][][]);
    const got = attentionRollout(model, x, { headFusion: 'max', discardRatio: 0.3 });
    expect(got.shape).toEqual([2, 4, 4]);
    const cls = representation === 'cls';
    const values = got.arraySync() as M3;
    for (let i = 0; i < 2; i++) {
      const joint = rollout64(maps.map((m) => fuse64(m[i], 'max')), 0.3, cls);
      const row = cls ? joint[0].slice(1) : joint[0].map((_, j) => joint.reduce((s, r) => s + r[j], 0) / joint.length);
      expect(maxAbsDiff(values[i].flat(), row)).toBeLessThan(1e-5);
    }
    got.dispose();
    model.dispose();
    x.dispose();
  });
});

describe('gradient-weighted rollout [cpu]', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('uses gradients of the class logit with respect to the attention that match finite differences', () => {
    const model = tinyModel({ representation: 'cls', inputShape: [8, 8, 3], imageSize: 8 });
    const blocks = blocksOf(model);
    blocks.forEach((b, i) => fillWeights(b, 60 + 10 * i, 0.5));
    const x = pixels(2, 8, 8, 4);
    const classes = [2, 0];
    const { scores, gradients } = attentionGradients(model, x, classes);
    // The model run by hand: its layers up to block_1 through a sub-model, then the blocks with an offset on their
    // probabilities, then the head layers.
    const upTo = tfl.model({ inputs: model.inputs, outputs: blocks[0].input as tfl.SymbolicTensor });
    const tokens = upTo.predict(x) as tf.Tensor;
    const logit = (offsets: (tf.Tensor | undefined)[]): number[] =>
      tf.tidy(() => {
        let h = tokens;
        blocks.forEach((b, i) => (h = b.forwardWithAttention(h, offsets[i]).output));
        for (const name of ['norm', 'pool', 'logits']) h = model.getLayer(name).apply(h) as tf.Tensor;
        const v = h.arraySync() as number[][];
        return classes.map((c, i) => v[i][c]);
      });
    const plain = model.predict(x) as tf.Tensor;
    const byHand = logit([undefined, undefined]);
    const p = plain.arraySync() as number[][];
    expect(maxAbsDiff(byHand, classes.map((c, i) => p[i][c]))).toBeLessThan(1e-5);
    const eps = 1e-2;
    const [, heads, t] = scores[0].shape as number[];
    let checked = 0;
    for (let blk = 0; blk < 2; blk++) {
      const g = gradients[blk].arraySync() as number[][][][];
      for (const [img, hd, q, k] of [[0, 0, 0, 3], [1, 1, 0, 4], [0, 1, 4, 0], [1, 0, 2, 2], [0, 1, 0, 0]]) {
        const at = (d: number) => {
          const off = tf.buffer([2, heads, t, t]);
          off.set(d, img, hd, q, k);
          const offsets = [undefined, undefined] as (tf.Tensor | undefined)[];
          offsets[blk] = off.toTensor();
          const v = logit(offsets)[img];
          offsets[blk]!.dispose();
          return v;
        };
        const numeric = (at(eps) - at(-eps)) / (2 * eps);
        expect(Math.abs(g[img][hd][q][k] - numeric)).toBeLessThan(2e-3 + 2e-2 * Math.abs(numeric));
        checked++;
      }
    }
    expect(checked).toBe(10);
    // The map is the rollout of E_h[(A ⊙ ∂y/∂A)⁺], the class token's row.
    const fused = scores.map((s, i) => {
      const a = s.arraySync() as number[][][][];
      const g = gradients[i].arraySync() as number[][][][];
      return a.map((img, b) => fuse64(img.map((head, h) => head.map((row, q) => row.map((v, k) => Math.max(0, v * g[b][h][q][k])))), 'mean'));
    });
    const map = gradientAttentionRollout(model, x, { classIndex: classes });
    expect(map.shape).toEqual([2, 2, 2]);
    const values = map.arraySync() as M3;
    for (let i = 0; i < 2; i++) {
      const joint = rollout64(fused.map((f) => f[i]));
      expect(maxAbsDiff(values[i].flat(), joint[0].slice(1))).toBeLessThan(1e-5);
    }
    tf.dispose([x, tokens, plain, map, ...scores, ...gradients]);
    model.dispose();
  });
});

describe('every preset (cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  // The reference preset (21.7 M parameters) once, with its own representation ('flatten'); the compact ones with 'gap' and 'cls'.
  const cases = VIT_PRESET_NAMES.flatMap((p) => (p === 'keras-cifar10' ? [[p, 'flatten']] : [[p, 'gap'], [p, 'cls']]) as [ViTPresetName, ViTRepresentation][]);
  it.each(cases)('%s (%s representation): one map per block, rows sum to 1', (preset, rep) => {
    const model = createViTClassifier({ preset, seed: 1, representation: rep });
    const x = pixels(1, 32, 32, 2);
    const layout = patchLayout(model);
    const maps = getAttentionMaps(model, x, { blocks: [0, -1] });
    const t = layout.rows * layout.cols + (layout.classToken ? 1 : 0);
    expect(layout.classToken).toBe(rep === 'cls');
    for (const m of maps) {
      expect(m.shape.slice(2)).toEqual([t, t]);
      const sums = tf.tidy(() => tf.sum(m, -1).dataSync());
      for (const s of sums) expect(s).toBeCloseTo(1, 4);
    }
    const r = attentionRollout(model, x);
    expect(r.shape).toEqual([1, layout.rows, layout.cols]);
    tf.dispose([x, r, ...maps]);
    model.dispose();
  });
});
