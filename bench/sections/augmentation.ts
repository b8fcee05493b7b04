/**
 * Augmentation throughput on each backend: images/s for a training batch of 256 CIFAR-sized images (32×32×3)
 * through the reference recipe's preprocessing (Normalization → Resizing 72×72 → RandomFlip('horizontal') →
 * RandomRotation(0.02) → RandomZoom(0.2, 0.2)), all in training mode; the same with the fused RandomAffine
 * (rotation + zoom in one transform), and each stage alone.
 */
import * as tf from '@tensorflow/tfjs-core';
import { settle, timeRepeated, type BenchContext } from '../context';
import { normalization } from '../../src/layers/normalization';
import { resizing } from '../../src/layers/resizing';
import { randomFlip } from '../../src/layers/random_flip';
import { randomRotation } from '../../src/layers/random_rotation';
import { randomZoom } from '../../src/layers/random_zoom';
import { randomAffine } from '../../src/layers/random_affine';

export default async function run(ctx: BenchContext): Promise<void> {
  for (const backend of ctx.backends) {
    await ctx.useBackend(backend);
    const batch = 256;
    const repeats = ctx.quick ? 2 : backend === 'cpu' ? 3 : 5;
    const norm = normalization({ mean: [125.3, 122.9, 113.9], variance: [3910, 3833, 4417] });
    const resize = resizing({ height: 72, width: 72 });
    const flip = randomFlip({ mode: 'horizontal', seed: 1 });
    const rot = randomRotation({ factor: 0.02, seed: 2 });
    const zoom = randomZoom({ heightFactor: 0.2, widthFactor: 0.2, seed: 3 });
    const fused = randomAffine({ rotationFactor: 0.02, heightFactor: 0.2, widthFactor: 0.2, seed: 4 });
    const x = tf.randomUniform([batch, 32, 32, 3], 0, 255);
    const train = { training: true };
    const apply = (l: { apply: (t: tf.Tensor, k: object) => unknown }, t: tf.Tensor): tf.Tensor => l.apply(t, train) as tf.Tensor;
    const pipelines: [string, () => tf.Tensor][] = [
      ['normalize+resize+flip+rotation+zoom (batch 256, 32→72)', () => tf.tidy(() => apply(zoom, apply(rot, apply(flip, apply(resize, apply(norm, x))))))],
      ['normalize+resize+flip+fused rotation·zoom (batch 256, 32→72)', () => tf.tidy(() => apply(fused, apply(flip, apply(resize, apply(norm, x)))))],
    ];
    const resized = tf.tidy(() => apply(resize, x));
    if (!ctx.quick) {
      pipelines.push(['resize only', () => tf.tidy(() => apply(resize, x))]);
      pipelines.push(['flip only (72×72)', () => tf.tidy(() => apply(flip, resized))]);
      pipelines.push(['rotation only (72×72)', () => tf.tidy(() => apply(rot, resized))]);
      pipelines.push(['zoom only (72×72)', () => tf.tidy(() => apply(zoom, resized))]);
    }
    for (const [name, fn] of pipelines) {
      const t = await timeRepeated(() => settle(fn()), { warmup: 1, repeats });
      ctx.report({
        section: 'augmentation',
        name,
        value: batch / (t.medianMs / 1000),
        unit: 'images/s',
        backend,
        details: { batch, medianMs: t.medianMs, repeats },
      });
    }
    tf.dispose([x, resized]);
  }
}
