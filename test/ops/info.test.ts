/**
 * opsInfo(): which implementation of the ops runs, as users and bug reports see it.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers';
import { ops, opsInfo } from '../../src';
import { useBackend } from '../helpers/backends';

describe('opsInfo', () => {
  afterEach(() => ops.setOpsMode('auto'));

  it('on cpu: fast formulations in auto mode, no SIMD kernels, no wasm build', async () => {
    await useBackend('cpu');
    expect(opsInfo()).toEqual({
      backend: 'cpu',
      tfjsVersion: tf.version_core,
      mode: 'auto',
      fastPath: true,
      simdKernels: false,
      wasmThreaded: null,
      wasmThreads: null,
      zeroCopyIdentity: expect.any(Boolean),
    });
    ops.setOpsMode('reference');
    expect(opsInfo()).toMatchObject({ mode: 'reference', fastPath: false, simdKernels: false });
  });

  it('on wasm: the SIMD kernels on the unthreaded build; reference mode turns both paths off', async () => {
    await useBackend('wasm');
    expect(opsInfo()).toMatchObject({ backend: 'wasm', mode: 'auto', fastPath: true, simdKernels: true, wasmThreaded: false, wasmThreads: 1 });
    // The first fast-path op on wasm switches the zero-copy Identity on.
    tf.tidy(() => ops.gelu(tf.ones([4])));
    expect(opsInfo().zeroCopyIdentity).toBe(true);
    ops.setOpsMode('reference');
    expect(opsInfo()).toMatchObject({ mode: 'reference', fastPath: false, simdKernels: false, zeroCopyIdentity: false, wasmThreaded: false });
    ops.setOpsMode('fast');
    expect(opsInfo()).toMatchObject({ mode: 'fast', fastPath: true, simdKernels: true });
  });

  it('is plain data (JSON for a bug report)', async () => {
    await useBackend('cpu');
    const info = opsInfo();
    expect(JSON.parse(JSON.stringify(info))).toEqual(info);
  });
});
