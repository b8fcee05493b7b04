import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { countViTParameters } from '../../src/models/flops';
import { VIT_PRESET_NAMES, ViTPresetName } from '../../src/models/presets';
import { adaptNormalization, createViTClassifier, ViTClassifier } from '../../src/models/vit_classifier';
import { fileIO } from '../../src/node/file_io';
import { AdamW } from '../../src/optimizers/adamw';
import { sparseCategoricalCrossentropyFromLogits } from '../../src/training/losses';
import { sparseCategoricalAccuracy, sparseTopKAccuracy } from '../../src/training/metrics';
import { RandomGenerator } from '../../src/utils/random';
import { useBackend } from '../helpers/backends';
import { cifarAvailable, readCifarBatch } from './cifar_batch';

const LN10 = Math.log(10);

function countOf(weights: tfl.LayerVariable[]): number {
  return weights.reduce((s, w) => s + (w.shape as number[]).reduce((a, b) => a * b, 1), 0);
}

/** Saves through a memory handler and loads back. */
async function roundTripMemory(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
}

function predictValues(model: tfl.LayersModel, x: tf.Tensor): Float32Array {
  return tf.tidy(() => (model.predict(x) as tf.Tensor).dataSync() as Float32Array);
}

/** Deterministic pseudo-images in [0, 255]. */
function images(n: number, h = 32, w = 32, c = 3, seed = 5): tf.Tensor4D {
  const rng = new RandomGenerator(seed);
  return tf.tensor4d(Float32Array.from({ length: n * h * w * c }, () => rng.uniform(0, 255)), [n, h, w, c]);
}

/** E[logsumexp(z)] for z ~ N(0, σ² I_K), by float64 Monte Carlo (20,000 draws, Box–Muller). */
function expectedGaussianCrossEntropy(k: number, sigma: number): number {
  const rng = new RandomGenerator(99);
  const draws = 20_000;
  let total = 0;
  const z = new Float64Array(k);
  for (let n = 0; n < draws; n++) {
    for (let i = 0; i < k; i++) {
      const u = 1 - rng.nextFloat();
      z[i] = sigma * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.nextFloat());
    }
    let m = -Infinity;
    for (let i = 0; i < k; i++) m = Math.max(m, z[i]);
    let s = 0;
    for (let i = 0; i < k; i++) s += Math.exp(z[i] - m);
    total += m + Math.log(s) - z[0];
  }
  return total / draws;
}

