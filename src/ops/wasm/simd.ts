/**
 * The library's own WebAssembly SIMD kernels for the wasm backend, and the tfjs kernels that run them.
 *
 * tfjs-backend-wasm 4.x leaves a ViT's training step with three kinds of slow work: products it cannot send to
 * XNNPACK without a transposed copy (weight gradients `Xᵀ·dY`, attention's per-head products), XNNPACK repacking the
 * second operand of every product (a few ns per element, the whole [tokens, channels] matrix for a weight gradient),
 * and scalar loops for `Erf` and `Exp`. The module built from `scripts/simd` (see `simd_binary.generated.ts`) has:
 * - `gemm`: a batched product `C = alpha · (A·B + bias)` that reads `A` through any row and depth strides (a
 *   transposed or head-interleaved operand needs no copy) and `B` / `C` through row strides, in 4×8 register tiles;
 *   here 29–37 GFLOP/s on one core where tfjs's XNNPACK products run at 26–30, and without packing `B`;
 * - `gelu` / `gelu_grad`: the exact GELU and its derivative, vectorized (erfc and exp by polynomials);
 * - `layer_norm` / `layer_norm_grad`: layer normalization over the last axis and its gradient, one pass each;
 * - `dropout_mask`: a dropout mask from four xoshiro128** streams in the lanes of a vector.
 *
 * The module imports the backend's `WebAssembly.Memory`, so it reads and writes tensors where they are. It is
 * instantiated once per backend module, in a second build for the threaded wasm build (whose memory is shared:
 * the kernels then run on the calling thread, XNNPACK's own operators on its pool). {@link simdKernelsAvailable} is
 * false (and the ops fall back to tf ops) where the engine lacks WebAssembly SIMD, where the backend's internals
 * differ from tfjs-backend-wasm 4.x, and on a browser's main thread until the asynchronous compilation it needs
 * there has finished.
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';
import { sharedState } from '../../utils/shared_state';
import { SIMD_MODULE_BASE64, SIMD_SHARED_MODULE_BASE64 } from './simd_binary.generated';

/** The functions the SIMD module exports (pointers in bytes, strides in elements). @internal */
export interface SimdExports {
  gemm(
    a: number, b: number, c: number, n1: number, n2: number,
    sa1: number, sa2: number, sb1: number, sb2: number, sc1: number, sc2: number,
    m: number, n: number, k: number, aRow: number, aDepth: number, bRow: number, cRow: number, alpha: number,
    bias: number,
  ): void;
  gelu(x: number, y: number, n: number): void;
  gelu_grad(x: number, dy: number, dx: number, n: number): void;
  layer_norm(x: number, gamma: number, beta: number, y: number, xhat: number, rstd: number, rows: number, cols: number, epsilon: number): void;
  layer_norm_grad(
    dy: number, xhat: number, rstd: number, gamma: number, dx: number, dgamma: number, dbeta: number, rows: number, cols: number,
  ): void;
  /** `states`: 16 words, stream by stream; `threshold` a 32-bit integer. */
  dropout_mask(out: number, n: number, ...statesThenThresholdAndScale: number[]): void;
}

interface WasmTensorData {
  memoryOffset: number;
}

/** The parts of tfjs-backend-wasm's backend object the kernels use. @internal */
export interface WasmBackendInternals {
  /** The Emscripten module: its memory is `asm.memory` (exported) or, in the threaded build, `wasmMemory`. */
  wasm: { asm?: { memory?: unknown }; wasmMemory?: unknown };
  dataIdMap: { get(dataId: unknown): WasmTensorData | undefined };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
}

/** A compiled module, `'pending'` while compiled asynchronously, `'unsupported'` without WebAssembly SIMD. */
type Compiled = WebAssembly.Module | 'pending' | 'unsupported';

/**
 * The two builds of the module, for an ordinary memory and for the threaded wasm build's shared one, each compiled
 * on first use: synchronously where allowed, else (a browser's main thread refuses modules over 4 KB)
 * asynchronously, the kernels joining in once it is done.
 */
interface SimdSharedState {
  compiled: { plain?: Compiled; shared?: Compiled };
  /** The module instantiated on each backend module's memory (keyed by the Emscripten module object). */
  instances: WeakMap<object, SimdExports | null>;
}
/** On `globalThis`, so that every copy of the library in the process (ESM and CommonJS) compiles the module once. */
const { compiled, instances } = sharedState<SimdSharedState>('simd.v1', () => ({ compiled: {}, instances: new WeakMap() }));

