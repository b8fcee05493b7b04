import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import { attentionFast, attentionReference, scaledDotProductAttention, AttentionOptions } from '../../src/ops/attention';
import { dropoutMask } from '../../src/ops/dropout';
import { getOpsMode, setOpsMode } from '../../src/ops/mode';
import { RandomGenerator } from '../../src/utils/random';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';

// float32 results against float64 references: |actual − expected| ≤ ATOL + RTOL·|expected|.
const ATOL = 2e-5;
const RTOL = 2e-4;

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < expected.length; i++) {
    const excess = Math.abs(actual[i] - expected[i]) - (ATOL + RTOL * Math.abs(expected[i]));
    if (excess > worst) {
      worst = excess;
      at = i;
    }
  }
  if (at >= 0) throw new Error(`${what}: element ${at} is ${actual[at]}, expected ${expected[at]}`);
}

function randomArray(rng: RandomGenerator, n: number, scale = 1): number[] {
  return Array.from({ length: n }, () => rng.uniform(-scale, scale));
}

interface Dims {
  b: number;
  tq: number;
  tk: number;
  h: number;
  d: number;
  dv: number;
}

/**
 * float64 attention. q [b,tq,h,d], k [b,tk,h,d], v [b,tk,h,dv], mask [b,tq,tk] (1 = attend) or null,
 * drop [b,h,tq,tk] multipliers or null. Returns output [b,tq,h,dv] and scores [b,h,tq,tk], flat.
 */
function attention64(
  s: Dims,
  q: number[],
  k: number[],
  v: number[],
  mask: number[] | null,
  drop: number[] | null,
): { output: number[]; scores: number[] } {
  const { b, tq, tk, h, d, dv } = s;
  const scale = 1 / Math.sqrt(d);
  const output = new Array<number>(b * tq * h * dv).fill(0);
  const scores = new Array<number>(b * h * tq * tk).fill(0);
  for (let bi = 0; bi < b; bi++) {
    for (let hi = 0; hi < h; hi++) {
      for (let i = 0; i < tq; i++) {
        const logits: number[] = [];
        for (let j = 0; j < tk; j++) {
          let dot = 0;
          for (let c = 0; c < d; c++) dot += q[((bi * tq + i) * h + hi) * d + c] * k[((bi * tk + j) * h + hi) * d + c];
          let l = dot * scale;
          if (mask != null) l += (1 - mask[(bi * tq + i) * tk + j]) * -1e9;
          logits.push(l);
        }
        const max = Math.max(...logits);
        const e = logits.map((l) => Math.exp(l - max));
        const sum = e.reduce((a, x) => a + x, 0);
        for (let j = 0; j < tk; j++) {
          const p = e[j] / sum;
          const si = ((bi * h + hi) * tq + i) * tk + j;
          scores[si] = p;
          const pd = drop != null ? p * drop[si] : p;
          for (let c = 0; c < dv; c++) output[((bi * tq + i) * h + hi) * dv + c] += pd * v[((bi * tk + j) * h + hi) * dv + c];
        }
      }
    }
  }
  return { output, scores };
}

/** Central finite differences of a float64 scalar function with respect to each entry of `x`. */
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

const DIMS: Dims = { b: 2, tq: 3, tk: 4, h: 2, d: 3, dv: 2 };
type AttentionFn = typeof attentionFast;

function makeCase(seed: number, s: Dims = DIMS) {
  const rng = new RandomGenerator(seed);
  const q = randomArray(rng, s.b * s.tq * s.h * s.d, 1.5);
  const k = randomArray(rng, s.b * s.tk * s.h * s.d, 1.5);
  const v = randomArray(rng, s.b * s.tk * s.h * s.dv);
  const wOut = randomArray(rng, s.b * s.tq * s.h * s.dv);
  const wScores = randomArray(rng, s.b * s.h * s.tq * s.tk);
  // Each query row keeps at least its first key, so no row is fully masked.
  const mask = Array.from({ length: s.b * s.tq * s.tk }, (_, i) => (i % s.tk === 0 || rng.nextFloat() < 0.6 ? 1 : 0));
  return { q, k, v, wOut, wScores, mask };
}

