/**
 * Dropout masks drawn by the SIMD module's `dropout_mask` (see `simd.ts`): four xoshiro128** streams in the lanes
 * of a vector, the same draws as the JavaScript loop of `dropoutMask`, written straight into the tensor's memory.
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { registerSimdKernel } from './simd';

/**
 * Kernel name of the mask.
 *
 * @category Ops
 */
export const DROPOUT_MASK_KERNEL = 'VitTfjsDropoutMask';

registerSimdKernel(DROPOUT_MASK_KERNEL, ({ simd, backend, address }, _inputs, attrs) => {
  const shape = attrs.shape as number[];
  const states = attrs.states as number[];
  const out = backend.makeOutput(shape, 'float32');
  const size = tf.util.sizeFromShape(shape);
  if (size > 0) simd.dropout_mask(address(out), size, ...states, attrs.threshold as number, attrs.scale as number);
  return out;
});

/**
 * A float32 tensor of `shape`: entry i is 0 where the ⌊i / 4⌋-th draw of xoshiro128** stream i mod 4 (`states`:
 * 4 × 4 words) is below `threshold` (a 32-bit integer), `scale` elsewhere. Only where {@link simdKernelsAvailable}.
 * @internal
 */
export function simdDropoutMask(shape: number[], threshold: number, scale: number, states: Uint32Array): tf.Tensor {
  if (states.length !== 16) throw new Error(`${DROPOUT_MASK_KERNEL}: expected 16 state words, got ${states.length}`);
  const attrs = { shape, threshold, scale, states: Array.from(states) } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(DROPOUT_MASK_KERNEL, {}, attrs) as tf.Tensor;
}
