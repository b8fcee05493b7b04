import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { gelu } from '../../src/ops/activations';
import { scaledDotProductAttention } from '../../src/ops/attention';
import { linear } from '../../src/ops/linear';
import { setOpsMode } from '../../src/ops/mode';
import { GELU_GRAD_KERNEL, GELU_KERNEL, simdGelu, simdGeluGrad } from '../../src/ops/wasm/gelu_kernels';
import { simdKernelsAvailable } from '../../src/ops/wasm/simd';
import {
  MatMulLayout,
  STRIDED_MATMUL_KERNEL,
  simdBatchMatMul,
  simdColumnSums,
  simdMatMulTransposeA,
  stridedMatMul,
} from '../../src/ops/wasm/strided_matmul';
import { RandomGenerator } from '../../src/utils/random';
import { expectNoTensorLeak, useBackend } from '../helpers/backends';
import { compileModule, generatedSource } from '../../scripts/simd/build';

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

  it('the committed module is the one scripts/simd builds (npm run build:simd)', async () => {
    const committed = readFileSync(resolve(__dirname, '../../src/ops/wasm/simd_binary.generated.ts'), 'utf8');
    expect(generatedSource(await compileModule())).toBe(committed);
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
