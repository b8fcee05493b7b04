import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { Patches, patches } from '../../src/layers/patches';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { checkGradients, testValues } from '../helpers/reference';
import { expectIdenticalAfterRoundTrip } from '../helpers/roundtrip';

/** tf.image.extract_patches (VALID) by nested loops: patches row-major; inside: row, column, channel. */
function extractPatches64(x: number[][][][], p: number): number[][][] {
  return x.map((img) => {
    const rows = Math.floor(img.length / p);
    const cols = Math.floor(img[0].length / p);
    const out: number[][] = [];
    for (let pr = 0; pr < rows; pr++) {
      for (let pc = 0; pc < cols; pc++) {
        const patch: number[] = [];
        for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) for (const v of img[pr * p + i][pc * p + j]) patch.push(v);
        out.push(patch);
      }
    }
    return out;
  });
}

const CASES: [number, number, number, number, number][] = [
  // batch, height, width, channels, patch
  [2, 6, 6, 3, 3],
  [1, 7, 5, 2, 2], // remainder rows and columns dropped
  [2, 9, 10, 1, 4],
  [1, 8, 8, 5, 8], // one patch covering the image, C ≠ 3
  [1, 72, 72, 3, 6], // the reference recipe: 144 patches of 108 values
];

describeBackends('Patches', () => {
  it.each(CASES)('matches a nested-loop extraction for [%i, %i, %i, %i] with patch %i', (b, h, w, c, p) => {
    const values = testValues(b * h * w * c, h * 31 + w);
    const x = tf.tensor4d(values, [b, h, w, c]);
    const layer = new Patches({ patchSize: p });
    const y = layer.apply(x) as tf.Tensor;
    const expected = extractPatches64(x.arraySync() as number[][][][], p);
    expect(y.shape).toEqual([b, Math.floor(h / p) * Math.floor(w / p), p * p * c]);
    expect(layer.computeOutputShape([b, h, w, c])).toEqual(y.shape);
    // A pure re-arrangement: values are exactly equal.
    expect(y.arraySync()).toEqual(expected);
    tf.dispose([x, y]);
  });

  it('works symbolically with unknown batch and spatial sizes', () => {
    const input = tfl.input({ shape: [12, 8, 3] });
    const out = patches({ patchSize: 4 }).apply(input) as tfl.SymbolicTensor;
    expect(out.shape).toEqual([null, 6, 48]);
    const dynamic = tfl.input({ shape: [null, null, 3] });
    expect((patches({ patchSize: 4 }).apply(dynamic) as tfl.SymbolicTensor).shape).toEqual([null, null, 48]);
  });

  it('has the gradient of a re-arrangement (finite differences)', () => {
    const x = tf.tensor4d(testValues(1 * 5 * 6 * 2, 3), [1, 5, 6, 2]);
    const r = tf.tensor3d(testValues(1 * 2 * 3 * 8, 4), [1, 6, 8]);
    const layer = new Patches({ patchSize: 2 });
    checkGradients((xi) => tf.sum(tf.mul(layer.apply(xi) as tf.Tensor, r)) as tf.Scalar, [x]);
    tf.dispose([x, r]);
  });

  it('round-trips through save/load (memory and disk) and getConfig/fromConfig', async () => {
    const input = tfl.input({ shape: [8, 8, 3] });
    const model = tfl.model({ inputs: input, outputs: new Patches({ patchSize: 4, name: 'p' }).apply(input) as tfl.SymbolicTensor });
    const x = tf.tensor4d(testValues(2 * 8 * 8 * 3, 5), [2, 8, 8, 3]);
    const loaded = await expectIdenticalAfterRoundTrip(model, x);
    const layer = model.getLayer('p') as Patches;
    const copy = Patches.fromConfig(Patches, layer.getConfig()) as Patches;
    expect(copy.getConfig()).toEqual(layer.getConfig());
    loaded.forEach((m) => m.dispose());
    x.dispose();
  });

  it('leaks no tensors', async () => {
    const layer = new Patches({ patchSize: 2 });
    const x = tf.ones([2, 4, 4, 3]);
    await expectNoTensorLeak(() => {
      const g = tf.grad((xi: tf.Tensor) => tf.sum(layer.apply(xi) as tf.Tensor))(x);
      g.dispose();
    });
    x.dispose();
  });

  it('rejects bad arguments with errors that name them', () => {
    expect(() => new Patches({ patchSize: 0 })).toThrow(/^Patches: patchSize must be a positive integer, got 0/);
    expect(() => new Patches({ patchSize: 2.5 })).toThrow(/patchSize must be a positive integer, got 2.5/);
    const layer = new Patches({ patchSize: 8 });
    expect(() => layer.apply(tf.zeros([1, 6, 9, 3]))).toThrow(/patchSize 8 is larger than the image height 6/);
    expect(() => layer.apply(tf.zeros([6, 9, 3]))).toThrow(/input \[batch, height, width, channels\] must have rank 4, got shape \[6, 9, 3\]/);
  });
});

it('cpu and wasm give identical patches', async () => {
  const results = await onEachBackend(() => {
    const x = tf.tensor4d(testValues(2 * 9 * 9 * 3, 11), [2, 9, 9, 3]);
    const y = (new Patches({ patchSize: 3 }).apply(x) as tf.Tensor).dataSync();
    x.dispose();
    return Array.from(y);
  });
  expect(results.wasm).toEqual(results.cpu);
});
