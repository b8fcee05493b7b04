import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { LayerNorm } from '../../src/layers/layer_norm';
import { describeBackends, expectNoTensorLeak } from '../helpers/backends';
import { checkGradients, checkWeightGradients, fillWeights, layerNorm64, maxAbsDiff, testValues } from '../helpers/reference';
import { expectIdenticalAfterRoundTrip } from '../helpers/roundtrip';

describeBackends('LayerNorm', () => {
  it('normalizes the last axis like a float64 reference, with gamma and beta', () => {
    const layer = new LayerNorm({ epsilon: 1e-6 });
    const x = tf.tensor3d(testValues(2 * 3 * 8, 1).map((v, i) => 5 * v + (i % 8)), [2, 3, 8]);
    layer.apply(x);
    fillWeights(layer, 4);
    const [gamma, beta] = layer.getWeights().map((w) => Array.from(w.dataSync()));
    const expected = (x.arraySync() as number[][][]).map((seq) => layerNorm64(seq, gamma, beta, 1e-6));
    expect(maxAbsDiff((layer.apply(x) as tf.Tensor).arraySync() as number[][][], expected)).toBeLessThanOrEqual(1e-5);
    expect(layer.weights.map((w) => w.originalName.split('/').pop())).toEqual(['gamma', 'beta']);
    const r = tf.tensor3d(testValues(2 * 3 * 8, 2), [2, 3, 8]);
    checkGradients((xi) => tf.sum(tf.mul(layer.apply(xi) as tf.Tensor, r)) as tf.Scalar, [x]);
    checkWeightGradients(() => tf.sum(tf.mul(layer.apply(x) as tf.Tensor, r)) as tf.Scalar, layer.trainableWeights);
    tf.dispose([x, r]);
  });

  it('round-trips, leaks nothing, and names bad arguments', async () => {
    const input = tfl.input({ shape: [4, 6] });
    const model = tfl.model({ inputs: input, outputs: new LayerNorm().apply(input) as tfl.SymbolicTensor });
    const x = tf.tensor3d(testValues(2 * 4 * 6, 3), [2, 4, 6]);
    (await expectIdenticalAfterRoundTrip(model, x)).forEach((m) => m.dispose());
    await expectNoTensorLeak(() => {
      const g = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      tf.dispose([g.value, ...Object.values(g.grads)]);
    });
    expect(() => new LayerNorm({ epsilon: 0 })).toThrow(/epsilon must be a positive number, got 0/);
    expect(() => model.layers[1].apply(tf.zeros([1, 4, 5]))).toThrow(/^LayerNorm: input has 5 features but layer '[^']+' was built for 6/);
    x.dispose();
  });
});
