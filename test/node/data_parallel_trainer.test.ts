import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { trainStep } from '../../src/training/train_step';
import { sparseCategoricalCrossentropyWithLabelSmoothing } from '../../src/training/losses';
import { setGlobalSeed } from '../../src/utils/random';
import { DataParallelTrainer } from '../../src/node/parallel/data_parallel_trainer';
import { describeBackends } from '../helpers/backends';
import { maxAbsDiff, testValues } from '../helpers/reference';

/**
 * A small ViT; `dropout` switches on every random layer (augmentation, dropout, stochastic depth). With `seed` every
 * layer has a generator of its own; without, they draw from the global generator.
 */
function smallViT(dropout: boolean, seed: number | undefined = 3): tfl.LayersModel {
  return createViTClassifier({
    inputShape: [8, 8, 3],
    numClasses: 5,
    imageSize: 8,
    patchSize: 4,
    projectionDim: 16,
    numHeads: 2,
    transformerLayers: 2,
    mlpHeadUnits: [12],
    representation: 'gap',
    normalization: { mean: [0.1, -0.2, 0.3], variance: [1.5, 0.5, 2] },
    augmentation: dropout ? { flip: 'horizontal', rotation: 0.05, zoom: 0.1 } : false,
    attentionDropout: dropout ? 0.2 : 0,
    mlpDropout: dropout ? 0.2 : 0,
    headDropout: dropout ? 0.3 : 0,
    representationDropout: dropout ? 0.3 : 0,
    dropPathRate: dropout ? 0.2 : 0,
    seed,
  });
}

function batch(n: number): { x: tf.Tensor; y: tf.Tensor } {
  return {
    x: tf.tensor4d(testValues(n * 8 * 8 * 3, 11), [n, 8, 8, 3]),
    y: tf.tensor1d(Array.from({ length: n }, (_, i) => (i * 7) % 5), 'int32'),
  };
}

function weightsOf(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync() as Float32Array);
}

describeBackends('DataParallelTrainer', () => {
  it('makes the same update as trainStep on the whole batch (deterministic model, 2 and 3 threads, odd batch)', async () => {
    const { x, y } = batch(11);
    const reference = smallViT(false);
    const before = weightsOf(reference);
    const ref = trainStep(reference, tf.train.sgd(0.5), x, y, { microBatchSize: 4 });
    for (const threads of [2, 3]) {
      const model = smallViT(false);
      const trainer = await DataParallelTrainer.create(model, tf.train.sgd(0.5), { threads, microBatchSize: 4 });
      try {
        const got = await trainer.step(x, y);
        expect(Math.abs(got.loss - ref.loss)).toBeLessThan(1e-5);
        expect(got.outputs.shape).toEqual([11, 5]);
        expect(maxAbsDiff(got.outputs.dataSync(), ref.outputs.dataSync())).toBeLessThan(1e-5);
        const after = weightsOf(model);
        weightsOf(reference).forEach((w, i) => expect(maxAbsDiff(after[i], w)).toBeLessThan(1e-5));
        got.outputs.dispose();
      } finally {
        await trainer.dispose();
      }
    }
    // A library loss other than the default reaches the workers by name: the same update as trainStep with it.
    const smoothed = sparseCategoricalCrossentropyWithLabelSmoothing(0.2);
    const refSmoothed = smallViT(false);
    const r2 = trainStep(refSmoothed, tf.train.sgd(0.5), x, y, { microBatchSize: 4, loss: smoothed });
    expect(Math.abs(r2.loss - ref.loss)).toBeGreaterThan(1e-3); // smoothing changes the loss
    const model = smallViT(false);
    const trainer = await DataParallelTrainer.create(model, tf.train.sgd(0.5), { threads: 2, microBatchSize: 4, loss: smoothed });
    try {
      const got = await trainer.step(x, y);
      expect(Math.abs(got.loss - r2.loss)).toBeLessThan(1e-5);
      const after = weightsOf(model);
      weightsOf(refSmoothed).forEach((w, i) => expect(maxAbsDiff(after[i], w)).toBeLessThan(1e-5));
      got.outputs.dispose();
    } finally {
      await trainer.dispose();
    }
    tf.dispose(r2.outputs);
    // The step moved the weights by far more than the tolerance.
    expect(Math.max(...weightsOf(reference).map((w, i) => maxAbsDiff(w, before[i])))).toBeGreaterThan(1e-2);
    tf.dispose([x, y, ref.outputs]);
  });

  it('is reproducible from the global seed, draws independent masks per share, and leaks no tensors', async () => {
    const { x, y } = batch(8);
    const run = async (): Promise<{ weights: Float32Array[]; counts: number[] }> => {
      setGlobalSeed(21);
      // Layers without seeds of their own: the worker's copies must draw from the share's stream too.
      const model = smallViT(true, undefined);
      const trainer = await DataParallelTrainer.create(model, tf.train.adam(0.01), { threads: 2 });
      const counts: number[] = [];
      try {
        for (let i = 0; i < 3; i++) {
          const r = await trainer.step(x, y);
          r.outputs.dispose();
          counts.push(tf.memory().numTensors);
        }
      } finally {
        await trainer.dispose();
      }
      return { weights: weightsOf(model), counts };
    };
    const a = await run();
    const b = await run();
    a.weights.forEach((w, i) => expect(maxAbsDiff(w, b.weights[i])).toBe(0));
    expect(a.counts[2]).toBe(a.counts[1]);
    // Both shares hold the same 4 images (and the layers have seeds of their own): with the same random draws they
    // would give the same outputs.
    const x2 = batch(4);
    const doubled = { x: tf.concat([x2.x, x2.x]), y: tf.concat([x2.y, x2.y]) };
    setGlobalSeed(5);
    const model = smallViT(true);
    const trainer = await DataParallelTrainer.create(model, tf.train.sgd(0), { threads: 2 });
    const r = await trainer.step(doubled.x, doubled.y);
    const out = r.outputs.dataSync();
    expect(maxAbsDiff(out.subarray(0, 20), out.subarray(20, 40))).toBeGreaterThan(1e-3);
    await trainer.dispose();
    tf.dispose([x, y, x2.x, x2.y, doubled.x, doubled.y, r.outputs]);
  });
});

describe('DataParallelTrainer errors', () => {
  it('rejects bad options and inputs with a clear message', async () => {
    const model = smallViT(false);
    await expect(DataParallelTrainer.create(model, tf.train.sgd(0.1), { threads: 0 })).rejects.toThrow(/threads/);
    await expect(DataParallelTrainer.create(model, tf.train.sgd(0.1), { threads: 2, microBatchSize: -1 })).rejects.toThrow(/microBatchSize/);
    await expect(
      DataParallelTrainer.create(model, tf.train.sgd(0.1), { threads: 2, imports: ['/nonexistent/custom-layers.js'] }),
    ).rejects.toThrow(/could not start the worker threads.*custom-layers/);
    const trainer = await DataParallelTrainer.create(model, tf.train.sgd(0.1), { threads: 2 });
    const { x, y } = batch(4);
    const short = tf.tensor1d([0, 1], 'int32');
    await expect(trainer.step(x, short)).rejects.toThrow(/4 examples but y has 2/);
    await trainer.dispose();
    await expect(trainer.step(x, y)).rejects.toThrow(/after dispose/);
    tf.dispose([x, y, short]);
  });
});
