/**
 * Inference split between threads: DataParallelTrainer.predict (the same outputs as `model.apply(x, { training:
 * false })` for any batch and thread count, with the weights of the latest step), evaluateNode (the same results as
 * evaluate), and fitViT's validation through a data-parallel trainer's predict (the same val_ logs as evaluate on the
 * held-out part).
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { evaluate } from '../../src/training/evaluate';
import { fitViT } from '../../src/training/fit';
import { DataParallelTrainer } from '../../src/node/parallel/data_parallel_trainer';
import { dataParallelTrainer, evaluateNode } from '../../src/node/index';
import { describeBackends, useBackend } from '../helpers/backends';
import { maxAbsDiff, testValues } from '../helpers/reference';

const CLASSES = 5;

/** A small ViT (8×8 images); `random` switches on augmentation, dropout and stochastic depth (training mode only). */
function smallViT(random: boolean): tfl.LayersModel {
  return createViTClassifier({
    inputShape: [8, 8, 3],
    numClasses: CLASSES,
    imageSize: 8,
    patchSize: 4,
    projectionDim: 16,
    numHeads: 2,
    transformerLayers: 1,
    mlpHeadUnits: [12],
    representation: 'gap',
    normalization: { mean: [0.1, -0.2, 0.3], variance: [1.5, 0.5, 2] },
    augmentation: random ? { flip: 'horizontal', rotation: 0.05, zoom: 0.1 } : false,
    attentionDropout: random ? 0.2 : 0,
    mlpDropout: random ? 0.2 : 0,
    headDropout: random ? 0.3 : 0,
    dropPathRate: random ? 0.2 : 0,
    seed: 3,
  });
}

function images(n: number, seed = 11): tf.Tensor4D {
  return tf.tensor4d(testValues(n * 8 * 8 * 3, seed), [n, 8, 8, 3]);
}

function labels(n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 7 + 2) % CLASSES);
}

/** `trainer.predict(x)` against `model.apply(x, { training: false })` on this thread; disposes both. */
async function expectSameOutputs(trainer: DataParallelTrainer, model: tfl.LayersModel, x: tf.Tensor): Promise<void> {
  const got = await trainer.predict(x);
  const want = tf.tidy(() => model.apply(tf.cast(x, 'float32'), { training: false }) as tf.Tensor);
  try {
    expect(got.dtype).toBe('float32');
    expect(got.shape).toEqual([x.shape[0], CLASSES]);
    expect(maxAbsDiff(got.dataSync(), want.dataSync())).toBeLessThan(1e-5);
  } finally {
    tf.dispose([got, want]);
  }
}

describeBackends('DataParallelTrainer.predict', () => {
  it('equals model.apply in inference mode for 1, 2 and 3 threads, any batch size, and leaks no tensors', async () => {
    // Random layers on: a worker that ran them in training mode would differ.
    const model = smallViT(true);
    const probe = images(4);
    const [train, infer] = [true, false].map((training) => model.apply(probe, { training }) as tf.Tensor);
    expect(maxAbsDiff(train.dataSync(), infer.dataSync())).toBeGreaterThan(1e-3);
    tf.dispose([probe, train, infer]);
    for (const threads of [1, 2, 3]) {
      const trainer = await DataParallelTrainer.create(model, null, { threads });
      try {
        expect(trainer.threads).toBe(threads);
        // 1 and 2 images: fewer than 3 threads (idle workers); 5, 7: not divisible by 2 or 3.
        for (const n of [1, 2, 5, 7]) {
          const x = images(n, n);
          await expectSameOutputs(trainer, model, x);
          x.dispose();
        }
        // Non-float input is cast, as model.apply would need.
        const ints = tf.tensor4d(Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => (i * 37) % 5), [4, 8, 8, 3], 'int32');
        await expectSameOutputs(trainer, model, ints);
        const x = images(7);
        const before = tf.memory().numTensors;
        for (let i = 0; i < 3; i++) (await trainer.predict(x)).dispose();
        (await trainer.predict(ints)).dispose();
        expect(tf.memory().numTensors).toBe(before);
        tf.dispose([x, ints]);
      } finally {
        await trainer.dispose();
      }
    }
    model.dispose();
  });
});

