/**
 * What `fitViT` costs over its training steps: an epoch of `vit-cifar-tiny` on the bundled CIFAR-10 sample through
 * `fitViT` (seeded shuffle, uint8 → float32 batches, metrics, progress bookkeeping; no validation, no checkpoint),
 * against the bare loop of `DataParallelTrainer.step` on the same batches. Both on the wasm backend, every core,
 * batch 128 in micro-batches of 64; runs alternate (raw, fit, raw, fit, ...) after one warm-up each, medians reported.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as path from 'path';
import { median, type BenchContext } from '../context';
import { CIFAR_IMAGE_BYTES } from '../../src/data/types';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { AdamW } from '../../src/optimizers/adamw';
import { fitViT } from '../../src/training/fit';
import { RandomGenerator, setGlobalSeed } from '../../src/utils/random';
import { loadCifar10 } from '../../src/node/data/load_cifar';
import { DataParallelTrainer, defaultThreadCount } from '../../src/node/parallel/data_parallel_trainer';
import { dataParallelTrainer } from '../../src/node/training/trainer';

const SAMPLE = path.join(__dirname, '..', '..', 'examples', 'cifar10', 'data', 'cifar-10-sample');
const BATCH = 128;
const MICRO = 64;

export default async function fit(ctx: BenchContext): Promise<void> {
  if (!ctx.backends.includes('wasm')) {
    ctx.log('fit: skipped (needs the wasm backend)');
    return;
  }
  await ctx.useBackend('wasm');
  const n = ctx.quick ? 256 : 1024;
  const repeats = ctx.quick ? 1 : 3;
  const threads = defaultThreadCount();
  const data = await loadCifar10({ source: SAMPLE, checkRecordCounts: false });
  const train = { images: data.train.images.subarray(0, n * CIFAR_IMAGE_BYTES), labels: data.train.labels.subarray(0, n) };
  setGlobalSeed(1);
  const model = createViTClassifier({ preset: 'vit-cifar-tiny' });

  async function raw(): Promise<number> {
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 });
    const trainer = await DataParallelTrainer.create(model, optimizer, { threads, microBatchSize: MICRO });
    const order = new RandomGenerator(3).shuffle(Int32Array.from({ length: n }, (_, i) => i));
    const t0 = performance.now();
    for (let s = 0; s < n; s += BATCH) {
      const idx = order.subarray(s, Math.min(s + BATCH, n));
      const pixels = new Float32Array(idx.length * CIFAR_IMAGE_BYTES);
      const labels = new Int32Array(idx.length);
      idx.forEach((k, i) => {
        pixels.set(train.images.subarray(k * CIFAR_IMAGE_BYTES, (k + 1) * CIFAR_IMAGE_BYTES), i * CIFAR_IMAGE_BYTES);
        labels[i] = train.labels[k];
      });
      const x = tf.tensor4d(pixels, [idx.length, 32, 32, 3]);
      const y = tf.tensor1d(labels, 'int32');
      const { outputs } = await trainer.step(x, y);
      tf.dispose([x, y, outputs]);
    }
    const ips = n / ((performance.now() - t0) / 1000);
    await trainer.dispose();
    optimizer.dispose();
    return ips;
  }

  async function viaFit(): Promise<number> {
    let t0 = 0;
    await fitViT(model, train, {
      epochs: 1,
      batchSize: BATCH,
      microBatchSize: MICRO,
      seed: 3,
      trainer: dataParallelTrainer({ threads }),
      callbacks: { onTrainBegin: () => void (t0 = performance.now()) }, // after the workers have started
    });
    return n / ((performance.now() - t0) / 1000);
  }

  await raw();
  await viaFit();
  const rawIps: number[] = [];
  const fitIps: number[] = [];
  for (let i = 0; i < repeats; i++) {
    rawIps.push(await raw());
    fitIps.push(await viaFit());
    ctx.log(`fit: repeat ${i + 1}: DataParallelTrainer.step loop ${rawIps[i].toFixed(1)}, fitViT ${fitIps[i].toFixed(1)} images/s`);
  }
  const details = { preset: 'vit-cifar-tiny', images: n, batch: BATCH, microBatch: MICRO, threads, repeats, samples: { raw: rawIps, fit: fitIps } };
  ctx.report({ section: 'fit', name: `vit-cifar-tiny epoch, raw DataParallelTrainer.step loop, ${threads} threads`, value: median(rawIps), unit: 'images/s', backend: 'wasm', details });
  ctx.report({ section: 'fit', name: `vit-cifar-tiny epoch through fitViT, ${threads} threads`, value: median(fitIps), unit: 'images/s', backend: 'wasm', details });
  model.dispose();
}
