import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gelu } from '../../src/ops/activations';
import { scaledDotProductAttention } from '../../src/ops/attention';
import { dropoutMask } from '../../src/ops/dropout';
import { layerNorm } from '../../src/ops/layer_norm';
import { linear } from '../../src/ops/linear';
import { setOpsMode } from '../../src/ops/mode';
import { DROPOUT_MASK_KERNEL } from '../../src/ops/wasm/dropout_mask_kernel';
import { GELU_GRAD_KERNEL, GELU_KERNEL, simdGelu, simdGeluGrad } from '../../src/ops/wasm/gelu_kernels';
import {
  LAYER_NORM_GRAD_KERNEL,
  LAYER_NORM_KERNEL,
  simdLayerNorm,
  simdLayerNormGrad,
  simdLayerNormSupports,
} from '../../src/ops/wasm/layer_norm_kernels';
import { simdKernelsAvailable } from '../../src/ops/wasm/simd';
import {
  MatMulLayout,
  STRIDED_MATMUL_KERNEL,
  simdBatchMatMul,
  simdColumnSums,
  simdMatMul,
  simdMatMulTransposeA,
  stridedMatMul,
} from '../../src/ops/wasm/strided_matmul';
import { RandomGenerator } from '../../src/utils/random';
import { expectNoTensorLeak, useBackend } from '../helpers/backends';
import { generatedSource } from '../../scripts/simd/build';

function randomArray(rng: RandomGenerator, n: number): number[] {
  return Array.from({ length: n }, () => rng.uniform(-1, 1));
}

