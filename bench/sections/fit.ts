/**
 * What `fitViT` costs over its training steps: an epoch of `vit-cifar-tiny` on the bundled CIFAR-10 sample through
 * `fitViT` (seeded shuffle, uint8 → float32 batches, metrics, progress bookkeeping; no validation, no checkpoint),
 * against the bare loop of `DataParallelTrainer.step` on the same batches. Both on the wasm backend, every core,
 * batch 128 in micro-batches of 64; runs alternate (raw, fit, raw, fit, ...) after one warm-up each, medians reported.
 *
 * Then the "epoch" rows (issue #20): the example's whole epoch, training and validation, against its steps. `fitViT`
 * as `examples/cifar10` runs it (`dataParallelTrainer` on every thread, batch 256 in the preset's default
 * micro-batches, `validationSplit` 0.1 validated through the trainer's `predict` in its default batches, best
 * weights by `val_accuracy`, the Normalization layer adapted) on a synthetic uint8 data set of N training images
 * plus N / 9 validation images, timed from `onTrainBegin` (workers started) to `onEpochEnd` (validation done);
 * beside it the bare `DataParallelTrainer.step` loop over the same N images, same preset, threads, batch and
 * micro-batch. Reported: training images per second of each (the epoch's wall time includes validation), and
 * epoch / raw (median of the alternating pairs' ratios).
 *
 * Environment: `VIT_BENCH_PRESETS=name[,name]` selects the presets of the epoch rows (default `vit-cifar-cpu-hour`,
 * or `vit-cifar-tiny` where that preset does not exist); `VIT_BENCH_EPOCH_IMAGES=N` the training images of an epoch
 * (default 2,560; 256 with `--quick`).
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import * as path from 'path';
import { median, type BenchContext } from '../context';
import { CIFAR_IMAGE_BYTES } from '../../src/data/types';
import { Normalization } from '../../src/layers/normalization';
import { VIT_PRESET_NAMES, VIT_PRESETS, type ViTPresetName } from '../../src/models/presets';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { AdamW } from '../../src/optimizers/adamw';
import { defaultMicroBatchSize, fitViT } from '../../src/training/fit';
import { RandomGenerator, setGlobalSeed } from '../../src/utils/random';
import { loadCifar10 } from '../../src/node/data/load_cifar';
import { DataParallelTrainer, defaultThreadCount } from '../../src/node/parallel/data_parallel_trainer';
import { dataParallelTrainer } from '../../src/node/training/trainer';

const SAMPLE = path.join(__dirname, '..', '..', 'examples', 'cifar10', 'data', 'cifar-10-sample');
const BATCH = 128;
const MICRO = 64;
/** The epoch rows: the example's batch, validation split and default training images per epoch. */
const EPOCH_BATCH = 256;
const EPOCH_VALIDATION_SPLIT = 0.1;
const EPOCH_IMAGES = 2560;

/** The presets of the epoch rows: `VIT_BENCH_PRESETS`, else the example's CPU preset (or `vit-cifar-tiny`). */
function epochPresets(): ViTPresetName[] {
  const env = process.env.VIT_BENCH_PRESETS;
  const names = VIT_PRESET_NAMES as readonly string[];
  if (env == null || env.trim() === '') return [(names.includes('vit-cifar-cpu-hour') ? 'vit-cifar-cpu-hour' : 'vit-cifar-tiny') as ViTPresetName];
  const wanted = env.split(',').map((w) => w.trim()).filter((w) => w !== '');
  for (const w of wanted) {
    if (!names.includes(w)) throw new Error(`VIT_BENCH_PRESETS: unknown preset '${w}' (${VIT_PRESET_NAMES.join(', ')})`);
  }
  return VIT_PRESET_NAMES.filter((p) => wanted.includes(p));
}

