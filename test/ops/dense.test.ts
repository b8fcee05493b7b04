import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { ActivationName, gelu, geluReference } from '../../src/ops/activations';
import { dropout, dropoutMask } from '../../src/ops/dropout';
import { layerNorm, layerNormFast, layerNormReference } from '../../src/ops/layer_norm';
import { linear, linearFast, linearReference } from '../../src/ops/linear';
import { setOpsMode } from '../../src/ops/mode';
import { setWasmZeroCopyIdentity, wasmZeroCopyIdentityEnabled } from '../../src/ops/wasm/zero_copy_identity';
import { RandomGenerator } from '../../src/utils/random';
import { describeBackends, expectNoTensorLeak } from '../helpers/backends';

// float32 results against float64 references: |actual − expected| ≤ ATOL + RTOL·|expected|.
const ATOL = 2e-5;
const RTOL = 2e-4;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i] - expected[i]) <= ATOL + RTOL * Math.abs(expected[i]))) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

function randomArray(rng: RandomGenerator, n: number, scale = 1): number[] {
  return Array.from({ length: n }, () => rng.uniform(-scale, scale));
}

function numericGradient(f: (x: number[]) => number, x: number[], eps = 1e-5): number[] {
  return x.map((_, i) => {
    const plus = x.slice();
    const minus = x.slice();
    plus[i] += eps;
    minus[i] -= eps;
    return (f(plus) - f(minus)) / (2 * eps);
  });
}

function dot(a: number[], b: number[]): number {
  return a.reduce((s, x, i) => s + x * b[i], 0);
}

/** erf in float64: Maclaurin series for |x| ≤ 3, asymptotic erfc series beyond (error < 1e-7 there). */
function erf64(x: number): number {
  const ax = Math.abs(x);
  if (ax <= 3) {
    let term = x;
    let sum = x;
    for (let n = 1; n < 80; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  const x2 = ax * ax;
  const erfc = (Math.exp(-x2) / (ax * Math.sqrt(Math.PI))) * (1 - 1 / (2 * x2) + 3 / (4 * x2 * x2) - 15 / (8 * x2 ** 3));
  return Math.sign(x) * (1 - erfc);
}

function act64(z: number, activation: ActivationName): number {
  switch (activation) {
    case 'linear':
      return z;
    case 'relu':
      return Math.max(z, 0);
    case 'gelu':
      return 0.5 * z * (1 + erf64(z / Math.SQRT2));
    case 'gelu_tanh':
      return 0.5 * z * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (z + 0.044715 * z ** 3)));
  }
}

/** float64 dense layer: x [rows, n], w [n, m], b [m] → [rows, m]. */
function linear64(x: number[], w: number[], b: number[] | null, n: number, m: number, activation: ActivationName): number[] {
  const rows = x.length / n;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < m; j++) {
      let z = b != null ? b[j] : 0;
      for (let i = 0; i < n; i++) z += x[r * n + i] * w[i * m + j];
      out.push(act64(z, activation));
    }
  }
  return out;
}

/** float64 layer normalization over rows of length n. */
function layerNorm64(x: number[], gamma: number[] | null, beta: number[] | null, n: number, eps: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length / n; r++) {
    const row = x.slice(r * n, (r + 1) * n);
    const mean = row.reduce((a, v) => a + v, 0) / n;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
    row.forEach((v, i) => out.push(((v - mean) / Math.sqrt(variance + eps)) * (gamma?.[i] ?? 1) + (beta?.[i] ?? 0)));
  }
  return out;
}

type LinearFn = typeof linearFast;

