/**
 * Fine-tuning a ViT-B/16-shaped model (torchvision `vit_b_16`'s architecture, 86.6 M parameters, built by the
 * checkpoint mapping from `pytorchViTConfig('vit-b-16')`; random weights, since only the speed matters) at 224×224 on the
 * wasm backend: `fitViT` with AdamW, batch 8 in micro-batches of 4 (the whole batch of 8 also fits the 4 GiB wasm
 * heap, micro-batching keeps the peak lower), a new 10-class head, every weight training. One warm-up step, then the
 * timed steps (images/s over them). Single thread (the main process), as the browser runs it.
 */
import { type BenchContext } from '../context';
import { vitOptionsForCheckpointConfig } from '../../src/interop/create_from_checkpoint';
import { pytorchViTConfig } from '../../src/interop/pytorch_architectures';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { AdamW } from '../../src/optimizers/adamw';
import { fitViT } from '../../src/training/fit';
import { RandomGenerator } from '../../src/utils/random';

const SIZE = 224;
const BATCH = 8;
const MICRO = 4;

export default async function finetune(ctx: BenchContext): Promise<void> {
  if (!ctx.backends.includes('wasm')) {
    ctx.log('finetune: skipped (needs the wasm backend)');
    return;
  }
  await ctx.useBackend('wasm');
  const steps = ctx.quick ? 1 : 2;
  const model = createViTClassifier(vitOptionsForCheckpointConfig(pytorchViTConfig('vit-b-16'), { numClasses: 10, seed: 1 }));
  const rng = new RandomGenerator(2);
  const n = BATCH * (steps + 1);
  const images = new Uint8Array(n * SIZE * SIZE * 3);
  for (let i = 0; i < images.length; i++) images[i] = Math.floor(rng.nextFloat() * 256);
  const labels = Array.from({ length: n }, (_, i) => i % 10);
  const optimizer = new AdamW({ learningRate: 1e-4, weightDecay: 0.05 });
  const stepMs: number[] = [];
  let t0 = 0;
  let done = 0;
  let peakRss = 0;
  await fitViT(model, { images, labels, shape: [n, SIZE, SIZE, 3] }, {
    epochs: 1,
    batchSize: BATCH,
    microBatchSize: MICRO,
    optimizer,
    shuffle: false,
    seed: 1,
    callbacks: {
      onEpochBegin: () => void (t0 = performance.now()),
      onBatchEnd: () => {
        const ms = performance.now() - t0;
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
        done++;
        ctx.log(`finetune: step ${done}/${steps + 1} ${(ms / 1000).toFixed(1)} s`);
        if (done > 1) stepMs.push(ms); // the first step is the warm-up
        t0 = performance.now();
      },
    },
  });
  const total = stepMs.reduce((a, b) => a + b, 0);
  const trainableParams = model.trainableWeights.reduce((sum, w) => sum + w.shape.reduce((a: number, b) => a * (b as number), 1), 0);
  ctx.report({
    section: 'finetune',
    name: `ViT-B/16 fine-tune 224×224 batch ${BATCH} (micro ${MICRO})`,
    value: (BATCH * stepMs.length) / (total / 1000),
    unit: 'images/s',
    backend: 'wasm',
    details: { steps: stepMs.length, stepSeconds: stepMs.map((m) => +(m / 1000).toFixed(2)), peakRssMB: Math.round(peakRss / 2 ** 20), params: trainableParams },
  });
  optimizer.dispose();
  model.dispose();
}
