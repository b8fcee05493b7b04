/**
 * Test helpers: run a suite on every backend the library supports in Node without libtensorflow.
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';

export const TEST_BACKENDS = ['cpu', 'wasm'] as const;
export type TestBackend = (typeof TEST_BACKENDS)[number];

/** Switches to `backend` and waits until it is ready. */
export async function useBackend(backend: TestBackend): Promise<void> {
  const ok = await tf.setBackend(backend);
  if (!ok) throw new Error(`backend ${backend} failed to initialise`);
  await tf.ready();
}

/**
 * `describe` once per backend (cpu, wasm); the backend is active for every test inside.
 *
 * @example
 * describeBackends('Patches', (backend) => { it('extracts', () => { ... }); });
 */
export function describeBackends(title: string, body: (backend: TestBackend) => void): void {
  for (const backend of TEST_BACKENDS) {
    describe(`${title} [${backend}]`, () => {
      beforeAll(async () => {
        await useBackend(backend);
      });
      body(backend);
    });
  }
}

/** Runs `fn` on each backend in turn and returns the results keyed by backend (for cross-backend agreement checks). */
export async function onEachBackend<T>(fn: (backend: TestBackend) => T | Promise<T>): Promise<Record<TestBackend, T>> {
  const out = {} as Record<TestBackend, T>;
  for (const backend of TEST_BACKENDS) {
    await useBackend(backend);
    out[backend] = await fn(backend);
  }
  return out;
}

/** Asserts that `tf.memory().numTensors` does not grow while `fn` runs `repeats` times (after one warm-up run). */
export async function expectNoTensorLeak(fn: () => unknown | Promise<unknown>, repeats = 3): Promise<void> {
  await fn();
  const before = tf.memory().numTensors;
  for (let i = 0; i < repeats; i++) await fn();
  expect(tf.memory().numTensors).toBe(before);
}
