import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { PatchEncoder } from '../../src/layers/patch_encoder';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { checkGradients, checkWeightGradients, fillWeights, dense64, maxAbsDiff, testValues } from '../helpers/reference';
import { expectIdenticalAfterRoundTrip } from '../helpers/roundtrip';

function setAll(layer: tfl.layers.Layer, seed: number): void {
  fillWeights(layer, seed);
}

describeBackends('PatchEncoder', () => {
  it('has the Keras tutorial\'s parameter count (Dense + Embedding) and weight names', () => {
    const layer = new PatchEncoder({ numPatches: 144, projectionDim: 64 });
    layer.apply(tfl.input({ shape: [144, 108] }));
    expect(layer.countParams()).toBe(108 * 64 + 64 + 144 * 64);
    expect(layer.weights.map((w) => w.originalName.split('/').slice(1).join('/'))).toEqual(['projection/kernel', 'projection/bias', 'position_embedding']);
    const withToken = new PatchEncoder({ numPatches: 144, projectionDim: 64, classToken: true });
    expect((withToken.apply(tfl.input({ shape: [144, 108] })) as tfl.SymbolicTensor).shape).toEqual([null, 145, 64]);
    expect(withToken.countParams()).toBe(108 * 64 + 64 + 145 * 64 + 64);
  });

  it.each([false, true])('computes x·W + b + position (classToken %s) like a float64 reference', (classToken) => {
    const [b, n, p, d] = [2, 4, 6, 5];
    const layer = new PatchEncoder({ numPatches: n, projectionDim: d, classToken });
    const x = tf.tensor3d(testValues(b * n * p, 1), [b, n, p]);
    layer.apply(x);
    setAll(layer, 7);
    const y = layer.apply(x) as tf.Tensor;
    const w = Object.fromEntries(layer.weights.map((v) => [v.originalName.split('/').slice(1).join('/'), v.read().arraySync()])) as Record<string, never>;
    const xa = x.arraySync() as number[][][];
    const expected = xa.map((img) => {
      let tokens = dense64(img, w['projection/kernel'], w['projection/bias']);
      if (classToken) tokens = [(w['class_token'] as number[][][])[0][0].slice(), ...tokens];
      return tokens.map((row, t) => row.map((v, j) => v + (w['position_embedding'] as number[][])[t][j]));
    });
    expect(y.shape).toEqual([b, n + (classToken ? 1 : 0), d]);
    expect(maxAbsDiff(y.arraySync() as number[][][], expected)).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, y]);
  });

  it('has gradients that match finite differences (inputs, projection, position embedding, class token)', () => {
    const layer = new PatchEncoder({ numPatches: 3, projectionDim: 4, classToken: true });
    const x = tf.tensor3d(testValues(2 * 3 * 5, 3), [2, 3, 5]);
    layer.apply(x);
    setAll(layer, 11);
    const r = tf.tensor3d(testValues(2 * 4 * 4, 5), [2, 4, 4]);
    const loss = (xi: tf.Tensor) => tf.sum(tf.mul(tf.square(layer.apply(xi) as tf.Tensor), r)) as tf.Scalar;
    checkGradients(loss, [x]);
    checkWeightGradients(() => loss(x), layer.trainableWeights);
    tf.dispose([x, r]);
  });

  it('round-trips through save/load and leaks nothing', async () => {
    const input = tfl.input({ shape: [4, 6] });
    const model = tfl.model({ inputs: input, outputs: new PatchEncoder({ numPatches: 4, projectionDim: 3, classToken: true }).apply(input) as tfl.SymbolicTensor });
    const x = tf.tensor3d(testValues(2 * 4 * 6, 9), [2, 4, 6]);
    (await expectIdenticalAfterRoundTrip(model, x)).forEach((m) => m.dispose());
    await expectNoTensorLeak(() => {
      const g = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      tf.dispose([g.value, ...Object.values(g.grads)]);
    });
    x.dispose();
  });

  it('rejects bad arguments with errors that name them', () => {
    expect(() => new PatchEncoder({ numPatches: 0, projectionDim: 4 })).toThrow(/numPatches must be a positive integer, got 0/);
    expect(() => new PatchEncoder({ numPatches: 4, projectionDim: -1 })).toThrow(/projectionDim must be a positive integer, got -1/);
    const layer = new PatchEncoder({ numPatches: 4, projectionDim: 4 });
    expect(() => layer.apply(tf.zeros([1, 5, 6]))).toThrow(/input has 5 patches but numPatches is 4/);
    expect(() => layer.apply(tf.zeros([4, 6]))).toThrow(/must have rank 3, got shape \[4, 6\]/);
    layer.apply(tf.zeros([1, 4, 6]));
    expect(() => layer.apply(tf.zeros([1, 4, 7]))).toThrow(/^PatchEncoder: patches have 7 values but layer '[^']+' was built for 6/);
  });
});

it('cpu and wasm agree', async () => {
  const r = await onEachBackend(() => {
    const layer = new PatchEncoder({ numPatches: 16, projectionDim: 8, classToken: true, seed: 3 });
    const x = tf.tensor3d(testValues(2 * 16 * 12, 2), [2, 16, 12]);
    const y = Array.from((layer.apply(x) as tf.Tensor).dataSync());
    x.dispose();
    return y;
  });
  expect(maxAbsDiff(r.cpu, r.wasm)).toBeLessThan(1e-5);
});