describe('DataParallelTrainer.predict and evaluateNode [cpu]', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('predicts with the weights of the latest step on every thread', async () => {
    const model = smallViT(false);
    const trainer = await DataParallelTrainer.create(model, tf.train.sgd(0.5), { threads: 3, microBatchSize: 2 });
    try {
      const x = images(7);
      const before = await trainer.predict(x);
      const y = tf.tensor1d(labels(7), 'int32');
      for (let i = 0; i < 2; i++) (await trainer.step(x, y)).outputs.dispose();
      const after = await trainer.predict(x);
      // The steps moved the outputs by far more than the tolerance, and every thread's share has the new weights.
      expect(maxAbsDiff(before.dataSync(), after.dataSync())).toBeGreaterThan(1e-2);
      await expectSameOutputs(trainer, model, x);
      tf.dispose([x, y, before, after]);
    } finally {
      await trainer.dispose();
    }
    model.dispose();
  });

  it('refuses predict after dispose and step without an optimizer, clearly', async () => {
    const model = smallViT(false);
    const x = images(4);
    const y = tf.tensor1d(labels(4), 'int32');
    for (const threads of [1, 2]) {
      const trainer = await DataParallelTrainer.create(model, null, { threads });
      await expect(trainer.step(x, y)).rejects.toThrow(/created without an optimizer \(predict only\)/);
      // The failed step broke nothing: the trainer still predicts.
      await expectSameOutputs(trainer, model, x);
      await trainer.dispose();
      await expect(trainer.predict(x)).rejects.toThrow(/predict after dispose/);
    }
    tf.dispose([x, y]);
    model.dispose();
  });

  it('evaluateNode gives the results of evaluate (2 and 3 threads, last batch smaller than the thread count)', async () => {
    const model = smallViT(false);
    // 10 images in batches of 4: the last batch of 2 leaves a thread idle with 3 threads.
    const data = { images: Float32Array.from(testValues(10 * 8 * 8 * 3, 5)), labels: labels(10), shape: [10, 8, 8, 3] };
    const want = await evaluate(model, data, { batchSize: 4, topK: 2 });
    for (const threads of [2, 3]) {
      const got = await evaluateNode(model, data, { batchSize: 4, topK: 2, threads });
      expect(Math.abs(got.loss - want.loss)).toBeLessThan(1e-5);
      expect(got.accuracy).toBe(want.accuracy);
      expect(got.topKAccuracy).toBe(want.topKAccuracy);
      expect(got.k).toBe(2);
      expect(got.confusionMatrix).toEqual(want.confusionMatrix);
      expect(got.examples).toBe(10);
    }
    // A loss that throws leaves nothing behind, the predicted logits included.
    const held = tf.memory().numTensors;
    const predictFn = (x: tf.Tensor) => model.apply(x, { training: false }) as tf.Tensor;
    const boom = () => {
      throw new Error('boom');
    };
    await expect(evaluate(model, data, { batchSize: 4, predict: predictFn, loss: boom })).rejects.toThrow('boom');
    expect(tf.memory().numTensors).toBe(held);
    // threads 1: plain evaluate.
    const one = await evaluateNode(model, data, { batchSize: 4, topK: 2, threads: 1 });
    expect(one.loss).toBe(want.loss);
    // Repeated calls hold no tensors (each starts and stops its workers).
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) await evaluateNode(model, data, { batchSize: 4, threads: 2 });
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("fitViT with dataParallelTrainer validates on every thread: val_ logs equal evaluate's on the held-out part", async () => {
    const n = 20;
    const data = { images: Float32Array.from(testValues(n * 8 * 8 * 3, 9)), labels: labels(n), shape: [n, 8, 8, 3] };
    // validationSplit 0.3: the last 6 examples.
    const heldOut = { images: data.images.slice(14 * 8 * 8 * 3), labels: data.labels.slice(14), shape: [6, 8, 8, 3] };
    const model = smallViT(true);
    const predict = jest.spyOn(DataParallelTrainer.prototype, 'predict');
    const expected: { loss: number; accuracy: number }[] = [];
    try {
      const history = await fitViT(model, data, {
        epochs: 2,
        batchSize: 6,
        microBatchSize: 2,
        validationSplit: 0.3,
        seed: 4,
        optimizer: tf.train.adam(0.01),
        trainer: dataParallelTrainer({ threads: 2 }),
        callbacks: {
          // The model as validation saw it (after the epoch's last step), evaluated on this thread alone.
          onEpochEnd: async () => {
            const r = await evaluate(model, heldOut, { batchSize: 6 });
            expected.push({ loss: r.loss, accuracy: r.accuracy });
          },
        },
      });
      expect(history.threads).toBe(2);
      expect(history.history.val_loss).toHaveLength(2);
      expected.forEach((e, i) => {
        expect(Math.abs(history.history.val_loss[i] - e.loss)).toBeLessThan(1e-5);
        expect(history.history.val_accuracy[i]).toBeCloseTo(e.accuracy, 10);
      });
      // Validation went through the trainer's predict, in batches of microBatchSize × threads (4, then the last 2).
      expect(predict.mock.calls.map(([x]) => x.shape[0])).toEqual([4, 2, 4, 2]);
    } finally {
      predict.mockRestore();
    }
    model.dispose();
  });
});
