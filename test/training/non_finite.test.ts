/**
 * A batch whose loss is NaN (here: an image with a NaN pixel) must not silently turn every weight into NaN:
 * `applyAccumulatedGradients`/`trainStep` can skip the update, and `fitViT` stops (default), skips or applies.
 * References are runs of the same code on the data without the bad batch (what a skipped update must equal),
 * and hand-stated facts (no update: the weights as they were).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { AdamW, accumulateGradients, applyAccumulatedGradients, fitViT, type FitViTOptions } from '../../src/index';
import { useBackend } from '../helpers/backends';

const D = 4;
const C = 3;
const B = 2; // batch size: batches are images [0, 1], [2, 3], [4, 5], [6, 7]
const N = 8;
const BAD = 4; // image 4 (batch 3) gets a NaN pixel

function model(): tfl.LayersModel {
  const m = tfl.sequential({ layers: [tfl.layers.dense({ units: C, inputShape: [D] })] });
  m.setWeights([tf.tensor2d(Array.from({ length: D }, (_, i) => Array.from({ length: C }, (_, j) => 0.3 * Math.sin(i * 3 + j * 5 + 1)))), tf.tensor1d([0.1, -0.2, 0.05])]);
  return m;
}

function data(indices: number[], nanAt: number | null): { x: tf.Tensor; y: tf.Tensor } {
  const xs = indices.map((n) => Array.from({ length: D }, (_, i) => (n === nanAt && i === 1 ? NaN : (((n * 7 + i * 3) % 11) - 5) / 4)));
  return { x: tf.tensor2d(xs), y: tf.tensor1d(indices.map((n) => (n * 5 + 1) % C), 'int32') };
}

function weightsOf(m: tfl.LayersModel): number[] {
  return m.getWeights().flatMap((w) => Array.from(w.dataSync()));
}

const ALL = Array.from({ length: N }, (_, i) => i);
const BASE: FitViTOptions = { epochs: 1, batchSize: B, shuffle: false, metrics: [], learningRate: 0.05, weightDecay: 0.01 };

beforeAll(async () => {
  await useBackend('cpu');
});

describe('applyAccumulatedGradients with skipNonFinite', () => {
  it('leaves the weights and the optimizer state as they were; without it the weights become NaN', async () => {
    for (const skip of [true, false]) {
      const m = model();
      const opt = new AdamW({ learningRate: 0.05 });
      const before = weightsOf(m);
      const { x, y } = data([BAD, BAD + 1], BAD);
      const r = applyAccumulatedGradients(m, opt, accumulateGradients(m, x, y), { skipNonFinite: skip });
      expect(Number.isNaN(r.loss)).toBe(true);
      if (skip) {
        expect(r.skipped).toBe(true);
        expect(weightsOf(m)).toEqual(before);
        expect(opt.iterations).toBe(0);
      } else {
        expect(r.skipped).toBeUndefined();
        expect(weightsOf(m).some((v) => Number.isNaN(v))).toBe(true);
      }
      tf.dispose([x, y, r.outputs]);
      opt.dispose();
      m.dispose();
    }
  });
});

describe('fitViT with a NaN batch', () => {
  it("'stop' (default): stops before the bad update, drops the partial epoch, keeps the weights of the finite steps", async () => {
    const warnings: string[] = [];
    const m = model();
    const bad = data(ALL, BAD);
    const h = await fitViT(m, { x: bad.x, y: bad.y }, { ...BASE, onWarning: (w) => warnings.push(w) });
    expect(h.status).toBe('non-finite-loss');
    expect(h.history).toEqual({});
    expect(warnings).toEqual([expect.stringMatching(/loss of epoch 1, batch 3 is NaN: training stops before that update/)]);
    // Reference: the same run on the first two batches only.
    const ref = model();
    const good = data([0, 1, 2, 3], null);
    await fitViT(ref, { x: good.x, y: good.y }, BASE);
    expect(weightsOf(m)).toEqual(weightsOf(ref));
    expect(weightsOf(m).every((v) => Number.isFinite(v))).toBe(true);
    tf.dispose([bad.x, bad.y, good.x, good.y]);
  });

  it("'skip': the bad batch leaves no trace (the same weights and loss as a run without it) and is reported", async () => {
    const warnings: string[] = [];
    const m = model();
    const bad = data(ALL, BAD);
    const h = await fitViT(m, { x: bad.x, y: bad.y }, { ...BASE, nonFiniteLoss: 'skip', onWarning: (w) => warnings.push(w) });
    expect(h.status).toBe('completed');
    expect(warnings).toEqual(["fitViT: epoch 1: 1 of 4 batches had a non-finite loss and were skipped (nonFiniteLoss: 'skip')"]);
    const ref = model();
    const good = data([0, 1, 2, 3, 6, 7], null);
    const hRef = await fitViT(ref, { x: good.x, y: good.y }, BASE);
    expect(weightsOf(m)).toEqual(weightsOf(ref));
    expect(h.history.loss).toEqual(hRef.history.loss);
    tf.dispose([bad.x, bad.y, good.x, good.y]);
  });

  it("'apply': applies it as tfjs and Keras do (every weight NaN); a bad value of the option is named", async () => {
    const m = model();
    const bad = data(ALL, BAD);
    const before = tf.memory().numTensors;
    await fitViT(m, { x: bad.x, y: bad.y }, { ...BASE, nonFiniteLoss: 'apply' });
    expect(tf.memory().numTensors).toBe(before);
    expect(weightsOf(m).every((v) => Number.isNaN(v))).toBe(true);
    await expect(fitViT(m, { x: bad.x, y: bad.y }, { ...BASE, nonFiniteLoss: 'ignore' as 'skip' })).rejects.toThrow(
      "fitViT: nonFiniteLoss must be one of 'stop', 'skip', 'apply', got 'ignore'",
    );
    tf.dispose([bad.x, bad.y]);
  });
});
