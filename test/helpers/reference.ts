/**
 * Independent float64 reference implementations (plain loops over nested arrays) and a central
 * finite-difference gradient checker, for the layer tests. Nothing here calls library code.
 */
import * as tf from '@tensorflow/tfjs-core';

export type Mat = number[][];

/** Float64 erf via its Maclaurin series (|x| < 5; ~1e-10 accurate there) and ±1 beyond. */
export function erf64(x: number): number {
  if (Math.abs(x) >= 5) return Math.sign(x);
  let term = x;
  let sum = x;
  for (let n = 1; n < 200; n++) {
    term *= (-x * x) / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17) break;
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}

/** Exact GELU in float64. */
export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}

/** a [n, k] · b [k, m] in float64. */
export function matmul64(a: Mat, b: Mat): Mat {
  const n = a.length;
  const k = b.length;
  const m = b[0].length;
  const out: Mat = [];
  for (let i = 0; i < n; i++) {
    const row = new Array<number>(m).fill(0);
    for (let j = 0; j < m; j++) {
      let s = 0;
      for (let t = 0; t < k; t++) s += a[i][t] * b[t][j];
      row[j] = s;
    }
    out.push(row);
  }
  return out;
}

/** x [n, in] · kernel [in, out] + bias [out]. */
export function dense64(x: Mat, kernel: Mat, bias: number[] | null): Mat {
  const y = matmul64(x, kernel);
  if (bias) for (const row of y) for (let j = 0; j < row.length; j++) row[j] += bias[j];
  return y;
}

/** Row-wise layer normalization (population variance). */
export function layerNorm64(x: Mat, gamma: number[], beta: number[], eps: number): Mat {
  return x.map((row) => {
    const mean = row.reduce((a, b) => a + b, 0) / row.length;
    const variance = row.reduce((a, b) => a + (b - mean) * (b - mean), 0) / row.length;
    const inv = 1 / Math.sqrt(variance + eps);
    return row.map((v, j) => (v - mean) * inv * gamma[j] + beta[j]);
  });
}

