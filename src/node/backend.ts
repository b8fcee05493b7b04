import * as tf from '@tensorflow/tfjs-core';

/**
 * Backends {@link selectBackend} can be asked for. `'tensorflow'` means tfjs-node-gpu or tfjs-node.
 *
 * @category Backends
 */
export type BackendRequest = 'auto' | 'tensorflow' | 'wasm' | 'cpu';

/**
 * Options of {@link selectBackend}.
 *
 * @category Backends
 */
export interface SelectBackendOptions {
  /** Which backend to use; `'auto'` (default) picks the best one that loads. */
  backend?: BackendRequest;
  /** Called with a line per candidate that failed to load (e.g. to print in verbose mode). */
  onSkip?: (candidate: string, reason: string) => void;
}

/**
 * The backend {@link selectBackend} chose.
 *
 * @category Backends
 */
export interface SelectedBackend {
  /** The tfjs backend name now active: 'tensorflow', 'wasm' or 'cpu'. */
  name: string;
  /** The package that provides it, e.g. '@tensorflow/tfjs-node-gpu'. */
  packageName: string;
  /** A one-line description for users, e.g. "wasm (@tensorflow/tfjs-backend-wasm, SIMD, 1 thread)". */
  description: string;
  /** Candidates tried before it, with the reason each was skipped. */
  skipped: { candidate: string; reason: string }[];
}

interface Candidate {
  packageName: string;
  backendName: string;
  describe: () => string;
}

const CANDIDATES: Record<'tfjs-node-gpu' | 'tfjs-node' | 'wasm' | 'cpu', Candidate> = {
  'tfjs-node-gpu': {
    packageName: '@tensorflow/tfjs-node-gpu',
    backendName: 'tensorflow',
    describe: () => 'tensorflow (@tensorflow/tfjs-node-gpu, libtensorflow with CUDA)',
  },
  'tfjs-node': {
    packageName: '@tensorflow/tfjs-node',
    backendName: 'tensorflow',
    describe: () => 'tensorflow (@tensorflow/tfjs-node, libtensorflow on the CPU)',
  },
  wasm: {
    packageName: '@tensorflow/tfjs-backend-wasm',
    backendName: 'wasm',
    describe: () => {
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT') ? 'SIMD' : 'no SIMD';
      return `wasm (@tensorflow/tfjs-backend-wasm, XNNPACK, ${simd}, 1 thread)`;
    },
  },
  cpu: {
    packageName: '@tensorflow/tfjs-backend-cpu',
    backendName: 'cpu',
    describe: () => 'cpu (@tensorflow/tfjs-backend-cpu, plain JavaScript: slow)',
  },
};

const ORDER: Record<BackendRequest, (keyof typeof CANDIDATES)[]> = {
  auto: ['tfjs-node-gpu', 'tfjs-node', 'wasm', 'cpu'],
  tensorflow: ['tfjs-node-gpu', 'tfjs-node'],
  wasm: ['wasm'],
  cpu: ['cpu'],
};

/**
 * Activates the best available tfjs backend in Node, or the one asked for, and says which it chose.
 *
 * `'auto'` tries, in order, `@tensorflow/tfjs-node-gpu`, `@tensorflow/tfjs-node` (both need libtensorflow,
 * which their install script downloads), `@tensorflow/tfjs-backend-wasm`, then `@tensorflow/tfjs-backend-cpu`;
 * a candidate counts only if its package loads and its backend initialises. Asking for a specific backend
 * that cannot load throws an error that says why.
 *
 * @example
 * ```ts
 * import { selectBackend } from 'vit-tfjs/node';
 * const { description } = await selectBackend(); // or { backend: 'wasm' }
 * console.log(`backend: ${description}`);
 * ```
 *
 * @category Backends
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<SelectedBackend> {
  const request = options.backend ?? 'auto';
  const order = ORDER[request];
  if (order == null) {
    throw new Error(`backend must be one of ${Object.keys(ORDER).join(', ')}, got '${String(request)}'`);
  }
  const skipped: { candidate: string; reason: string }[] = [];
  for (const key of order) {
    const candidate = CANDIDATES[key];
    const reason = await tryActivate(candidate);
    if (reason == null) {
      return { name: candidate.backendName, packageName: candidate.packageName, description: candidate.describe(), skipped };
    }
    skipped.push({ candidate: candidate.packageName, reason });
    options.onSkip?.(candidate.packageName, reason);
  }
  const details = skipped.map((s) => `${s.candidate}: ${s.reason}`).join('; ');
  throw new Error(`no usable backend for '${request}' (${details})`);
}

async function tryActivate(candidate: Candidate): Promise<string | null> {
  if (tf.findBackend(candidate.backendName) == null) {
    try {
      await importOptional(candidate.packageName);
    } catch (err) {
      return `cannot be loaded (${firstLine(err)})`;
    }
  }
  if (tf.findBackendFactory(candidate.backendName) == null) {
    return `loaded, but registered no '${candidate.backendName}' backend`;
  }
  try {
    const ok = await tf.setBackend(candidate.backendName);
    if (!ok) return `backend '${candidate.backendName}' failed to initialise`;
    await tf.ready();
  } catch (err) {
    return `backend '${candidate.backendName}' failed to initialise (${firstLine(err)})`;
  }
  return null;
}

/** `import()` of a package that may be absent, kept opaque to bundlers. */
async function importOptional(packageName: string): Promise<unknown> {
  const dynamicImport = new Function('specifier', 'return import(specifier)') as (s: string) => Promise<unknown>;
  try {
    return await dynamicImport(packageName);
  } catch (err) {
    // `import()` inside a CommonJS test runner may be unavailable; fall back to require.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    if (typeof require === 'function') return require(packageName) as unknown;
    throw err;
  }
}

function firstLine(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0];
}
