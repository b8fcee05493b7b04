import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { resizing } from '../../src/layers/resizing';
import { describeBackends, onEachBackend } from '../helpers/backends';
import { maxAbsDiff, refResizeBilinear } from '../image/reference';

describeBackends('Resizing', () => {
  const [h, w, c, oh, ow] = [32, 32, 3, 72, 72];
  const data = Float32Array.from({ length: 2 * h * w * c }, (_, i) => ((i * 7919) % 256) / 3);

  it('equals the float64 half-pixel-centre bilinear reference (TF2 / Keras Resizing) for 32→72', () => {
    const out = tf.tidy(() => (resizing({ height: oh, width: ow }).apply(tf.tensor4d(data, [2, h, w, c])) as tf.Tensor).dataSync());
    for (let i = 0; i < 2; i++) {
      const ref = refResizeBilinear(data.subarray(i * h * w * c, (i + 1) * h * w * c), h, w, c, oh, ow);
      expect(maxAbsDiff(out.subarray(i * oh * ow * c, (i + 1) * oh * ow * c), ref)).toBeLessThan(1e-3);
    }
  });

  it("documents that tfjs-layers' own tfl.layers.resizing (alignCorners = true) does NOT match Keras", () => {
    const out = tf.tidy(() => (tfl.layers.resizing({ height: oh, width: ow }).apply(tf.tensor4d(data, [2, h, w, c])) as tf.Tensor).dataSync());
    const ref = refResizeBilinear(data.subarray(0, h * w * c), h, w, c, oh, ow);
    expect(maxAbsDiff(out.subarray(0, oh * ow * c), ref)).toBeGreaterThan(1);
    // ... and that it equals resizeBilinear with alignCorners = true
    const ac = tf.tidy(() => tf.image.resizeBilinear(tf.tensor4d(data, [2, h, w, c]), [oh, ow], true).dataSync());
    expect(maxAbsDiff(out, ac)).toBeLessThan(1e-3);
  });

  it('downsizes, handles [H, W, C], and rejects bad arguments', () => {
    const img = Float32Array.from({ length: 5 * 7 }, (_, i) => i);
    const out = tf.tidy(() => (resizing({ height: 3, width: 4 }).apply(tf.tensor3d(img, [5, 7, 1])) as tf.Tensor).dataSync());
    expect(maxAbsDiff(out, refResizeBilinear(img, 5, 7, 1, 3, 4))).toBeLessThan(1e-4);
    expect(() => resizing({ height: 0, width: 3 })).toThrow(/^Resizing: height/);
    expect(() => resizing({ height: 3, width: 3, interpolation: 'area' as never })).toThrow(/^Resizing: interpolation/);
  });
});

it('Resizing: cpu and wasm agree', async () => {
  const data = Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => (i % 97) * 1.5);
  const r = await onEachBackend(() =>
    tf.tidy(() => Array.from((resizing({ height: 72, width: 72 }).apply(tf.tensor4d(data, [1, 32, 32, 3])) as tf.Tensor).dataSync())),
  );
  expect(maxAbsDiff(r.cpu, r.wasm)).toBeLessThan(5e-4); // float32 rounding at values up to 145
});
