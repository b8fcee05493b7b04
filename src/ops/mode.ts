import * as tf from '@tensorflow/tfjs-core';
import { sharedState } from '../utils/shared_state';
import { assertOneOf } from '../utils/validate';
import { simdKernelsAvailable } from './wasm/simd';
import { setWasmZeroCopyIdentity } from './wasm/zero_copy_identity';

/**
 * Which formulation the library's ops ({@link linear}, {@link scaledDotProductAttention}, {@link layerNorm},
 * {@link gelu}) use:
 * - `'auto'` (default): the fast formulations (custom gradients made of 2-D non-transposed matrix products; on
 *   wasm, the library's own WebAssembly SIMD kernels for strided products and GELU) on the wasm and cpu backends
 *   (on cpu they are 1.0–1.8× faster than the plain ones), the plain tf-op formulations on the others (tfjs-node,
 *   webgl, webgpu), whose kernels handle transposed and batched products natively;
 * - `'fast'`: the fast formulations on every backend (the wasm-only SIMD kernels are replaced by tf ops on other
 *   backends);
 * - `'reference'`: the plain tf-op formulations everywhere.
 *
 * Both compute the same function (float32 rounding aside); the test suite checks values and gradients.
 *
 * While the fast formulations run on wasm, the wasm backend's `Identity` kernel (which tfjs uses to keep the
 * tensors gradients need) shares data instead of copying it, as the cpu backend's does: same values, about a
 * third less activation memory in a training step. `'reference'` mode restores tfjs's kernel.
 *
 * @category Ops
 */
export type OpsMode = 'auto' | 'fast' | 'reference';

/** The mode, on `globalThis` so that every copy of the library in the process (ESM and CommonJS) shares it. */
const shared = sharedState<{ mode: OpsMode }>('opsMode.v1', () => ({ mode: 'auto' }));

/**
 * Chooses the formulation of the library's ops (see {@link OpsMode}). Meant for benchmarks and tests;
 * the default `'auto'` is the right choice for training and inference.
 * `opsInfo()` (top level of `vit-tfjs`) reports the mode and what runs on the active backend.
 *
 * @example
 * ```ts
 * ops.setOpsMode('reference'); // plain tf ops, e.g. to compare speed or results
 * ```
 *
 * @category Ops
 */
export function setOpsMode(newMode: OpsMode): void {
  assertOneOf('mode', newMode, ['auto', 'fast', 'reference'] as const);
  shared.mode = newMode;
  if (newMode === 'reference') setWasmZeroCopyIdentity(false);
}

/**
 * The current {@link OpsMode}.
 *
 * @category Ops
 */
export function getOpsMode(): OpsMode {
  return shared.mode;
}

/** Whether the ops should take their fast formulation on the active backend. @internal */
export function useFastOps(): boolean {
  if (shared.mode === 'reference') return false;
  if (shared.mode === 'fast') return true;
  const backend = tf.getBackend();
  return backend === 'wasm' || backend === 'cpu';
}

/**
 * Called by every fast formulation before it runs: on wasm, switches the zero-copy `Identity` on (the custom
 * gradients keep their tensors through it; a copying `Identity` would double their memory).
 * @internal
 */
export function prepareFastPath(): void {
  if (tf.getBackend() === 'wasm') setWasmZeroCopyIdentity(true);
}

/** Whether the fast formulations may use the library's WebAssembly SIMD kernels (wasm backend only). @internal */
export function useSimdKernels(): boolean {
  return shared.mode !== 'reference' && simdKernelsAvailable();
}
