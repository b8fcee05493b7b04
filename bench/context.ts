import * as tf from '@tensorflow/tfjs-core';

/** What a benchmark section receives from the harness (`bench/run.ts`). */
export interface BenchRow {
  /** Section name, e.g. 'training', 'augmentation', 'data'. */
  section: string;
  /** What was measured, e.g. 'keras-cifar10 train batch 64'. */
  name: string;
  /** The measured value (a median where repeated). */
  value: number;
  /** Unit, e.g. 'images/s', 'ms', 'MB'. */
  unit: string;
  /** Backend the measurement ran on, when it depends on one. */
  backend?: string;
  /** Free-form details (batch size, repeats, ...). */
  details?: Record<string, unknown>;
}

/** Context handed to every `bench/sections/*.ts` default export. */
export interface BenchContext {
  /** True for a short smoke run (`npm run bench -- --quick`): few repeats, small sizes. */
  quick: boolean;
  /** Backends to measure on (those that loaded), in order. */
  backends: string[];
  /** Switches the active tfjs backend. */
  useBackend(name: string): Promise<void>;
  /** Records one result row. */
  report(row: BenchRow): void;
  /** Prints a progress line. */
  log(message: string): void;
}

/** A benchmark section module's default export. */
export type BenchSection = (ctx: BenchContext) => Promise<void>;

/** The median of `values` (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Timings of {@link timeRepeated}, in milliseconds. */
export interface Timing {
  /** Median of the timed repeats. */
  medianMs: number;
  /** Fastest timed repeat. */
  minMs: number;
  /** Every timed repeat, in order. */
  samplesMs: number[];
  /** Largest resident set size seen after a repeat (warm-up included), in bytes. */
  peakRssBytes: number;
}

/**
 * Runs `fn` `warmup` times untimed, then `repeats` times timed, and returns the median (warm-up excluded).
 * `fn` must finish its work before it returns or resolves (read a result back, e.g. with `dataSync()`).
 */
export async function timeRepeated(
  fn: () => unknown | Promise<unknown>,
  { warmup = 1, repeats = 5 }: { warmup?: number; repeats?: number } = {},
): Promise<Timing> {
  let peakRssBytes = 0;
  for (let i = 0; i < warmup; i++) {
    await fn();
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss);
  }
  const samplesMs: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    samplesMs.push(performance.now() - t0);
    peakRssBytes = Math.max(peakRssBytes, process.memoryUsage().rss);
  }
  return { medianMs: median(samplesMs), minMs: Math.min(...samplesMs), samplesMs, peakRssBytes };
}

/**
 * Makes sure `t` has been computed, then disposes it. The cpu, wasm and tensorflow (tfjs-node) backends run
 * kernels synchronously, so nothing is read back there (a read-back would add a copy of the whole result to the
 * timing); other backends (webgl, webgpu) are waited for with `dataSync()`.
 * (Do not return `dataSync()` from a `tf.tidy`: tidy walks a returned typed array element by element.)
 */
export function settle(t: tf.Tensor): void {
  if (!SYNCHRONOUS_BACKENDS.has(tf.getBackend()) && t.size > 0) t.dataSync();
  t.dispose();
}

const SYNCHRONOUS_BACKENDS = new Set(['cpu', 'wasm', 'tensorflow']);
