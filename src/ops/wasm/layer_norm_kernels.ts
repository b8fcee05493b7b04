/**
 * Layer normalization over the last axis and its gradient through the SIMD module (see `simd.ts`): one pass over
 * the rows each way instead of a dozen elementwise and reduction kernels, and the scale and offset gradients summed
 * in the same pass (the wasm `Sum` over leading axes transposes first).
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerSimdKernel } from './simd';

/**
 * Kernel names of the normalization and its gradient.
 *
 * @category Ops
 */
export const LAYER_NORM_KERNEL = 'VitTfjsLayerNorm';
export const LAYER_NORM_GRAD_KERNEL = 'VitTfjsLayerNormGrad';

/** [rows, cols] of a tensor normalized over its last axis. */
function rowsAndColumns(shape: number[]): [number, number] {
  const cols = shape[shape.length - 1] ?? 0;
  return [tf.util.sizeFromShape(shape) / cols, cols];
}

/** Whether the SIMD kernels take `x`: float32, a last axis of a multiple of 4, and γ / β of that many values. @internal */
export function simdLayerNormSupports(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null): boolean {
  const cols = x.shape[x.rank - 1] ?? 0;
  return (
    x.dtype === 'float32' && x.rank >= 1 && cols >= 4 && cols % 4 === 0 && [gamma, beta].every((p) => p == null || p.size === cols)
  );
}

function checkParameter(name: string, p: tf.TensorInfo | undefined, cols: number): void {
  if (p != null && tf.util.sizeFromShape(p.shape) !== cols) {
    throw new Error(`${LAYER_NORM_KERNEL}: ${name} [${p.shape}] must have the ${cols} values of the last axis`);
  }
}

function checkColumns(kernel: string, shape: number[]): [number, number] {
  const [rows, cols] = rowsAndColumns(shape);
  if (cols < 4 || cols % 4 !== 0) throw new Error(`${kernel}: the last axis of [${shape}] must be a multiple of 4`);
  return [rows, cols];
}

registerSimdKernel(LAYER_NORM_KERNEL, ({ simd, backend, address }, { x, gamma, beta }, attrs) => {
  const [rows, cols] = checkColumns(LAYER_NORM_KERNEL, x.shape);
  checkParameter('gamma', gamma, cols);
  checkParameter('beta', beta, cols);
  const y = backend.makeOutput(x.shape, 'float32');
  const xhat = backend.makeOutput(x.shape, 'float32');
  const rstd = backend.makeOutput([...x.shape.slice(0, -1), 1], 'float32');
  const at = (t: tf.TensorInfo | undefined) => (t == null ? 0 : address(t));
  simd.layer_norm(address(x), at(gamma), at(beta), address(y), address(xhat), address(rstd), rows, cols, attrs.epsilon as number);
  return [y, xhat, rstd];
});

registerSimdKernel(LAYER_NORM_GRAD_KERNEL, ({ simd, backend, address }, { dy, xhat, rstd, gamma }) => {
  const [rows, cols] = checkColumns(LAYER_NORM_GRAD_KERNEL, dy.shape);
  checkParameter('gamma', gamma, cols);
  if (!tf.util.arraysEqual(dy.shape, xhat.shape) || tf.util.sizeFromShape(rstd.shape) !== rows) {
    throw new Error(`${LAYER_NORM_GRAD_KERNEL}: dy [${dy.shape}], x̂ [${xhat.shape}] and 1/σ [${rstd.shape}] do not match`);
  }
  const dx = backend.makeOutput(dy.shape, 'float32');
  const dgamma = backend.makeOutput([cols], 'float32');
  const dbeta = backend.makeOutput([cols], 'float32');
  simd.layer_norm_grad(address(dy), address(xhat), address(rstd), gamma == null ? 0 : address(gamma), address(dx), address(dgamma), address(dbeta), rows, cols);
  return [dx, dgamma, dbeta];
});

function optional(inputs: Record<string, tf.Tensor | null>): tf.NamedTensorMap {
  return Object.fromEntries(Object.entries(inputs).filter(([, t]) => t != null)) as tf.NamedTensorMap;
}

/**
 * `[y, x̂, 1/σ]` of layer normalization over the last axis (1/σ of shape [..., 1]); γ and β optional (1 and 0).
 * Only where {@link simdKernelsAvailable} and {@link simdLayerNormSupports}.
 * @internal
 */
export function simdLayerNorm(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, epsilon: number): tf.Tensor[] {
  return tf.engine().runKernel(LAYER_NORM_KERNEL, optional({ x, gamma, beta }), { epsilon }) as unknown as tf.Tensor[];
}

/** `[dx, dγ, dβ]` of {@link simdLayerNorm} from dy, x̂ and 1/σ (dγ, dβ of shape [cols]). @internal */
export function simdLayerNormGrad(dy: tf.Tensor, xhat: tf.Tensor, rstd: tf.Tensor, gamma: tf.Tensor | null): tf.Tensor[] {
  return tf.engine().runKernel(LAYER_NORM_GRAD_KERNEL, optional({ dy, xhat, rstd, gamma }), {}) as unknown as tf.Tensor[];
}
