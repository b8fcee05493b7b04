import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { RandomTranslation, randomTranslation } from '../../src/layers/random_translation';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';
import { gradientImages, ksUniform, maxAbsDiff, refTransform } from '../image/reference';


/** float64 reference matrix of a shift by (dy, dx) pixels: out(x, y) = in(x − dx, y − dy) (Keras's matrix). */
function refShift(dy: number, dx: number): number[] {
  return [1, 0, -dx, 0, 1, -dy, 0, 0];
}

describeBackends('RandomTranslation', () => {
  it('shifts a bright pixel by the hand-derived offset (down 2, left 3 on a 10×10 image), Keras sign', () => {
    const n = 10;
    const img = new Float32Array(n * n);
    img[4 * n + 5] = 1; // row 4, col 5
    const layer = randomTranslation({ heightFactor: [0.2, 0.2], widthFactor: [-0.3, -0.3], fillMode: 'constant', interpolation: 'nearest' });
    const out = tf.tidy(() => (layer.apply(tf.tensor4d(img, [1, n, n, 1]), { training: true }) as tf.Tensor).dataSync());
    const expected = new Float32Array(n * n);
    expected[6 * n + 2] = 1; // row 4 + 2, col 5 − 3
    expect(Array.from(out)).toEqual(Array.from(expected));
  });

  for (const fillMode of ['reflect', 'wrap', 'constant', 'nearest'] as const) {
    for (const interpolation of ['bilinear', 'nearest'] as const) {
      it(`matches the float64 reference (${fillMode}, ${interpolation}), one draw per image and axis`, () => {
        const [b, h, w, c] = [3, 8, 10, 2];
        const data = gradientImages(b, h, w, c);
        const cfg = { heightFactor: [-0.3, 0.4] as [number, number], widthFactor: 0.25, fillMode, interpolation, fillValue: 3, seed: 13 };
        const params = new RandomTranslation(cfg).sampleParameters(b);
        const out = tf.tidy(() => (new RandomTranslation(cfg).apply(tf.tensor4d(data, [b, h, w, c]), { training: true }) as tf.Tensor).dataSync());
        for (let i = 0; i < b; i++) {
          const ref = refTransform(data.subarray(i * h * w * c, (i + 1) * h * w * c), h, w, c, refShift(params[i].dy * h, params[i].dx * w), interpolation, fillMode, 3);
          expect(maxAbsDiff(out.subarray(i * h * w * c, (i + 1) * h * w * c), ref)).toBeLessThan(1e-3);
        }
        expect(new Set(params.map((p) => p.dy)).size).toBe(b);
      });
    }
  }

  it('is the identity in inference, leaks no tensors, and round-trips through a saved model', async () => {
    const x = tf.tensor4d(gradientImages(2, 6, 6, 3), [2, 6, 6, 3]);
    const layer = randomTranslation({ heightFactor: 0.2, widthFactor: 0.1, fillMode: 'constant', fillValue: 1, seed: 4 });
    expect(Array.from((layer.apply(x) as tf.Tensor).dataSync())).toEqual(Array.from(x.dataSync()));
    await expectNoTensorLeak(() => tf.dispose(layer.apply(x, { training: true }) as tf.Tensor));
    const model = tfl.sequential({ layers: [randomTranslation({ heightFactor: 0.2, widthFactor: [0, 0.1], seed: 4, inputShape: [6, 6, 3] })] });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
    expect(loaded.layers[0].getConfig()).toMatchObject({ heightFactor: 0.2, widthFactor: [0, 0.1], seed: 4, fillMode: 'reflect' });
    x.dispose();
  });
});

describe('RandomTranslation statistics, agreement, errors', () => {
  it('draws the shifts uniformly over [lower, upper] of each axis (KS)', () => {
    const n = 4000;
    const ps = new RandomTranslation({ heightFactor: [-0.1, 0.3], widthFactor: 0.125, seed: 2 }).sampleParameters(n);
    expect(ksUniform(ps.map((p) => p.dy), -0.1, 0.3)).toBeLessThan(1.95 / Math.sqrt(n));
    expect(ksUniform(ps.map((p) => p.dx), -0.125, 0.125)).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it('cpu and wasm agree', async () => {
    const data = gradientImages(4, 8, 8, 3);
    const r = await onEachBackend(() =>
      tf.tidy(() => Array.from((randomTranslation({ heightFactor: 0.2, widthFactor: 0.2, seed: 5 }).apply(tf.tensor4d(data, [4, 8, 8, 3]), { training: true }) as tf.Tensor).dataSync())),
    );
    expect(maxAbsDiff(r.cpu, r.wasm)).toBeLessThan(1e-4);
  });

  it('rejects bad arguments with errors naming them', () => {
    expect(() => randomTranslation({ heightFactor: 1.5, widthFactor: 0 })).toThrow(/^RandomTranslation: heightFactor must lie within \[-1, 1\]/);
    expect(() => randomTranslation({ heightFactor: 0.1 } as never)).toThrow('RandomTranslation: widthFactor is required');
    expect(() => randomTranslation({ heightFactor: 0.1, widthFactor: NaN })).toThrow(/^RandomTranslation: widthFactor must be a finite number, got NaN/);
    expect(() => randomTranslation({ heightFactor: 0.1, widthFactor: 0.1, fillMode: 'edge' as never })).toThrow(/fillMode/);
  });
});
