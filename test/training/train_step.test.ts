import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { AdamW } from '../../src/optimizers/adamw';
import { trainStep } from '../../src/training/train_step';
import { MLP } from '../../src/layers/mlp';
import { describeBackends, expectNoTensorLeak } from '../helpers/backends';
import { maxAbsDiff, testValues } from '../helpers/reference';

function model(seed: number): tfl.LayersModel {
  const input = tfl.input({ shape: [6] });
  const out = new MLP({ units: [16, 4], activation: 'gelu', seed }).apply(input) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: out });
}

describeBackends('trainStep', () => {
  it('accumulating micro-batches gives the same update and loss as one whole-batch step', () => {
    const x = tf.tensor2d(testValues(10 * 6, 1), [10, 6]);
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3, 1, 2], 'int32');
    const whole = model(5);
    const split = model(5);
    const a = trainStep(whole, new AdamW({ learningRate: 0.01, weightDecay: 0.1 }), x, y);
    const b = trainStep(split, new AdamW({ learningRate: 0.01, weightDecay: 0.1 }), x, y, { microBatchSize: 3 });
    // Independent check of the loss: mean cross-entropy of the returned logits, in float64.
    const logits = a.outputs.arraySync() as number[][];
    const labels = Array.from(y.dataSync());
    const ce = logits.reduce((s, row, i) => {
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((t, v) => t + Math.exp(v - m), 0));
      return s + lse - row[labels[i]];
    }, 0) / logits.length;
    expect(Math.abs(a.loss - ce)).toBeLessThan(1e-5);
    expect(Math.abs(b.loss - a.loss)).toBeLessThan(1e-5);
    expect(maxAbsDiff(b.outputs.dataSync(), a.outputs.dataSync())).toBeLessThan(1e-6);
    whole.getWeights().forEach((w, i) => expect(maxAbsDiff(w.dataSync(), split.getWeights()[i].dataSync())).toBeLessThan(1e-6));
    // The step really moved the weights.
    expect(maxAbsDiff(whole.getWeights()[0].dataSync(), model(5).getWeights()[0].dataSync())).toBeGreaterThan(1e-3);
    tf.dispose([x, y, a.outputs, b.outputs]);
  });

  it('leaks no tensors and rejects a bad micro-batch size', async () => {
    const m = model(1);
    const optimizer = new AdamW({ learningRate: 0.01 });
    const x = tf.tensor2d(testValues(8 * 6, 2), [8, 6]);
    const y = tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');
    await expectNoTensorLeak(() => trainStep(m, optimizer, x, y, { microBatchSize: 3 }).outputs.dispose());
    expect(() => trainStep(m, optimizer, x, y, { microBatchSize: 0 })).toThrow(/microBatchSize must be a positive integer, got 0/);
    expect(() => trainStep(m, optimizer, x, tf.zeros([3], 'int32'))).toThrow(/x has 8 examples but y has 3/);
    tf.dispose([x, y]);
  });
});
