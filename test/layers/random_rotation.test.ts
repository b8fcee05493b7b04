import * as tf from '@tensorflow/tfjs-core';

import { RandomRotation, randomRotation } from '../../src/layers/random_rotation';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { ksUniform, maxAbsDiff, refRotation, refTransform } from '../image/reference';

const FILLS = ['reflect', 'wrap', 'constant', 'nearest'] as const;
const INTERPS = ['bilinear', 'nearest'] as const;

/** A [B, H, W, C] test batch: gradients plus one bright pixel per image. */
function patternBatch(b: number, h: number, w: number, c: number): Float32Array {
  const v = new Float32Array(b * h * w * c);
  for (let i = 0; i < b; i++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let ch = 0; ch < c; ch++) v[((i * h + y) * w + x) * c + ch] = (ch + 1) * (x + 0.5 * y) + 3 * i;
  for (let i = 0; i < b; i++) v[((i * h + ((2 + i) % h)) * w + ((5 + 2 * i) % w)) * c] = 500;
  return v;
}

describeBackends('RandomRotation', () => {
  it('rotates a bright pixel by exactly 90° where the hand-derived map says', () => {
    const n = 7;
    const img = new Float32Array(n * n);
    img[2 * n + 5] = 1; // row 2, col 5
    const layer = randomRotation({ factor: [0.25, 0.25], fillMode: 'constant', seed: 1 });
    const out = tf.tidy(() => (layer.apply(tf.tensor4d(img, [1, n, n, 1]), { training: true }) as tf.Tensor).dataSync());
    // out(x, y) samples in(n - 1 - y, x): in (col 5, row 2) appears at col 2, row n - 1 - 5 = 1.
    const expected = new Float32Array(n * n);
    expected[1 * n + 2] = 1;
    expect(maxAbsDiff(out, expected)).toBeLessThan(1e-5);
  });

  for (const fillMode of FILLS) {
    for (const interpolation of INTERPS) {
      it(`matches the float64 reference map (${fillMode}, ${interpolation})`, () => {
        const [b, h, w, c] = [4, 9, 11, 2];
        const data = patternBatch(b, h, w, c);
        const cfg = { factor: [-0.3, 0.3] as [number, number], fillMode, interpolation, fillValue: -7, seed: 42 };
        const params = new RandomRotation(cfg).sampleParameters(b);
        const out = tf.tidy(() => (new RandomRotation(cfg).apply(tf.tensor4d(data, [b, h, w, c]), { training: true }) as tf.Tensor).dataSync());
        for (let i = 0; i < b; i++) {
          const ref = refTransform(data.subarray(i * h * w * c, (i + 1) * h * w * c), h, w, c, refRotation(params[i].angle, h, w), interpolation, fillMode, -7);
          const got = out.subarray(i * h * w * c, (i + 1) * h * w * c);
          if (interpolation === 'bilinear') expect(maxAbsDiff(got, ref)).toBeLessThan(2e-3);
          else {
            // nearest: exact except where float32 rounding flips a coordinate sitting on a .5 boundary (rare)
            let bad = 0;
            for (let k = 0; k < ref.length; k++) if (Math.abs(got[k] - ref[k]) > 1e-3) bad++;
            expect(bad).toBeLessThanOrEqual(2);
          }
        }
        // each image got its own draw
        expect(new Set(params.map((p) => p.angle)).size).toBe(b);
      });
    }
  }

  it('is the identity outside training (returns the input values exactly) and without training flag', () => {
    const layer = randomRotation({ factor: 0.5, seed: 3 });
    const x = tf.tensor4d(patternBatch(2, 5, 5, 3), [2, 5, 5, 3]);
    for (const kwargs of [{}, { training: false }]) {
      const y = layer.apply(x, kwargs) as tf.Tensor;
      expect(Array.from(y.dataSync())).toEqual(Array.from(x.dataSync()));
    }
    x.dispose();
  });

  it('accepts unbatched [H, W, C] input and leaks no tensors', async () => {
    const layer = randomRotation({ factor: 0.1, seed: 3 });
    const x = tf.tensor3d(patternBatch(1, 6, 6, 1), [6, 6, 1]);
    const y = layer.apply(x, { training: true }) as tf.Tensor;
    expect(y.shape).toEqual([6, 6, 1]);
    y.dispose();
    await expectNoTensorLeak(() => tf.dispose(layer.apply(x, { training: true }) as tf.Tensor));
    x.dispose();
  });

  it('draws angles uniformly over [lower, upper]·2π (KS test), reproducibly with a seed', () => {
    const n = 4000;
    const a = new RandomRotation({ factor: [-0.1, 0.3], seed: 9 }).sampleParameters(n).map((p) => p.angle);
    const lo = -0.1 * 2 * Math.PI;
    const hi = 0.3 * 2 * Math.PI;
    // critical value 1.95/√n is the 0.1% level: a wrong range or a constant draw gives D ≫ that.
    expect(ksUniform(a, lo, hi)).toBeLessThan(1.95 / Math.sqrt(n));
    expect(Math.min(...a)).toBeGreaterThanOrEqual(lo);
    expect(Math.max(...a)).toBeLessThan(hi);
    // a symmetric ±f factor
    const s = new RandomRotation({ factor: 0.02, seed: 1 }).sampleParameters(n).map((p) => p.angle);
    expect(ksUniform(s, -0.04 * Math.PI, 0.04 * Math.PI)).toBeLessThan(1.95 / Math.sqrt(n));
    expect(new RandomRotation({ factor: 0.02, seed: 1 }).sampleParameters(5)).toEqual(
      new RandomRotation({ factor: 0.02, seed: 1 }).sampleParameters(5),
    );
  });
});

describe('RandomRotation (backends agree, config, errors)', () => {
  it('cpu and wasm give the same batch for the same seed', async () => {
    const data = patternBatch(3, 8, 8, 3);
    const r = await onEachBackend(() =>
      tf.tidy(() => Array.from((randomRotation({ factor: 0.2, seed: 5 }).apply(tf.tensor4d(data, [3, 8, 8, 3]), { training: true }) as tf.Tensor).dataSync())),
    );
    expect(maxAbsDiff(r.cpu, r.wasm)).toBeLessThan(1e-4);
  });

  it('serializes its Keras config and round-trips through fromConfig', () => {
    const layer = randomRotation({ factor: [-0.1, 0.2], fillMode: 'constant', interpolation: 'nearest', fillValue: 2, seed: 4 });
    const cfg = layer.getConfig();
    expect(cfg).toMatchObject({ factor: [-0.1, 0.2], fillMode: 'constant', interpolation: 'nearest', fillValue: 2, seed: 4 });
    const copy = tf.serialization.SerializationMap.getMap().classNameMap.RandomRotation[0];
    expect(copy).toBe(RandomRotation);
  });

  it('rejects bad arguments with errors naming them', () => {
    expect(() => randomRotation({ factor: 1.5 })).toThrow(/factor/);
    expect(() => randomRotation({ factor: [0.3, 0.1] })).toThrow(/^RandomRotation: factor has lower bound 0.3 above upper bound 0.1/);
    expect(() => randomRotation({ factor: 0.1, fillMode: 'mirror' as never })).toThrow(/^RandomRotation: fillMode.*mirror/);
    expect(() => randomRotation({ factor: 0.1, interpolation: 'bicubic' as never })).toThrow(/interpolation.*bicubic/);
    expect(() => new RandomRotation({} as never)).toThrow(/factor/);
    const x = tf.zeros([2, 3]);
    expect(() => randomRotation({ factor: 0.1 }).apply(x, { training: true })).toThrow(/rank/);
    x.dispose();
  });
});
