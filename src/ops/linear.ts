import * as tf from '@tensorflow/tfjs-core';
import { activate, ActivationName } from './activations';
import { customNode } from './fast_util';
import { prepareFastPath, useFastOps, useSimdKernels } from './mode';
import { transposeMatrix } from './transpose';
import { simdColumnSums, simdMatMul, simdMatMulTransposeA } from './wasm/strided_matmul';

/**
 * A dense projection over the last axis: `activation(x · kernel + bias)`, for `x` of any rank ≥ 2.
 *
 * `x` [..., inDim], `kernel` [inDim, outDim], `bias` [outDim] → [..., outDim]. A kernel of higher rank
 * [inDim, d1, d2, ...] (as Keras's `MultiHeadAttention` projections [dim, heads, keyDim]) is used as
 * [inDim, d1·d2·...] and gives [..., d1, d2, ...]; its bias then has shape [d1, d2, ...].
 *
 * This is the single place every dense computation of the library goes through. On the wasm and cpu backends (see
 * {@link OpsMode}) it runs as one 2-D non-transposed `matMul` with the bias (and a ReLU) fused, and its gradient
 * is made of explicit transposes and 2-D non-transposed products (`dX = dY·Wᵀ`, `dW = Xᵀ·dY`), which XNNPACK
 * runs 10× faster than the transposed products of tfjs's default `matMul` gradient. On wasm every product runs
 * through the library's SIMD kernel (which adds the bias in its tiles and reads Xᵀ of `dW = Xᵀ·dY` in place).
 *
 * @example
 * ```ts
 * const y = ops.linear(x, kernel, bias, 'gelu'); // [batch, tokens, inDim] → [batch, tokens, outDim]
 * ```
 *
 * @category Ops
 */
export function linear(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias?: tf.Tensor | null,
  activation: ActivationName = 'linear',
): tf.Tensor {
  return useFastOps() ? linearFast(x, kernel, bias, activation) : linearReference(x, kernel, bias, activation);
}

function checkShapes(x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor | null | undefined): [number, number] {
  if (kernel.rank < 2) throw new Error(`linear: kernel must have rank ≥ 2, got shape [${kernel.shape}]`);
  const inDim = kernel.shape[0];
  const outDim = kernel.size / inDim;
  if (x.rank < 1 || x.shape[x.rank - 1] !== inDim) {
    throw new Error(`linear: the last axis of x [${x.shape}] must match the kernel's first axis [${kernel.shape}]`);
  }
  if (bias != null && bias.size !== outDim) {
    throw new Error(`linear: bias of shape [${bias.shape}] does not match kernel [${kernel.shape}]`);
  }
  return [inDim, outDim];
}

/**
 * The plain formulation of {@link linear} (reshape, `tf.matMul`, add, activation; tfjs's default gradients),
 * kept as the reference the fast path is tested and benchmarked against.
 * @internal
 */
export function linearReference(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias?: tf.Tensor | null,
  activation: ActivationName = 'linear',
): tf.Tensor {
  const [inDim, outDim] = checkShapes(x, kernel, bias);
  return tf.tidy(() => {
    const outShape = [...x.shape.slice(0, -1), ...kernel.shape.slice(1)];
    const x2 = tf.reshape(x, [-1, inDim]);
    let y = tf.matMul(x2, tf.reshape(kernel, [inDim, outDim]));
    if (bias != null) y = tf.add(y, tf.reshape(bias, [outDim]));
    y = activate(y, activation, false);
    return tf.reshape(y, outShape);
  });
}

type Fused = 'linear' | 'relu';

