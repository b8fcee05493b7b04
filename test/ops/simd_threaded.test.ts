/**
 * The SIMD kernels on tfjs-backend-wasm's threaded build (shared memory, started in Node by
 * initWasmBackendWithThreads): their second build, which imports a shared memory, must run there.
 */
import * as tf from '@tensorflow/tfjs-core';
import { opsInfo } from '../../src';
import { initWasmBackendWithThreads } from '../../src/ops/wasm/node_threads';
import { simdKernelsAvailable } from '../../src/ops/wasm/simd';
import { simdGelu } from '../../src/ops/wasm/gelu_kernels';
import { simdMatMulTransposeA } from '../../src/ops/wasm/strided_matmul';

describe('SIMD kernels on the threaded wasm build', () => {
  // The build's worker threads would keep this process alive.
  afterAll(() => (tf.backend() as unknown as { wasm: { PThread: { terminateAllThreads(): void } } }).wasm.PThread.terminateAllThreads());

  it('run on its shared memory and compute the same products', async () => {
    expect(await initWasmBackendWithThreads(2)).toBe(2);
    const memory = (tf.backend() as unknown as { wasm: { wasmMemory: WebAssembly.Memory } }).wasm.wasmMemory;
    expect(memory.buffer instanceof SharedArrayBuffer).toBe(true);
    expect(simdKernelsAvailable()).toBe(true);
    expect(opsInfo()).toMatchObject({ backend: 'wasm', fastPath: true, simdKernels: true, wasmThreaded: true, wasmThreads: 2 });
    const got = tf.tidy(() => ({
      product: Array.from(simdMatMulTransposeA(tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]), tf.tensor2d([1, 0, 0, 1, 1, 1], [3, 2])).dataSync()),
      gelu: Array.from(simdGelu(tf.tensor1d([0, 1])).dataSync()),
    }));
    // xᵀ·y by hand: x columns (1, 3, 5) and (2, 4, 6); y columns (1, 0, 1) and (0, 1, 1).
    expect(got.product).toEqual([6, 8, 8, 10]);
    expect(got.gelu[0]).toBe(0);
    expect(got.gelu[1]).toBeCloseTo(0.8413447460685429, 6); // Φ(1)
  });
});
