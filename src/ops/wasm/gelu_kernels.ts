/**
 * The exact GELU and its derivative through the SIMD module (see `simd.ts`): one pass each instead of tfjs's
 * scalar `Erf` / `Exp` loops and the elementwise kernels around them.
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerSimdKernel } from './simd';

/**
 * Kernel names of GELU and its gradient.
 *
 * @category Ops
 */
export const GELU_KERNEL = 'VitTfjsGelu';
export const GELU_GRAD_KERNEL = 'VitTfjsGeluGrad';

registerSimdKernel(GELU_KERNEL, ({ simd, backend, address }, { x }) => {
  const out = backend.makeOutput(x.shape, 'float32');
  simd.gelu(address(x), address(out), tf.util.sizeFromShape(x.shape));
  return out;
});

registerSimdKernel(GELU_GRAD_KERNEL, ({ simd, backend, address }, { x, dy }) => {
  if (!tf.util.arraysEqual(x.shape, dy.shape)) {
    throw new Error(`${GELU_GRAD_KERNEL}: x [${x.shape}] and dy [${dy.shape}] differ in shape`);
  }
  const out = backend.makeOutput(x.shape, 'float32');
  simd.gelu_grad(address(x), address(dy), address(out), tf.util.sizeFromShape(x.shape));
  return out;
});

/**
 * GELU(x) = x·Φ(x), elementwise: within 4e-7 of float64 over [−12, 12] (2e-5 relative where GELU is tiny).
 * Only where {@link simdKernelsAvailable}.
 * @internal
 */
export function simdGelu(x: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(GELU_KERNEL, { x } as unknown as tf.NamedTensorMap, {}) as tf.Tensor;
}

/** dy · GELU′(x) = dy · (Φ(x) + x·φ(x)), elementwise. Only where {@link simdKernelsAvailable}. @internal */
export function simdGeluGrad(x: tf.Tensor, dy: tf.Tensor): tf.Tensor {
  return tf.engine().runKernel(GELU_GRAD_KERNEL, { x, dy } as unknown as tf.NamedTensorMap, {}) as tf.Tensor;
}