/** `fusedAct(x2 · w + b)` as one node whose gradient uses only non-transposed 2-D products. */
function denseNode(fused: Fused, withBias: boolean): (...args: tf.Tensor[]) => tf.Tensor {
  return customNode<tf.Tensor[]>((...args: unknown[]) => {
    const x2 = args[0] as tf.Tensor2D;
    const w = args[1] as tf.Tensor2D;
    const b = withBias ? (args[2] as tf.Tensor1D) : undefined;
    const save = args[withBias ? 3 : 2] as tf.GradSaveFunc;
    const simd = useSimdKernels();
    // On wasm the SIMD product (no packing of W, bias added in its tiles) is 10–25% faster than XNNPACK's here.
    const matMul = (a: tf.Tensor, c: tf.Tensor) => (simd ? simdMatMul(a, c) : tf.matMul(a, c));
    let y: tf.Tensor;
    if (simd) {
      y = simdMatMul(x2, w, b);
      if (fused === 'relu') y = tf.relu(y);
    } else if (b == null || biasIsFusable(b)) {
      y = tf.fused.matMul({ a: x2, b: w, bias: b, activation: fused });
    } else {
      y = tf.add(tf.matMul(x2, w), b);
      if (fused === 'relu') y = tf.relu(y);
    }
    save(fused === 'relu' ? [x2, w, y] : [x2, w]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ws] = saved;
        const dz = fused === 'relu' ? tf.mul(dy, tf.step(saved[2])) : dy;
        const rows = dz.shape[0];
        const [inDim, outDim] = ws.shape;
        // dX = dY·Wᵀ transposes and packs W; for a large kernel seen by few rows (a classifier head at a small
        // batch) dX = (W·dYᵀ)ᵀ is cheaper: it streams W and transposes / packs only row-sized operands.
        const dx =
          rows * (2 * outDim + inDim) < inDim * outDim
            ? transposeMatrix(matMul(ws, transposeMatrix(dz)))
            : matMul(dz, transposeMatrix(ws));
        if (simd) {
          // The SIMD product reads Xᵀ through strides: no transpose, no packed copy of a [rows, ·] operand.
          const dw = simdMatMulTransposeA(xs, dz);
          return withBias ? [dx, dw, simdColumnSums(dz)] : [dx, dw];
        }
        // XNNPACK packs the second operand of every product anew (a few ns per element): of dW = Xᵀ·dY and
        // dW = (dYᵀ·X)ᵀ, use the one whose second operand (X [rows, in] or dY [rows, out]) is narrower. With dYᵀ
        // at hand, the bias gradient is a sum over its last axis, several times faster than over dY's first.
        if (inDim <= outDim) {
          const dzT = transposeMatrix(dz);
          const dw = transposeMatrix(tf.matMul(dzT, xs));
          return withBias ? [dx, dw, tf.sum(dzT, 1)] : [dx, dw];
        }
        const dw = tf.matMul(transposeMatrix(xs), dz);
        return withBias ? [dx, dw, biasGradient(dz)] : [dx, dw];
      },
    };
  });
}

/**
 * Σ over the rows of `dz` [rows, outDim], right after `dz` was the second operand of a product. On wasm that
 * product left XNNPACK's packed copy of `dz` cached on its tensor id, so `1ᵀ·dz` reuses it and costs a pass over
 * the packed data (0.1 ms for [4096, 128], where the wasm `Sum` over the first axis transposes first: 4 ms).
 */
function biasGradient(dz: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.sum(dz, 0);
  const [rows, outDim] = dz.shape as [number, number];
  return tf.tidy(() => tf.reshape(tf.matMul(tf.ones([1, rows]), dz), [outDim]));
}

/**
 * The wasm `_FusedMatMul` kernel checks the rank of the bias as stored by the backend, which for a bias reshaped
 * from another shape is the original rank; such a bias is added separately.
 */
function biasIsFusable(bias: tf.Tensor): boolean {
  if (tf.getBackend() !== 'wasm') return true;
  const data = (tf.backend() as { dataIdMap?: { get(id: unknown): { shape?: number[] } | undefined } }).dataIdMap?.get(bias.dataId);
  return data?.shape?.length === 1;
}

/**
 * `bias` as a rank-1 tensor the fused product accepts: for XNNPACK's product a reshaped bias (e.g. [heads, dim]
 * of an attention projection) gets its own rank-1 buffer through a multiply by 1 (a few hundred elements), so that
 * the bias is added inside the product instead of by a separate pass over the output. The SIMD product takes any
 * bias of the right size as it is.
 */
function fusableBias(bias: tf.Tensor, outDim: number): tf.Tensor {
  const b = bias.rank === 1 ? bias : tf.reshape(bias, [outDim]);
  return useSimdKernels() || biasIsFusable(b) ? b : tf.mul(b, 1);
}

const nodes = new Map<string, (...args: tf.Tensor[]) => tf.Tensor>();

function getNode(fused: Fused, withBias: boolean): (...args: tf.Tensor[]) => tf.Tensor {
  const key = `${fused}/${withBias}`;
  let node = nodes.get(key);
  if (node == null) {
    node = denseNode(fused, withBias);
    nodes.set(key, node);
  }
  return node;
}

/**
 * The fast formulation of {@link linear} (see there); any backend.
 * @internal
 */
export function linearFast(
  x: tf.Tensor,
  kernel: tf.Tensor,
  bias?: tf.Tensor | null,
  activation: ActivationName = 'linear',
): tf.Tensor {
  const [inDim, outDim] = checkShapes(x, kernel, bias);
  prepareFastPath();
  return tf.tidy(() => {
    const outShape = [...x.shape.slice(0, -1), ...kernel.shape.slice(1)];
    const x2 = tf.reshape(x, [-1, inDim]);
    const w = kernel.rank === 2 ? kernel : tf.reshape(kernel, [inDim, outDim]);
    const fused: Fused = activation === 'relu' ? 'relu' : 'linear';
    const args = bias != null ? [x2, w, fusableBias(bias, outDim)] : [x2, w];
    let y = getNode(fused, bias != null)(...args);
    if (fused === 'linear') y = activate(y, activation, true);
    return tf.reshape(y, outShape);
  });
}