/** float32 products against float64 sums: |Δ| ≤ 1e-6 · Σ|terms| (a k-term float32 sum drifts by ~k·2⁻²⁴ of it). */
function expectProductClose(actual: ArrayLike<number>, expected: number[], magnitudes: number[], what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= 1e-6 * magnitudes[i] + 1e-12)) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]} (Σ|terms| ${magnitudes[i]})`);
    }
  }
}

/** The products of `layout` in float64, element by element from the strides (and Σ|terms| for the tolerance). */
function stridedMatMul64(a: number[], b: number[], outSize: number, l: MatMulLayout): { values: number[]; magnitudes: number[] } {
  const values = new Array<number>(outSize).fill(NaN);
  const magnitudes = new Array<number>(outSize).fill(0);
  for (let i1 = 0; i1 < l.batch[0]; i1++) {
    for (let i2 = 0; i2 < l.batch[1]; i2++) {
      for (let i = 0; i < l.m; i++) {
        for (let j = 0; j < l.n; j++) {
          let s = 0;
          let mag = 0;
          for (let p = 0; p < l.k; p++) {
            const t =
              a[i1 * l.a.batch[0] + i2 * l.a.batch[1] + i * l.a.row + p * l.a.depth] *
              b[i1 * l.b.batch[0] + i2 * l.b.batch[1] + p * l.b.row + j];
            s += t;
            mag += Math.abs(t);
          }
          const at = i1 * l.c.batch[0] + i2 * l.c.batch[1] + i * l.c.row + j;
          values[at] = (l.alpha ?? 1) * s;
          magnitudes[at] = Math.abs(l.alpha ?? 1) * mag;
        }
      }
    }
  }
  return { values, magnitudes };
}

/** erfc in float64, independent of the kernel's fit: Taylor series of erf below 2.5, continued fraction above. */
function erfc64(z: number): number {
  if (z < 0) return 2 - erfc64(-z);
  if (z < 2.5) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 80; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * sum;
  }
  let f = z;
  for (let n = 120; n >= 1; n--) f = z + n / 2 / f;
  return Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
}
const cdf64 = (x: number) => 0.5 * erfc64(-x / Math.SQRT2);
const pdf64 = (x: number) => Math.exp(-x * x / 2) / Math.sqrt(2 * Math.PI);

describe('WebAssembly SIMD kernels (wasm backend)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });
  afterAll(() => setOpsMode('auto'));

  it('are available on wasm only', async () => {
    expect(simdKernelsAvailable()).toBe(true);
    await useBackend('cpu');
    expect(simdKernelsAvailable()).toBe(false);
    await useBackend('wasm');
  });

  it('where synchronous compilation is refused (a browser main thread), join in once compiled asynchronously', async () => {
    const OriginalModule = WebAssembly.Module;
    const refusing = function () {
      throw new RangeError('WebAssembly.Compile is disallowed on the main thread, if the buffer size is larger than 4KB');
    };
    // A fresh copy of the module, as in a new process: its compiled-module cache is shared by every copy in a
    // process (on globalThis), so set the shared one aside while the fresh copy makes its own.
    const key = Symbol.for('vit-tfjs.simd.v1');
    const holder = globalThis as unknown as Record<symbol, unknown>;
    const shared = holder[key];
    delete holder[key];
    let fresh: typeof import('../../src/ops/wasm/simd') | undefined;
    try {
      jest.isolateModules(() => {
        fresh = require('../../src/ops/wasm/simd');
      });
    } finally {
      delete holder[key];
      Object.defineProperty(globalThis, key, { value: shared, writable: false, enumerable: false, configurable: true });
    }
    (WebAssembly as { Module: unknown }).Module = refusing;
    try {
      expect(fresh!.simdKernelsAvailable()).toBe(false);
    } finally {
      (WebAssembly as { Module: unknown }).Module = OriginalModule;
    }
    for (let i = 0; i < 50 && !fresh!.simdKernelsAvailable(); i++) await new Promise((r) => setTimeout(r, 10));
    expect(fresh!.simdKernelsAvailable()).toBe(true);
  });

  it('the committed module is the one scripts/simd builds (npm run build:simd)', async () => {
    const committed = readFileSync(resolve(__dirname, '../../src/ops/wasm/simd_binary.generated.ts'), 'utf8');
    expect(await generatedSource()).toBe(committed);
  });

  // [batch, m, k, n, b batch]: tile remainders (m mod 4, n mod 8, n mod 4), k over the 256-deep chunks, broadcast b.
  for (const [batch, m, k, n, bBatch] of [
    [3, 5, 7, 9, 3],
    [2, 4, 8, 8, 1],
    [1, 1, 1, 1, 1],
    [2, 13, 300, 15, 2],
    [1, 6, 600, 21, 1],
    [4, 65, 64, 65, 4],
  ]) {
    it(`batched product [${batch},${m},${k}]·[${bBatch},${k},${n}] matches float64`, () => {
      const rng = new RandomGenerator(batch * 1000 + m * 10 + n);
      const a = randomArray(rng, batch * m * k);
      const b = randomArray(rng, bBatch * k * n);
      const got = tf.tidy(() => {
        const out = simdBatchMatMul(tf.tensor(a, [batch, m, k]), tf.tensor(b, [bBatch, k, n]));
        return { shape: out.shape, values: out.dataSync() };
      });
      expect(got.shape).toEqual([batch, m, n]);
      const want = stridedMatMul64(a, b, batch * m * n, {
        batch: [batch, 1],
        m,
        n,
        k,
        a: { batch: [m * k, 0], row: k, depth: 1 },
        b: { batch: [bBatch === 1 ? 0 : k * n, 0], row: n },
        c: { batch: [m * n, 0], row: n },
      });
      expectProductClose(got.values, want.values, want.magnitudes, 'product');
    });
  }

  it('a·w + bias of a wide product (columns-outer tiles, depth in two chunks, every tile width) matches float64', () => {
    const [m, k, n] = [6, 300, 301];
    const rng = new RandomGenerator(5);
    const a = randomArray(rng, m * k);
    const w = randomArray(rng, k * n);
    const bias = randomArray(rng, n);
    const got = tf.tidy(() => simdMatMul(tf.tensor2d(a, [m, k]), tf.tensor2d(w, [k, n]), tf.tensor1d(bias)).dataSync());
    const none: [number, number] = [0, 0];
    const want = stridedMatMul64(a, w, m * n, { batch: [1, 1], m, n, k, a: { batch: none, row: k, depth: 1 }, b: { batch: none, row: n }, c: { batch: none, row: n } });
    expectProductClose(got, want.values.map((v, i) => v + bias[i % n]), want.magnitudes.map((v, i) => v + Math.abs(bias[i % n])), 'a·w + bias');
    expect(() => tf.tidy(() => simdMatMul(tf.zeros([2, 3]), tf.zeros([3, 4]), tf.zeros([3])))).toThrow(/bias \[3\] does not have the 4 columns/);
  });

  it('empty products: no rows gives an empty result, no depth gives the bias (or zeros)', () => {
    tf.tidy(() => {
      expect(simdMatMul(tf.zeros([0, 4]), tf.ones([4, 3]), tf.ones([3])).shape).toEqual([0, 3]);
      expect(Array.from(simdMatMul(tf.zeros([2, 0]), tf.zeros([0, 3]), tf.tensor1d([1, 2, 3])).dataSync())).toEqual([1, 2, 3, 1, 2, 3]);
      expect(Array.from(simdMatMulTransposeA(tf.zeros([0, 2]), tf.zeros([0, 2])).dataSync())).toEqual([0, 0, 0, 0]);
      expect(linear(tf.zeros([0, 4]), tf.ones([4, 3]), tf.ones([3]), 'gelu').shape).toEqual([0, 3]);
    });
  });

  it('xᵀ·y of a dense gradient (4096 × 128 by 4096 × 36) and column sums match float64', () => {
    const [rows, m, n] = [4096, 128, 36];
    const rng = new RandomGenerator(7);
    const x = randomArray(rng, rows * m);
    const y = randomArray(rng, rows * n);
    const got = tf.tidy(() => {
      const [xt, yt] = [tf.tensor2d(x, [rows, m]), tf.tensor2d(y, [rows, n])];
      return { product: simdMatMulTransposeA(xt, yt).dataSync(), sums: simdColumnSums(yt).dataSync() };
    });
    const layout: MatMulLayout = {
      batch: [1, 1],
      m,
      n,
      k: rows,
      a: { batch: [0, 0], row: 1, depth: m },
      b: { batch: [0, 0], row: n },
      c: { batch: [0, 0], row: n },
    };
    const want = stridedMatMul64(x, y, m * n, layout);
    expectProductClose(got.product, want.values, want.magnitudes, 'xᵀ·y');
    const sums = Array.from({ length: n }, (_, j) => y.reduce((s, v, i) => (i % n === j ? s + v : s), 0));
    const sumMagnitudes = Array.from({ length: n }, (_, j) => y.reduce((s, v, i) => (i % n === j ? s + Math.abs(v) : s), 0));
    expectProductClose(got.sums, sums, sumMagnitudes, 'column sums');
  });

  it('reads heads in place: Q·Kᵀ per (example, head) from [B, T, H, d] into [B, H, T, T], scaled', () => {
    const [b, t, h, d] = [2, 7, 3, 5];
    const rng = new RandomGenerator(11);
    const q = randomArray(rng, b * t * h * d);
    const kT = randomArray(rng, b * h * d * t); // [B, H, d, T]
    const layout: MatMulLayout = {
      batch: [b, h],
      m: t,
      n: t,
      k: d,
      a: { batch: [t * h * d, d], row: h * d, depth: 1 },
      b: { batch: [h * d * t, d * t], row: t },
      c: { batch: [h * t * t, t * t], row: t },
      alpha: 0.25,
    };
    const got = tf.tidy(() => stridedMatMul(tf.tensor(q, [b, t, h, d]), tf.tensor(kT, [b, h, d, t]), [b, h, t, t], layout).dataSync());
    // Independent reference: explicit indices of the 4-D arrays.
    const want: number[] = [];
    const mags: number[] = [];
    for (let e = 0; e < b; e++) {
      for (let hh = 0; hh < h; hh++) {
        for (let i = 0; i < t; i++) {
          for (let j = 0; j < t; j++) {
            let s = 0;
            let mag = 0;
            for (let p = 0; p < d; p++) {
              const term = q[((e * t + i) * h + hh) * d + p] * kT[((e * h + hh) * d + p) * t + j];
              s += term;
              mag += Math.abs(term);
            }
            want.push(0.25 * s);
            mags.push(0.25 * mag);
          }
        }
      }
    }
    expectProductClose(got, want, mags, 'scores');
  });

  it('GELU and its derivative match float64 (erfc by series and continued fraction) over [−12, 12]', () => {
    const n = 24001; // not a multiple of 4: the last values take the lane-by-lane path
    const xs = Array.from({ length: n }, (_, i) => -12 + (24 * i) / (n - 1));
    const rng = new RandomGenerator(3);
    const dy = randomArray(rng, n);
    const got = tf.tidy(() => {
      const x = tf.tensor1d(xs);
      return { y: simdGelu(x).dataSync(), dx: simdGeluGrad(x, tf.tensor1d(dy)).dataSync() };
    });
    for (let i = 0; i < n; i++) {
      const x = Math.fround(xs[i]);
      const y = x * cdf64(x);
      const dx = Math.fround(dy[i]) * (cdf64(x) + x * pdf64(x));
      // 4e-7 absolute (float32 rounding of values up to 12, and the fit), and 2e-5 relative where GELU is tiny.
      if (!(Math.abs(got.y[i] - y) <= 4e-7 + 2e-5 * Math.abs(y))) throw new Error(`gelu(${x}) = ${got.y[i]}, expected ${y}`);
      if (!(Math.abs(got.dx[i] - dx) <= 4e-7 + 2e-5 * Math.abs(dx))) throw new Error(`gelu'(${x})·dy = ${got.dx[i]}, expected ${dx}`);
    }
  });

  it('GELU handles short arrays, ±∞ and NaN like x·Φ(x)', () => {
    const got = tf.tidy(() => Array.from(simdGelu(tf.tensor1d([Infinity, -Infinity, NaN])).dataSync()));
    expect(got[0]).toBe(Infinity);
    expect(Number.isNaN(got[1])).toBe(true); // −∞ · 0, as x·Φ(x) in tf ops
    expect(Number.isNaN(got[2])).toBe(true);
    expect(tf.tidy(() => Array.from(simdGelu(tf.tensor1d([1])).dataSync()))[0]).toBeCloseTo(cdf64(1), 6);
  });

  it('reject bad operands and layouts that reach outside a tensor, and leak no tensors', async () => {
    tf.tidy(() => {
      expect(() => simdBatchMatMul(tf.zeros([2, 3]), tf.zeros([3, 2]))).toThrow(/must be rank 3/);
      expect(() => simdBatchMatMul(tf.zeros([2, 3, 4]), tf.zeros([2, 5, 2]))).toThrow(/do not match/);
      expect(() => simdBatchMatMul(tf.zeros([2, 3, 4], 'int32'), tf.zeros([2, 4, 2], 'int32'))).toThrow(/must be float32/);
      expect(() => simdMatMulTransposeA(tf.zeros([3, 2]), tf.zeros([4, 2]))).toThrow(/same number of rows/);
      const none: [number, number] = [0, 0];
      const square: MatMulLayout = { batch: [1, 1], m: 2, n: 2, k: 2, a: { batch: none, row: 2, depth: 1 }, b: { batch: none, row: 2 }, c: { batch: none, row: 2 } };
      const tooDeep: MatMulLayout = { ...square, k: 3 };
      expect(() => stridedMatMul(tf.zeros([2, 2]), tf.zeros([2, 2]), [2, 2], tooDeep)).toThrow(/does not fit/);
      expect(() => stridedMatMul(tf.zeros([2, 2]), tf.zeros([2, 2]), [2, 3], square)).toThrow(/does not fit/);
      expect(() => simdGeluGrad(tf.zeros([3]), tf.zeros([4]))).toThrow(/differ in shape/);
    });
    const [a, b] = [tf.ones([2, 3, 4]), tf.ones([2, 4, 5])];
    await expectNoTensorLeak(() =>
      tf.tidy(() => {
        simdBatchMatMul(a, b);
        simdGelu(a);
        simdGeluGrad(a, a);
        simdColumnSums(tf.reshape(a, [6, 4]));
      }),
    );
    tf.dispose([a, b]);
  });

  it("run in attention, linear gradients and GELU on wasm in 'auto' mode, not on cpu or in 'reference' mode", async () => {
    const kernelsOf = async () => {
      const info = await tf.profile(() => {
        const q = tf.ones([1, 3, 2, 4]);
        const w = tf.ones([4, 4]);
        const grads = tf.grads((x: tf.Tensor, k: tf.Tensor) => tf.sum(linear(scaledDotProductAttention(x, x, x).output, k, null, 'gelu')))([q, w]);
        tf.dispose([q, w, ...grads, gelu(q)]);
      });
      return new Set(info.kernels.map((kk) => kk.name));
    };
    const ours = [STRIDED_MATMUL_KERNEL, GELU_KERNEL, GELU_GRAD_KERNEL];
    const auto = await kernelsOf();
    for (const name of ours) expect(auto.has(name)).toBe(true);
    setOpsMode('reference');
    const reference = await kernelsOf();
    for (const name of ours) expect(reference.has(name)).toBe(false);
    setOpsMode('auto');
    await useBackend('cpu');
    const cpu = await kernelsOf();
    for (const name of ours) expect(cpu.has(name)).toBe(false);
    expect(cpu.has('BatchMatMul')).toBe(true);
    await useBackend('wasm');
  });
});

