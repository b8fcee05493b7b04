/**
 * The library's ops, fast formulation against the plain one (`setOpsMode('fast' | 'reference')`), forward +
 * backward at the reference preset's sizes (batch 64 × 144 tokens × width 64, 4 heads × 64, attention dropout
 * 0.1): milliseconds per call and the speed-up.
 */
import * as tf from '@tensorflow/tfjs-core';
import { median, settle, type BenchContext } from '../context';
import { gelu } from '../../src/ops/activations';
import { scaledDotProductAttention } from '../../src/ops/attention';
import { layerNorm } from '../../src/ops/layer_norm';
import { linear } from '../../src/ops/linear';
import { getOpsMode, setOpsMode, type OpsMode } from '../../src/ops/mode';

type Case = { name: string; inputs: () => tf.Tensor[]; loss: (...xs: tf.Tensor[]) => tf.Scalar };

function cases(batch: number): Case[] {
  const t = 144;
  const rn = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);
  return [
    {
      name: `linear ${batch}×${t}×64 → 256 (+bias), fwd+bwd`,
      inputs: () => [rn([batch, t, 64], 1), rn([64, 256], 2), rn([256], 3)],
      loss: (x, w, b) => tf.sum(linear(x, w, b)),
    },
    {
      name: `linear ${batch}×${t}×64 → 128, GELU, fwd+bwd`,
      inputs: () => [rn([batch, t, 64], 4), rn([64, 128], 5), rn([128], 6)],
      loss: (x, w, b) => tf.sum(linear(x, w, b, 'gelu')),
    },
    {
      name: `attention ${batch}×${t}, 4 heads × 64, dropout 0.1, fwd+bwd`,
      inputs: () => [rn([batch, t, 4, 64], 7), rn([batch, t, 4, 64], 8), rn([batch, t, 4, 64], 9)],
      loss: (q, k, v) => tf.sum(scaledDotProductAttention(q, k, v, { dropout: 0.1, training: true, seed: 1 }).output),
    },
    {
      name: `layerNorm ${batch}×${t}×64, fwd+bwd`,
      inputs: () => [rn([batch, t, 64], 10), tf.ones([64]), tf.zeros([64])],
      loss: (x, g, b) => tf.sum(tf.mul(layerNorm(x, g, b, 1e-6), x)),
    },
    {
      name: `gelu ${batch}×${t}×128, fwd+bwd`,
      inputs: () => [rn([batch, t, 128], 11)],
      loss: (x) => tf.sum(gelu(x)),
    },
  ];
}

function timeGrads(c: Case, inputs: tf.Tensor[], repeats: number): number {
  const run = () => {
    const grads = tf.grads(c.loss)(inputs);
    grads.forEach(settle);
  };
  run();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    run();
    samples.push(performance.now() - t0);
  }
  return median(samples);
}

export default async function run(ctx: BenchContext): Promise<void> {
  const previous = getOpsMode();
  try {
    for (const backend of ctx.backends) {
      await ctx.useBackend(backend);
      const batch = ctx.quick ? 4 : backend === 'cpu' ? 16 : 64;
      const repeats = ctx.quick ? 1 : backend === 'cpu' ? 2 : 5;
      for (const c of cases(batch)) {
        const inputs = c.inputs();
        const ms: Partial<Record<OpsMode, number>> = {};
        for (const mode of ['reference', 'fast'] as const) {
          setOpsMode(mode);
          ms[mode] = timeGrads(c, inputs, repeats);
        }
        tf.dispose(inputs);
        ctx.report({
          section: 'ops',
          name: `${c.name}: fast`,
          value: ms.fast as number,
          unit: 'ms',
          backend,
          details: { referenceMs: ms.reference, speedup: (ms.reference as number) / (ms.fast as number), repeats },
        });
        ctx.report({
          section: 'ops',
          name: `${c.name}: speed-up over reference`,
          value: (ms.reference as number) / (ms.fast as number),
          unit: '×',
          backend,
          details: { referenceMs: ms.reference, fastMs: ms.fast, repeats },
        });
      }
    }
  } finally {
    setOpsMode(previous);
  }
}
