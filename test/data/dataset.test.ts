import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  RandomGenerator,
  batchTensors,
  cifarDataset,
  shuffleSplit,
  splitValidation,
  takeSplit,
  type CifarSplit,
} from '../../src';
import { describeBackends, expectNoTensorLeak, useBackend } from '../helpers/backends';

/** n images of 32×32×3 where every byte of image i is (i * 17 + position) % 256, label i % 10, coarse i % 20. */
function makeSplit(n: number): CifarSplit {
  const images = new Uint8Array(n * 3072);
  for (let i = 0; i < images.length; i++) images[i] = (Math.floor(i / 3072) * 17 + (i % 3072)) % 256;
  const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
  const coarseLabels = Uint8Array.from({ length: n }, (_, i) => i % 20);
  return { images, shape: [n, 32, 32, 3], labels, coarseLabels };
}

/** The image index a batch row came from, read back from its first pixel (i * 17 % 256, unique for i < 256/gcd). */
/** Reference permutation: the library generator's Fisher–Yates shuffle applied to a plain array 0..n-1. */
const refPerm = (n: number, rng: RandomGenerator): number[] => rng.shuffle(Array.from({ length: n }, (_, i) => i));

const firstByteToIndex = (v: number, n: number): number => {
  for (let i = 0; i < n; i++) if ((i * 17) % 256 === v) return i;
  return -1;
};

