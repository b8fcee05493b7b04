/**
 * Shared pieces of the fuzz suite (issue #16): byte-level mutations of valid inputs, and the per-input check that
 * every input ends in a result or in an `Error` naming the file, within a time and memory budget.
 *
 * Budget: a fixed seed (`FUZZ_SEED`, default 16016) and a fixed number of runs per target keep `npm test`
 * predictable: the whole suite is about 4,000 inputs and well under 60 s on a loaded 2-core machine.
 * `npm run fuzz` runs 50 times more inputs per target (override with `FUZZ_RUNS=<runs per target>`, and pick another
 * seed with `FUZZ_SEED=<n>`). On failure fast-check shrinks the input and prints the minimal counterexample with
 * the seed and path that replay it.
 */
import fc from 'fast-check';

/** Seed of every property in the suite. */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 16016);
/** Time budget of one input (generous: the machine may be loaded; hostile inputs used to take minutes). */
export const PER_INPUT_MS = 2000;
/** Bound on the growth of RSS and of ArrayBuffer memory over one property (inputs are a few KB). */
export const MEMORY_GROWTH_BYTES = 256 << 20;

const campaign = process.env.npm_lifecycle_event === 'fuzz';

/** Runs of a target: `base` under `npm test`, 50 × `base` under `npm run fuzz`, or `FUZZ_RUNS` when set. */
export function runs(base: number): number {
  const env = process.env.FUZZ_RUNS;
  if (env != null && env !== '') {
    const n = Number(env);
    if (!Number.isInteger(n) || n < 1) throw new Error(`FUZZ_RUNS must be an integer ≥ 1, got '${env}'`);
    return n;
  }
  return campaign ? base * 50 : base;
}

/** Jest timeout for a target of `n` runs: the per-input budget for each, plus a minute. */
export const timeoutFor = (n: number): number => n * PER_INPUT_MS + 60_000;

/** fast-check parameters of every property: fixed seed, bounded runs. */
export const params = (numRuns: number): fc.Parameters<unknown> => ({ seed: FUZZ_SEED, numRuns, endOnFailure: false });

/** How many inputs each target tried (printed at the end of each file). */
export const tried = new Map<string, number>();

/** One edit of a byte string; positions are taken modulo the length so that shrinking stays meaningful. */
export type Mutation =
  | { k: 'set'; at: number; v: number }
  | { k: 'flip'; at: number; bit: number }
  | { k: 'u32'; at: number; v: number }
  | { k: 'truncate'; at: number }
  | { k: 'insert'; at: number; bytes: Uint8Array }
  | { k: 'delete'; at: number; len: number }
  | { k: 'duplicate'; at: number; len: number; to: number };

const interesting = fc.constantFrom(0, 1, 0x7f, 0x80, 0xff, 0x7fffffff, 0x80000000, 0xffffffff, 1 << 30, 3073, 30730000);

/** Arbitrary list of 1 to `max` mutations. */
export function mutations(max = 6): fc.Arbitrary<Mutation[]> {
  const at = fc.nat();
  const m: fc.Arbitrary<Mutation> = fc.oneof(
    { arbitrary: fc.record({ k: fc.constant('set' as const), at, v: fc.integer({ min: 0, max: 255 }) }), weight: 4 },
    { arbitrary: fc.record({ k: fc.constant('flip' as const), at, bit: fc.integer({ min: 0, max: 7 }) }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('u32' as const), at, v: interesting }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('truncate' as const), at }), weight: 2 },
    { arbitrary: fc.record({ k: fc.constant('insert' as const), at, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }), weight: 1 },
    { arbitrary: fc.record({ k: fc.constant('delete' as const), at, len: fc.integer({ min: 1, max: 64 }) }), weight: 1 },
    {
      arbitrary: fc.record({ k: fc.constant('duplicate' as const), at, len: fc.integer({ min: 1, max: 512 }), to: fc.nat() }),
      weight: 1,
    },
  );
  return fc.array(m, { minLength: 1, maxLength: max });
}

/**
 * Applies mutations to a copy of `base`. With `hot` ranges, positions fall inside them (so that mutations hit the
 * structure of a file rather than its pixel data).
 */
