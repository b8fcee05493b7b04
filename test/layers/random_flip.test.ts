import * as tf from '@tensorflow/tfjs-core';

import { RandomFlip, randomFlip } from '../../src/layers/random_flip';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';

function batch(b: number, h: number, w: number, c: number): Float32Array {
  return Float32Array.from({ length: b * h * w * c }, (_, i) => Math.sin(i * 12.9898) * 437.5453);
}

describeBackends('RandomFlip', () => {
  for (const mode of ['horizontal', 'vertical', 'horizontal_and_vertical'] as const) {
    it(`mirrors exactly the images its draws say (${mode})`, () => {
      const [b, h, w, c] = [16, 3, 5, 2];
      const data = batch(b, h, w, c);
      const params = new RandomFlip({ mode, seed: 6 }).sampleParameters(b);
      const out = tf.tidy(() => (randomFlip({ mode, seed: 6 }).apply(tf.tensor4d(data, [b, h, w, c]), { training: true }) as tf.Tensor).dataSync());
      for (let i = 0; i < b; i++) {
        for (let y = 0; y < h; y++)
          for (let x = 0; x < w; x++)
            for (let ch = 0; ch < c; ch++) {
              const sy = params[i].vertical ? h - 1 - y : y;
              const sx = params[i].horizontal ? w - 1 - x : x;
              expect(out[((i * h + y) * w + x) * c + ch]).toBe(data[((i * h + sy) * w + sx) * c + ch]);
            }
      }
      if (mode === 'horizontal') expect(params.every((p) => !p.vertical)).toBe(true);
      if (mode === 'vertical') expect(params.every((p) => !p.horizontal)).toBe(true);
    });
  }

  it('is the identity in inference, handles [H, W, C] and leaks nothing', async () => {
    const layer = randomFlip({ seed: 1 });
    const x = tf.tensor3d(batch(1, 4, 4, 3), [4, 4, 3]);
    expect(Array.from((layer.apply(x, { training: false }) as tf.Tensor).dataSync())).toEqual(Array.from(x.dataSync()));
    expect((layer.apply(x, { training: true }) as tf.Tensor).shape).toEqual([4, 4, 3]);
    await expectNoTensorLeak(() => tf.dispose(layer.apply(x, { training: true }) as tf.Tensor));
    x.dispose();
  });
});

describe('RandomFlip statistics, agreement, errors', () => {
  it('flips each direction with probability ½, independently (binomial bounds at 5σ)', () => {
    const n = 10000;
    const p = new RandomFlip({ seed: 123 }).sampleParameters(n);
    const hCount = p.filter((q) => q.horizontal).length;
    const vCount = p.filter((q) => q.vertical).length;
    const both = p.filter((q) => q.horizontal && q.vertical).length;
    const sd = Math.sqrt(n * 0.25); // 50
    expect(Math.abs(hCount - n / 2)).toBeLessThan(5 * sd);
    expect(Math.abs(vCount - n / 2)).toBeLessThan(5 * sd);
    expect(Math.abs(both - n / 4)).toBeLessThan(5 * Math.sqrt(n * 0.25 * 0.75));
  });

  it('cpu and wasm give identical output for a seed', async () => {
    const data = batch(8, 4, 4, 3);
    const r = await onEachBackend(() =>
      tf.tidy(() => Array.from((randomFlip({ seed: 2 }).apply(tf.tensor4d(data, [8, 4, 4, 3]), { training: true }) as tf.Tensor).dataSync())),
    );
    expect(r.cpu).toEqual(r.wasm);
  });

  it('rejects bad arguments', () => {
    expect(() => randomFlip({ mode: 'diagonal' as never })).toThrow(/^RandomFlip: mode.*diagonal/);
    const x = tf.zeros([4]);
    expect(() => randomFlip().apply(x, { training: true })).toThrow(/rank/);
    x.dispose();
    expect(randomFlip({ mode: 'horizontal', seed: 3 }).getConfig()).toMatchObject({ mode: 'horizontal', seed: 3 });
  });
});