/** Forward values and gradients (w.r.t. q, k, v) of loss = Σ output·wOut + Σ scores·wScores, computed by `fn`. */
function runTf(fn: AttentionFn, s: Dims, c: ReturnType<typeof makeCase>, opts: AttentionOptions) {
  return tf.tidy(() => {
    const q = tf.tensor(c.q, [s.b, s.tq, s.h, s.d]);
    const k = tf.tensor(c.k, [s.b, s.tk, s.h, s.d]);
    const v = tf.tensor(c.v, [s.b, s.tk, s.h, s.dv]);
    const wOut = tf.tensor(c.wOut, [s.b, s.tq, s.h, s.dv]);
    const wScores = tf.tensor(c.wScores, [s.b, s.h, s.tq, s.tk]);
    const loss = (a: tf.Tensor, b: tf.Tensor, d: tf.Tensor) => {
      const r = fn(a, b, d, opts);
      return tf.add(tf.sum(tf.mul(r.output, wOut)), tf.sum(tf.mul(r.scores, wScores)));
    };
    const r = fn(q, k, v, opts);
    const grads = tf.grads(loss)([q, k, v]);
    return {
      output: Array.from(r.output.dataSync()),
      scores: Array.from(r.scores.dataSync()),
      grads: grads.map((g) => Array.from(g.dataSync())),
      outputShape: r.output.shape,
      scoresShape: r.scores.shape,
    };
  });
}

function reference64(s: Dims, c: ReturnType<typeof makeCase>, mask: number[] | null, drop: number[] | null) {
  const f = (q: number[], k: number[], v: number[]) => {
    const r = attention64(s, q, k, v, mask, drop);
    return dot(r.output, c.wOut) + dot(r.scores, c.wScores);
  };
  const r = attention64(s, c.q, c.k, c.v, mask, drop);
  return {
    output: r.output,
    scores: r.scores,
    grads: [
      numericGradient((q) => f(q, c.k, c.v), c.q),
      numericGradient((k) => f(c.q, k, c.v), c.k),
      numericGradient((v) => f(c.q, c.k, v), c.v),
    ],
  };
}

