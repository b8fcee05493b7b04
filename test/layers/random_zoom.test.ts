import * as tf from '@tensorflow/tfjs-core';

import { RandomAffine, randomAffine } from '../../src/layers/random_affine';
import { randomRotation } from '../../src/layers/random_rotation';
import { RandomZoom, randomZoom } from '../../src/layers/random_zoom';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { gradientImages, ksUniform, maxAbsDiff, refCompose, refRotation, refTransform, refZoom } from '../image/reference';


describeBackends('RandomZoom', () => {
  it('zooms out by 2 (factor +1, Keras sign) moving a bright pixel to the hand-derived place', () => {
    const n = 9;
    const img = new Float32Array(n * n);
    img[6 * n + 6] = 1; // row 6, col 6
    const layer = randomZoom({ heightFactor: [1, 1], fillMode: 'constant', interpolation: 'nearest' });
    const out = tf.tidy(() => (layer.apply(tf.tensor4d(img, [1, n, n, 1]), { training: true }) as tf.Tensor).dataSync());
    // zoom 2: out(x) samples in(2x − 4), so input col/row 6 appears at 5; everything else is 0
    const expected = new Float32Array(n * n);
    expected[5 * n + 5] = 1;
    expect(Array.from(out)).toEqual(Array.from(expected));
  });

  for (const fillMode of ['reflect', 'wrap', 'constant', 'nearest'] as const) {
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      it(`matches the float64 reference (${fillMode}, ${interpolation}), independent height/width draws`, () => {
        const [b, h, w, c] = [3, 8, 10, 2];
        const data = gradientImages(b, h, w, c);
        const cfg = { heightFactor: [-0.4, 0.5] as [number, number], widthFactor: 0.3, fillMode, interpolation, fillValue: 3, seed: 11 };
        const params = new RandomZoom(cfg).sampleParameters(b);
        const out = tf.tidy(() => (new RandomZoom(cfg).apply(tf.tensor4d(data, [b, h, w, c]), { training: true }) as tf.Tensor).dataSync());
        for (let i = 0; i < b; i++) {
          const ref = refTransform(data.subarray(i * h * w * c, (i + 1) * h * w * c), h, w, c, refZoom(params[i].zoomHeight, params[i].zoomWidth, h, w), interpolation, fillMode, 3);
          const got = out.subarray(i * h * w * c, (i + 1) * h * w * c);
          expect(maxAbsDiff(got, ref)).toBeLessThan(1e-3);
          expect(params[i].zoomHeight).not.toBe(params[i].zoomWidth);
        }
      });
    }
  }

  it('fused RandomAffine equals the composed float64 map R·Z, and ≈ rotation then zoom away from borders', () => {
    const [b, h, w, c] = [2, 16, 16, 1];
    const data = gradientImages(b, h, w, c);
    const cfg = { rotationFactor: 0.03, heightFactor: 0.15, fillMode: 'reflect' as const, seed: 8 };
    const params = new RandomAffine(cfg).sampleParameters(b);
    const out = tf.tidy(() => (randomAffine(cfg).apply(tf.tensor4d(data, [b, h, w, c]), { training: true }) as tf.Tensor).dataSync());
    for (let i = 0; i < b; i++) {
      const p = params[i];
      expect(p.zoomHeight).toBe(p.zoomWidth); // aspect ratio kept without widthFactor
      const m = refCompose(refRotation(p.angle, h, w), refZoom(p.zoomHeight, p.zoomWidth, h, w));
      const ref = refTransform(data.subarray(i * h * w, (i + 1) * h * w), h, w, c, m, 'bilinear', 'reflect', 0);
      expect(maxAbsDiff(out.subarray(i * h * w, (i + 1) * h * w), ref)).toBeLessThan(1e-3);
      // sequential reference: rotate, then zoom the rotated image (the gradient is linear, so interior pixels agree)
      const rot = refTransform(data.subarray(i * h * w, (i + 1) * h * w), h, w, c, refRotation(p.angle, h, w), 'bilinear', 'reflect', 0);
      const seq = refTransform(rot, h, w, c, refZoom(p.zoomHeight, p.zoomWidth, h, w), 'bilinear', 'reflect', 0);
      for (let y = 5; y < 11; y++) for (let x = 5; x < 11; x++) expect(Math.abs(out[i * h * w + y * w + x] - seq[y * w + x])).toBeLessThan(1e-3);
    }
  });

  it('is the identity in inference and leaks no tensors in training', async () => {
    const x = tf.tensor4d(gradientImages(2, 6, 6, 3), [2, 6, 6, 3]);
    for (const layer of [randomZoom({ heightFactor: 0.3 }), randomAffine({ rotationFactor: 0.1, heightFactor: 0.2 })]) {
      expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual(Array.from(x.dataSync()));
      await expectNoTensorLeak(() => tf.dispose(layer.apply(x, { training: true }) as tf.Tensor));
    }
    x.dispose();
  });
});