/** Training images per epoch: `VIT_BENCH_EPOCH_IMAGES`, else 2,560 (256 with `--quick`). */
function epochImages(quick: boolean): number {
  const env = process.env.VIT_BENCH_EPOCH_IMAGES;
  if (env == null || env.trim() === '') return quick ? 256 : EPOCH_IMAGES;
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`VIT_BENCH_EPOCH_IMAGES must be a positive integer, got '${env}'`);
  return n;
}

/** Deterministic pseudo-random bytes (a 32-bit LCG's high bytes): synthetic uint8 pixels. */
function syntheticBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/**
 * The bare loop of `DataParallelTrainer.step` over the first `n` images of `images` in a seeded shuffle, batches
 * copied uint8 → float32 as fitViT copies them; training images per second (workers started before the clock).
 */
async function rawStepLoop(
  model: tfl.LayersModel,
  data: { images: Uint8Array; labels: ArrayLike<number> },
  shape: readonly number[],
  o: { n: number; batch: number; micro: number; threads: number },
): Promise<number> {
  const { n, batch, micro, threads } = o;
  const pixelsPerImage = shape.reduce((a, b) => a * b, 1);
  const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 });
  const trainer = await DataParallelTrainer.create(model, optimizer, { threads, microBatchSize: micro });
  const order = new RandomGenerator(3).shuffle(Int32Array.from({ length: n }, (_, i) => i));
  const t0 = performance.now();
  for (let s = 0; s < n; s += batch) {
    const idx = order.subarray(s, Math.min(s + batch, n));
    const pixels = new Float32Array(idx.length * pixelsPerImage);
    const labels = new Int32Array(idx.length);
    idx.forEach((k, i) => {
      pixels.set(data.images.subarray(k * pixelsPerImage, (k + 1) * pixelsPerImage), i * pixelsPerImage);
      labels[i] = data.labels[k];
    });
    const x = tf.tensor(pixels, [idx.length, ...shape]);
    const y = tf.tensor1d(labels, 'int32');
    const { outputs } = await trainer.step(x, y);
    tf.dispose([x, y, outputs]);
  }
  const ips = n / ((performance.now() - t0) / 1000);
  await trainer.dispose();
  optimizer.dispose();
  return ips;
}

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

  const raw = () => rawStepLoop(model, train, [32, 32, 3], { n, batch: BATCH, micro: MICRO, threads });

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

  for (const preset of epochPresets()) await measureEpoch(ctx, preset, threads);
}

/**
 * The epoch rows of `preset`: the example's fitViT epoch with validation, end to end, against the bare step loop
 * over the same training images (see the file's comment).
 */
