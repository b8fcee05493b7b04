/**
 * Matrix products through the SIMD module's `gemm` (see `simd.ts`), with operands addressed by strides.
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerSimdKernel } from './simd';

/**
 * Kernel name of the strided product.
 *
 * @category Ops
 */
export const STRIDED_MATMUL_KERNEL = 'VitTfjsStridedMatMul';

/**
 * Where the operands of a batch of products `C = alpha · A·B` live, as element strides into each tensor's data.
 * The batch has two levels (`batch[0]` × `batch[1]` products, e.g. examples × heads); `A` is [m, k] read through
 * any strides, `B` [k, n] and `C` [m, n] have contiguous rows.
 * @internal
 */
export interface MatMulLayout {
  batch: [number, number];
  m: number;
  n: number;
  k: number;
  /** A[i, p] of product (i1, i2) at `i1·batch[0] + i2·batch[1] + i·row + p·depth`. */
  a: { batch: [number, number]; row: number; depth: number };
  /** B[p, j] at `i1·batch[0] + i2·batch[1] + p·row + j`. */
  b: { batch: [number, number]; row: number };
  /** C[i, j] at `i1·batch[0] + i2·batch[1] + i·row + j`. */
  c: { batch: [number, number]; row: number };
  /** Multiplier of every product (default 1). */
  alpha?: number;
}

/** The largest element index a layout reaches in A, B and C. */
function lastIndices(l: MatMulLayout): [number, number, number] {
  const [n1, n2] = l.batch.map((x) => x - 1);
  return [
    n1 * l.a.batch[0] + n2 * l.a.batch[1] + (l.m - 1) * l.a.row + (l.k - 1) * l.a.depth,
    n1 * l.b.batch[0] + n2 * l.b.batch[1] + (l.k - 1) * l.b.row + l.n - 1,
    n1 * l.c.batch[0] + n2 * l.c.batch[1] + (l.m - 1) * l.c.row + l.n - 1,
  ];
}

registerSimdKernel(STRIDED_MATMUL_KERNEL, ({ simd, backend, address }, inputs, attrs) => {
  const { a, b, bias } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo; bias?: tf.TensorInfo };
  const l = attrs.layout as MatMulLayout;
  const outShape = attrs.outShape as number[];
  const outSize = outShape.reduce((x, y) => x * y, 1);
  const [aLast, bLast, cLast] = lastIndices(l);
  const sizes = [a, b].map((t) => t.shape.reduce((x, y) => x * y, 1));
  if (l.m < 1 || l.n < 1 || l.k < 1 || l.batch[0] < 1 || l.batch[1] < 1) {
    throw new Error(`${STRIDED_MATMUL_KERNEL}: empty product ${JSON.stringify(l)}`);
  }
  if (aLast >= sizes[0] || bLast >= sizes[1] || cLast >= outSize || l.batch[0] * l.batch[1] * l.m * l.n !== outSize) {
    throw new Error(
      `${STRIDED_MATMUL_KERNEL}: layout ${JSON.stringify(l)} does not fit a [${a.shape}], b [${b.shape}], out [${outShape}]`,
    );
  }
  if (bias != null && tf.util.sizeFromShape(bias.shape) !== l.n) {
    throw new Error(`${STRIDED_MATMUL_KERNEL}: bias [${bias.shape}] does not have the ${l.n} columns of the product`);
  }
  const out = backend.makeOutput(outShape, 'float32');
  simd.gemm(
    address(a), address(b), address(out), l.batch[0], l.batch[1],
    l.a.batch[0], l.a.batch[1], l.b.batch[0], l.b.batch[1], l.c.batch[0], l.c.batch[1],
    l.m, l.n, l.k, l.a.row, l.a.depth, l.b.row, l.c.row, l.alpha ?? 1, bias == null ? 0 : address(bias),
  );
  return out;
});

/**
 * `alpha · (A·B + bias)` for every product of `layout` (`bias`, of n values, added to every row), into a new
 * tensor of `outShape` (which the layout's C must cover exactly; an empty product gives zeros, or the bias). Only where {@link simdKernelsAvailable}; records
 * no gradient (use it inside `tf.customGrad`).
 * @internal
 */
