/**
 * evaluate: loss, top-1 and top-k accuracy, confusion matrix, extra metrics, computed in float64 from the
 * definitions for a linear classifier with fixed weights, on every data form and uneven batch splits.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { evaluate, type MetricFunction } from '../../src/index';
import { useBackend } from '../helpers/backends';
import { argmax, logits, lossOf } from './fit_reference';

const D = 3;
const C = 4;
const N = 11;
const W = Array.from({ length: D }, (_, i) => Array.from({ length: C }, (_, j) => 0.4 * Math.cos(i * 2 + j * 3 + 0.5)));
const B = [0.2, -0.1, 0.3, 0];
const XS = Array.from({ length: N }, (_, n) => Array.from({ length: D }, (_, i) => (((n * 5 + i * 7) % 9) - 4) / 3));
const YS = Array.from({ length: N }, (_, n) => (n * 3 + 2) % C);

function model(): tfl.LayersModel {
  const m = tfl.sequential({ layers: [tfl.layers.dense({ units: C, inputShape: [D] })] });
  m.setWeights([tf.tensor2d(W), tf.tensor1d(B)]);
  return m;
}

/** Float64 reference: mean loss, top-1, top-k (ties with the k-th score count: fewer than k classes score higher). */
function reference(k: number) {
  let loss = 0;
  let top1 = 0;
  let topk = 0;
  const confusion = Array.from({ length: C }, () => new Array<number>(C).fill(0));
  XS.forEach((x, n) => {
    const z = logits({ W, b: B }, x);
    loss += lossOf(z, YS[n]);
    const p = argmax(z);
    if (p === YS[n]) top1++;
    if (z.filter((v) => v > z[YS[n]]).length < k) topk++;
    confusion[YS[n]][p]++;
  });
  return { loss: loss / N, accuracy: top1 / N, topK: topk / N, confusion };
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('evaluate', () => {
  it.each([1, 4, 5, 11, 64])('typed arrays in batches of %i: loss, top-1, top-2, the confusion matrix', async (batchSize) => {
    const m = model();
    const r = await evaluate(m, { images: Float32Array.from(XS.flat()), labels: YS, shape: [N, D] }, { batchSize, topK: 2 });
    const ref = reference(2);
    expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-6);
    expect(r.accuracy).toBe(ref.accuracy);
    expect(r.topKAccuracy).toBe(ref.topK);
    expect(r.k).toBe(2);
    expect(r.confusionMatrix).toEqual(ref.confusion);
    expect(r.examples).toBe(N);
    // The reference's values are not degenerate: some hits and some misses.
    expect(ref.accuracy).toBeGreaterThan(0);
    expect(ref.accuracy).toBeLessThan(ref.topK);
    m.dispose();
  });

  it('tensors and batches give the same results; extra metrics are averaged by name; nothing leaks', async () => {
    const m = model();
    const x = tf.tensor2d(XS);
    const y = tf.tensor1d(YS, 'int32');
    const before = tf.memory().numTensors;
    const firstLogit: MetricFunction = Object.defineProperty((_yt: tf.Tensor, yp: tf.Tensor) => tf.squeeze(tf.slice(yp, [0, 0], [-1, 1]), [1]), 'name', {
      value: 'first-logit',
    });
    const a = await evaluate(m, { x, y }, { batchSize: 3, metrics: [firstLogit] });
    const batches = [0, 6].map((s) => ({ xs: tf.tensor2d(XS.slice(s, s + 6)), ys: tf.tensor1d(YS.slice(s, s + 6), 'int32') }));
    const b = await evaluate(m, batches, { metrics: [firstLogit] });
    const ref = reference(5);
    for (const r of [a, b]) {
      expect(Math.abs(r.loss - ref.loss)).toBeLessThan(1e-6);
      expect(r.accuracy).toBe(ref.accuracy);
      expect(r.topKAccuracy).toBe(1); // k = 5 ≥ 4 classes
      expect(r.confusionMatrix).toEqual(ref.confusion);
      const meanFirst = XS.reduce((s, xx) => s + logits({ W, b: B }, xx)[0], 0) / N;
      expect(Math.abs(r.metrics['first-logit'] - meanFirst)).toBeLessThan(1e-6);
    }
    tf.dispose(batches.flatMap((bb) => [bb.xs, bb.ys]));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y]);
    m.dispose();
  });

  it('refuses labels outside the classes and bad options, naming them', async () => {
    const m = model();
    await expect(evaluate(m, { images: new Float32Array(2 * D), labels: [1, 4], shape: [2, D] })).rejects.toThrow(
      /^evaluate: data: label 4 at position 1 is outside \[0, 4\)/,
    );
    await expect(evaluate(m, { images: new Float32Array(D), labels: [0], shape: [1, D] }, { batchSize: 0 })).rejects.toThrow(/batchSize/);
    await expect(evaluate(m, { images: new Float32Array(D), labels: [0], shape: [1, D] }, { topK: 0 })).rejects.toThrow(/topK/);
    m.dispose();
  });
});