async function measureEpoch(ctx: BenchContext, preset: ViTPresetName, threads: number): Promise<void> {
  const nTrain = epochImages(ctx.quick);
  // The smallest total whose validationSplit 0.1 leaves exactly nTrain images for training (as fitViT splits).
  let total = Math.ceil(nTrain / (1 - EPOCH_VALIDATION_SPLIT));
  while (Math.floor(total * (1 - EPOCH_VALIDATION_SPLIT)) > nTrain) total--;
  while (Math.floor(total * (1 - EPOCH_VALIDATION_SPLIT)) < nTrain) total++;
  const nValidation = total - nTrain;
  const repeats = ctx.quick ? 1 : 3;
  const warmup = ctx.quick ? 0 : 1;
  const shape = VIT_PRESETS[preset].options.inputShape ?? [32, 32, 3];
  const numClasses = VIT_PRESETS[preset].options.numClasses ?? 10;
  const pixelsPerImage = shape.reduce((a, b) => a * b, 1);
  const images = syntheticBytes(total * pixelsPerImage, 7);
  const labels = Uint8Array.from({ length: total }, (_, i) => images[i * pixelsPerImage] % numClasses);
  const data = { images, labels, shape: [total, ...shape] };

  setGlobalSeed(1);
  const model = createViTClassifier({ preset });
  const norm = model.layers.find((l) => l instanceof Normalization) as Normalization | undefined;
  // As the example: statistics of the images (bytes as they are); a preset whose inputs stay unnormalised could
  // reach a non-finite loss, which would end the epoch early (checked below).
  if (norm != null) await norm.adapt({ data: images.subarray(0, nTrain * pixelsPerImage), shape: [nTrain, ...shape] });
  const micro = defaultMicroBatchSize(model, EPOCH_BATCH);

  const raw = () => rawStepLoop(model, data, shape, { n: nTrain, batch: EPOCH_BATCH, micro, threads });
  async function epoch(): Promise<{ ips: number; seconds: number; validationSeconds: number }> {
    let t0 = 0;
    let tLastStep = 0;
    let t1 = 0;
    const optimizer = new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 });
    const history = await fitViT(model, data, {
      epochs: 1,
      batchSize: EPOCH_BATCH,
      microBatchSize: micro,
      optimizer,
      validationSplit: EPOCH_VALIDATION_SPLIT,
      seed: 3,
      bestWeights: { monitor: 'val_accuracy' },
      trainer: dataParallelTrainer({ threads }),
      callbacks: {
        onTrainBegin: () => void (t0 = performance.now()), // after the workers have started
        onBatchEnd: () => void (tLastStep = performance.now()),
        onEpochEnd: () => void (t1 = performance.now()), // after validation
      },
    }).finally(() => optimizer.dispose());
    if (history.status !== 'completed' || history.history.val_loss?.length !== 1) {
      throw new Error(`fit epoch (${preset}): the epoch did not complete (status '${history.status}')`);
    }
    const seconds = (t1 - t0) / 1000;
    return { ips: nTrain / seconds, seconds, validationSeconds: (t1 - tLastStep) / 1000 };
  }

  for (let i = 0; i < warmup; i++) {
    await raw();
    await epoch();
  }
  const rawIps: number[] = [];
  const epochIps: number[] = [];
  const ratios: number[] = [];
  const epochSeconds: number[] = [];
  const validationSeconds: number[] = [];
  for (let i = 0; i < repeats; i++) {
    rawIps.push(await raw());
    const e = await epoch();
    epochIps.push(e.ips);
    ratios.push(e.ips / rawIps[i]);
    epochSeconds.push(e.seconds);
    validationSeconds.push(e.validationSeconds);
    ctx.log(
      `fit: ${preset} repeat ${i + 1}: step loop ${rawIps[i].toFixed(1)}, epoch with validation ${e.ips.toFixed(1)} images/s ` +
        `(${e.seconds.toFixed(1)} s, validation ${e.validationSeconds.toFixed(1)} s), ratio ${ratios[i].toFixed(3)}`,
    );
  }
  const details = {
    preset,
    trainImages: nTrain,
    validationImages: nValidation,
    validationSplit: EPOCH_VALIDATION_SPLIT,
    data: 'synthetic uint8',
    batch: EPOCH_BATCH,
    microBatch: micro,
    threads,
    repeats,
    warmup,
    how:
      'epoch: fitViT (dataParallelTrainer, best weights by val_accuracy, validation through the trainer) from onTrainBegin to ' +
      'onEpochEnd, training images / wall time incl. validation; raw: DataParallelTrainer.step loop over the same training images',
    samples: { raw: rawIps, epoch: epochIps, ratio: ratios, epochSeconds, validationSeconds },
  };
  const what = `${preset} epoch (${nTrain} + ${nValidation} validation images), batch ${EPOCH_BATCH}, ${threads} threads`;
  ctx.report({ section: 'fit', name: `${what}: raw DataParallelTrainer.step loop`, value: median(rawIps), unit: 'images/s', backend: 'wasm', details });
  ctx.report({ section: 'fit', name: `${what}: fitViT with validation`, value: median(epochIps), unit: 'images/s', backend: 'wasm', details });
  ctx.report({ section: 'fit', name: `${what}: fitViT with validation / raw`, value: median(ratios), unit: 'ratio', backend: 'wasm', details });
  model.dispose();
}
