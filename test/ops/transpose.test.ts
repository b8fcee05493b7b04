import * as tf from '@tensorflow/tfjs-core';
import { ops } from '../../src';
import { layerNormFast } from '../../src/ops/layer_norm';
import { linearFast } from '../../src/ops/linear';
import { sumLeadingAxes, transposeMatrix } from '../../src/ops/transpose';
import { RandomGenerator } from '../../src/utils/random';
import { describeBackends, expectNoTensorLeak } from '../helpers/backends';

const { gelu, setOpsMode } = ops;

// The wasm fast path switches to other kernels (two-pass transposes, sums over transposed rows, 1ᵀ·dZ bias
// gradients through XNNPACK) only at training sizes: these tests use those sizes, with float64 references.

function randomValues(n: number, seed: number): Float32Array {
  const rng = new RandomGenerator(seed);
  return Float32Array.from({ length: n }, () => rng.uniform(-1, 1));
}

function expectWithin(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

describeBackends('transposeMatrix and sumLeadingAxes', (backend) => {
  // Shapes: two-pass with 32-row blocks (tall and wide), with 8-row blocks, a row count no block height divides
  // (plain transpose), and a matrix below the size threshold.
  const shapes: [number, number][] = [
    [4096, 128],
    [256, 1024],
    [1000, 72],
    [1001, 80],
    [64, 64],
  ];
  for (const [rows, cols] of shapes) {
    it(`transposes a [${rows}, ${cols}] matrix exactly`, () => {
      const values = randomValues(rows * cols, rows + cols);
      const got = tf.tidy(() => transposeMatrix(tf.tensor2d(values, [rows, cols])));
      expect(got.shape).toEqual([cols, rows]);
      const out = got.dataSync();
      got.dispose();
      let mismatches = 0;
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) if (out[j * rows + i] !== values[i * cols + j]) mismatches++;
      expect(mismatches).toBe(0);
    });
  }

  for (const shape of [[64, 64, 128], [7, 5, 3], [4160, 192]]) {
    it(`sums [${shape}] over its leading axes like float64`, () => {
      const channels = shape[shape.length - 1];
      const rows = shape.reduce((a, b) => a * b, 1) / channels;
      const values = randomValues(rows * channels, channels);
      const got = tf.tidy(() => sumLeadingAxes(tf.tensor(values, shape)));
      expect(got.shape).toEqual([channels]);
      const expected = new Float64Array(channels);
      for (let r = 0; r < rows; r++) for (let c = 0; c < channels; c++) expected[c] += values[r * channels + c];
      // float32 sums of `rows` terms in [-1, 1]: a few ulps of √rows-sized partial sums.
      expectWithin(got.dataSync(), expected, 2e-4, 1e-5, `${backend} sums`);
      got.dispose();
    });
  }

  it('refuses a non-matrix and a scalar, naming the shape', () => {
    expect(() => transposeMatrix(tf.zeros([2, 3, 4]))).toThrow(/transposeMatrix: expected a matrix, got shape \[2,3,4\]/);
    expect(() => sumLeadingAxes(tf.scalar(1))).toThrow(/sumLeadingAxes: .*scalar/);
  });

  it('leaks no tensors', async () => {
    const x = tf.randomNormal([1024, 128]);
    await expectNoTensorLeak(() => {
      tf.dispose([transposeMatrix(x), sumLeadingAxes(x)]);
    });
    x.dispose();
  });
});

