/**
 * Multi-threaded tfjs-backend-wasm in Node.js (Node-only: uses fs, os, path; not part of the browser entry).
 *
 * tfjs-backend-wasm 4.x ships a threaded SIMD build, but in Node it never uses it, for three reasons:
 * 1. the `WASM_HAS_MULTITHREAD_SUPPORT` flag is hard-wired to false when `IS_NODE`;
 * 2. it hands Emscripten the pthread worker script as a `blob:` URL (and the main script as a `Blob`), which
 *    Node's `worker_threads.Worker` cannot load;
 * 3. its thread pool is capped at `os.cpus().length / 2` (it assumes two hyper-threads per core), so on a
 *    2-core machine it creates 1 thread.
 * {@link initWasmBackendWithThreads} works around all three while it initialises the backend: it sets the flag,
 * writes the worker script (with the main script's path substituted for the `Blob`) to a file in the OS temp
 * folder, and, during the initialisation only, makes `URL.createObjectURL` return that file's path and `os.cpus`
 * report enough cores for the requested thread count. Everything is restored before it returns.
 *
 * Only XNNPACK operators (matrix products, convolutions, some element-wise ops) use the threads; the library's own
 * SIMD kernels run on this build too (a second build of their module imports its shared memory), on the calling
 * thread.
 *
 * @packageDocumentation
 * @internal
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';

interface WasmModuleNamespace {
  setThreadsCount(n: number): void;
}

/**
 * Initialises the `'wasm'` backend with `threads` threads (main thread included; XNNPACK caps it at 8) and makes it
 * the active backend. Must run before anything else initialises the wasm backend in this process. Returns the
 * number of threads the backend reports.
 *
 * @example
 * ```ts
 * const threads = await initWasmBackendWithThreads(2);
 * ```
 * @internal
 */
export async function initWasmBackendWithThreads(threads: number): Promise<number> {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`threads must be a positive integer, got ${threads}`);
  const engine = tf.engine() as unknown as { registry: Record<string, unknown> };
  if (engine.registry.wasm != null) {
    throw new Error('initWasmBackendWithThreads: the wasm backend is already initialised in this process');
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const wasmModule = require('@tensorflow/tfjs-backend-wasm') as WasmModuleNamespace;
  const outDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js'));
  const mainScript = path.join(outDir, 'tfjs-backend-wasm-threaded-simd.js');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { wasmWorkerContents } = require(path.join(outDir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  // The worker turns the main script `Blob` it is sent into an object URL and evaluates that file: point it at the
  // main script on disk instead. (`\n` inside the script's strings arrive as real newlines: re-escape them, as
  // tfjs-backend-wasm does for its Blob.)
  const workerSource =
    `URL.createObjectURL = () => ${JSON.stringify(mainScript)};\n` + wasmWorkerContents.replace(/\n/g, '\\n');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const os = require('os') as { cpus: () => unknown[]; tmpdir: () => string }; // the module object Emscripten sees
  const workerFile = path.join(os.tmpdir(), `vit-tfjs-wasm-worker-${tf.version_core}-${hash(workerSource)}.js`);
  if (!fs.existsSync(workerFile)) {
    const tmp = `${workerFile}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, workerSource);
    fs.renameSync(tmp, workerFile);
  }

  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasmModule.setThreadsCount(threads);
  const originalCreateObjectURL = URL.createObjectURL;
  const originalCpus = os.cpus;
  URL.createObjectURL = (() => workerFile) as typeof URL.createObjectURL;
  os.cpus = () => {
    const cpus = originalCpus();
    return Array.from({ length: Math.max(2 * threads, cpus.length) }, (_, i) => cpus[i % cpus.length]);
  };
  try {
    if (!(await tf.setBackend('wasm'))) throw new Error('the threaded wasm backend failed to initialise');
    await tf.ready();
  } finally {
    URL.createObjectURL = originalCreateObjectURL;
    os.cpus = originalCpus;
  }
  const backend = tf.backend() as unknown as { wasm: { tfjs: { getThreadsCount(): number } } };
  return backend.wasm.tfjs.getThreadsCount();
}

function hash(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}