describe('splits', () => {
  it("splitValidation 'last' matches Keras/tfjs validationSplit: first floor(n*(1-f)) train", () => {
    const s = makeSplit(25);
    const { train, validation } = splitValidation(s, { fraction: 0.1 });
    // floor(25 * 0.9) = 22
    expect(train.shape[0]).toBe(22);
    expect(validation.shape[0]).toBe(3);
    expect(Array.from(validation.labels)).toEqual([2, 3, 4]);
    expect(validation.images[0]).toBe((22 * 17) % 256);
    expect(Array.from(validation.coarseLabels as Uint8Array)).toEqual([2, 3, 4]);
    expect(() => splitValidation(s, { fraction: 1 })).toThrow(/options\.fraction/);
  });

  it("splitValidation 'random' is seeded, disjoint and complete", () => {
    const s = makeSplit(12);
    const a = splitValidation(s, { fraction: 0.25, mode: 'random', seed: 5 });
    const b = splitValidation(s, { fraction: 0.25, mode: 'random', seed: 5 });
    expect(Array.from(a.validation.images.subarray(0, 10))).toEqual(Array.from(b.validation.images.subarray(0, 10)));
    expect(a.train.shape[0]).toBe(9);
    const idx = (x: CifarSplit): number[] =>
      Array.from({ length: x.shape[0] }, (_, i) => firstByteToIndex(x.images[i * 3072], 12));
    const all = [...idx(a.train), ...idx(a.validation)].sort((p, q) => p - q);
    expect(all).toEqual(Array.from({ length: 12 }, (_, i) => i));
    // The held-out indices are the last 3 of the seeded permutation (sorted).
    const perm = refPerm(12, new RandomGenerator(5));
    expect(idx(a.validation)).toEqual(perm.slice(9).sort((p, q) => p - q));
  });

  it('shuffleSplit applies the seeded permutation to images and labels together', () => {
    const s = makeSplit(10);
    const sh = shuffleSplit(s, { seed: 3 });
    const perm = refPerm(10, new RandomGenerator(3));
    expect(perm.slice().sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (let i = 0; i < 10; i++) {
      expect(sh.labels[i]).toBe(perm[i] % 10);
      expect(sh.images[i * 3072 + 100]).toBe((perm[i] * 17 + 100) % 256);
    }
    expect(() => takeSplit(s, [10])).toThrow(/index 10 out of range/);
  });
});

describeBackends('batching', () => {
  it('batchTensors: shapes, dtypes, values, normalization, remainder', () => {
    const s = makeSplit(5);
    const batches = [...batchTensors(s, { batchSize: 2 })];
    expect(batches.map((b) => b.xs.shape)).toEqual([
      [2, 32, 32, 3],
      [2, 32, 32, 3],
      [1, 32, 32, 3],
    ]);
    expect(batches[0].xs.dtype).toBe('float32');
    expect(batches[0].ys.dtype).toBe('int32');
    expect(Array.from(batches[2].ys.dataSync())).toEqual([4]);
    const x = batches[1].xs.dataSync();
    expect(x[3072 + 5]).toBe((3 * 17 + 5) % 256); // image 3, byte 5
    tf.dispose(batches.flatMap((b) => [b.xs, b.ys]));

    const unit = [...batchTensors(s, { batchSize: 5, normalize: 'unit', labelDtype: 'float32', coarse: true })][0];
    expect(unit.ys.dtype).toBe('float32');
    expect(Array.from(unit.ys.dataSync())).toEqual([0, 1, 2, 3, 4]);
    expect(unit.xs.dataSync()[3072 * 2 + 7]).toBeCloseTo(((2 * 17 + 7) % 256) / 255, 6);
    tf.dispose([unit.xs, unit.ys]);

    const mean = [120, 110, 100];
    const std = [60, 50, 40];
    const ms = [...batchTensors(s, { batchSize: 5, normalize: { mean, std } })][0];
    const d = ms.xs.dataSync();
    for (const k of [0, 1, 2, 3 * 3072 + 1000, 4 * 3072 + 3071]) {
      const raw = (Math.floor(k / 3072) * 17 + (k % 3072)) % 256;
      expect(d[k]).toBeCloseTo((raw - mean[k % 3]) / std[k % 3], 5);
    }
    tf.dispose([ms.xs, ms.ys]);
    expect([...batchTensors(s, { batchSize: 2, dropRemainder: true })].map((b) => {
      tf.dispose([b.xs, b.ys]);
      return b.xs.shape[0];
    })).toEqual([2, 2]);
  });

  it('shuffled batches follow the seeded permutation; no tensor leaks', async () => {
    const s = makeSplit(7);
    const perm = refPerm(7, new RandomGenerator(11));
    const seen: number[] = [];
    for (const { xs, ys } of batchTensors(s, { batchSize: 3, shuffle: true, seed: 11 })) {
      const x = xs.dataSync();
      for (let i = 0; i < xs.shape[0]; i++) seen.push(firstByteToIndex(x[i * 3072], 7));
      expect(Array.from(ys.dataSync())).toEqual(seen.slice(-xs.shape[0]).map((i) => i % 10));
      tf.dispose([xs, ys]);
    }
    expect(seen).toEqual(perm);
    await expectNoTensorLeak(() => {
      for (const b of batchTensors(s, { batchSize: 3, shuffle: true, seed: 1, normalize: 'unit' })) tf.dispose([b.xs, b.ys]);
    });
  });

  it('cifarDataset: a new seeded shuffle per epoch, from one generator', async () => {
    const s = makeSplit(12);
    const ds = cifarDataset(s, { batchSize: 5, shuffle: true, seed: 2, normalize: 'unit' });
    expect(ds.size).toBe(3);
    // Two epochs: the second uses the generator's next permutation.
    const rng = new RandomGenerator(2);
    const p1 = refPerm(12, rng);
    const p2 = refPerm(12, rng);
    const order: number[][] = [];
    for (let e = 0; e < 2; e++) {
      const it = await ds.iterator();
      const o: number[] = [];
      for (let r = await it.next(); !r.done; r = await it.next()) {
        const x = r.value.xs.dataSync();
        for (let i = 0; i < r.value.xs.shape[0]; i++) o.push(firstByteToIndex(Math.round(x[i * 3072] * 255), 12));
        tf.dispose([r.value.xs, r.value.ys]);
      }
      order.push(o);
    }
    expect(order).toEqual([p1, p2]);
  });
});

// fitDataset runs on cpu only: on tfjs-backend-wasm 4.22, training a plain tfjs Dense layer trips tfjs's own
// "internal memory leak ... fusedMatMul" check in this test setup, independently of this library.
describe('cifarDataset with model.fitDataset [cpu]', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });
  it('trains and validates for 2 epochs without leaking tensors', async () => {
    const s = makeSplit(12);
    const model = tfl.sequential({
      layers: [tfl.layers.flatten({ inputShape: [32, 32, 3] }), tfl.layers.dense({ units: 10 })],
    });
    model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
    await expectNoTensorLeak(async () => {
      const h = await model.fitDataset(cifarDataset(s, { batchSize: 5, shuffle: true, seed: 4, normalize: 'unit', labelDtype: 'float32' }), {
        epochs: 2,
        verbose: 0,
        validationData: cifarDataset(s, { batchSize: 6, normalize: 'unit', labelDtype: 'float32' }),
      });
      expect(h.history.loss).toHaveLength(2);
    }, 1);
    model.dispose();
  });
});