describe('createViTClassifier: the reference model', () => {
  let model: ViTClassifier;
  beforeAll(async () => {
    await useBackend('wasm');
    model = createViTClassifier({ seed: 7 });
  });
  afterAll(() => model.dispose());

  it('has exactly 21,666,762 trainable parameters and 7 in Normalization', () => {
    expect(countOf(model.trainableWeights)).toBe(21_666_762);
    expect(countOf(model.nonTrainableWeights)).toBe(7);
    expect(model.countParams()).toBe(countViTParameters().total);
    expect(model.getLayer('input_norm').countParams()).toBe(7);
  });

  it('has named layers in the reference order, a readable summary, and [batch, 10] logits', () => {
    expect(model.layers.map((l) => l.name)).toEqual([
      'image',
      'input_norm',
      'resizing',
      'flip',
      'rotation',
      'zoom',
      'patches',
      'patch_embed',
      ...Array.from({ length: 8 }, (_, i) => `block_${i + 1}`),
      'norm',
      'flatten',
      'dropout',
      'mlp_head',
      'logits',
    ]);
    const lines: string[] = [];
    model.summary(undefined, undefined, (line: string) => lines.push(line));
    const text = lines.join('\n');
    // With the default width every name and class fits in its column.
    for (const l of model.layers) expect(text).toContain(`${l.name} (${l.getClassName()})`);
    expect(text).toMatch(/block_8 \(TransformerBlock\)\s+\[\[null,144,64\]\]\s+\[null,144,64\]\s+83200/);
    expect(text).toMatch(/patch_embed \(PatchEncoder\)\s+\[\[null,144,108\]\]\s+\[null,144,64\]\s+16192/);
    expect(text).toMatch(/mlp_head \(MLP\)\s+\[\[null,9216\]\]\s+\[null,1024\]\s+20974592/);
    expect(text).toMatch(/logits \(MLP\)\s+\[\[null,1024\]\]\s+\[null,10\]\s+10250/);
    expect(text).toContain('Total params: 21666769');
    expect(text).toContain('Trainable params: 21666762');
    expect(text).toContain('Non-trainable params: 7');
    expect(model.outputs[0].shape).toEqual([null, 10]);
    const x = images(2);
    const y = model.predict(x) as tf.Tensor;
    expect(y.shape).toEqual([2, 10]);
    tf.dispose([x, y]);
  });

  it('adapts Normalization to the per-channel mean and variance of the data', async () => {
    const x = images(6, 32, 32, 3, 9);
    await adaptNormalization(model, x);
    const v = x.dataSync();
    const [mean, variance] = [new Float64Array(3), new Float64Array(3)];
    for (let i = 0; i < v.length; i++) mean[i % 3] += v[i] / (v.length / 3);
    for (let i = 0; i < v.length; i++) variance[i % 3] += (v[i] - mean[i % 3]) ** 2 / (v.length / 3);
    const weights = model.getLayer('input_norm').getWeights();
    const got = weights.map((w) => Array.from(w.dataSync()));
    got[0].forEach((m, c) => expect(m).toBeCloseTo(mean[c], 2));
    got[1].forEach((s, c) => expect(s / variance[c]).toBeCloseTo(1, 4));
    x.dispose();
  });

  it('saves and loads (memory and disk), including augmentation and the adapted Normalization, predicting bit-identically', async () => {
    const x = images(2, 32, 32, 3, 13);
    const before = predictValues(model, x);
    const fromMemory = await roundTripMemory(model);
    expect(fromMemory).toBeInstanceOf(ViTClassifier);
    expect(fromMemory.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    expect(Array.from(predictValues(fromMemory, x))).toEqual(Array.from(before));
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vit-classifier-'));
    try {
      await model.save(fileIO(dir));
      const fromDisk = await tfl.loadLayersModel(fileIO(dir));
      expect(Array.from(predictValues(fromDisk, x))).toEqual(Array.from(before));
      expect(Array.from(fromDisk.getLayer('input_norm').getWeights()[0].dataSync())).toEqual(
        Array.from(model.getLayer('input_norm').getWeights()[0].dataSync()),
      );
      fromDisk.dispose();
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
    fromMemory.dispose();
    x.dispose();
  });

  (cifarAvailable() ? it : it.skip)(
    'takes a fit step on a real CIFAR-10 batch: loss near ln 10 (plus the init logits\' variance), same on wasm and cpu',
    async () => {
      const batch = await readCifarBatch(16);
      const x = tf.tensor4d(batch.images, [16, 32, 32, 3]);
      const y = tf.tensor1d(Array.from(batch.labels));
      await adaptNormalization(model, x);

      // Inference loss of the fresh model. The reference initialisation (Glorot-uniform through a 2048- and a
      // 1024-wide head) does not give uniform predictions: an image's 10 logits spread with σ ≈ 0.7–0.95, and for K
      // iid N(0, σ²) logits the expected cross-entropy is E[logsumexp(z)] ≈ ln K + σ²/2·(1 − 1/K): about 2.6–2.7
      // rather than ln 10 (measured 2.5–2.75 over seeds).
      const logits = model.predict(x) as tf.Tensor;
      const evalLoss = tf.tidy(() => tf.mean(sparseCategoricalCrossentropyFromLogits(y, logits)).dataSync()[0]);
      const sigma = tf.tidy(() => Math.sqrt(tf.mean(tf.moments(logits, -1).variance).dataSync()[0]));
      expect(sigma).toBeGreaterThan(0.4);
      expect(sigma).toBeLessThan(1.3);
      expect(Math.abs(evalLoss - expectedGaussianCrossEntropy(10, sigma))).toBeLessThan(0.4);
      expect(evalLoss).toBeGreaterThan(LN10 - 0.2);
      expect(evalLoss).toBeLessThan(LN10 + 0.75);

      model.compile({
        optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 }),
        loss: sparseCategoricalCrossentropyFromLogits,
        metrics: [sparseCategoricalAccuracy, sparseTopKAccuracy(5)],
      });
      const h = await model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: false, verbose: 0 });
      expect(Object.keys(h.history).sort()).toEqual(['accuracy', 'loss', 'top-5-accuracy']);
      const fitLoss = h.history.loss[0] as number;
      // In training mode the three dropouts of the head (0.5 each) scale the logits' second moment by up to 2³,
      // so the first training loss is higher still (≈ 4–5.5 measured over seeds and batches).
      expect(Number.isFinite(fitLoss)).toBe(true);
      expect(fitLoss).toBeGreaterThan(LN10);
      expect(fitLoss).toBeLessThan(LN10 + 4);
      tf.dispose([logits]);

      // The same step from the same seed on both backends: same augmentation draws and dropout masks, same loss.
      const losses: Record<string, number> = {};
      // (One image: a step of the 21.7M-parameter model is slow on the plain-JS cpu backend.)
      const x2 = tf.slice(x, 0, 1);
      const y2 = tf.slice(y, 0, 1);
      for (const backend of ['wasm', 'cpu'] as const) {
        await useBackend(backend);
        const twin = createViTClassifier({ seed: 21 });
        await adaptNormalization(twin, x);
        twin.compile({ optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 }), loss: sparseCategoricalCrossentropyFromLogits });
        const step = await twin.fit(x2, y2, { epochs: 1, batchSize: 1, shuffle: false, verbose: 0 });
        losses[backend] = step.history.loss[0] as number;
        expect(Number.isFinite(losses[backend])).toBe(true);
        twin.dispose();
      }
      expect(Math.abs(losses.cpu - losses.wasm)).toBeLessThan(1e-3 * Math.max(1, losses.cpu));
      await useBackend('wasm');
      tf.dispose([x, y, x2, y2]);
    },
  );
});

