import * as tf from '@tensorflow/tfjs-core';
import { globalRandom, RandomGenerator } from '../utils/random';
import { assertInRange, assertNonNegativeInteger } from '../utils/validate';
import { useSimdKernels } from './mode';
import { simdDropoutMask } from './wasm/dropout_mask_kernel';

/**
 * A dropout mask: a float32 tensor of `shape` whose entries are `1 / (1 − rate)` with probability `1 − rate`
 * and `0` otherwise, drawn from the library's {@link RandomGenerator} seeded with `seed` (the same seed gives
 * the same mask on every backend).
 *
 * The draws come from four interleaved xoshiro128** streams whose states are the first 16 draws of
 * `new RandomGenerator(seed)`: entry i is dropped when the ⌊i / 4⌋-th draw of stream i mod 4 is below
 * ⌈rate · 2³²⌉. On wasm the four streams run in the lanes of a SIMD kernel that writes the mask straight into the
 * tensor; elsewhere a JavaScript loop computes the same numbers. Both are several times faster than `tf.dropout`'s
 * own generator, which dominates the cost of dropout on the wasm backend.
 *
 * @example
 * ```ts
 * const mask = ops.dropoutMask([2, 3], 0.5, 42); // entries 0 or 2
 * ```
 *
 * @category Ops
 */
export function dropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  assertInRange('rate', rate, 0, 1, { openHigh: true });
  assertNonNegativeInteger('seed', seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const scale = Math.fround(1 / (1 - rate));
  if (rate === 0) return tf.fill(shape, scale);
  const states = maskStreams(seed);
  // A draw (a 32-bit integer) below ⌈rate · 2³²⌉ drops; capped so that it fits 32 bits.
  const threshold = Math.min(Math.ceil(rate * 4294967296), 4294967295);
  if (useSimdKernels()) return simdDropoutMask(shape, threshold, scale, states);
  const values = new Float32Array(size);
  fillMask(values, threshold, scale, states);
  return tf.tensor(values, shape, 'float32');
}

/** The states of the four mask streams: the first 16 draws of `new RandomGenerator(seed)`, 4 words each. */
function maskStreams(seed: number): Uint32Array {
  const rng = new RandomGenerator(seed);
  const states = Uint32Array.from({ length: 16 }, () => rng.nextUint32());
  // xoshiro's all-zero state is a fixed point (odds 2⁻¹²⁸ per stream).
  for (let j = 0; j < 16; j += 4) if ((states[j] | states[j + 1] | states[j + 2] | states[j + 3]) === 0) states[j] = 1;
  return states;
}

/**
 * `out[i] = (draw < threshold) ? 0 : scale` with the draws of stream i mod 4 (xoshiro128**), one stream at a time
 * with its state in locals (several times faster than a method call or an array access per draw).
 */
function fillMask(out: Float32Array, threshold: number, scale: number, states: Uint32Array): void {
  for (let lane = 0; lane < 4; lane++) {
    let [s0, s1, s2, s3] = states.subarray(4 * lane, 4 * lane + 4);
    for (let i = lane; i < out.length; i += 4) {
      const r = Math.imul(s1, 5);
      const draw = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
      const t = s1 << 9;
      s2 ^= s0;
      s3 ^= s1;
      s1 ^= s2;
      s0 ^= s3;
      s2 ^= t;
      s3 = (s3 << 11) | (s3 >>> 21);
      out[i] = draw < threshold ? 0 : scale;
    }
  }
}

/**
 * Inverted dropout: `x · mask` with a mask from {@link dropoutMask} (entries dropped with probability `rate`,
 * kept ones scaled by `1 / (1 − rate)`). Its gradient reuses the same mask. `seed` defaults to a draw from
 * {@link globalRandom}. Returns `x` itself when `rate` is 0.
 *
 * @example
 * ```ts
 * const y = ops.dropout(x, 0.1, rng.nextSeed());
 * ```
 *
 * @category Ops
 */
export function dropout(x: tf.Tensor, rate: number, seed?: number): tf.Tensor {
  assertInRange('rate', rate, 0, 1, { openHigh: true });
  if (rate === 0) return x;
  const s = seed ?? globalRandom().nextSeed();
  return tf.tidy(() => tf.mul(x, dropoutMask(x.shape, rate, s)));
}
