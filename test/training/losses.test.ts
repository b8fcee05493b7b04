import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients, as the library's entry does
import { sparseCategoricalCrossentropyFromLogits, sparseCategoricalCrossentropyWithLabelSmoothing } from '../../src/training/losses';
import { resolveTrainingFunction, trainingFunctionName } from '../../src/training/serialization';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';

/** float64 reference: per-example logsumexp(z) − z[label], with the max subtracted. */
function referenceLoss(logits: number[][], labels: number[]): number[] {
  return logits.map((row, i) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    return lse - row[labels[i]];
  });
}

/** float64 reference gradient of mean loss: (softmax − onehot) / batch. */
function referenceGrad(logits: number[][], labels: number[]): number[][] {
  return logits.map((row, i) => {
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((v, j) => (v / s - (j === labels[i] ? 1 : 0)) / logits.length);
  });
}

const LOGITS = [
  [1.5, -0.25, 3, 0.5],
  [0, 0, 0, 0],
  [1000, -1000, 999, 0], // would overflow exp without the max trick
  [-800, -801, -805, -799.5], // would underflow to log(0)
  [2, 2, -3, 7],
];
const LABELS = [2, 1, 1, 0, 3];

describeBackends('sparseCategoricalCrossentropyFromLogits', () => {
  it('matches a float64 logsumexp reference, also for huge logits', () => {
    const expected = referenceLoss(LOGITS, LABELS);
    expect(expected[1]).toBeCloseTo(Math.log(4), 12);
    for (const labelShape of [[5], [5, 1]]) {
      for (const dtype of ['float32', 'int32'] as const) {
        const loss = sparseCategoricalCrossentropyFromLogits(tf.tensor(LABELS, labelShape, dtype), tf.tensor2d(LOGITS));
        expect(loss.shape).toEqual([5]);
        const got = Array.from(loss.dataSync());
        got.forEach((v, i) => {
          expect(Number.isFinite(v)).toBe(true);
          expect(v).toBeCloseTo(expected[i], 3);
        });
        loss.dispose();
      }
    }
  });

  it('has the softmax − onehot gradient', () => {
    const labels = tf.tensor1d(LABELS);
    const g = tf.grad((z: tf.Tensor) => tf.mean(sparseCategoricalCrossentropyFromLogits(labels, z)))(tf.tensor2d(LOGITS));
    const got = g.arraySync() as number[][];
    const expected = referenceGrad(LOGITS, LABELS);
    got.forEach((row, i) => row.forEach((v, j) => expect(v).toBeCloseTo(expected[i][j], 6)));
    tf.dispose([labels, g]);
  });

  it('rejects out-of-range, negative and fractional labels, naming the first and its position, inside tf.grad too', () => {
    const logits = tf.tensor2d(LOGITS); // 5 examples, 4 classes
    const cases: [number[], string][] = [
      [[2, 1, 1, 4, 9], 'label 4 at position 3 is outside [0, 4) (4 classes)'],
      [[2, 1, -1, 0, 3], 'label -1 at position 2 is outside [0, 4) (4 classes)'],
      [[2.25, 1, 1, 0, 3], 'label 2.25 at position 0 is not an integer class index'],
      [[2, 1, 1, 0, Infinity], 'label Infinity at position 4 is not an integer class index'],
    ];
    for (const [labels, message] of cases) {
      for (const dtype of ['float32', 'int32'] as const) {
        if (dtype === 'int32' && !labels.every(Number.isInteger)) continue;
        const y = tf.tensor2d(labels, [5, 1], dtype);
        const tensors = tf.memory().numTensors;
        const expected = `sparseCategoricalCrossentropyFromLogits: ${message}`;
        expect(() => sparseCategoricalCrossentropyFromLogits(y, logits)).toThrow(expected);
        expect(() => tf.grad((z: tf.Tensor) => tf.mean(sparseCategoricalCrossentropyFromLogits(y, z)))(logits)).toThrow(expected);
        expect(() => tf.tidy(() => sparseCategoricalCrossentropyFromLogits(y, logits))).toThrow(expected);
        expect(tf.memory().numTensors).toBe(tensors);
        y.dispose();
      }
    }
    logits.dispose();
  });

  it('names a label/logit size mismatch and does not leak', async () => {
    expect(() => sparseCategoricalCrossentropyFromLogits(tf.tensor1d([0, 1]), tf.zeros([3, 4]))).toThrow(/labels of shape \[2\].*logits of shape \[3,4\]/);
    const labels = tf.tensor1d(LABELS);
    const logits = tf.tensor2d(LOGITS);
    await expectNoTensorLeak(() => {
      tf.grad((z: tf.Tensor) => tf.mean(sparseCategoricalCrossentropyFromLogits(labels, z)))(logits).dispose();
    });
    tf.dispose([labels, logits]);
  });
});

