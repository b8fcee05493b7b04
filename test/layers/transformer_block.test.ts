import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { TransformerBlock } from '../../src/layers/transformer_block';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { checkGradients, checkWeightGradients, fillWeights, dense64, gelu64, layerNorm64, maxAbsDiff, mha64, testValues } from '../helpers/reference';
import { expectIdenticalAfterRoundTrip } from '../helpers/roundtrip';

function setAll(layer: tfl.layers.Layer, seed: number, scale = 0.4): void {
  fillWeights(layer, seed, scale);
}

/** The Keras tutorial's block on one sequence, in float64. */
function block64(x: number[][], w: Record<string, never>, mlpLayers: number, eps: number): number[][] {
  const h1 = layerNorm64(x, w['layer_norm_1/gamma'], w['layer_norm_1/beta'], eps);
  const a = mha64(h1, h1, h1, {
    wq: w['attention/query/kernel'], bq: w['attention/query/bias'],
    wk: w['attention/key/kernel'], bk: w['attention/key/bias'],
    wv: w['attention/value/kernel'], bv: w['attention/value/bias'],
    wo: w['attention/attention_output/kernel'], bo: w['attention/attention_output/bias'],
  }, null).output;
  const x2 = x.map((row, i) => row.map((v, j) => v + a[i][j]));
  let m = layerNorm64(x2, w['layer_norm_2/gamma'], w['layer_norm_2/beta'], eps);
  for (let i = 0; i < mlpLayers; i++) m = dense64(m, w[`mlp/dense_${i}/kernel`], w[`mlp/dense_${i}/bias`]).map((r) => r.map(gelu64));
  return x2.map((row, i) => row.map((v, j) => v + m[i][j]));
}

describeBackends('TransformerBlock', () => {
  it('has the reference parameter count: 83,200 for width 64, 4 heads of 64, MLP [128, 64]', () => {
    const layer = new TransformerBlock({ numHeads: 4, keyDim: 64, mlpUnits: [128, 64] });
    layer.apply(tfl.input({ shape: [144, 64] }));
    // LN 2·64 + MHA 3·(64·4·64 + 4·64) + 4·64·64 + 64 + LN 2·64 + (64·128 + 128) + (128·64 + 64)
    expect(layer.countParams()).toBe(128 + 3 * (64 * 4 * 64 + 256) + 4 * 64 * 64 + 64 + 128 + 64 * 128 + 128 + 128 * 64 + 64);
  });

  it('matches a float64 implementation of the pre-norm block (LayerNorm, MHA, residual, MLP with exact GELU)', () => {
    const [b, t, d] = [2, 5, 6];
    const layer = new TransformerBlock({ numHeads: 2, keyDim: 3, mlpUnits: [8, 6], epsilon: 1e-6 });
    const x = tf.tensor3d(testValues(b * t * d, 4).map((v) => v * 2), [b, t, d]);
    layer.apply(x);
    setAll(layer, 20);
    const y = layer.apply(x) as tf.Tensor;
    const w = Object.fromEntries(layer.weights.map((v) => [v.originalName.split('/').slice(1).join('/'), v.read().arraySync()])) as Record<string, never>;
    const expected = (x.arraySync() as number[][][]).map((seq) => block64(seq, w, 2, 1e-6));
    expect(maxAbsDiff(y.arraySync() as number[][][], expected)).toBeLessThanOrEqual(1e-5);
    tf.dispose([x, y]);
  });

  it('has gradients that match finite differences (inputs and every weight)', () => {
    const layer = new TransformerBlock({ numHeads: 2, keyDim: 2, mlpUnits: [6, 4] });
    const x = tf.tensor3d(testValues(1 * 3 * 4, 8), [1, 3, 4]);
    layer.apply(x);
    setAll(layer, 40);
    const r = tf.tensor3d(testValues(1 * 3 * 4, 9), [1, 3, 4]);
    const loss = (xi: tf.Tensor) => tf.sum(tf.mul(layer.apply(xi) as tf.Tensor, r)) as tf.Scalar;
    checkGradients(loss, [x]);
    checkWeightGradients(() => loss(x), layer.trainableWeights, { samples: 2 });
    tf.dispose([x, r]);
  });

  it('applies dropout and drop path only in training', () => {
    const layer = new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [16, 8], dropout: 0.3, dropPath: 0.5, seed: 1 });
    const x = tf.tensor3d(testValues(8 * 6 * 8, 2), [8, 6, 8]);
    const a = Array.from((layer.apply(x) as tf.Tensor).dataSync());
    const b = Array.from((layer.apply(x, { training: false }) as tf.Tensor).dataSync());
    expect(a).toEqual(b);
    const c = Array.from((layer.apply(x, { training: true }) as tf.Tensor).dataSync());
    expect(maxAbsDiff(a, c)).toBeGreaterThan(1e-3);
    x.dispose();
  });

  it('round-trips through save/load and leaks nothing over repeated training passes', async () => {
    const input = tfl.input({ shape: [6, 8] });
    const model = tfl.model({ inputs: input, outputs: new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [16, 8], dropPath: 0.1 }).apply(input) as tfl.SymbolicTensor });
    const x = tf.tensor3d(testValues(2 * 6 * 8, 12), [2, 6, 8]);
    (await expectIdenticalAfterRoundTrip(model, x)).forEach((m) => m.dispose());
    await expectNoTensorLeak(() => {
      const g = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      tf.dispose([g.value, ...Object.values(g.grads)]);
    });
    x.dispose();
  });

  it('rejects bad arguments with errors that name them', () => {
    expect(() => new TransformerBlock({ numHeads: 0, keyDim: 4, mlpUnits: [8] })).toThrow(/numHeads must be a positive integer, got 0/);
    expect(() => new TransformerBlock({ numHeads: 2, keyDim: 0.5, mlpUnits: [8] })).toThrow(/keyDim must be a positive integer, got 0.5/);
    expect(() => new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [] })).toThrow(/mlpUnits must be a non-empty array/);
    expect(() => new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [8], dropout: 1 })).toThrow(/dropout must be in \[0, 1\), got 1/);
    const layer = new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [16, 12] });
    expect(() => layer.apply(tf.zeros([1, 3, 8]))).toThrow(/last mlpUnits entry \(12\) must equal the token width 8/);
    expect(() => new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [8] }).apply(tf.zeros([3, 8]))).toThrow(/must have rank 3, got shape \[3, 8\]/);
  });
});

it('cpu and wasm agree (forward and gradients)', async () => {
  const r = await onEachBackend(() => {
    const layer = new TransformerBlock({ numHeads: 2, keyDim: 8, mlpUnits: [32, 16], seed: 9 });
    const x = tf.tensor3d(testValues(2 * 10 * 16, 3), [2, 10, 16]);
    layer.apply(x);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply(x) as tf.Tensor)) as tf.Scalar);
    const out = { value: value.dataSync()[0], grads: Object.values(grads).map((g) => Array.from(g.dataSync())) };
    tf.dispose([x, value, ...Object.values(grads)]);
    return out;
  });
  expect(Math.abs(r.cpu.value - r.wasm.value)).toBeLessThan(1e-4 * Math.abs(r.cpu.value));
  r.cpu.grads.forEach((g, i) => expect(maxAbsDiff(g, r.wasm.grads[i])).toBeLessThan(1e-3));
});