export function stridedMatMul(a: tf.Tensor, b: tf.Tensor, outShape: number[], layout: MatMulLayout, bias?: tf.Tensor | null): tf.Tensor {
  if (tf.util.sizeFromShape(outShape) === 0) return tf.zeros(outShape);
  if (layout.k === 0) {
    // Empty sums: the output is alpha · bias in every row (or 0).
    return tf.tidy(() => (bias == null ? tf.zeros(outShape) : tf.mul(tf.broadcastTo(tf.reshape(bias, [layout.n]), outShape), layout.alpha ?? 1)));
  }
  const attrs = { layout, outShape } as unknown as tf.NamedAttrMap;
  const inputs = bias != null ? { a, b, bias } : { a, b };
  return tf.engine().runKernel(STRIDED_MATMUL_KERNEL, inputs as unknown as tf.NamedTensorMap, attrs) as tf.Tensor;
}

/** `a·b + bias` for a [m, k], b [k, n], bias [n] (optional) → [m, n]. @internal */
export function simdMatMul(a: tf.Tensor, b: tf.Tensor, bias?: tf.Tensor | null): tf.Tensor {
  if (a.rank !== 2 || b.rank !== 2 || a.shape[1] !== b.shape[0]) {
    throw new Error(`simdMatMul: expected matrices [m, k] and [k, n], got [${a.shape}] and [${b.shape}]`);
  }
  const [m, k] = a.shape as number[];
  const n = b.shape[1] as number;
  const none: [number, number] = [0, 0];
  return stridedMatMul(a, b, [m, n], { batch: [1, 1], m, n, k, a: { batch: none, row: k, depth: 1 }, b: { batch: none, row: n }, c: { batch: none, row: n } }, bias);
}

/** `a[i] · b[i]` (or `b[0]` for every i when b has batch 1) for a [N, m, k], b [N | 1, k, n] → [N, m, n]. @internal */
export function simdBatchMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  if (a.rank !== 3 || b.rank !== 3) throw new Error(`simdBatchMatMul: a and b must be rank 3, got [${a.shape}] and [${b.shape}]`);
  const [batch, m, k] = a.shape as number[];
  const [bBatch, kb, n] = b.shape as number[];
  if (kb !== k || (bBatch !== batch && bBatch !== 1)) {
    throw new Error(`simdBatchMatMul: shapes [${a.shape}] and [${b.shape}] do not match`);
  }
  return stridedMatMul(a, b, [batch, m, n], {
    batch: [batch, 1],
    m,
    n,
    k,
    a: { batch: [m * k, 0], row: k, depth: 1 },
    b: { batch: [bBatch === 1 ? 0 : k * n, 0], row: n },
    c: { batch: [m * n, 0], row: n },
  });
}

/** `xᵀ · y` for x [rows, m], y [rows, n] → [m, n], without transposing x (a dense layer's weight gradient). @internal */
export function simdMatMulTransposeA(x: tf.Tensor, y: tf.Tensor): tf.Tensor {
  if (x.rank !== 2 || y.rank !== 2 || x.shape[0] !== y.shape[0]) {
    throw new Error(`simdMatMulTransposeA: expected matrices with the same number of rows, got [${x.shape}] and [${y.shape}]`);
  }
  const [rows, m] = x.shape as number[];
  const n = y.shape[1] as number;
  return stridedMatMul(x, y, [m, n], {
    batch: [1, 1],
    m,
    n,
    k: rows,
    a: { batch: [0, 0], row: 1, depth: m },
    b: { batch: [0, 0], row: n },
    c: { batch: [0, 0], row: n },
  });
}

/** Σ over the rows of x [rows, n] → [n] (a bias gradient): `1ᵀ·x` with A a single 1 read at every position. @internal */
export function simdColumnSums(x: tf.Tensor): tf.Tensor {
  if (x.rank !== 2) throw new Error(`simdColumnSums: expected a matrix, got shape [${x.shape}]`);
  const [rows, n] = x.shape as number[];
  return tf.tidy(() =>
    stridedMatMul(tf.scalar(1), x, [n], {
      batch: [1, 1],
      m: 1,
      n,
      k: rows,
      a: { batch: [0, 0], row: 0, depth: 0 },
      b: { batch: [0, 0], row: n },
      c: { batch: [0, 0], row: n },
    }),
  );
}