describeBackends('linear (fast and reference formulations)', (backend) => {
  const variants: [string, LinearFn][] = [
    ['fast', linearFast],
    ['reference', linearReference],
  ];
  const activations: ActivationName[] = ['linear', 'relu', 'gelu', 'gelu_tanh'];
  for (const [name, fn] of variants) {
    for (const activation of activations) {
      // Both orientations of the fast path's kernel gradient: inDim < outDim and inDim > outDim.
      const [n, m] = activations.indexOf(activation) % 2 === 0 ? [4, 5] : [6, 3];
      it(`${name}, ${activation}, ${n} → ${m}: forward and gradients (x, kernel, bias) match float64`, () => {
        const rng = new RandomGenerator(10 + activations.indexOf(activation));
        const x = randomArray(rng, 2 * 3 * n, 2);
        const w = randomArray(rng, n * m);
        const b = randomArray(rng, m);
        const r = randomArray(rng, 2 * 3 * m);
        const got = tf.tidy(() => {
          const [xt, wt, bt, rt] = [tf.tensor(x, [2, 3, n]), tf.tensor(w, [n, m]), tf.tensor(b, [m]), tf.tensor(r, [2, 3, m])];
          const y = fn(xt, wt, bt, activation);
          const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(fn(a, c, d, activation), rt)))([xt, wt, bt]);
          return { shape: y.shape, y: Array.from(y.dataSync()), grads: grads.map((g) => Array.from(g.dataSync())) };
        });
        const loss = (xx: number[], ww: number[], bb: number[]) => dot(linear64(xx, ww, bb, n, m, activation), r);
        expect(got.shape).toEqual([2, 3, m]);
        expectClose(got.y, linear64(x, w, b, n, m, activation), `${backend} y`);
        expectClose(got.grads[0], numericGradient((v) => loss(v, w, b), x), `${backend} dx`);
        expectClose(got.grads[1], numericGradient((v) => loss(x, v, b), w), `${backend} dkernel`);
        expectClose(got.grads[2], numericGradient((v) => loss(x, w, v), b), `${backend} dbias`);
      });
    }

    it(`${name}: a wide kernel seen by few rows (the dX = (W·dYᵀ)ᵀ orientation) matches float64`, () => {
      const rng = new RandomGenerator(21);
      const [rows, n, m] = [2, 40, 30];
      const x = randomArray(rng, rows * n);
      const w = randomArray(rng, n * m, 0.3);
      const b = randomArray(rng, m);
      const r = randomArray(rng, rows * m);
      const got = tf.tidy(() => {
        const [xt, wt, bt, rt] = [tf.tensor(x, [rows, n]), tf.tensor(w, [n, m]), tf.tensor(b, [m]), tf.tensor(r, [rows, m])];
        const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(fn(a, c, d, 'gelu'), rt)))([xt, wt, bt]);
        return grads.map((g) => Array.from(g.dataSync()));
      });
      const loss = (xx: number[], ww: number[], bb: number[]) => dot(linear64(xx, ww, bb, n, m, 'gelu'), r);
      expectClose(got[0], numericGradient((v) => loss(v, w, b), x), `${backend} dx`);
      expectClose(got[1], numericGradient((v) => loss(x, v, b), w), `${backend} dkernel`);
      expectClose(got[2], numericGradient((v) => loss(x, w, v), b), `${backend} dbias`);
    });

    it(`${name}: no bias, and a rank-3 kernel [in, heads, dim] with bias [heads, dim]`, () => {
      const rng = new RandomGenerator(20);
      const x = randomArray(rng, 3 * 4);
      const w = randomArray(rng, 4 * 2 * 3);
      const b = randomArray(rng, 2 * 3);
      const got = tf.tidy(() => {
        const [xt, wt] = [tf.tensor(x, [3, 4]), tf.tensor(w, [4, 2, 3])];
        const y3 = fn(xt, wt, tf.tensor(b, [2, 3]));
        const y2 = fn(xt, tf.reshape(wt, [4, 6]));
        const dw = tf.grad((k: tf.Tensor) => tf.sum(tf.square(fn(xt, k, tf.tensor(b, [2, 3])))))(wt);
        return { shape: y3.shape, y3: Array.from(y3.dataSync()), y2: Array.from(y2.dataSync()), dwShape: dw.shape };
      });
      expect(got.shape).toEqual([3, 2, 3]);
      expect(got.dwShape).toEqual([4, 2, 3]);
      expectClose(got.y3, linear64(x, w, b, 4, 6, 'linear'), `${backend} rank-3 kernel`);
      expectClose(got.y2, linear64(x, w, null, 4, 6, 'linear'), `${backend} no bias`);
    });
  }

  it('rejects mismatched shapes, naming them', () => {
    tf.tidy(() => {
      expect(() => linear(tf.zeros([2, 3]), tf.zeros([4, 5]))).toThrow(/last axis of x \[2,3\] must match the kernel's first axis \[4,5\]/);
      expect(() => linear(tf.zeros([2, 4]), tf.zeros([4, 5]), tf.zeros([6]))).toThrow(/bias of shape \[6\]/);
      expect(() => linear(tf.zeros([2, 4]), tf.zeros([4]))).toThrow(/kernel must have rank ≥ 2/);
    });
  });

  it('leaks no tensors (fast path, forward and gradients)', async () => {
    const [x, w, b] = [tf.ones([3, 4]), tf.ones([4, 2]), tf.ones([2])];
    await expectNoTensorLeak(() => {
      tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(linearFast(a, c, d, 'relu')))([x, w, b]));
      tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(linearFast(a, c, d, 'gelu')))([x, w, b]));
      tf.dispose(linearFast(x, w, b));
    });
    tf.dispose([x, w, b]);
  });
});

