import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { MultiHeadAttention, multiHeadAttention } from '../../src/layers/multi_head_attention';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { checkGradients, checkWeightGradients, fillWeights, maxAbsDiff, mha64, MhaWeights64, testValues } from '../helpers/reference';
import { expectIdenticalAfterRoundTrip } from '../helpers/roundtrip';

/** Reads the layer's weights in Keras order into nested arrays. */
function weights64(layer: MultiHeadAttention): MhaWeights64 {
  const byName = new Map(layer.weights.map((w) => [w.originalName.split('/').slice(-2).join('/'), w.read().arraySync()]));
  const get = (n: string) => byName.get(n) as never;
  return {
    wq: get('query/kernel'), bq: get('query/bias'),
    wk: get('key/kernel'), bk: get('key/bias'),
    wv: get('value/kernel'), bv: get('value/bias'),
    wo: get('attention_output/kernel'), bo: get('attention_output/bias'),
  };
}

/** Gives every weight non-trivial deterministic values (biases too, so they are checked). */
function randomizeWeights(layer: tfl.layers.Layer, seed: number): void {
  fillWeights(layer, seed, 0.5);
}

describeBackends('MultiHeadAttention', () => {
  it('has Keras weight shapes and parameter count (reference: dim 64, 4 heads of 64 → 66,368)', () => {
    const layer = new MultiHeadAttention({ numHeads: 4, keyDim: 64 });
    layer.apply(tfl.input({ shape: [144, 64] }));
    expect(layer.weights.map((w) => [w.originalName.split('/').slice(-2).join('/'), w.shape])).toEqual([
      ['query/kernel', [64, 4, 64]], ['query/bias', [4, 64]],
      ['key/kernel', [64, 4, 64]], ['key/bias', [4, 64]],
      ['value/kernel', [64, 4, 64]], ['value/bias', [4, 64]],
      ['attention_output/kernel', [4, 64, 64]], ['attention_output/bias', [64]],
    ]);
    expect(layer.countParams()).toBe(3 * (64 * 4 * 64 + 4 * 64) + (4 * 64 * 64 + 64));
  });

  it.each([
    ['self-attention', false],
    ['cross-attention with a mask', true],
  ])('matches a float64 loop implementation (%s)', (_, masked) => {
    const [b, tq, tv, dq, dv, dk] = [2, 3, 4, 5, 6, 7];
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 4, outputShape: 5 });
    const query = tf.tensor3d(testValues(b * tq * dq, 1), [b, tq, dq]);
    const value = masked ? tf.tensor3d(testValues(b * tv * dv, 2), [b, tv, dv]) : query;
    const key = masked ? tf.tensor3d(testValues(b * tv * dk, 3), [b, tv, dk]) : query;
    const maskValues = masked ? Array.from({ length: b }, (_, i) => Array.from({ length: tq }, (_, q) => Array.from({ length: tv }, (_, k) => ((i + q + k) % 3 === 0 ? 0 : 1)))) : null;
    const inputs = masked ? [query, value, key] : [query, query];
    layer.apply(inputs); // build
    randomizeWeights(layer, 10);
    const mask = maskValues ? tf.tensor3d(maskValues, [b, tq, tv]) : undefined;
    const [out, scores] = layer.apply(inputs, { attentionMask: mask, returnAttentionScores: true }) as tf.Tensor[];
    const w = weights64(layer);
    const qa = query.arraySync() as number[][][];
    const va = value.arraySync() as number[][][];
    const ka = key.arraySync() as number[][][];
    for (let i = 0; i < b; i++) {
      const ref = mha64(qa[i], va[i], ka[i], w, maskValues ? maskValues[i] : null);
      expect(maxAbsDiff((out.arraySync() as number[][][])[i], ref.output)).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff((scores.arraySync() as number[][][][])[i], ref.scores)).toBeLessThanOrEqual(1e-5);
      if (maskValues) {
        // Masked keys get (numerically) zero probability.
        const s = (scores.arraySync() as number[][][][])[i];
        for (const head of s) head.forEach((row, q) => row.forEach((p, k) => maskValues[i][q][k] === 0 && expect(p).toBeLessThan(1e-30)));
      }
    }
    expect(out.shape).toEqual([b, tq, 5]);
    expect(layer.computeOutputShape([[b, tq, dq], [b, tv, dv], [b, tv, dk]])).toEqual([b, tq, 5]);
    tf.dispose([query, value, key, out, scores]);
    if (mask) mask.dispose();
  });

  it('takes the mask as a fourth model input and returns scores as a second output in functional models', () => {
    const q = tfl.input({ shape: [3, 4] });
    const m = tfl.input({ shape: [3, 3] });
    const layer = multiHeadAttention({ numHeads: 2, keyDim: 2, returnAttentionScores: true });
    const outs = layer.apply([q, q, q, m]) as tfl.SymbolicTensor[];
    expect(outs.map((o) => o.shape)).toEqual([[null, 3, 4], [null, 2, 3, 3]]);
    const model = tfl.model({ inputs: [q, m], outputs: outs });
    const x = tf.tensor3d(testValues(2 * 3 * 4, 8), [2, 3, 4]);
    const lower = tf.tensor3d([0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => (j <= i ? 1 : 0))).concat([0, 1, 2].flatMap((i) => [0, 1, 2].map((j) => (j <= i ? 1 : 0)))), [2, 3, 3]);
    const [, scores] = model.predict([x, lower]) as tf.Tensor[];
    const s = scores.arraySync() as number[][][][];
    expect(s[0][0][0]).toEqual([1, 0, 0]); // the first query may only attend to the first key
    tf.dispose([x, lower, scores]);
  });

  it('applies attention dropout only in training', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 0.5, seed: 3 });
    const x = tf.tensor3d(testValues(2 * 6 * 8, 4), [2, 6, 8]);
    const a = (layer.apply([x, x]) as tf.Tensor).dataSync();
    const b = (layer.apply([x, x]) as tf.Tensor).dataSync();
    expect(Array.from(a)).toEqual(Array.from(b));
    const t1 = (layer.apply([x, x], { training: true }) as tf.Tensor).dataSync();
    const t2 = (layer.apply([x, x], { training: true }) as tf.Tensor).dataSync();
    expect(maxAbsDiff(t1, a)).toBeGreaterThan(1e-3);
    expect(maxAbsDiff(t1, t2)).toBeGreaterThan(1e-3); // a new mask every step
    x.dispose();
  });

  it('has gradients (inputs and weights) that match finite differences', () => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 3 });
    const x = tf.tensor3d(testValues(1 * 4 * 5, 21), [1, 4, 5]);
    layer.apply([x, x]);
    randomizeWeights(layer, 30);
    const r = tf.tensor3d(testValues(1 * 4 * 5, 22), [1, 4, 5]);
    checkGradients((xi) => tf.sum(tf.mul(layer.apply([xi, xi]) as tf.Tensor, r)) as tf.Scalar, [x]);
    checkWeightGradients(() => tf.sum(tf.mul(layer.apply([x, x]) as tf.Tensor, r)) as tf.Scalar, layer.trainableWeights);
    tf.dispose([x, r]);
  });

  it('round-trips through save/load, keeps tfjs-layers\' own MultiHeadAttention loadable, and leaks nothing', async () => {
    const input = tfl.input({ shape: [5, 6] });
    const out = new MultiHeadAttention({ numHeads: 2, keyDim: 3, name: 'mha' }).apply([input, input]) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    const x = tf.tensor3d(testValues(2 * 5 * 6, 40), [2, 5, 6]);
    const loaded = await expectIdenticalAfterRoundTrip(model, x);
    expect(loaded[0].getLayer('mha')).toBeInstanceOf(MultiHeadAttention);
    const layer = model.getLayer('mha') as MultiHeadAttention;
    expect((MultiHeadAttention.fromConfig(MultiHeadAttention, layer.getConfig()) as MultiHeadAttention).getConfig()).toEqual(layer.getConfig());
    // tfjs-layers has a class named 'MultiHeadAttention' of its own (in its nlp module); ours never takes its name.
    const registry = tf.serialization.SerializationMap.getMap().classNameMap;
    expect(registry['VitMultiHeadAttention'][0]).toBe(MultiHeadAttention);
    expect(registry['MultiHeadAttention']?.[0]).not.toBe(MultiHeadAttention);
    await expectNoTensorLeak(() => {
      const g = tf.variableGrads(() => tf.sum(model.apply(x, { training: true }) as tf.Tensor) as tf.Scalar);
      tf.dispose([g.value, ...Object.values(g.grads)]);
    });
    loaded.forEach((m) => m.dispose());
    x.dispose();
  });

  it('rejects bad arguments with errors that name them', () => {
    expect(() => new MultiHeadAttention({ numHeads: 0, keyDim: 4 })).toThrow(/numHeads must be a positive integer, got 0/);
    expect(() => new MultiHeadAttention({ numHeads: 2, keyDim: 1.5 })).toThrow(/keyDim must be a positive integer, got 1.5/);
    expect(() => new MultiHeadAttention({ numHeads: 2, keyDim: -3 })).toThrow(/keyDim must be a positive integer, got -3/);
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 2 });
    expect(() => layer.apply(tf.zeros([2, 3]))).toThrow(/query \[batch, Tq, dim\] must have rank 3, got shape \[2, 3\]/);
    layer.apply(tf.zeros([1, 3, 4]));
    expect(() => layer.apply(tf.zeros([1, 3, 5]))).toThrow(/^MultiHeadAttention: query has 5 channels but layer '[^']+' was built for 4/);
  });
});

it('cpu and wasm agree (forward and gradients)', async () => {
  const results = await onEachBackend(() => {
    const layer = new MultiHeadAttention({ numHeads: 2, keyDim: 8, seed: 5 });
    const x = tf.tensor3d(testValues(2 * 10 * 16, 6), [2, 10, 16]);
    layer.apply([x, x]);
    const { value, grads } = tf.variableGrads(() => tf.sum(tf.square(layer.apply([x, x]) as tf.Tensor)) as tf.Scalar);
    const out = { value: value.dataSync()[0], grads: Object.values(grads).map((g) => Array.from(g.dataSync())) };
    tf.dispose([x, value, ...Object.values(grads)]);
    return out;
  });
  expect(Math.abs(results.cpu.value - results.wasm.value)).toBeLessThan(1e-4 * Math.abs(results.cpu.value));
  results.cpu.grads.forEach((g, i) => expect(maxAbsDiff(g, results.wasm.grads[i])).toBeLessThan(1e-4));
});