export function mutate(base: Uint8Array, ms: Mutation[], hot?: [number, number][]): Uint8Array {
  let b = base.slice();
  const pos = (at: number): number => {
    if (b.length === 0) return 0;
    if (hot != null && hot.length > 0) {
      const total = hot.reduce((s, [a, e]) => s + (e - a), 0);
      let r = at % total;
      for (const [a, e] of hot) {
        if (r < e - a) return Math.min(a + r, b.length - 1);
        r -= e - a;
      }
    }
    return at % b.length;
  };
  for (const m of ms) {
    if (b.length === 0) break;
    const i = pos(m.at);
    switch (m.k) {
      case 'set':
        b[i] = m.v;
        break;
      case 'flip':
        b[i] ^= 1 << m.bit;
        break;
      case 'u32':
        for (let j = 0; j < 4 && i + j < b.length; j++) b[i + j] = (m.v >>> (8 * j)) & 0xff;
        break;
      case 'truncate':
        b = b.slice(0, i);
        break;
      case 'insert': {
        const n = new Uint8Array(b.length + m.bytes.length);
        n.set(b.subarray(0, i));
        n.set(m.bytes, i);
        n.set(b.subarray(i), i + m.bytes.length);
        b = n;
        break;
      }
      case 'delete': {
        const len = Math.min(m.len, b.length - i);
        const n = new Uint8Array(b.length - len);
        n.set(b.subarray(0, i));
        n.set(b.subarray(i + len), i);
        b = n;
        break;
      }
      case 'duplicate': {
        const chunk = b.slice(i, i + m.len);
        const to = m.to % (b.length + 1);
        const n = new Uint8Array(b.length + chunk.length);
        n.set(b.subarray(0, to));
        n.set(chunk, to);
        n.set(b.subarray(to), to + chunk.length);
        b = n;
        break;
      }
    }
  }
  return b;
}

/** Memory now: RSS and ArrayBuffer bytes. */
const mem = (): { rss: number; ab: number } => {
  const m = process.memoryUsage();
  return { rss: m.rss, ab: m.arrayBuffers };
};

/**
 * A per-target checker: `check(fn)` runs one input and requires that it returns (its result is passed to `onResult`)
 * or throws an `Error` whose message matches `named` (the file name, and what was expected), within
 * {@link PER_INPUT_MS}, with RSS and ArrayBuffer memory growth under {@link MEMORY_GROWTH_BYTES} since the target
 * started.
 */
export function checker(target: string, named: RegExp) {
  const base = mem();
  tried.set(target, 0);
  const verdict = (err: unknown, elapsed: number): void => {
    tried.set(target, (tried.get(target) ?? 0) + 1);
    if (err != null) {
      // (Errors from Node's core come from another realm under Jest: instanceof Error would be false for them.)
      if (Object.prototype.toString.call(err) !== '[object Error]') {
        throw new Error(`${target}: threw a non-Error: ${String(err)}`);
      }
      const e = err as Error;
      if (!named.test(e.message)) {
        throw new Error(`${target}: error does not name the file (expected ${named}): ${e.name}: ${e.message}\n${e.stack}`);
      }
    }
    if (elapsed > PER_INPUT_MS) throw new Error(`${target}: one input took ${elapsed.toFixed(0)} ms (budget ${PER_INPUT_MS} ms)`);
    const now = mem();
    if (now.rss - base.rss > MEMORY_GROWTH_BYTES || now.ab - base.ab > MEMORY_GROWTH_BYTES) {
      throw new Error(
        `${target}: memory grew by ${((now.rss - base.rss) / 2 ** 20).toFixed(0)} MiB RSS, ` +
          `${((now.ab - base.ab) / 2 ** 20).toFixed(0)} MiB ArrayBuffers (budget ${MEMORY_GROWTH_BYTES / 2 ** 20} MiB)`,
      );
    }
  };
  return {
    check<T>(fn: () => T, onResult?: (r: T) => void): void {
      const t0 = performance.now();
      let result: T | undefined;
      let err: unknown = null;
      try {
        result = fn();
      } catch (e) {
        err = e;
      }
      verdict(err, performance.now() - t0);
      if (err == null) onResult?.(result as T);
    },
    async checkAsync<T>(fn: () => Promise<T>, onResult?: (r: T) => void): Promise<void> {
      const t0 = performance.now();
      let result: T | undefined;
      let err: unknown = null;
      try {
        result = await fn();
      } catch (e) {
        err = e;
      }
      verdict(err, performance.now() - t0);
      if (err == null) onResult?.(result as T);
    },
  };
}

/** Prints how many inputs each target tried (the numbers the issue asks for). */
export function reportTried(file: string): void {
  const lines = [...tried].map(([t, n]) => `  ${t}: ${n} inputs`);
  console.log(`fuzz (${file}, seed ${FUZZ_SEED}):\n${lines.join('\n')}`);
}

export const hexBytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));