describe('WebAssembly SIMD layer normalization (wasm backend)', () => {
  beforeAll(async () => {
    await useBackend('wasm');
  });

  /** Layer norm of one row and its gradient in float64 (dx by the closed form; dγ, dβ summed by the caller). */
  function layerNormRow64(x: number[], gamma: number[], beta: number[], dy: number[], eps: number) {
    const n = x.length;
    const mean = x.reduce((s, v) => s + v, 0) / n;
    const variance = x.reduce((s, v) => s + (v - mean) ** 2, 0) / n;
    const rstd = 1 / Math.sqrt(variance + eps);
    const xhat = x.map((v) => (v - mean) * rstd);
    const g = dy.map((d, i) => d * gamma[i]);
    const meanG = g.reduce((s, v) => s + v, 0) / n;
    const meanGX = g.reduce((s, v, i) => s + v * xhat[i], 0) / n;
    return { y: xhat.map((h, i) => h * gamma[i] + beta[i]), xhat, rstd, dx: g.map((v, i) => (v - meanG - xhat[i] * meanGX) * rstd) };
  }

  it('values, x̂, 1/σ and dx, dγ, dβ of a [2, 64, 128] batch (training size, offset rows) match float64', () => {
    const [rows, cols, eps] = [128, 128, 1e-6];
    const rng = new RandomGenerator(21);
    const x = Array.from({ length: rows * cols }, (_, i) => 3 + 2 * rng.uniform(-1, 1) + (i % cols) * 0.01);
    const gamma = randomArray(rng, cols);
    const beta = randomArray(rng, cols);
    const dy = randomArray(rng, rows * cols);
    const got = tf.tidy(() => {
      const [y, xhat, rstd] = simdLayerNorm(tf.tensor(x, [2, 64, cols]), tf.tensor1d(gamma), tf.tensor1d(beta), eps);
      const [dx, dgamma, dbeta] = simdLayerNormGrad(tf.tensor(dy, [2, 64, cols]), xhat, rstd, tf.tensor1d(gamma));
      expect(rstd.shape).toEqual([2, 64, 1]);
      return [y, xhat, rstd, dx, dgamma, dbeta].map((t) => Array.from(t.dataSync()));
    });
    const dgamma = new Array<number>(cols).fill(0);
    const dbeta = new Array<number>(cols).fill(0);
    for (let r = 0; r < rows; r++) {
      const row = (a: number[]) => a.slice(r * cols, (r + 1) * cols);
      const want = layerNormRow64(row(x), gamma, beta, row(dy), eps);
      const close = (a: number, b: number, what: string) => {
        if (!(Math.abs(a - b) <= 2e-6 + 2e-6 * Math.abs(b))) throw new Error(`row ${r} ${what}: ${a}, expected ${b}`);
      };
      for (let c = 0; c < cols; c++) {
        close(got[0][r * cols + c], want.y[c], `y[${c}]`);
        close(got[1][r * cols + c], want.xhat[c], `x̂[${c}]`);
        close(got[3][r * cols + c], want.dx[c], `dx[${c}]`);
        dgamma[c] += row(dy)[c] * want.xhat[c];
        dbeta[c] += row(dy)[c];
      }
      close(got[2][r], want.rstd, '1/σ');
    }
    for (let c = 0; c < cols; c++) {
      if (!(Math.abs(got[4][c] - dgamma[c]) <= 2e-5) || !(Math.abs(got[5][c] - dbeta[c]) <= 2e-5)) {
        throw new Error(`column ${c}: dγ ${got[4][c]} (expected ${dgamma[c]}), dβ ${got[5][c]} (expected ${dbeta[c]})`);
      }
    }
  });

  it('without γ and β normalizes alone; other widths go to the tf-op formulation', () => {
    const got = tf.tidy(() => Array.from(simdLayerNorm(tf.tensor2d([1, 2, 3, 4], [1, 4]), null, null, 0)[0].dataSync()));
    const s = Math.sqrt(1.25);
    expect(got.map((v) => Number(v.toFixed(6)))).toEqual([-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s].map((v) => Number(v.toFixed(6))));
    tf.tidy(() => {
      expect(simdLayerNormSupports(tf.zeros([2, 6]), null, null)).toBe(false);
      expect(simdLayerNormSupports(tf.zeros([2, 8]), tf.zeros([4]), null)).toBe(false);
      expect(simdLayerNormSupports(tf.zeros([2, 8]), tf.zeros([8]), tf.zeros([8]))).toBe(true);
      expect(() => simdLayerNorm(tf.zeros([2, 6]), null, null, 1e-3)).toThrow(/multiple of 4/);
      expect(() => simdLayerNorm(tf.zeros([2, 8]), tf.zeros([4]), null, 1e-3)).toThrow(/gamma \[4\] must have the 8 values/);
    });
  });

  it("runs in layerNorm on wasm in 'auto' mode", async () => {
    const info = await tf.profile(() => {
      const x = tf.ones([3, 8]);
      tf.dispose([x, ...tf.grads((a: tf.Tensor) => tf.sum(layerNorm(a, tf.ones([8]), tf.zeros([8]), 1e-6)))([x])]);
    });
    const names = info.kernels.map((k) => k.name);
    expect(names).toContain(LAYER_NORM_KERNEL);
    expect(names).toContain(LAYER_NORM_GRAD_KERNEL);
  });
});