function compiledModule(kind: 'plain' | 'shared'): WebAssembly.Module | null {
  if (compiled[kind] === undefined) {
    try {
      const base64 = kind === 'shared' ? SIMD_SHARED_MODULE_BASE64 : SIMD_MODULE_BASE64;
      const bytes = Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
      if (typeof WebAssembly !== 'object' || !WebAssembly.validate(bytes)) {
        compiled[kind] = 'unsupported';
      } else {
        try {
          compiled[kind] = new WebAssembly.Module(bytes);
        } catch {
          compiled[kind] = 'pending';
          WebAssembly.compile(bytes).then(
            (m) => void (compiled[kind] = m),
            () => void (compiled[kind] = 'unsupported'),
          );
        }
      }
    } catch {
      compiled[kind] = 'unsupported';
    }
  }
  const m = compiled[kind];
  return typeof m === 'object' ? m : null;
}

/** The backend module's `WebAssembly.Memory`, or null. */
function memoryOf(internals: Pick<WasmBackendInternals, 'wasm'>): WebAssembly.Memory | null {
  const memory = internals.wasm.asm?.memory ?? internals.wasm.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : null;
}

function asInternals(backend: unknown): WasmBackendInternals | null {
  const b = backend as Partial<WasmBackendInternals> | null;
  if (b == null || b.wasm == null || b.dataIdMap == null || typeof b.dataIdMap.get !== 'function' || typeof b.makeOutput !== 'function') {
    return null;
  }
  return memoryOf(b as WasmBackendInternals) != null ? (b as WasmBackendInternals) : null;
}

/** The SIMD module instantiated on `backend`'s memory, or null where it cannot run (see the module notes). @internal */
export function simdExports(backend: unknown): SimdExports | null {
  const internals = asInternals(backend);
  if (internals == null) return null;
  const key = internals.wasm as object;
  let exports = instances.get(key);
  if (exports === undefined) {
    const memory = memoryOf(internals) as WebAssembly.Memory;
    const shared = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
    const module = compiledModule(shared ? 'shared' : 'plain');
    if (module == null) return null; // not (yet) compiled: nothing cached, a later call may find it ready
    try {
      exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as SimdExports;
    } catch {
      exports = null; // a memory whose type the module does not match
    }
    instances.set(key, exports);
  }
  return exports;
}

/**
 * Which build of tfjs-backend-wasm `backend` runs: threaded (its memory is shared between threads) or not, and its
 * thread count where the build reports one; null where `backend` is not a tfjs-backend-wasm 4.x backend.
 * @internal
 */
export function wasmBuildOf(backend: unknown): { threaded: boolean; threads: number | null } | null {
  const internals = asInternals(backend);
  if (internals == null) return null;
  const memory = memoryOf(internals) as WebAssembly.Memory;
  const threaded = typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
  const tfjs = (internals.wasm as { tfjs?: { getThreadsCount?: () => number } }).tfjs;
  let threads: number | null = null;
  try {
    if (typeof tfjs?.getThreadsCount === 'function') threads = tfjs.getThreadsCount();
  } catch {
    threads = null;
  }
  return { threaded, threads };
}

/** Whether the active backend is wasm and the SIMD kernels run on it. @internal */
export function simdKernelsAvailable(): boolean {
  return tf.getBackend() === 'wasm' && simdExports(tf.backend()) != null;
}

/** What a SIMD kernel function receives: the module, the backend, its inputs' byte addresses. @internal */
export interface SimdKernelContext {
  simd: SimdExports;
  backend: WasmBackendInternals;
  /** Byte address of a tensor's data in the wasm memory. */
  address(t: tf.TensorInfo): number;
}

/**
 * Registers `kernelName` for the wasm backend (once), running `run` with the SIMD module; tensors and attributes
 * as any tfjs kernel. Called through `tf.engine().runKernel`, so it shows in `tf.profile` under its name.
 * @internal
 */
export function registerSimdKernel(
  kernelName: string,
  run: (ctx: SimdKernelContext, inputs: Record<string, tf.TensorInfo>, attrs: Record<string, unknown>) => tf.TensorInfo | tf.TensorInfo[],
): void {
  if (tf.getKernel(kernelName, 'wasm') != null) return;
  const kernelFunc = (args: { inputs: Record<string, tf.TensorInfo>; backend: unknown; attrs?: Record<string, unknown> }) => {
    const backend = asInternals(args.backend);
    const simd = backend == null ? null : simdExports(backend);
    if (backend == null || simd == null) throw new Error(`${kernelName}: the SIMD kernels do not run on this backend`);
    for (const [name, t] of Object.entries(args.inputs)) {
      if (t.dtype !== 'float32') throw new Error(`${kernelName}: ${name} must be float32, got ${t.dtype}`);
    }
    const address = (t: tf.TensorInfo) => (backend.dataIdMap.get(t.dataId) as WasmTensorData).memoryOffset;
    return run({ simd, backend, address }, args.inputs, args.attrs ?? {});
  };
  tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc: kernelFunc as unknown as tf.KernelFunc });
}
