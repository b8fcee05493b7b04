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
 * Drawing the mask in JavaScript with xoshiro128** is several times faster than `tf.dropout`'s own generator
 * (which dominates the cost of dropout on the wasm backend) and makes the mask independent of the backend.
 *
 * @example
 * ```ts
 * const mask = dropoutMask([2, 3], 0.5, 42); // entries 0 or 2
 * ```
 */
export function dropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  assertInRange('rate', rate, 0, 1, { openHigh: true });
  assertNonNegativeInteger('seed', seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const scale = Math.fround(1 / (1 - rate));
  const threshold = rate * 4294967296;
  // On wasm the same draws come from the SIMD module, written into the tensor (2.5× faster, no copy).
  if (rate > 0 && useSimdKernels()) return simdDropoutMask(shape, threshold, scale, new RandomGenerator(seed).getState());
  const values = new Float32Array(size);
  if (rate === 0) values.fill(scale);
  else fillMask(values, threshold, scale, new RandomGenerator(seed));
  return tf.tensor(values, shape, 'float32');
}

/**
 * `out[i] = (draw < threshold) ? 0 : scale` for successive 32-bit draws of `rng`: the same numbers as
 * `rng.nextUint32()` (xoshiro128**), with the state held in locals, which is several times faster than a
 * method call per element. `rng` is left where `out.length` calls of `nextUint32` would have left it.
 */
function fillMask(out: Float32Array, threshold: number, scale: number, rng: RandomGenerator): void {
  let [s0, s1, s2, s3] = rng.getState();
  for (let i = 0; i < out.length; i++) {
    const r = Math.imul(s1, 5);
    const result = Math.imul((r << 7) | (r >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    out[i] = result < threshold ? 0 : scale;
  }
  rng.setState([s0 >>> 0, s1 >>> 0, s2 >>> 0, s3 >>> 0]);
}

/**
 * Inverted dropout: `x · mask` with a mask from {@link dropoutMask} (entries dropped with probability `rate`,
 * kept ones scaled by `1 / (1 − rate)`). Its gradient reuses the same mask. `seed` defaults to a draw from
 * {@link globalRandom}. Returns `x` itself when `rate` is 0.
 *
 * @example
 * ```ts
 * const y = dropout(x, 0.1, rng.nextSeed());
 * ```
 */
export function dropout(x: tf.Tensor, rate: number, seed?: number): tf.Tensor {
  assertInRange('rate', rate, 0, 1, { openHigh: true });
  if (rate === 0) return x;
  const s = seed ?? globalRandom().nextSeed();
  return tf.tidy(() => tf.mul(x, dropoutMask(x.shape, rate, s)));
}
