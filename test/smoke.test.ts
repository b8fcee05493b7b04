import * as tf from '@tensorflow/tfjs-core';
import { describeBackends } from './helpers/backends';

describeBackends('smoke', (backend) => {
  it('runs a matMul', () => {
    expect(tf.getBackend()).toBe(backend);
    const y = tf.matMul(tf.tensor2d([[1, 2]]), tf.tensor2d([[3], [4]]));
    expect(Array.from(y.dataSync())).toEqual([11]);
  });
});
