import * as tf from '@tensorflow/tfjs-core';

import { applyTransform, composeTransforms, rotationTransform, zoomTransform } from '../../src/image/affine';
import { mapCoordinate, transformImages } from '../../src/image/transform';
import { describeBackends } from '../helpers/backends';
import { maxAbsDiff, refRotation, refTransform, refZoom } from './reference';

describe('affine helpers', () => {
  it('build Keras rotation and zoom matrices (hand-derived values)', () => {
    // 90° on a 5×5 image: out(x, y) samples in(4 − y, x)
    const r = rotationTransform(Math.PI / 2, 5, 5);
    expect(applyTransform(r, 1, 0)[0]).toBeCloseTo(4, 12);
    expect(applyTransform(r, 1, 0)[1]).toBeCloseTo(1, 12);
    // zoom 2 on width 9: x → 2x − 4; height 5 zoom 0.5: y → 0.5y + 1
    expect(zoomTransform(0.5, 2, 5, 9)).toEqual([2, 0, -4, 0, 0.5, 1, 0, 0]);
    expect(rotationTransform(0.3, 7, 9)).toEqual(refRotation(0.3, 7, 9));
    expect(zoomTransform(1.1, 0.9, 7, 9)).toEqual(refZoom(1.1, 0.9, 7, 9));
  });

  it('composes so that compose(first, second)(p) = first(second(p))', () => {
    const a = rotationTransform(0.4, 10, 12);
    const b = zoomTransform(1.3, 0.8, 10, 12);
    const m = composeTransforms(a, b);
    for (const [x, y] of [[0, 0], [3, 7], [11, 9]]) {
      const [bx, by] = applyTransform(b, x, y);
      const want = applyTransform(a, bx, by);
      const got = applyTransform(m, x, y);
      expect(got[0]).toBeCloseTo(want[0], 10);
      expect(got[1]).toBeCloseTo(want[1], 10);
    }
  });

  it('maps coordinates with TF fill rules (reflect: d c b a | a b c d | d c b a)', () => {
    // len 4: -1 → 0, -2 → 1, 4 → 3, 5 → 2, 8 → 0 (period 8)
    expect([-1, -2, 4, 5, 8].map((v) => mapCoordinate(v, 4, 'reflect'))).toEqual([0, 1, 3, 2, 0]);
    expect([-1, 5].map((v) => mapCoordinate(v, 4, 'nearest'))).toEqual([0, 3]);
    expect(mapCoordinate(-1, 4, 'constant')).toBe(-1);
    expect(mapCoordinate(4, 4, 'wrap')).toBe(0);
  });
});

describeBackends('transformImages', () => {
  it('is exact for the identity and matches the float64 reference for a projective map', () => {
    const [b, h, w, c] = [2, 6, 7, 3];
    const data = Float32Array.from({ length: b * h * w * c }, (_, i) => Math.cos(i) * 100);
    const x = tf.tensor4d(data, [b, h, w, c]);
    const id = transformImages(x, [[1, 0, 0, 0, 1, 0, 0, 0]]);
    expect(Array.from(id.dataSync())).toEqual(Array.from(data));
    const t = [1.1, 0.2, -0.5, -0.1, 0.9, 0.7, 0.01, -0.02];
    const out = transformImages(x, [t, t], 'bilinear', 'constant', 5);
    for (let i = 0; i < b; i++) {
      const ref = refTransform(data.subarray(i * h * w * c, (i + 1) * h * w * c), h, w, c, t, 'bilinear', 'constant', 5);
      expect(maxAbsDiff(out.dataSync().subarray(i * h * w * c, (i + 1) * h * w * c), ref)).toBeLessThan(1e-3);
    }
    tf.dispose([x, id, out]);
  });

  it("tfjs 4.22's own cpu Transform kernel only transforms the first image of a batch (why we do not use it)", () => {
    if (tf.getBackend() !== 'cpu') return;
    const x = tf.ones([2, 3, 3, 1]);
    const y = tf.image.transform(x as tf.Tensor4D, tf.tensor2d([[1, 0, 0, 0, 1, 0, 0, 0], [1, 0, 0, 0, 1, 0, 0, 0]]), 'nearest', 'constant', 0);
    const v = y.dataSync();
    expect(Array.from(v.subarray(0, 9))).toEqual(new Array(9).fill(1));
    expect(Array.from(v.subarray(9))).toEqual(new Array(9).fill(0)); // should be 1s: the kernel's bug
    tf.dispose([x, y]);
  });
});
