import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { DropPath, dropPath } from '../../src/layers/drop_path';
import { MLP } from '../../src/layers/mlp';
import { SeededDropout } from '../../src/layers/seeded_dropout';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { checkGradients, checkWeightGradients, dense64, fillWeights, gelu64, maxAbsDiff, testValues } from '../helpers/reference';
import { expectIdenticalAfterRoundTrip } from '../helpers/roundtrip';

describeBackends('MLP', () => {
  it('computes GELU(x·W1 + b1) → GELU(·W2 + b2) like a float64 reference, and its weight gradients', () => {
    const layer = new MLP({ units: [7, 3] });
    const x = tf.tensor2d(testValues(4 * 5, 1).map((v) => 2 * v), [4, 5]);
    layer.apply(x);
    fillWeights(layer, 30);
    const [k1, b1, k2, b2] = layer.getWeights().map((w) => w.arraySync()) as never[];
    const expected = dense64(dense64(x.arraySync() as number[][], k1, b1).map((r) => r.map(gelu64)), k2, b2).map((r) => r.map(gelu64));
    expect(maxAbsDiff((layer.apply(x) as tf.Tensor).arraySync() as number[][], expected)).toBeLessThanOrEqual(1e-5);
    checkWeightGradients(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar, layer.trainableWeights);
    expect(layer.countParams()).toBe(5 * 7 + 7 + 7 * 3 + 3);
    x.dispose();
  });

  it('round-trips, is the identity on dropout outside training, and rejects bad options', async () => {
    const input = tfl.input({ shape: [6] });
    const model = tfl.model({ inputs: input, outputs: new MLP({ units: [8, 2], activation: 'relu', dropout: 0.5 }).apply(input) as tfl.SymbolicTensor });
    const x = tf.tensor2d(testValues(3 * 6, 2), [3, 6]);
    (await expectIdenticalAfterRoundTrip(model, x)).forEach((m) => m.dispose());
    await expectNoTensorLeak(() => {
      const g = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      tf.dispose([g.value, ...Object.values(g.grads)]);
    });
    expect(() => new MLP({ units: [] })).toThrow(/units must be a non-empty array/);
    expect(() => new MLP({ units: [4, 0] })).toThrow(/units\[1\] must be a positive integer, got 0/);
    expect(() => new MLP({ units: [4], activation: 'swish' as never })).toThrow(/activation must be one of .*got 'swish'/);
    x.dispose();
  });
});

describeBackends('SeededDropout and DropPath', () => {
  it('SeededDropout drops ~rate of the entries, scales the rest by 1/(1−rate), draws a new mask per call, and is reproducible', () => {
    const x = tf.ones([100, 100]);
    const layer = new SeededDropout({ rate: 0.3, seed: 42 });
    const a = (layer.apply(x, { training: true }) as tf.Tensor).dataSync();
    const b = (layer.apply(x, { training: true }) as tf.Tensor).dataSync();
    const zeros = Array.from(a).filter((v) => v === 0).length;
    // Binomial(10000, 0.3): sd ≈ 46; ±5 sd.
    expect(Math.abs(zeros - 3000)).toBeLessThan(230);
    expect(new Set(Array.from(a).map((v) => v.toFixed(5)))).toEqual(new Set(['0.00000', (1 / 0.7).toFixed(5)]));
    expect(Array.from(a)).not.toEqual(Array.from(b));
    const again = new SeededDropout({ rate: 0.3, seed: 42 });
    expect(Array.from((again.apply(x, { training: true }) as tf.Tensor).dataSync())).toEqual(Array.from(a));
    expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual(Array.from(x.dataSync()));
    x.dispose();
  });

  it('dropPath keeps or drops whole samples', () => {
    const x = tf.ones([400, 3, 2]);
    const y = dropPath(x, 0.25, 7).arraySync() as number[][][];
    const kept = y.filter((s) => s.flat().every((v) => Math.abs(v - 1 / 0.75) < 1e-6)).length;
    const dropped = y.filter((s) => s.flat().every((v) => v === 0)).length;
    expect(kept + dropped).toBe(400);
    // Binomial(400, 0.25): sd ≈ 8.7; ±5 sd.
    expect(Math.abs(dropped - 100)).toBeLessThan(44);
    const layer = new DropPath({ rate: 0.25 });
    expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual(Array.from(x.dataSync()));
    expect(() => new DropPath({ rate: 1.5 })).toThrow(/rate must be in \[0, 1\), got 1.5/);
    expect(() => new SeededDropout({ rate: -0.1 })).toThrow(/rate must be in \[0, 1\), got -0.1/);
    x.dispose();
  });
});

describeBackends('MLP, SeededDropout and DropPath in models', () => {
  it('round-trip through save/load and getConfig/fromConfig, with computeOutputShape equal to the real shape', async () => {
    const input = tfl.input({ shape: [4, 6] });
    const layers = [new MLP({ units: [5, 3], dropout: 0.2, name: 'm' }), new SeededDropout({ rate: 0.5, seed: 3, name: 's' }), new DropPath({ rate: 0.3, name: 'd' })];
    let y: tfl.SymbolicTensor = input;
    for (const l of layers) y = l.apply(y) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: y });
    const x = tf.tensor3d(testValues(2 * 4 * 6, 8), [2, 4, 6]);
    (await expectIdenticalAfterRoundTrip(model, x)).forEach((m) => m.dispose());
    for (const l of layers) {
      const cls = l.constructor as tf.serialization.SerializableConstructor<tfl.layers.Layer>;
      const copy = tfl.layers.Layer.fromConfig(cls, l.getConfig()) as tfl.layers.Layer;
      expect(copy.getConfig()).toEqual(l.getConfig());
    }
    const eager = layers[0].apply(x) as tf.Tensor;
    expect(layers[0].computeOutputShape([2, 4, 6])).toEqual(eager.shape);
    expect(y.shape).toEqual([null, 4, 3]);
    expect(() => layers[0].apply(tf.zeros([2, 4, 7]))).toThrow(/^MLP: input has 7 features on its last axis but layer '[^']+' was built for 6/);
    tf.dispose([x, eager]);
  });

  it('MLP input gradients match finite differences', () => {
    const layer = new MLP({ units: [4, 2] });
    const x = tf.tensor2d(testValues(3 * 5, 4), [3, 5]);
    layer.apply(x);
    fillWeights(layer, 12);
    checkGradients((xi) => tf.sum(tf.square(layer.apply(xi) as tf.Tensor)) as tf.Scalar, [x]);
    x.dispose();
  });
});

it('cpu and wasm agree on MLP', async () => {
  const results = await onEachBackend(() => {
    const layer = new MLP({ units: [6, 3] });
    const x = tf.tensor2d(testValues(4 * 5, 9), [4, 5]);
    layer.apply(x);
    fillWeights(layer, 21);
    const y = Array.from((layer.apply(x) as tf.Tensor).dataSync());
    x.dispose();
    return y;
  });
  expect(maxAbsDiff(results.wasm, results.cpu)).toBeLessThanOrEqual(1e-6);
});
