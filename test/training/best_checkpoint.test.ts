import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { keepBestWeights } from '../../src/training/best_checkpoint';
import { sparseCategoricalCrossentropyFromLogits } from '../../src/training/losses';
import { sparseCategoricalAccuracy } from '../../src/training/metrics';
import { acceptSparseLabels } from '../../src/training/sparse_labels';
import { useBackend } from '../helpers/backends';

function tinyModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [6] });
  const hidden = tfl.layers
    .dense({ units: 8, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 7 }) })
    .apply(input) as tfl.SymbolicTensor;
  const logits = tfl.layers.dense({ units: 3, kernelInitializer: tfl.initializers.glorotUniform({ seed: 8 }) }).apply(hidden) as tfl.SymbolicTensor;
  const model = tfl.model({ inputs: input, outputs: logits });
  // A large learning rate makes the validation loss jump around, so the best epoch is not the last one.
  model.compile({ optimizer: tf.train.sgd(2.5), loss: sparseCategoricalCrossentropyFromLogits, metrics: [sparseCategoricalAccuracy] });
  acceptSparseLabels(model);
  return model;
}

function snapshot(model: tfl.LayersModel): Float32Array[] {
  return model.getWeights().map((w) => w.dataSync().slice() as Float32Array);
}

describe('keepBestWeights', () => {
  beforeAll(() => useBackend('cpu'));

  it('restores the weights of the epoch with the lowest val_loss at train end, saving each improvement', async () => {
    const model = tinyModel();
    const x = tf.randomNormal([30, 6], 0, 1, 'float32', 11);
    const y = tf.tensor1d(Array.from({ length: 30 }, (_, i) => i % 3));
    const xv = tf.randomNormal([12, 6], 0, 1, 'float32', 12);
    const yv = tf.tensor1d(Array.from({ length: 12 }, (_, i) => (i * 7) % 3));

    const perEpoch: Float32Array[][] = [];
    const record = new tfl.CustomCallback({ onEpochEnd: async () => void perEpoch.push(snapshot(model)) });
    const saves: { epoch: number; weights: Float32Array }[] = [];
    const best = keepBestWeights({
      monitor: 'val_loss',
      saveTo: (epoch) =>
        tf.io.withSaveHandler(async (artifacts) => {
          saves.push({ epoch, weights: new Float32Array(tf.io.concatenateArrayBuffers(artifacts.weightData!)) });
          return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
        }),
    });
    expect(best.mode).toBe('min');

    const before = tf.memory().numTensors;
    // No shuffling (fit shuffles with Math.random): the same epochs every run, whose best is not the last.
    const h = await model.fit(x, y, { epochs: 8, batchSize: 10, shuffle: false, validationData: [xv, yv], callbacks: [record, best], verbose: 0 });
    const losses = h.history.val_loss as number[];
    const bestEpoch = losses.indexOf(Math.min(...losses));
    expect(bestEpoch).toBeLessThan(losses.length - 1); // the test means something only if the last epoch is not the best
    expect(best.bestEpoch).toBe(bestEpoch);
    expect(best.bestValue).toBe(losses[bestEpoch]);

    // The model now holds exactly the weights it had at the end of the best epoch.
    const now = snapshot(model);
    now.forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(perEpoch[bestEpoch][i])));

    // One save per improvement (a running minimum), the last one holding the best weights.
    const improvements = losses.map((v, i) => i).filter((i) => losses[i] < Math.min(Infinity, ...losses.slice(0, i)));
    expect(saves.map((s) => s.epoch)).toEqual(improvements);
    const flat = Float32Array.from(perEpoch[bestEpoch].flatMap((w) => Array.from(w)));
    expect(Array.from(saves[saves.length - 1].weights)).toEqual(Array.from(flat));

    // It holds one copy of the weights (4 tensors), nothing more.
    expect(tf.memory().numTensors).toBe(before + 4);
    best.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x, y, xv, yv]);
    model.dispose();
  });

  it('keeps the highest val_accuracy by default and can restore on request', async () => {
    const model = tinyModel();
    const x = tf.randomNormal([24, 6], 0, 1, 'float32', 21);
    const y = tf.tensor1d(Array.from({ length: 24 }, (_, i) => i % 3));
    const best = keepBestWeights({ restoreOnTrainEnd: false });
    expect(best.monitor).toBe('val_accuracy');
    expect(best.mode).toBe('max');
    const perEpoch: Float32Array[][] = [];
    const record = new tfl.CustomCallback({ onEpochEnd: async () => void perEpoch.push(snapshot(model)) });
    const h = await model.fit(x, y, { epochs: 5, batchSize: 8, validationSplit: 0.25, callbacks: [record, best], verbose: 0 });
    const acc = h.history.val_accuracy as number[];
    const first = acc.indexOf(Math.max(...acc)); // ties: the first epoch reaching the best value is kept
    expect(best.bestEpoch).toBe(first);
    // Not restored at train end: the model has the last epoch's weights.
    snapshot(model).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(perEpoch[perEpoch.length - 1][i])));
    best.restore();
    snapshot(model).forEach((w, i) => expect(Array.from(w)).toEqual(Array.from(perEpoch[first][i])));
    best.dispose();
    tf.dispose([x, y]);
    model.dispose();
  });

  it('names a missing monitor key and bad options', async () => {
    const model = tinyModel();
    const x = tf.zeros([4, 6]);
    const y = tf.tensor1d([0, 1, 2, 0]);
    await expect(model.fit(x, y, { epochs: 1, callbacks: [keepBestWeights()], verbose: 0 })).rejects.toThrow(
      /monitor 'val_accuracy' is not in the epoch logs \(available: .*loss/,
    );
    expect(() => keepBestWeights({ mode: 'up' as never })).toThrow(/mode must be one of 'auto', 'min', 'max', got 'up'/);
    expect(() => keepBestWeights({ minDelta: -1 })).toThrow(/minDelta/);
    tf.dispose([x, y]);
    model.dispose();
  });
});