describe('createViTClassifier: presets', () => {
  beforeAll(() => useBackend('wasm'));

  it.each(VIT_PRESET_NAMES.filter((p) => p !== 'keras-cifar10'))('%s: parameter count, output shape, save → load bit-identical', async (preset) => {
    const model = createViTClassifier({ preset: preset as ViTPresetName, seed: 3 });
    const c = countViTParameters({ preset: preset as ViTPresetName });
    expect(countOf(model.trainableWeights)).toBe(c.trainable);
    expect(countOf(model.nonTrainableWeights)).toBe(c.nonTrainable);
    const x = images(2, 32, 32, 3, 17);
    await adaptNormalization(model, x);
    const before = predictValues(model, x);
    expect(before.length).toBe(20);
    const loaded = await roundTripMemory(model);
    expect(Array.from(predictValues(loaded, x))).toEqual(Array.from(before));
    tf.dispose(x);
    model.dispose();
    loaded.dispose();
  });
});

describe('createViTClassifier: options', () => {
  beforeAll(() => useBackend('cpu'));
  const small = { inputShape: [8, 8, 3] as [number, number, number], patchSize: 4, projectionDim: 8, numHeads: 2, transformerLayers: 3, numClasses: 3 };

  it('builds the representation asked for', () => {
    const cls = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, representation: 'cls' });
    expect(cls.getLayer('pool').getConfig().mode).toBe('first');
    expect(countOf(cls.getLayer('patch_embed').trainableWeights)).toBe(48 * 8 + 8 + 5 * 8 + 8);
    const gap = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, representation: 'gap' });
    expect(gap.getLayer('pool').getConfig().mode).toBe('mean');
    const flat = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, representation: 'flatten' });
    expect(flat.getLayer('flatten').outputShape).toEqual([null, 32]);
    for (const m of [cls, gap, flat]) m.dispose();
  });

  it('gives each block its stochastic-depth rate, rising linearly from 0 to dropPathRate', () => {
    const m = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, transformerLayers: 5, dropPathRate: 0.2 });
    const rates = [1, 2, 3, 4, 5].map((i) => m.getLayer(`block_${i}`).getConfig().dropPath as number);
    [0, 0.05, 0.1, 0.15, 0.2].forEach((r, i) => expect(rates[i]).toBeCloseTo(r, 12));
    m.dispose();
  });

  it('leaves out normalization and augmentation when asked, and takes augmentation layers of the user', () => {
    const bare = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, normalization: false, augmentation: false });
    expect(bare.layers.map((l) => l.name).slice(0, 3)).toEqual(['image', 'patches', 'patch_embed']);
    expect(countOf(bare.nonTrainableWeights)).toBe(0);
    const own = tfl.layers.gaussianNoise({ stddev: 0.1, name: 'noise' });
    const custom = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, augmentation: [own] });
    expect(custom.layers.map((l) => l.name).slice(0, 4)).toEqual(['image', 'input_norm', 'noise', 'patches']);
    const shifted = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, augmentation: { flip: 'horizontal', translation: 0.125 } });
    expect(shifted.layers.map((l) => l.name).slice(0, 5)).toEqual(['image', 'input_norm', 'flip', 'translation', 'patches']);
    expect(shifted.getLayer('translation').getConfig()).toMatchObject({ heightFactor: 0.125, widthFactor: 0.125, fillMode: 'reflect' });
    shifted.dispose();
    bare.dispose();
    custom.dispose();
  });

  it('is reproducible from its seed', () => {
    const a = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, seed: 11 });
    const b = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, seed: 11 });
    const c = createViTClassifier({ preset: 'vit-cifar-tiny', ...small, seed: 12 });
    const flat = (m: tfl.LayersModel) => m.getWeights().flatMap((w) => Array.from(w.dataSync()));
    expect(flat(a)).toEqual(flat(b));
    expect(flat(a)).not.toEqual(flat(c));
    for (const m of [a, b, c]) m.dispose();
  });

  it('names the bad option', () => {
    expect(() => createViTClassifier({ preset: 'nope' as never })).toThrow(/preset must be one of .* got 'nope'/);
    expect(() => createViTClassifier({ imageSize: 70 })).toThrow(/imageSize 70×70 is not divisible by patchSize 6/);
  });
});