/** Row-wise softmax. */
export function softmax64(row: number[]): number[] {
  const max = Math.max(...row);
  const e = row.map((v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Weights of a multi-head attention in Keras's layout, as nested arrays. */
export interface MhaWeights64 {
  wq: number[][][]; // [dim, heads, keyDim]
  bq: number[][]; // [heads, keyDim]
  wk: number[][][];
  bk: number[][];
  wv: number[][][];
  bv: number[][];
  wo: number[][][]; // [heads, valueDim, out]
  bo: number[]; // [out]
}

/**
 * Multi-head attention of one sequence in float64: softmax(QKᵀ/√d + maskBias)·V per head, then the output
 * projection. query [Tq, dq], value [Tv, dv], key [Tv, dk], mask [Tq][Tv] (1 = attend) or null.
 * Returns the output [Tq, out] and the scores [heads][Tq][Tv].
 */
export function mha64(query: Mat, value: Mat, key: Mat, w: MhaWeights64, mask: number[][] | null): { output: Mat; scores: number[][][] } {
  const heads = w.wq[0].length;
  const keyDim = w.wq[0][0].length;
  const valueDim = w.wv[0][0].length;
  const outDim = w.bo.length;
  const project = (x: Mat, k: number[][][], b: number[][], h: number, d: number): Mat =>
    x.map((row) => {
      const out = new Array<number>(d).fill(0);
      for (let j = 0; j < d; j++) {
        let s = b[h][j];
        for (let i = 0; i < row.length; i++) s += row[i] * k[i][h][j];
        out[j] = s;
      }
      return out;
    });
  const output: Mat = query.map(() => new Array<number>(outDim).fill(0));
  const scores: number[][][] = [];
  for (let h = 0; h < heads; h++) {
    const q = project(query, w.wq, w.bq, h, keyDim);
    const k = project(key, w.wk, w.bk, h, keyDim);
    const v = project(value, w.wv, w.bv, h, valueDim);
    const headScores: number[][] = [];
    q.forEach((qi, i) => {
      const logits = k.map((kj, j) => {
        let s = 0;
        for (let t = 0; t < keyDim; t++) s += qi[t] * kj[t];
        s /= Math.sqrt(keyDim);
        if (mask && mask[i][j] === 0) s += -1e9;
        return s;
      });
      const p = softmax64(logits);
      headScores.push(p);
      const ctx = new Array<number>(valueDim).fill(0);
      p.forEach((pj, j) => {
        for (let t = 0; t < valueDim; t++) ctx[t] += pj * v[j][t];
      });
      for (let o = 0; o < outDim; o++) {
        let s = 0;
        for (let t = 0; t < valueDim; t++) s += ctx[t] * w.wo[h][t][o];
        output[i][o] += s;
      }
    });
    scores.push(headScores);
  }
  output.forEach((row) => row.forEach((_, o) => (row[o] += w.bo[o])));
  return { output, scores };
}

/** Max |a − b| over two nested arrays / typed arrays of the same shape. */
export function maxAbsDiff(a: ArrayLike<number> | unknown[], b: ArrayLike<number> | unknown[]): number {
  const fa = (Array.isArray(a) ? (a as unknown[]).flat(Infinity) : Array.from(a as ArrayLike<number>)) as number[];
  const fb = (Array.isArray(b) ? (b as unknown[]).flat(Infinity) : Array.from(b as ArrayLike<number>)) as number[];
  if (fa.length !== fb.length) throw new Error(`size mismatch ${fa.length} vs ${fb.length}`);
  let m = 0;
  for (let i = 0; i < fa.length; i++) m = Math.max(m, Math.abs(fa[i] - fb[i]));
  return m;
}

/** Deterministic pseudo-random numbers in [-1, 1) for test data (an LCG, independent of the library). */
export function testValues(n: number, seed: number): number[] {
  let s = seed >>> 0 || 1;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out.push(s / 2147483648 - 1);
  }
  return out;
}

/**
 * Checks the gradient of the scalar `loss(...inputs)` against central finite differences at a few sampled
 * coordinates of each input: |analytic − numeric| ≤ atol + rtol·|numeric|. float32 arithmetic: with h = 1e-2
 * the rounding error of the difference quotient is ~1e-5·|loss| and the truncation error O(h²).
 */
export function checkGradients(
  loss: (...inputs: tf.Tensor[]) => tf.Scalar,
  inputs: tf.Tensor[],
  { samples = 6, h = 1e-2, atol = 2e-3, rtol = 2e-2 }: { samples?: number; h?: number; atol?: number; rtol?: number } = {},
): void {
  const grads = tf.grads((...xs: tf.Tensor[]) => loss(...xs))(inputs);
  inputs.forEach((input, which) => {
    const analytic = grads[which].dataSync();
    const base = input.dataSync().slice();
    const picks = testValues(samples, 97 + which).map((v) => Math.floor(((v + 1) / 2) * base.length));
    for (const idx of picks) {
      const at = (delta: number): number => {
        const values = base.slice();
        values[idx] += delta;
        const shifted = inputs.map((t, i) => (i === which ? tf.tensor(values, input.shape, input.dtype) : t));
        const value = tf.tidy(() => loss(...shifted).dataSync()[0]);
        shifted[which].dispose();
        return value;
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      const diff = Math.abs(analytic[idx] - numeric);
      if (diff > atol + rtol * Math.abs(numeric)) {
        throw new Error(`gradient of input ${which} at ${idx}: analytic ${analytic[idx]} vs numeric ${numeric}`);
      }
    }
  });
  tf.dispose(grads);
}

/** Gives every weight of `layer` deterministic values in ±scale (biases too, so that they are exercised). */
export function fillWeights(layer: { weights: { shape: (number | null)[] }[]; setWeights(w: tf.Tensor[]): void }, seed: number, scale = 1): void {
  const values = layer.weights.map((w, i) => {
    const shape = w.shape as number[];
    return tf.tensor(testValues(shape.reduce((a, b) => a * b, 1), seed + i).map((v) => v * scale), shape);
  });
  layer.setWeights(values);
  tf.dispose(values);
}

/** Reads a tensor as nested arrays of numbers. */
export function nested(t: tf.Tensor): unknown {
  return t.arraySync();
}

/**
 * Like {@link checkGradients}, for the gradients of `loss()` with respect to a layer's weights: analytic ones
 * from `tf.variableGrads`, numeric ones by writing perturbed values into each weight.
 */
export function checkWeightGradients(
  loss: () => tf.Scalar,
  weights: { read(): tf.Tensor; write(t: tf.Tensor): unknown }[],
  { samples = 4, h = 1e-2, atol = 2e-3, rtol = 2e-2 }: { samples?: number; h?: number; atol?: number; rtol?: number } = {},
): void {
  const variables = weights.map((w) => (w as unknown as { val: tf.Variable }).val);
  const { value, grads } = tf.variableGrads(loss, variables);
  value.dispose();
  weights.forEach((w, which) => {
    const variable = variables[which];
    const analytic = grads[variable.name].dataSync();
    const base = w.read().dataSync().slice();
    const picks = testValues(samples, 131 + which).map((v) => Math.floor(((v + 1) / 2) * base.length));
    for (const idx of picks) {
      const at = (delta: number): number => {
        const values = base.slice();
        values[idx] += delta;
        const t = tf.tensor(values, variable.shape);
        w.write(t);
        t.dispose();
        return tf.tidy(() => loss().dataSync()[0]);
      };
      const numeric = (at(h) - at(-h)) / (2 * h);
      const restore = tf.tensor(base, variable.shape);
      w.write(restore);
      restore.dispose();
      const diff = Math.abs(analytic[idx] - numeric);
      if (diff > atol + rtol * Math.abs(numeric)) {
        throw new Error(`gradient of weight ${variable.name} at ${idx}: analytic ${analytic[idx]} vs numeric ${numeric}`);
      }
    }
  });
  tf.dispose(Object.values(grads));
}