it('sparseCategoricalCrossentropyFromLogits agrees on cpu and wasm', async () => {
  const r = await onEachBackend(() => {
    const loss = sparseCategoricalCrossentropyFromLogits(tf.tensor1d(LABELS), tf.tensor2d(LOGITS));
    const out = Array.from(loss.dataSync());
    loss.dispose();
    return out;
  });
  r.cpu.forEach((v, i) => expect(r.wasm[i]).toBeCloseTo(v, 4));
});

/** float64 reference of label smoothing: −Σ_k t_k · log softmax_k with t = (1 − ε)·onehot + ε/K. */
function referenceSmoothed(logits: number[][], labels: number[], eps: number): number[] {
  return logits.map((row, i) => {
    const m = Math.max(...row);
    const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
    return row.reduce((sum, z, k) => sum - ((k === labels[i] ? 1 - eps : 0) + eps / row.length) * (z - lse), 0);
  });
}

describeBackends('sparseCategoricalCrossentropyWithLabelSmoothing', () => {
  const logits = [
    [2.5, -1, 0.3, 7],
    [-3, 0, 0, 1.25],
    [100, 90, -50, 0],
  ];
  const labels = [3, 1, 2];

  it('matches −Σ t·log softmax with smoothed targets (float64), and is the plain loss at 0', () => {
    for (const eps of [0, 0.1, 0.5]) {
      const got = sparseCategoricalCrossentropyWithLabelSmoothing(eps)(tf.tensor1d(labels, 'int32'), tf.tensor2d(logits)).arraySync() as number[];
      referenceSmoothed(logits, labels, eps).forEach((v, i) => expect(Math.abs(got[i] - v)).toBeLessThan(1e-4 * Math.max(1, Math.abs(v))));
    }
    const plain = sparseCategoricalCrossentropyFromLogits(tf.tensor1d(labels, 'int32'), tf.tensor2d(logits)).arraySync();
    expect(sparseCategoricalCrossentropyWithLabelSmoothing(0)(tf.tensor1d(labels, 'int32'), tf.tensor2d(logits)).arraySync()).toEqual(plain);
  });

  it('is stored by name with its parameter and resolves to the same loss; bad smoothing and labels are named', () => {
    const loss = sparseCategoricalCrossentropyWithLabelSmoothing(0.1);
    expect(trainingFunctionName(loss)).toBe('vit>sparseCategoricalCrossentropyWithLabelSmoothing?smoothing=0.1');
    const again = resolveTrainingFunction(trainingFunctionName(loss) as string);
    expect(again(tf.tensor1d(labels, 'int32'), tf.tensor2d(logits)).arraySync()).toEqual(loss(tf.tensor1d(labels, 'int32'), tf.tensor2d(logits)).arraySync());
    expect(() => sparseCategoricalCrossentropyWithLabelSmoothing(1)).toThrow('sparseCategoricalCrossentropyWithLabelSmoothing: smoothing must be in [0, 1), got 1');
    expect(() => sparseCategoricalCrossentropyWithLabelSmoothing(NaN)).toThrow(/got NaN/);
    expect(() => loss(tf.tensor1d([0, 4, 1], 'int32'), tf.tensor2d(logits))).toThrow(/label 4 at position 1/);
  });
});