describe('WebAssembly dropout masks (wasm backend)', () => {
  afterAll(() => setOpsMode('auto'));

  it('are the draws of four xoshiro128** streams, bit for bit on wasm (kernel in auto mode) and cpu', async () => {
    const shapes = [[0], [1], [7], [3, 333, 1001]];
    const draw = async () => {
      const info = await tf.profile(() => {
        tf.dispose(shapes.map((s, i) => dropoutMask(s, 0.3, 100 + i)));
      });
      const masks = shapes.map((s, i) => tf.tidy(() => dropoutMask(s, 0.3, 100 + i).dataSync()));
      return { masks, kernels: info.kernels.map((k) => k.name) };
    };
    await useBackend('wasm');
    const wasm = await draw();
    expect(wasm.kernels).toContain(DROPOUT_MASK_KERNEL);
    setOpsMode('reference');
    const wasmReference = await draw();
    expect(wasmReference.kernels).not.toContain(DROPOUT_MASK_KERNEL);
    setOpsMode('auto');
    await useBackend('cpu');
    const cpu = await draw();
    await useBackend('wasm');
    // Independent reference: four xoshiro128** streams from the algorithm's definition, states = the first 16
    // draws of RandomGenerator(seed), entry i from stream i mod 4, dropped below ⌈0.3 · 2³²⌉.
    const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
    for (const [i, s] of shapes.entries()) {
      const rng = new RandomGenerator(100 + i);
      const streams = [0, 1, 2, 3].map(() => [0, 1, 2, 3].map(() => rng.nextUint32()));
      const next = (st: number[]) => {
        const result = Math.imul(rotl(Math.imul(st[1], 5) >>> 0, 7), 9) >>> 0;
        const t = (st[1] << 9) >>> 0;
        st[2] = (st[2] ^ st[0]) >>> 0;
        st[3] = (st[3] ^ st[1]) >>> 0;
        st[1] = (st[1] ^ st[2]) >>> 0;
        st[0] = (st[0] ^ st[3]) >>> 0;
        st[2] = (st[2] ^ t) >>> 0;
        st[3] = rotl(st[3], 11);
        return result;
      };
      const scale = Math.fround(1 / 0.7);
      const threshold = Math.ceil(0.3 * 2 ** 32);
      const want = Array.from({ length: s.reduce((a, b) => a * b, 1) }, (_, j) => (next(streams[j % 4]) < threshold ? 0 : scale));
      for (const got of [wasm.masks[i], wasmReference.masks[i], cpu.masks[i]]) {
        expect(got.length).toBe(want.length);
        const firstDifference = want.findIndex((v, j) => got[j] !== v);
        expect(firstDifference).toBe(-1);
      }
    }
  });
});
