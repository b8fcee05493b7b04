/**
 * The machine's matMul speed on each backend, as a yardstick for the other sections: GFLOP/s (1 multiply–add =
 * 2 FLOPs) of a 2-D product without transpose flags, the same with `transposeA` / `transposeB` (what tfjs's
 * default matMul gradient uses), and a batched product as in attention ([B·H, T, d] · [B·H, d, T]), by plain
 * `tf.matMul` and, on wasm, by the library's SIMD kernel (2-D, transposeA as in weight gradients, batched). The
 * repeated `tf.matMul` reuses XNNPACK's packed copy of `b` (same tensor every call); in training the weights are
 * new tensors every step and the packing is paid each time, while the SIMD kernel never packs.
 */
import * as tf from '@tensorflow/tfjs-core';
import { settle, timeRepeated, type BenchContext } from '../context';
import { simdKernelsAvailable } from '../../src/ops/wasm/simd';
import { simdBatchMatMul, simdMatMul, simdMatMulTransposeA } from '../../src/ops/wasm/strided_matmul';

export default async function run(ctx: BenchContext): Promise<void> {
  for (const backend of ctx.backends) {
    await ctx.useBackend(backend);
    const slow = backend === 'cpu';
    const repeats = ctx.quick ? 2 : slow ? 3 : 7;
    // [m, k, n]: a token-projection-sized product (64 images × 144 tokens, 64 → 256) and a square one.
    const sizes: [number, number, number][] = ctx.quick || slow ? [[2304, 64, 256], [512, 512, 512]] : [[9216, 64, 256], [1024, 1024, 1024]];
    for (const [m, k, n] of sizes) {
      const flops = 2 * m * k * n;
      const cases: [string, number[], number[], boolean, boolean][] = [
        ['2-D', [m, k], [k, n], false, false],
        ['2-D transposeB', [m, k], [n, k], false, true],
        ['2-D transposeA', [k, m], [k, n], true, false],
      ];
      const simd = backend === 'wasm' && simdKernelsAvailable();
      const runs: [string, number[], number[], (a: tf.Tensor, b: tf.Tensor) => tf.Tensor][] = cases.map(
        ([label, aShape, bShape, ta, tb]) => [label, aShape, bShape, (a, b) => tf.matMul(a, b, ta, tb)],
      );
      if (simd) {
        runs.push(['2-D, SIMD kernel (vit-tfjs)', [m, k], [k, n], (a, b) => simdMatMul(a, b)]);
        runs.push(['2-D transposeA, SIMD kernel (vit-tfjs)', [k, m], [k, n], (a, b) => simdMatMulTransposeA(a, b)]);
      }
      for (const [label, aShape, bShape, product] of runs) {
        const a = tf.randomNormal(aShape);
        const b = tf.randomNormal(bShape);
        const t = await timeRepeated(() => settle(product(a, b)), { warmup: 1, repeats });
        tf.dispose([a, b]);
        ctx.report({
          section: 'matmul',
          name: `${label} [${m}×${k}]·[${k}×${n}]`,
          value: flops / (t.medianMs * 1e6),
          unit: 'GFLOP/s',
          backend,
          details: { medianMs: t.medianMs, repeats },
        });
      }
    }
    const [batch, tokens, dim] = ctx.quick || slow ? [32, 144, 64] : [256, 144, 64];
    const q = tf.randomNormal([batch, tokens, dim]);
    const kT = tf.randomNormal([batch, dim, tokens]);
    const flops = 2 * batch * tokens * dim * tokens;
    const batched: [string, () => tf.Tensor][] = [['batched tf.matMul', () => tf.matMul(q, kT)]];
    if (backend === 'wasm' && simdKernelsAvailable()) batched.push(['batched SIMD kernel (vit-tfjs)', () => simdBatchMatMul(q, kT)]);
    for (const [label, f] of batched) {
      const t = await timeRepeated(() => settle(f()), { warmup: 1, repeats });
      ctx.report({
        section: 'matmul',
        name: `${label} [${batch}×${tokens}×${dim}]·[${batch}×${dim}×${tokens}]`,
        value: flops / (t.medianMs * 1e6),
        unit: 'GFLOP/s',
        backend,
        details: { medianMs: t.medianMs, repeats },
      });
    }
    tf.dispose([q, kT]);
  }
}
