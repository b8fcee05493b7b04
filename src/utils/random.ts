/**
 * Seedable pseudo-random numbers for everything random in the library (weight-initializer seeds,
 * dropout masks, augmentation draws, shuffling), so that a run is reproducible from one seed and
 * can be resumed exactly from a saved generator state.
 */

import { sharedState } from './shared_state';
import { show } from './validate';

/**
 * Serializable state of a {@link RandomGenerator} (four 32-bit words of xoshiro128**).
 *
 * @category Randomness
 */
export type RandomState = [number, number, number, number];

function splitMix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * A small, fast, seedable generator (xoshiro128**, seeded through SplitMix32).
 *
 * @example
 * const rng = new RandomGenerator(42);
 * rng.uniform(-1, 1); // same value on every run
 * const saved = rng.getState(); // ... later: rng.setState(saved)
 *
 * @category Randomness
 */
export class RandomGenerator {
  private s: Uint32Array = new Uint32Array(4);

  /** @param seed Any integer; the same seed gives the same sequence. Defaults to a seed from `Math.random`. */
  constructor(seed: number = Math.floor(Math.random() * 2 ** 32)) {
    this.seed(seed);
  }

  /** Restarts the sequence from `seed`. */
  seed(seed: number): void {
    if (!Number.isFinite(seed)) throw new Error(`seed must be a finite number, got ${seed}`);
    const next = splitMix32(Math.floor(seed));
    for (let i = 0; i < 4; i++) this.s[i] = next();
    if ((this.s[0] | this.s[1] | this.s[2] | this.s[3]) === 0) this.s[0] = 1;
  }

  /** The next 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A float in [0, 1) with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextUint32() / 4294967296;
  }

  /** A float uniformly drawn from [low, high). */
  uniform(low = 0, high = 1): number {
    return low + (high - low) * this.nextFloat();
  }

  /** An integer uniformly drawn from [0, n). */
  nextInt(n: number): number {
    if (!Number.isInteger(n) || n <= 0) throw new Error(`nextInt: n must be a positive integer, got ${n}`);
    return Math.floor(this.nextFloat() * n);
  }

  /** A fresh integer seed (for tfjs ops and initializers that take a `seed`). */
  nextSeed(): number {
    return this.nextUint32();
  }

  /** Shuffles `array` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: unknown }>(array: T): T {
    for (let i = array.length - 1; i > 0; i--) {
      const j = this.nextInt(i + 1);
      const tmp = array[i];
      array[i] = array[j];
      array[j] = tmp;
    }
    return array;
  }

  /** The generator's state, to save with a checkpoint. */
  getState(): RandomState {
    return [this.s[0], this.s[1], this.s[2], this.s[3]];
  }

  /** Restores a state saved by {@link RandomGenerator.getState}. */
  setState(state: RandomState): void {
    if (!Array.isArray(state) || state.length !== 4 || state.some((v) => !Number.isInteger(v) || v < 0 || v > 0xffffffff)) {
      throw new Error(`random state must be four unsigned 32-bit integers, got ${show(state)}`);
    }
    this.s.set(state);
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/**
 * The global generator and the one {@link withRandomGenerator} set, kept on `globalThis` (see `sharedState`) so that
 * every copy of the library in the process (its ESM and CommonJS builds, loaded by `import` and `require`) draws
 * from the same generator and sees the same seed.
 */
interface RandomSharedState {
  global: RandomGenerator;
  scoped: RandomGenerator | null;
}
const shared = sharedState<RandomSharedState>('random.v1', () => ({ global: new RandomGenerator(), scoped: null }));

/**
 * The generator used by layers and helpers that were given no seed of their own.
 * Seed it once with {@link setGlobalSeed} to make a whole run reproducible. Inside
 * {@link withRandomGenerator}, the generator given there.
 *
 * @category Randomness
 */
export function globalRandom(): RandomGenerator {
  return shared.scoped ?? shared.global;
}

/**
 * Seeds the global generator (see {@link globalRandom}); generators already handed out follow the new seed.
 *
 * @example
 * ```ts
 * setGlobalSeed(42);
 * const a = createViTClassifier({ preset: 'vit-cifar-tiny' }); // same initial weights, dropout masks and
 * // augmentation draws in every run that seeds the same way
 * ```
 *
 * @category Randomness
 */
export function setGlobalSeed(seed: number): void {
  shared.global.seed(seed);
}

/**
 * Runs `fn` with every random draw of the library coming from `rng`: the global generator's and those of layers
 * that have a seed of their own. Data-parallel training uses it to give each thread's share of a batch its own
 * independent, reproducible stream.
 *
 * @example
 * ```ts
 * const out = withRandomGenerator(new RandomGenerator(7), () => model.apply(x, { training: true }));
 * ```
 *
 * @category Randomness
 */
export function withRandomGenerator<T>(rng: RandomGenerator, fn: () => T): T {
  const previous = shared.scoped;
  shared.scoped = rng;
  try {
    return fn();
  } finally {
    shared.scoped = previous;
  }
}

/**
 * The generator a layer draws from at call time: the one set by {@link withRandomGenerator}, else the layer's own
 * (`own`), else the global one.
 *
 * @category Randomness
 */
export function layerRandom(own?: RandomGenerator | null): RandomGenerator {
  return shared.scoped ?? own ?? shared.global;
}
