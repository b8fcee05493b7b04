/**
 * Dropout masks drawn by the SIMD module's `dropout_mask` (see `simd.ts`): the same xoshiro128** draws as the
 * JavaScript loop of `dropoutMask`, written straight into the tensor's memory (no JavaScript array to fill and copy).
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import type { RandomState } from '../../utils/random';
import { registerSimdKernel } from './simd';

/** Kernel name of the mask. */
export const DROPOUT_MASK_KERNEL = 'VitTfjsDropoutMask';

registerSimdKernel(DROPOUT_MASK_KERNEL, ({ simd, backend, address }, _inputs, attrs) => {
  const shape = attrs.shape as number[];
  const state = attrs.state as RandomState;
  const out = backend.makeOutput(shape, 'float32');
  const size = tf.util.sizeFromShape(shape);
  if (size > 0) simd.dropout_mask(address(out), size, state[0], state[1], state[2], state[3], attrs.threshold as number, attrs.scale as number);
  return out;
});

/**
 * A float32 tensor of `shape`: for each successive draw of the xoshiro128** generator in `state`, 0 where the
 * 32-bit draw is below `threshold` and `scale` elsewhere. Only where {@link simdKernelsAvailable}.
 * @internal
 */
export function simdDropoutMask(shape: number[], threshold: number, scale: number, state: RandomState): tf.Tensor {
  const attrs = { shape, threshold, scale, state } as unknown as tf.NamedAttrMap;
  return tf.engine().runKernel(DROPOUT_MASK_KERNEL, {}, attrs) as tf.Tensor;
}