describeBackends('scaledDotProductAttention fast path', (backend) => {
  const variants: [string, AttentionFn][] = [
    ['fast', attentionFast],
    ['reference', attentionReference],
  ];
  for (const [name, fn] of variants) {
    it(`${name}: forward and gradients match a float64 reference, no mask`, () => {
      const c = makeCase(1);
      const got = runTf(fn, DIMS, c, {});
      const want = reference64(DIMS, c, null, null);
      expect(got.outputShape).toEqual([2, 3, 2, 2]);
      expect(got.scoresShape).toEqual([2, 2, 3, 4]);
      expectClose(got.output, want.output, `${backend} ${name} output`);
      expectClose(got.scores, want.scores, `${backend} ${name} scores`);
      want.grads.forEach((g, i) => expectClose(got.grads[i], g, `${backend} ${name} grad ${'qkv'[i]}`));
    });

    it(`${name}: forward and gradients match a float64 reference, with a [B, Tq, Tk] mask`, () => {
      const c = makeCase(2);
      const mask = tf.tensor(c.mask, [DIMS.b, DIMS.tq, DIMS.tk]);
      const got = runTf(fn, DIMS, c, { mask });
      mask.dispose();
      const want = reference64(DIMS, c, c.mask, null);
      expectClose(got.output, want.output, `${backend} ${name} output`);
      expectClose(got.scores, want.scores, `${backend} ${name} scores`);
      // Masked probabilities are exactly 0.
      c.mask.forEach((m, i) => {
        if (m === 0) {
          const bi = Math.floor(i / (DIMS.tq * DIMS.tk));
          const rest = i % (DIMS.tq * DIMS.tk);
          for (let hi = 0; hi < DIMS.h; hi++) expect(got.scores[(bi * DIMS.h + hi) * DIMS.tq * DIMS.tk + rest]).toBe(0);
        }
      });
      want.grads.forEach((g, i) => expectClose(got.grads[i], g, `${backend} ${name} grad ${'qkv'[i]}`));
    });

    it(`${name}: with dropout, the mask of dropoutMask(seed) is applied in forward and backward`, () => {
      const c = makeCase(3);
      const mask = tf.tensor(c.mask, [DIMS.b, 1, DIMS.tq, DIMS.tk]); // rank-4 mask, broadcast over heads
      const opts = { mask, dropout: 0.4, training: true, seed: 1234 };
      const got = runTf(fn, DIMS, c, opts);
      const drop = tf.tidy(() => Array.from(dropoutMask([DIMS.b, DIMS.h, DIMS.tq, DIMS.tk], 0.4, 1234).dataSync()));
      mask.dispose();
      expect(drop.some((x) => x === 0)).toBe(true);
      const want = reference64(DIMS, c, c.mask, drop);
      expectClose(got.output, want.output, `${backend} ${name} output`);
      expectClose(got.scores, want.scores, `${backend} ${name} scores`);
      want.grads.forEach((g, i) => expectClose(got.grads[i], g, `${backend} ${name} grad ${'qkv'[i]}`));
    });
  }

  it('fast and reference agree on a larger case with Tq ≠ Tk and a non-power-of-two key dim', () => {
    const s: Dims = { b: 3, tq: 9, tk: 7, h: 3, d: 5, dv: 6 };
    const c = makeCase(4, s);
    const opts = { dropout: 0.25, training: true, seed: 99, scale: 0.3 };
    const fast = runTf(attentionFast, s, c, opts);
    const ref = runTf(attentionReference, s, c, opts);
    expectClose(fast.output, ref.output, 'output');
    expectClose(fast.scores, ref.scores, 'scores');
    ref.grads.forEach((g, i) => expectClose(fast.grads[i], g, `grad ${'qkv'[i]}`));
  });

  it('dropout is off unless training', () => {
    const c = makeCase(5);
    const plain = runTf(attentionFast, DIMS, c, {});
    const inference = runTf(attentionFast, DIMS, c, { dropout: 0.5, training: false, seed: 3 });
    expect(inference.output).toEqual(plain.output);
  });

  it('leaks no tensors (forward and gradients, with mask and dropout)', async () => {
    const c = makeCase(6);
    const mask = tf.tensor(c.mask, [DIMS.b, DIMS.tq, DIMS.tk]);
    await expectNoTensorLeak(() => {
      runTf(attentionFast, DIMS, c, { mask, dropout: 0.2, training: true, seed: 5 });
      tf.tidy(() => {
        attentionFast(tf.ones([1, 2, 1, 3]), tf.ones([1, 2, 1, 3]), tf.ones([1, 2, 1, 3]));
      });
    });
    mask.dispose();
  });

  it('rejects operands of the wrong rank or mismatched shapes, naming them', () => {
    const q = tf.zeros([1, 2, 2, 3]);
    expect(() => attentionFast(tf.zeros([2, 2, 3]), q, q)).toThrow(/query, key and value must have rank 4/);
    expect(() => attentionFast(q, tf.zeros([1, 2, 2, 4]), q)).toThrow(/key dim/);
    expect(() => attentionFast(q, q, tf.zeros([1, 3, 2, 3]))).toThrow(/different lengths/);
    expect(() => attentionFast(q, q, q, { dropout: 1.5 })).toThrow(/dropout must be in/);
    q.dispose();
  });
});

describe('scaledDotProductAttention dispatch', () => {
  afterEach(() => setOpsMode('auto'));

  it('uses the same function in every ops mode, on both backends', async () => {
    const c = makeCase(7);
    const results = await onEachBackend(() =>
      (['auto', 'fast', 'reference'] as const).map((mode) => {
        setOpsMode(mode);
        return runTf(scaledDotProductAttention, DIMS, c, { dropout: 0.3, training: true, seed: 8 });
      }),
    );
    const base = results.cpu[2];
    for (const r of [...results.cpu, ...results.wasm]) {
      expectClose(r.output, base.output, 'output');
      r.grads.forEach((g, i) => expectClose(g, base.grads[i], `grad ${'qkv'[i]}`));
    }
  });

  it('setOpsMode validates its argument', () => {
    expect(() => setOpsMode('turbo' as never)).toThrow(/mode must be one of 'auto', 'fast', 'reference', got 'turbo'/);
    expect(getOpsMode()).toBe('auto');
  });
});
