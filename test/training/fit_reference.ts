/**
 * Float64 reference of training a linear classifier (logits = x·W + b) with sparse softmax cross-entropy, for the
 * fitViT tests: written from the formulas, independent of the library's training code.
 */
export interface Linear {
  W: number[][]; // [inputs][classes]
  b: number[];
}

export function logits(p: Linear, x: number[]): number[] {
  return p.b.map((bj, j) => x.reduce((s, xi, i) => s + xi * p.W[i][j], bj));
}

export function lossOf(z: number[], label: number): number {
  const m = Math.max(...z);
  const lse = m + Math.log(z.reduce((s, v) => s + Math.exp(v - m), 0));
  return lse - z[label];
}

/** Arg-max, first index winning a tie. */
export function argmax(z: number[]): number {
  let best = 0;
  for (let j = 1; j < z.length; j++) if (z[j] > z[best]) best = j;
  return best;
}

/** Mean loss and mean gradient over a batch. */
export function batchGradient(p: Linear, xs: number[][], ys: number[]): { loss: number; hits: number; dW: number[][]; db: number[] } {
  const dW = p.W.map((row) => row.map(() => 0));
  const db = p.b.map(() => 0);
  let loss = 0;
  let hits = 0;
  xs.forEach((x, n) => {
    const z = logits(p, x);
    loss += lossOf(z, ys[n]);
    if (argmax(z) === ys[n]) hits++;
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const s = e.reduce((a, v) => a + v, 0);
    const g = e.map((v, j) => v / s - (j === ys[n] ? 1 : 0));
    x.forEach((xi, i) => g.forEach((gj, j) => (dW[i][j] += (xi * gj) / xs.length)));
    g.forEach((gj, j) => (db[j] += gj / xs.length));
  });
  return { loss: loss / xs.length, hits, dW, db };
}

export function evaluateLinear(p: Linear, xs: number[][], ys: number[]): { loss: number; accuracy: number } {
  const r = batchGradient(p, xs, ys);
  return { loss: r.loss, accuracy: r.hits / xs.length };
}

export function clone(p: Linear): Linear {
  return { W: p.W.map((r) => [...r]), b: [...p.b] };
}