/**
 * 16×16×3 images of uniform noise in [0, 0.5] with one "plus" pattern (a random brightness in [0.7, 1]) filling one
 * of the four corner 4×4 patches; the class is the corner. With mean pooling over tokens, only the position
 * embeddings tell the corners apart.
 */
function cornerTask(n: number, seed: number): { x: tf.Tensor4D; y: tf.Tensor1D } {
  const rng = new RandomGenerator(seed);
  const px = new Float32Array(n * 768);
  const labels = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < 768; j++) px[i * 768 + j] = rng.uniform(0, 0.5);
    const label = rng.nextInt(4);
    const hi = rng.uniform(0.7, 1);
    const [r0, c0] = [label < 2 ? 0 : 12, label % 2 === 0 ? 0 : 12];
    labels[i] = label;
    for (let r = 0; r < 4; r++) {
      for (let c = 0; c < 4; c++) {
        if (r === 1 || r === 2 || c === 1 || c === 2) {
          for (let ch = 0; ch < 3; ch++) px[i * 768 + ((r0 + r) * 16 + (c0 + c)) * 3 + ch] = hi;
        }
      }
    }
  }
  return { x: tf.tensor4d(px, [n, 16, 16, 3]), y: tf.tensor1d(labels) };
}

describe('a tiny ViT learns where a pattern is (cpu)', () => {
  beforeAll(() => useBackend('cpu'));

  it('reaches ≥ 95% held-out accuracy with model.fit, with a flat tensor count across epochs', async () => {
    const model = createViTClassifier({
      preset: 'vit-cifar-tiny',
      inputShape: [16, 16, 3],
      numClasses: 4,
      patchSize: 4,
      projectionDim: 32,
      numHeads: 2,
      transformerLayers: 2,
      dropPathRate: 0,
      augmentation: false,
      normalization: { mean: 0.5, variance: 0.1 },
      seed: 1,
    });
    // Seeded initialisation, no dropout and no shuffling: the run is deterministic (this seed is past 95% from
    // epoch 4 on; other seeds get there in 4–6 epochs).
    model.compile({
      optimizer: new AdamW({ learningRate: 1e-2, weightDecay: 1e-4 }),
      loss: sparseCategoricalCrossentropyFromLogits,
      metrics: [sparseCategoricalAccuracy],
    });
    const train = cornerTask(192, 1);
    const test = cornerTask(200, 2);
    const counts: number[] = [];
    await model.fit(train.x, train.y, {
      epochs: 5,
      batchSize: 8,
      shuffle: false, // the examples are in random order already; this keeps the run reproducible
      verbose: 0,
      callbacks: { onEpochEnd: async () => void counts.push(tf.memory().numTensors) },
    });
    expect(new Set(counts.slice(1)).size).toBe(1);
    const predicted = tf.tidy(() => tf.argMax(model.predict(test.x) as tf.Tensor, -1).dataSync());
    const labels = Array.from(test.y.dataSync());
    const accuracy = labels.reduce((s, l, i) => s + (predicted[i] === l ? 1 : 0), 0) / labels.length;
    expect(accuracy).toBeGreaterThanOrEqual(0.95);
    tf.dispose([train.x, train.y, test.x, test.y]);
    model.dispose();
  });
});
