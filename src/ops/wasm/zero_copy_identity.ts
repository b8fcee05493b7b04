/**
 * A zero-copy `Identity` kernel for the wasm backend.
 *
 * tfjs keeps the tensors a gradient needs by cloning them (`save` → `tf.clone` → the `Identity` kernel), and
 * tfjs-backend-wasm's `Identity` copies the data, where the cpu backend (and the wasm backend's own `Reshape`)
 * share it with a reference count. During training that copies, for every differentiable op, the inputs its
 * gradient keeps: a reshape, an add or a multiply copies its operands, which on the reference ViT made up about a
 * third of the wasm heap's growth per image in a training step.
 *
 * With {@link setWasmZeroCopyIdentity}(true) the wasm `Identity` returns the input's data with its reference count
 * raised, as the cpu backend does. Values are identical (tensors are immutable in tfjs: no kernel writes into an
 * existing tensor's buffer, and `Variable.assign` swaps buffers rather than writing into them); only the copies go.
 * The library turns it on while its fast formulations are active on wasm (see `setOpsMode`) and restores tfjs's
 * kernel in `'reference'` mode.
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { sharedState } from '../../utils/shared_state';

type KernelFn = (args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: unknown }) => tf.TensorInfo;

/**
 * tfjs's own `Identity` kernel while the zero-copy one replaces it. Kept on `globalThis`: the kernel registry is one
 * per process, so every copy of the library (ESM and CommonJS) must see which kernel it replaced.
 */
const shared = sharedState<{ originalKernel: KernelFn | null }>('wasmIdentity.v1', () => ({ originalKernel: null }));

function sharingIdentity(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const x = args.inputs.x as tf.TensorInfo;
  const originalKernel = shared.originalKernel;
  if (x.dtype === 'string' || originalKernel == null) return (originalKernel as KernelFn)(args);
  (args.backend as { incRef(dataId: unknown): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/**
 * Turns the zero-copy wasm `Identity` on or off (see the module notes). Does nothing when the wasm backend's
 * kernels are not registered.
 * @internal
 */
export function setWasmZeroCopyIdentity(enabled: boolean): void {
  const config = tf.getKernel('Identity', 'wasm') as unknown as { kernelFunc: KernelFn } | undefined;
  if (config == null) return;
  if (enabled && shared.originalKernel == null) {
    shared.originalKernel = config.kernelFunc;
    config.kernelFunc = sharingIdentity as KernelFn;
  } else if (!enabled && shared.originalKernel != null) {
    config.kernelFunc = shared.originalKernel;
    shared.originalKernel = null;
  }
}

/** Whether the zero-copy wasm `Identity` is on. @internal */
export function wasmZeroCopyIdentityEnabled(): boolean {
  return shared.originalKernel != null;
}
