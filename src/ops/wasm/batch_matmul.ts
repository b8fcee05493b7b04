/**
 * A batched matrix product for the wasm backend that runs every batch slice through XNNPACK.
 *
 * tfjs-backend-wasm 4.x sends a `matMul` to XNNPACK's fully-connected operator only when it is 2-D and has no
 * transpose flags; a batched (rank-3) product runs a naive triple loop that is 10–20× slower. Slicing the batch
 * with `tf.slice` / `tf.unstack` does not help there: the wasm `Slice` kernel copies the whole input to the
 * JavaScript heap for every slice. This kernel instead registers, for each batch slice, *views* (tensor ids that
 * point into the middle of the operands' and the output's wasm buffers) and calls the backend's own exported
 * `BatchMatMul` function on them, which then takes its XNNPACK path. No data is copied.
 *
 * It relies on internals of `@tensorflow/tfjs-backend-wasm` 4.x (the backend's `dataIdMap`, `dataIdNextNumber`,
 * `wasm.tfjs.registerTensor` / `disposeData` and the exported `BatchMatMul` function). {@link wasmBatchMatMulAvailable}
 * checks that they are present; callers fall back to plain tf ops when they are not.
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/** Kernel name under which the batched product is registered for the wasm backend. */
export const WASM_BATCH_MATMUL_KERNEL = 'VitTfjsWasmBatchMatMul';

interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
}

interface WasmModuleLike {
  cwrap(name: string, returnType: null, argTypes: string[]): (...args: unknown[]) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

interface WasmBackendLike {
  wasm: WasmModuleLike;
  dataIdMap: { get(dataId: unknown): WasmTensorData | undefined };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

type RawBatchMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

let rawBatchMatMul: RawBatchMatMul | null = null;
let rawFor: WasmModuleLike | null = null;
let registered = false;
let availability: boolean | null = null;

function asWasmBackend(backend: unknown): WasmBackendLike | null {
  const b = backend as Partial<WasmBackendLike> | null;
  if (
    b == null ||
    b.wasm == null ||
    typeof b.wasm.cwrap !== 'function' ||
    b.wasm.tfjs == null ||
    typeof b.wasm.tfjs.registerTensor !== 'function' ||
    typeof b.wasm.tfjs.disposeData !== 'function' ||
    b.dataIdMap == null ||
    typeof b.dataIdMap.get !== 'function' ||
    typeof b.dataIdNextNumber !== 'number' ||
    typeof b.makeOutput !== 'function'
  ) {
    return null;
  }
  return b as WasmBackendLike;
}

function getRaw(wasm: WasmModuleLike): RawBatchMatMul {
  if (rawBatchMatMul == null || rawFor !== wasm) {
    rawBatchMatMul = wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as RawBatchMatMul;
    rawFor = wasm;
  }
  return rawBatchMatMul;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}

/** `out[i] = a[i] · b[i]` (or `b[0]` when b has batch 1) for a [n, m, k], b [n | 1, k, p] → [n, m, p]. */
function batchMatMulKernel(args: { inputs: tf.NamedTensorInfoMap; backend: unknown }): tf.TensorInfo {
  const backend = asWasmBackend(args.backend);
  if (backend == null) throw new Error(`${WASM_BATCH_MATMUL_KERNEL}: the active backend is not tfjs-backend-wasm`);
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  if (a.dtype !== 'float32' || b.dtype !== 'float32') {
    throw new Error(`${WASM_BATCH_MATMUL_KERNEL}: a and b must be float32, got ${a.dtype} and ${b.dtype}`);
  }
  if (a.shape.length !== 3 || b.shape.length !== 3) {
    throw new Error(`${WASM_BATCH_MATMUL_KERNEL}: a and b must be rank 3, got [${a.shape}] and [${b.shape}]`);
  }
  const [n, m, k] = a.shape;
  const [nb, kb, p] = b.shape;
  if (kb !== k || (nb !== n && nb !== 1)) {
    throw new Error(`${WASM_BATCH_MATMUL_KERNEL}: shapes [${a.shape}] and [${b.shape}] do not match`);
  }
  const out = backend.makeOutput([n, m, p], 'float32');
  const aData = backend.dataIdMap.get(a.dataId) as WasmTensorData;
  const bData = backend.dataIdMap.get(b.dataId) as WasmTensorData;
  const outData = backend.dataIdMap.get(out.dataId) as WasmTensorData;
  const raw = getRaw(backend.wasm);
  const reg = backend.wasm.tfjs;
  const aShape = shapeBytes([1, m, k]);
  const bShape = shapeBytes([1, k, p]);
  const aStride = m * k * 4;
  const bStride = nb === 1 ? 0 : k * p * 4;
  const outStride = m * p * 4;
  // A broadcast b keeps one view for the whole loop, so XNNPACK packs it once.
  let sharedB = 0;
  if (nb === 1) {
    sharedB = backend.dataIdNextNumber++;
    reg.registerTensor(sharedB, k * p, bData.memoryOffset);
  }
  try {
    for (let i = 0; i < n; i++) {
      const aId = backend.dataIdNextNumber++;
      const outId = backend.dataIdNextNumber++;
      reg.registerTensor(aId, m * k, aData.memoryOffset + i * aStride);
      reg.registerTensor(outId, m * p, outData.memoryOffset + i * outStride);
      let bId = sharedB;
      if (nb !== 1) {
        bId = backend.dataIdNextNumber++;
        reg.registerTensor(bId, k * p, bData.memoryOffset + i * bStride);
      }
      try {
        raw(aId, aShape, 3, bId, bShape, 3, false, false, outId);
      } finally {
        // Disposing a view only forgets the id (and the XNNPACK operator cached on it); the memory stays.
        reg.disposeData(aId);
        reg.disposeData(outId);
        if (nb !== 1) reg.disposeData(bId);
      }
    }
  } finally {
    if (sharedB !== 0) reg.disposeData(sharedB);
  }
  return out;
}

/**
 * Whether the active backend is tfjs-backend-wasm with the internals {@link wasmBatchMatMul} needs.
 * @internal
 */
export function wasmBatchMatMulAvailable(): boolean {
  if (tf.getBackend() !== 'wasm') return false;
  if (availability == null) {
    const backend = asWasmBackend(tf.backend());
    let ok = backend != null;
    if (ok) {
      try {
        getRaw((backend as WasmBackendLike).wasm);
      } catch {
        ok = false;
      }
    }
    availability = ok;
  }
  return availability;
}

function ensureRegistered(): void {
  if (registered) return;
  if (tf.getKernel(WASM_BATCH_MATMUL_KERNEL, 'wasm') == null) {
    tf.registerKernel({
      kernelName: WASM_BATCH_MATMUL_KERNEL,
      backendName: 'wasm',
      kernelFunc: batchMatMulKernel as unknown as tf.KernelFunc,
    });
  }
  registered = true;
}

/**
 * `a · b` for a [n, m, k] and b [n, k, p] (or [1, k, p], broadcast) → [n, m, p], each slice through XNNPACK.
 * Only on the wasm backend (check {@link wasmBatchMatMulAvailable} first); records no gradient (use it inside
 * `tf.customGrad`).
 * @internal
 */
export function wasmBatchMatMul(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  ensureRegistered();
  return tf.engine().runKernel(WASM_BATCH_MATMUL_KERNEL, { a, b } as unknown as tf.NamedTensorMap, {}) as tf.Tensor;
}
