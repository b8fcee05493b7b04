import * as tf from '@tensorflow/tfjs-core';
import { getOpsMode, type OpsMode, useFastOps, useSimdKernels } from './mode';
import { wasmBuildOf } from './wasm/simd';
import { wasmZeroCopyIdentityEnabled } from './wasm/zero_copy_identity';

/**
 * What {@link opsInfo} reports: how the library's ops run on the active backend.
 *
 * @category Ops
 */
export interface OpsInfo {
  /** The active tfjs backend (`tf.getBackend()`): `'wasm'`, `'cpu'`, `'tensorflow'`, `'webgl'`, ... */
  backend: string;
  /** The version of tfjs-core in use. */
  tfjsVersion: string;
  /** The ops mode set with `ops.setOpsMode` (`'auto'` unless changed). */
  mode: OpsMode;
  /**
   * Whether the ops take their fast formulations (custom gradients of 2-D products) on this backend: in `'auto'` mode
   * on wasm and cpu, in `'fast'` mode everywhere, in `'reference'` mode nowhere.
   */
  fastPath: boolean;
  /**
   * Whether the library's own WebAssembly SIMD kernels run (matrix products with strided operands, GELU, LayerNorm,
   * dropout masks): wasm backend only, where the engine supports WebAssembly SIMD (on a browser's main thread, once
   * their asynchronous compilation has finished), and not in `'reference'` mode.
   */
  simdKernels: boolean;
  /**
   * On the wasm backend, whether it runs tfjs-backend-wasm's threaded build (shared memory; XNNPACK's operators use
   * a thread pool); null on other backends.
   */
  wasmThreaded: boolean | null;
  /** On the wasm backend, the number of threads it reports (1 on the unthreaded build); null on other backends. */
  wasmThreads: number | null;
  /**
   * Whether the wasm backend's `Identity` kernel is the library's zero-copy one (switched on by the first fast-path
   * op on wasm; see `ops.setOpsMode`).
   */
  zeroCopyIdentity: boolean;
}

/**
 * Which implementation of the library's ops runs now: the backend, the ops mode, whether the fast formulations and
 * the WebAssembly SIMD kernels are in use, and on wasm which build (threaded or not). Call it after the backend is
 * ready (`await tf.setBackend(...)`, `await tf.ready()`); include its output in bug reports and benchmark results.
 *
 * @example
 * ```ts
 * await tf.setBackend('wasm');
 * console.log(opsInfo());
 * // { backend: 'wasm', tfjsVersion: '4.22.0', mode: 'auto', fastPath: true, simdKernels: true,
 * //   wasmThreaded: false, wasmThreads: 1, zeroCopyIdentity: false }
 * ```
 *
 * @category Ops
 */
export function opsInfo(): OpsInfo {
  const backend = tf.getBackend();
  const build = backend === 'wasm' ? wasmBuildOf(tf.backend()) : null;
  return {
    backend,
    tfjsVersion: tf.version_core,
    mode: getOpsMode(),
    fastPath: useFastOps(),
    simdKernels: useSimdKernels(),
    wasmThreaded: build?.threaded ?? null,
    wasmThreads: build == null ? null : (build.threads ?? 1),
    zeroCopyIdentity: wasmZeroCopyIdentityEnabled(),
  };
}