describeBackends('layerNorm and gelu (fast and reference formulations)', (backend) => {
  const lnVariants: [string, typeof layerNormFast][] = [
    ['fast', layerNormFast],
    ['reference', layerNormReference],
  ];
  for (const [name, fn] of lnVariants) {
    for (const affine of [true, false]) {
      it(`layerNorm ${name}${affine ? '' : ' without gamma/beta'}: forward and gradients match float64`, () => {
        const rng = new RandomGenerator(30);
        const n = 6;
        const x = randomArray(rng, 2 * 3 * n, 3);
        const g = randomArray(rng, n);
        const b = randomArray(rng, n);
        const r = randomArray(rng, 2 * 3 * n);
        const eps = 1e-3;
        const got = tf.tidy(() => {
          const [xt, gt, bt, rt] = [tf.tensor(x, [2, 3, n]), tf.tensor(g), tf.tensor(b), tf.tensor(r, [2, 3, n])];
          const call = (a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => fn(a, affine ? c : null, affine ? d : null, eps);
          const grads = tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(tf.mul(call(a, c, d), rt)))(
            affine ? [xt, gt, bt] : [xt],
          );
          return { y: Array.from(call(xt, gt, bt).dataSync()), grads: grads.map((t) => Array.from(t.dataSync())) };
        });
        const loss = (xx: number[], gg: number[], bb: number[]) =>
          dot(layerNorm64(xx, affine ? gg : null, affine ? bb : null, n, eps), r);
        expectClose(got.y, layerNorm64(x, affine ? g : null, affine ? b : null, n, eps), `${backend} y`);
        expectClose(got.grads[0], numericGradient((v) => loss(v, g, b), x), `${backend} dx`);
        if (affine) {
          expectClose(got.grads[1], numericGradient((v) => loss(x, v, b), g), `${backend} dgamma`);
          expectClose(got.grads[2], numericGradient((v) => loss(x, g, v), b), `${backend} dbeta`);
        }
      });
    }
  }

  it('gelu (fast node and reference): values and derivative match float64 over [-6, 6]', () => {
    const xs = Array.from({ length: 121 }, (_, i) => -6 + i * 0.1);
    for (const fn of [gelu, geluReference]) {
      setOpsMode('fast');
      const got = tf.tidy(() => {
        const x = tf.tensor(xs);
        return { y: Array.from(fn(x).dataSync()), dy: Array.from(tf.grad((t: tf.Tensor) => tf.sum(fn(t)))(x).dataSync()) };
      });
      setOpsMode('auto');
      expectClose(got.y, xs.map((x) => act64(x, 'gelu')), `${backend} gelu`);
      const deriv = xs.map((x) => 0.5 * (1 + erf64(x / Math.SQRT2)) + (x * Math.exp((-x * x) / 2)) / Math.sqrt(2 * Math.PI));
      expectClose(got.dy, deriv, `${backend} gelu'`);
    }
  });

  it('leaks no tensors (layerNorm and gelu fast paths, forward and gradients)', async () => {
    const [x, g, b] = [tf.randomNormal([3, 4]), tf.ones([4]), tf.zeros([4])];
    await expectNoTensorLeak(() => {
      tf.dispose(tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => tf.sum(layerNormFast(a, c, d, 1e-6)))([x, g, b]));
      setOpsMode('fast');
      tf.dispose(tf.grad((a: tf.Tensor) => tf.sum(gelu(a)))(x));
      setOpsMode('auto');
    });
    tf.dispose([x, g, b]);
  });
});