describeBackends('fast path gradients at training sizes', (backend) => {
  /** Closed-form float64 gradients of L = Σ (x·W + b) ⊙ R: dX = R·Wᵀ, dW = Xᵀ·R, db = Σ_rows R. */
  function denseGrads64(x: Float32Array, w: Float32Array, r: Float32Array, rows: number, n: number, m: number) {
    const dx = new Float64Array(rows * n);
    const dw = new Float64Array(n * m);
    const db = new Float64Array(m);
    for (let i = 0; i < rows; i++) {
      for (let k = 0; k < m; k++) {
        const rv = r[i * m + k];
        db[k] += rv;
        for (let j = 0; j < n; j++) {
          dx[i * n + j] += rv * w[j * m + k];
          dw[j * m + k] += x[i * n + j] * rv;
        }
      }
    }
    return { dx, dw, db };
  }

  // Both orientations of the kernel gradient (in ≤ out: dW from dYᵀ·X; in > out: dW from Xᵀ·dY and db as 1ᵀ·dY).
  for (const [n, m] of [[64, 128], [128, 48]]) {
    it(`linear on 4096 rows, ${n} → ${m}: dX, dW and db match float64`, () => {
      const rows = 4096;
      const x = randomValues(rows * n, 1);
      const w = randomValues(n * m, 2);
      const b = randomValues(m, 3);
      const r = randomValues(rows * m, 4);
      const got = tf.tidy(() => {
        const [xt, wt, bt, rt] = [tf.tensor2d(x, [rows, n]), tf.tensor2d(w, [n, m]), tf.tensor1d(b), tf.tensor2d(r, [rows, m])];
        const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(linearFast(a, c, d), rt)))([xt, wt, bt]);
        return grads.map((g) => g.dataSync());
      });
      const ref = denseGrads64(x, w, r, rows, n, m);
      // Sums of up to 4096 float32 products of magnitude ≤ 1.
      expectWithin(got[0], ref.dx, 1e-4, 1e-4, `${backend} dX`);
      expectWithin(got[1], ref.dw, 2e-3, 1e-4, `${backend} dW`);
      expectWithin(got[2], ref.db, 2e-3, 1e-4, `${backend} db`);
    });
  }

  it('layerNorm on [64, 64, 128]: dgamma and dbeta match float64', () => {
    const [rows, c] = [64 * 64, 128];
    const x = randomValues(rows * c, 5);
    const g = randomValues(c, 6);
    const r = randomValues(rows * c, 7);
    const eps = 1e-6;
    const got = tf.tidy(() => {
      const [xt, gt, bt, rt] = [tf.tensor(x, [64, 64, c]), tf.tensor1d(g), tf.zeros([c]), tf.tensor(r, [64, 64, c])];
      return tf.grads((gg: tf.Tensor, bb: tf.Tensor) => tf.sum(tf.mul(layerNormFast(xt, gg, bb, eps), rt)))([gt, bt]).map((t) => t.dataSync());
    });
    const dgamma = new Float64Array(c);
    const dbeta = new Float64Array(c);
    for (let i = 0; i < rows; i++) {
      let mean = 0;
      for (let j = 0; j < c; j++) mean += x[i * c + j] / c;
      let variance = 0;
      for (let j = 0; j < c; j++) variance += (x[i * c + j] - mean) ** 2 / c;
      const rstd = 1 / Math.sqrt(variance + eps);
      for (let j = 0; j < c; j++) {
        dgamma[j] += r[i * c + j] * (x[i * c + j] - mean) * rstd;
        dbeta[j] += r[i * c + j];
      }
    }
    expectWithin(got[0], dgamma, 2e-3, 1e-4, `${backend} dgamma`);
    expectWithin(got[1], dbeta, 2e-3, 1e-4, `${backend} dbeta`);
  });

  it("gelu's derivative stays exact where exp(−x²/2) is tiny or underflows (|x| up to 14)", () => {
    const xs = Array.from({ length: 57 }, (_, i) => -14 + i * 0.5);
    setOpsMode('fast');
    let got: Float32Array;
    try {
      got = tf.tidy(() => tf.grad((t: tf.Tensor) => tf.sum(gelu(t)))(tf.tensor1d(xs)).dataSync() as Float32Array);
    } finally {
      setOpsMode('auto');
    }
    // GELU'(x) = Φ(x) + x·φ(x); for |x| ≥ 6 it is 0 or 1 to float32 precision.
    const phi = (x: number) => Math.exp((-x * x) / 2) / Math.sqrt(2 * Math.PI);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i];
      if (Math.abs(x) < 6) continue;
      const expected = (x > 0 ? 1 : 0) + x * phi(x);
      expect(Math.abs(got[i] - expected)).toBeLessThan(1e-7);
    }
  });
});
