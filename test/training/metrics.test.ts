import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { sparseCategoricalCrossentropyFromLogits } from '../../src/training/losses';
import { sparseCategoricalAccuracy, sparseTopKAccuracy } from '../../src/training/metrics';
import { acceptSparseLabels } from '../../src/training/sparse_labels';
import { describeBackends, expectNoTensorLeak } from '../helpers/backends';

const SCORES = [
  [0.1, 0.5, 0.3, 0.9, -1], // label 3: rank 1
  [2, 2, 1, 0, 3], // label 0: tied 2nd with class 1
  [5, 4, 3, 2, 1], // label 4: rank 5
  [0, 0, 0, 0, 0], // label 2: all tied
  [1, NaN, 0, 2, 3], // label 1: non-finite true score
  [-Infinity, 0, 1, -Infinity, 2], // label 2: rank 2
];
const LABELS = [3, 0, 4, 2, 1, 2];

/** Independent count: the true class is a top-k hit when fewer than k classes score strictly higher. */
function refTopK(k: number): number[] {
  return SCORES.map((row, i) => {
    const t = row[LABELS[i]];
    if (!Number.isFinite(t)) return 0;
    return row.filter((v) => v > t).length < k ? 1 : 0;
  });
}

/** Independent arg-max accuracy (first index wins ties; NaN never wins). */
function refAccuracy(): number[] {
  return SCORES.map((row, i) => {
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
    return best === LABELS[i] ? 1 : 0;
  });
}

describeBackends('metrics', () => {
  it('sparseTopKAccuracy counts in_top_k hits (ties in, non-finite out) for k = 1..5', () => {
    expect(refTopK(2)).toEqual([1, 1, 0, 1, 0, 1]);
    for (let k = 1; k <= 5; k++) {
      for (const shape of [[6], [6, 1]]) {
        const hits = sparseTopKAccuracy(k)(tf.tensor(LABELS, shape), tf.tensor2d(SCORES));
        expect(Array.from(hits.dataSync())).toEqual(refTopK(k));
        hits.dispose();
      }
    }
  });

  it('sparseCategoricalAccuracy is arg-max accuracy', () => {
    const rows = SCORES.slice(0, 4);
    const hits = sparseCategoricalAccuracy(tf.tensor1d(LABELS.slice(0, 4)), tf.tensor2d(rows));
    expect(Array.from(hits.dataSync())).toEqual(refAccuracy().slice(0, 4));
    expect(refAccuracy().slice(0, 4)).toEqual([1, 0, 0, 0]);
    hits.dispose();
  });

  it('rejects labels outside [0, numClasses), negative or fractional, naming the first and its position', () => {
    const p = tf.tensor2d(SCORES); // 6 examples, 5 classes
    const top3 = sparseTopKAccuracy(3);
    const named = sparseTopKAccuracy(2, 'top2');
    const cases: [number[], string][] = [
      [[3, 0, 4, 2, 5, 7], 'label 5 at position 4 is outside [0, 5) (5 classes)'],
      [[3, -2, 4, 2, 1, 2], 'label -2 at position 1 is outside [0, 5)'],
      [[3, 0, 4, 0.5, 1, 2], 'label 0.5 at position 3 is not an integer class index'],
    ];
    for (const [labels, message] of cases) {
      for (const shape of [[6], [6, 1]]) {
        const y = tf.tensor(labels, shape);
        const tensors = tf.memory().numTensors;
        expect(() => sparseCategoricalAccuracy(y, p)).toThrow(`accuracy: ${message}`);
        expect(() => top3(y, p)).toThrow(`top-3-accuracy: ${message}`);
        expect(() => named(y, p)).toThrow(`top2: ${message}`);
        expect(tf.memory().numTensors).toBe(tensors);
        y.dispose();
      }
    }
    p.dispose();
  });

  it('does not leak', async () => {
    const y = tf.tensor1d(LABELS);
    const p = tf.tensor2d(SCORES);
    const top3 = sparseTopKAccuracy(3);
    await expectNoTensorLeak(() => {
      tf.dispose([top3(y, p), sparseCategoricalAccuracy(y, p)]);
    });
    tf.dispose([y, p]);
  });
});

describe('metric names in model.fit logs', () => {
  it('gives History keys accuracy, top-5-accuracy and their val_ versions, with correct values', async () => {
    await tf.setBackend('cpu');
    const model = tfl.sequential({
      layers: [tfl.layers.dense({ units: 7, inputShape: [4], kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) })],
    });
    model.compile({
      optimizer: tf.train.sgd(0),
      loss: sparseCategoricalCrossentropyFromLogits,
      metrics: [sparseCategoricalAccuracy, sparseTopKAccuracy(5), sparseTopKAccuracy(2, 'top2')],
    });
    expect(acceptSparseLabels(model)).toBe(1);
    const x = tf.randomNormal([20, 4], 0, 1, 'float32', 3);
    const y = tf.tensor1d([0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5, 6, 0, 1, 2, 3, 4, 5]);
    const h = await model.fit(x, y, { epochs: 1, batchSize: 20, validationData: [x, y], verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(
      ['accuracy', 'loss', 'top-5-accuracy', 'top2', 'val_accuracy', 'val_loss', 'val_top-5-accuracy', 'val_top2'].sort(),
    );
    // lr 0: the weights do not move, so the logs equal the metrics of the model's predictions, counted here in JS.
    const logits = model.predict(x) as tf.Tensor;
    const rows = logits.arraySync() as number[][];
    const labels = Array.from(y.dataSync());
    const rank = rows.map((r, i) => r.filter((v) => v > r[labels[i]]).length);
    const frac = (k: number) => rank.filter((r) => r < k).length / rows.length;
    expect(h.history.accuracy[0]).toBeCloseTo(frac(1), 6);
    expect(h.history['top-5-accuracy'][0]).toBeCloseTo(frac(5), 6);
    expect(h.history.val_top2[0]).toBeCloseTo(frac(2), 6);
    const lossRef =
      rows.reduce((s, r, i) => {
        const m = Math.max(...r);
        return s + m + Math.log(r.reduce((a, v) => a + Math.exp(v - m), 0)) - r[labels[i]];
      }, 0) / rows.length;
    expect(h.history.loss[0]).toBeCloseTo(lossRef, 5);
    tf.dispose([x, y, logits]);
    model.dispose();
  });

  it('fit stops on a label ≥ numClasses with an error naming it (Keras raises too)', async () => {
    await tf.setBackend('cpu');
    const model = tfl.sequential({ layers: [tfl.layers.dense({ units: 10, inputShape: [3] })] });
    model.compile({ optimizer: tf.train.sgd(0.1), loss: sparseCategoricalCrossentropyFromLogits, metrics: [sparseCategoricalAccuracy] });
    acceptSparseLabels(model);
    const x = tf.zeros([4, 3]);
    const y = tf.tensor1d([1, 2, 11, 3]);
    await expect(model.fit(x, y, { epochs: 1, batchSize: 4, shuffle: false, verbose: 0 })).rejects.toThrow(
      'sparseCategoricalCrossentropyFromLogits: label 11 at position 2 is outside [0, 10) (10 classes)',
    );
    tf.dispose([x, y]);
    model.dispose();
  });

  it('rejects a bad k', () => {
    expect(() => sparseTopKAccuracy(0)).toThrow(/k must be a positive integer, got 0/);
  });
});
