import * as tf from '@tensorflow/tfjs-core';
import { checkSparseLabels } from '../../src/training/labels';
import { describeBackends } from '../helpers/backends';

/** Independent reference: index of the first value that is not an integer in [0, n), or -1. */
function firstBad(values: number[], n: number): number {
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (Number.isNaN(v) || v < 0 || v >= n || Math.floor(v) !== v) return i;
  }
  return -1;
}

describeBackends('checkSparseLabels', () => {
  it('accepts class indices in [0, numClasses) of any numeric dtype and shape', () => {
    for (const dtype of ['float32', 'int32'] as const) {
      const y = tf.tensor([0, 9, 3, 0, 9, 5], [3, 2], dtype);
      expect(() => checkSparseLabels(y, 10)).not.toThrow();
      y.dispose();
    }
    expect(() => checkSparseLabels(new Uint8Array([0, 1, 2]), 3)).not.toThrow();
    expect(() => checkSparseLabels([], 3)).not.toThrow();
  });

  it('names the first bad value and its flat position, for tensors, typed arrays and arrays', () => {
    const samples: number[][] = [
      [0, 1, 10, 11],
      [3, -1, 12],
      [1, 2, 3.5, -4],
      [NaN, 1],
      [0, 0, 0, -0.5],
      [9, 9, 9, 1e9],
    ];
    for (const values of samples) {
      const i = firstBad(values, 10);
      expect(i).toBeGreaterThanOrEqual(0);
      const v = values[i];
      const message = Number.isInteger(v)
        ? `fit: label ${v} at position ${i} is outside [0, 10) (10 classes)`
        : `fit: label ${v} at position ${i} is not an integer class index`;
      const t = tf.tensor1d(values);
      expect(() => checkSparseLabels(t, 10, 'fit')).toThrow(message);
      t.dispose();
      expect(() => checkSparseLabels(new Float64Array(values), 10, 'fit')).toThrow(message);
      expect(() => checkSparseLabels(values, 10, 'fit')).toThrow(message);
    }
    // The default prefix; the position is the flat index in a [batch, 1] tensor.
    const column = tf.tensor2d([[1], [2], [10]], [3, 1], 'int32');
    expect(() => checkSparseLabels(column, 10)).toThrow(/^labels: label 10 at position 2 is outside \[0, 10\)/);
    column.dispose();
  });

  it('rejects a bad class count and non-numeric tensors, and creates no tensor', () => {
    expect(() => checkSparseLabels([0], 0)).toThrow(/number of classes must be a positive integer, got 0/);
    expect(() => checkSparseLabels([0], 2.5, 'x')).toThrow(/^x: the number of classes must be a positive integer, got 2.5/);
    const s = tf.tensor1d(['a'], 'string');
    expect(() => checkSparseLabels(s, 2)).toThrow(/numeric class indices, got a string tensor/);
    s.dispose();
    const y = tf.tensor1d([1, 2, 3]);
    const before = tf.memory().numTensors;
    checkSparseLabels(y, 4);
    expect(() => checkSparseLabels(y, 3)).toThrow(/label 3 at position 2/);
    expect(tf.memory().numTensors).toBe(before);
    y.dispose();
  });
});