describe('RandomZoom statistics, agreement, errors', () => {
  it('draws zoom factors uniformly over 1 + [lower, upper] (KS), the same draw for both axes without widthFactor', () => {
    const n = 4000;
    const ps = new RandomZoom({ heightFactor: [-0.2, 0.4], seed: 2 }).sampleParameters(n);
    expect(ksUniform(ps.map((p) => p.zoomHeight), 0.8, 1.4)).toBeLessThan(1.95 / Math.sqrt(n));
    expect(ps.every((p) => p.zoomHeight === p.zoomWidth)).toBe(true);
    const q = new RandomZoom({ heightFactor: 0.2, widthFactor: [0, 0.1], seed: 2 }).sampleParameters(n);
    expect(ksUniform(q.map((p) => p.zoomHeight), 0.8, 1.2)).toBeLessThan(1.95 / Math.sqrt(n));
    expect(ksUniform(q.map((p) => p.zoomWidth), 1.0, 1.1)).toBeLessThan(1.95 / Math.sqrt(n));
    const a = new RandomAffine({ rotationFactor: 0.02, heightFactor: 0.2, widthFactor: 0.2, seed: 3 }).sampleParameters(n);
    expect(ksUniform(a.map((p) => p.angle), -0.04 * Math.PI, 0.04 * Math.PI)).toBeLessThan(1.95 / Math.sqrt(n));
    expect(ksUniform(a.map((p) => p.zoomWidth), 0.8, 1.2)).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it('cpu and wasm agree; a seeded run is reproducible; the global generator is used without a seed', async () => {
    const data = gradientImages(4, 8, 8, 3);
    const r = await onEachBackend(() =>
      tf.tidy(() => Array.from((randomAffine({ rotationFactor: 0.1, heightFactor: 0.2, seed: 5 }).apply(tf.tensor4d(data, [4, 8, 8, 3]), { training: true }) as tf.Tensor).dataSync())),
    );
    expect(maxAbsDiff(r.cpu, r.wasm)).toBeLessThan(1e-4);
    const { setGlobalSeed } = await import('../../src/utils/random');
    setGlobalSeed(77);
    const first = randomRotation({ factor: 0.2 }).sampleParameters(3);
    setGlobalSeed(77);
    expect(randomRotation({ factor: 0.2 }).sampleParameters(3)).toEqual(first);
  });

  it('rejects bad arguments with errors naming them', () => {
    expect(() => randomZoom({ heightFactor: 1.2 })).toThrow(/heightFactor/);
    expect(() => randomZoom({ heightFactor: 0.1, widthFactor: [-2, 0] })).toThrow(/^RandomZoom: widthFactor/);
    expect(() => randomZoom({ heightFactor: 'big' as never })).toThrow(/heightFactor/);
    expect(() => randomZoom({ heightFactor: 0.1, fillMode: 'edge' as never })).toThrow(/fillMode/);
    expect(() => randomAffine({ rotationFactor: [0.2, -0.2] })).toThrow(/^RandomAffine: rotationFactor/);
    expect(randomZoom({ heightFactor: 0.2, widthFactor: 0.1, seed: 1 }).getConfig()).toMatchObject({ heightFactor: 0.2, widthFactor: 0.1, fillMode: 'reflect', interpolation: 'bilinear', fillValue: 0, seed: 1 });
  });
});
