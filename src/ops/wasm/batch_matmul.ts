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
  /** The backend's exported `BatchMatMul(aId, aShape*, aRank, bId, bShape*, bRank, transposeA, transposeB, outId)`. */
  _BatchMatMul(...args: number[]): void;
  _malloc(bytes: number): number;
  HEAPU8: Uint8Array;
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

/** Per wasm module: two int32[3] shape buffers in its heap, allocated once (the kernel passes pointers to them). */
const shapeBuffers = new WeakMap<WasmModuleLike, number>();
let registered = false;
let availability: boolean | null = null;

function asWasmBackend(backend: unknown): WasmBackendLike | null {
  const b = backend as Partial<WasmBackendLike> | null;
  if (
    b == null ||
    b.wasm == null ||
    typeof b.wasm._BatchMatMul !== 'function' ||
    typeof b.wasm._malloc !== 'function' ||
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

/** Byte address of the module's two shape buffers (a's, then b's 12 bytes later). */
function shapeBuffer(wasm: WasmModuleLike): number {
  let ptr = shapeBuffers.get(wasm);
  if (ptr == null) {
    ptr = wasm._malloc(24);
    shapeBuffers.set(wasm, ptr);
  }
  return ptr;
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
  const wasm = backend.wasm;
  const reg = wasm.tfjs;
  // The export takes shapes by pointer: written once here, the same for every slice.
  const aShape = shapeBuffer(wasm);
  const bShape = aShape + 12;
  new Int32Array(wasm.HEAPU8.buffer, aShape, 6).set([1, m, k, 1, k, p]);
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
        wasm._BatchMatMul(aId, aShape, 3, bId, bShape, 3, 0, 0, outId);
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
    availability = backend != null;
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
