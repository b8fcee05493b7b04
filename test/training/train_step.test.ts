import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { AdamW } from '../../src/optimizers/adamw';
import { accumulateGradients, trainStep, WasmOutOfMemoryError } from '../../src/training/train_step';
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

describeBackends('trainStep label checks', () => {
  it('names the first bad label and its position, before any work, and leaks nothing', () => {
    const m = model(3);
    const optimizer = new AdamW({ learningRate: 0.01 });
    const x = tf.tensor2d(testValues(5 * 6, 4), [5, 6]);
    const before = m.getWeights().map((w) => Array.from(w.dataSync()));
    const cases: [number[], RegExp][] = [
      [[0, 1, 2, 4, 11], /^trainStep: label 4 at position 3 is outside \[0, 4\) \(4 classes\)$/],
      [[0, -1, 2, 3, 1], /^trainStep: label -1 at position 1 is outside \[0, 4\)/],
      [[0, 1, 2.5, 3, 1], /^trainStep: label 2.5 at position 2 is not an integer class index$/],
      [[0, 1, 2, 3, NaN], /^trainStep: label NaN at position 4 is not an integer class index$/],
    ];
    for (const [labels, message] of cases) {
      for (const shape of [[5], [5, 1]]) {
        const y = tf.tensor(labels, shape, 'float32');
        const tensors = tf.memory().numTensors;
        expect(() => trainStep(m, optimizer, x, y, { microBatchSize: 2 })).toThrow(message);
        expect(() => accumulateGradients(m, x, y)).toThrow(message);
        expect(tf.memory().numTensors).toBe(tensors);
        y.dispose();
      }
    }
    // int32 labels are checked too (11 ≥ 4 classes).
    const yi = tf.tensor1d([0, 1, 2, 3, 11], 'int32');
    expect(() => trainStep(m, optimizer, x, yi)).toThrow(/label 11 at position 4 is outside \[0, 4\)/);
    // Nothing moved.
    m.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(before[i]));
    expect(optimizer.iterations).toBe(0);
    // A loss of one's own gets whatever targets it takes.
    const targets = tf.fill([5, 4], 0.5);
    const mse = (t: tf.Tensor, p: tf.Tensor) => tf.mean(tf.square(tf.sub(p, t)), -1);
    const r = accumulateGradients(m, x, targets, { loss: mse });
    tf.dispose([...r.gradients, r.outputs, x, yi, targets]);
  });
});

describeBackends('trainStep out of wasm memory', () => {
  const x = () => tf.tensor2d(testValues(8 * 6, 6), [8, 6]);
  const y = () => tf.tensor1d([0, 1, 2, 3, 0, 1, 2, 3], 'int32');

  it('rethrows a RuntimeError of a full heap as an error that says what to do, with the original as cause', () => {
    const m = model(2);
    const optimizer = new AdamW({ learningRate: 0.01 });
    const xs = x();
    const ys = y();
    for (const text of ['memory access out of bounds', 'Aborted(OOM). Build with -sASSERTIONS for more info.']) {
      const original = new WebAssembly.RuntimeError(text);
      let calls = 0;
      const failing = (t: tf.Tensor, p: tf.Tensor) => {
        // Fail in the second micro-batch, after the first one's gradients exist.
        if (++calls === 2) throw original;
        return tf.mean(tf.square(tf.sub(p, tf.oneHot(tf.cast(t, 'int32'), 4))), -1);
      };
      const tensors = tf.memory().numTensors;
      let caught: unknown;
      try {
        trainStep(m, optimizer, xs, ys, { loss: failing, microBatchSize: 4 });
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(WasmOutOfMemoryError);
      const e = caught as WasmOutOfMemoryError;
      expect(e.cause).toBe(original);
      expect(e.message).toMatch(/^trainStep: the WebAssembly heap ran out of memory \(the wasm backend cannot use more than 4 GiB\)/);
      expect(e.message).toMatch(/on 8 images in micro-batches of 4\. Train with a smaller batch, or pass \{ microBatchSize: 2 \}/);
      expect(e.message).toContain(`Original error: RuntimeError: ${text}`);
      expect(tf.memory().numTensors).toBe(tensors);
    }
    // The whole batch at once: the suggestion is half of it.
    const oom = () => {
      throw new WebAssembly.RuntimeError('memory access out of bounds');
    };
    expect(() => accumulateGradients(m, xs, ys, { loss: oom })).toThrow(/on 8 images as one batch\. .*\{ microBatchSize: 4 \}/);
    // The step still works afterwards (the engine's scopes and tapes were closed).
    const ok = trainStep(m, optimizer, xs, ys);
    expect(Number.isFinite(ok.loss)).toBe(true);
    tf.dispose([ok.outputs, xs, ys]);
  });

  it('explains a full heap in the optimizer step too, and passes other errors through unchanged', () => {
    const m = model(2);
    const xs = x();
    const ys = y();
    const optimizer = new AdamW({ learningRate: 0.01 });
    const original = new WebAssembly.RuntimeError('memory access out of bounds');
    optimizer.applyGradients = () => {
      throw original;
    };
    const tensors = tf.memory().numTensors;
    expect(() => trainStep(m, optimizer, xs, ys)).toThrow(WasmOutOfMemoryError);
    expect(tf.memory().numTensors).toBe(tensors);
    const other = new Error('something else');
    const failing = () => {
      throw other;
    };
    let caught: unknown;
    try {
      trainStep(m, optimizer, xs, ys, { loss: failing });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBe(other);
    // A RuntimeError that is not about memory is not relabelled either.
    const trap = new WebAssembly.RuntimeError('unreachable');
    expect(() => accumulateGradients(m, xs, ys, { loss: () => { throw trap; } })).toThrow(trap);
    expect(tf.memory().numTensors).toBe(tensors);
    tf.dispose([xs, ys]);
  });
});