describeBackends('dropoutMask and dropout', (backend) => {
  // The draws themselves (four xoshiro128** streams) are checked against their definition in simd_kernels.test.ts.
  it('drops close to the requested fraction', () => {
    const zeros = tf.tidy(() => dropoutMask([100000], 0.1, 5).dataSync().filter((v) => v === 0).length);
    expect(Math.abs(zeros / 100000 - 0.1)).toBeLessThan(0.005);
  });

  it('dropout multiplies by the mask and its gradient reuses it', () => {
    const got = tf.tidy(() => {
      const x = tf.range(1, 13);
      const y = dropout(x, 0.5, 9);
      const dx = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(dropout(t, 0.5, 9), 3)))(x);
      return { y: Array.from(y.dataSync()), dx: Array.from(dx.dataSync()), mask: Array.from(dropoutMask([12], 0.5, 9).dataSync()) };
    });
    expect(got.y).toEqual(got.mask.map((m, i) => m * (i + 1)));
    expect(got.dx).toEqual(got.mask.map((m) => 3 * m));
    expect(got.mask.every((m) => m === 0 || m === 2)).toBe(true);
    expect(got.mask.some((m) => m === 0)).toBe(true);
  });

  it('rate 0 keeps everything; bad arguments are named', () => {
    const x = tf.ones([3]);
    expect(dropout(x, 0)).toBe(x);
    expect(tf.tidy(() => Array.from(dropoutMask([3], 0, 1).dataSync()))).toEqual([1, 1, 1]);
    expect(() => dropoutMask([3], 1, 1)).toThrow(/rate must be in \[0, 1\)/);
    expect(() => dropoutMask([3], 0.5, -1)).toThrow(/seed must be a non-negative integer/);
    x.dispose();
  });

  if (backend === 'wasm') {
    it('cpu and wasm give the same mask for the same seed', async () => {
      const wasmMask = tf.tidy(() => Array.from(dropoutMask([64], 0.25, 3).dataSync()));
      await tf.setBackend('cpu');
      const cpuMask = tf.tidy(() => Array.from(dropoutMask([64], 0.25, 3).dataSync()));
      await tf.setBackend('wasm');
      expect(wasmMask).toEqual(cpuMask);
    });
  }
});

describe('layerNorm and linear dispatch', () => {
  it("'auto' mode gives the same values on cpu and wasm", async () => {
    const rng = new RandomGenerator(50);
    const x = randomArray(rng, 24);
    const w = randomArray(rng, 24);
    const run = () =>
      tf.tidy(() => {
        const xt = tf.tensor(x, [4, 6]);
        const y = layerNorm(linear(xt, tf.tensor(w, [6, 4]), null, 'gelu'), tf.ones([4]), tf.zeros([4]), 1e-6);
        return Array.from(y.dataSync());
      });
    await tf.setBackend('cpu');
    const cpu = run();
    await tf.setBackend('wasm');
    expectClose(run(), cpu, 'wasm vs cpu');
  });
});

describe('zero-copy wasm Identity', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
    await tf.ready();
  });
  afterAll(() => setOpsMode('auto'));

  it("is switched on by the fast path on wasm and off by 'reference' mode", () => {
    setOpsMode('reference');
    expect(wasmZeroCopyIdentityEnabled()).toBe(false);
    setOpsMode('auto');
    tf.tidy(() => {
      linear(tf.ones([2, 3]), tf.ones([3, 2]));
    });
    expect(wasmZeroCopyIdentityEnabled()).toBe(true);
  });

  it('clones keep their values after the original is disposed, and the memory is freed with the last one', () => {
    setWasmZeroCopyIdentity(true);
    const before = tf.memory().numTensors;
    const x = tf.tensor([1.5, -2, 3.25]);
    const c = tf.clone(x);
    x.dispose();
    expect(Array.from(c.dataSync())).toEqual([1.5, -2, 3.25]);
    c.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives the same gradients as the copying kernel (tfjs ops that save their inputs)', () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor([[0.5, -1, 2], [3, 0.25, -0.75]]);
        const g = tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.reshape(tf.square(t), [3, 2]), tf.add(tf.reshape(t, [3, 2]), 1))))(x);
        return Array.from(g.dataSync());
      });
    setWasmZeroCopyIdentity(false);
    const copying = run();
    setWasmZeroCopyIdentity(true);
    const sharing = run();
    // d/dt Σ t²(t + 1) = 3t² + 2t, element by element.
    const expected = [0.5, -1, 2, 3, 0.25, -0.75].map((t) => 3 * t * t + 2 * t);
    expectClose(copying, expected, 'copying Identity');
    expect(sharing).toEqual(copying);
  });
});
