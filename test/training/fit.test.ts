/**
 * fitViT on the cpu backend, checked against a float64 reference written from the formulas (fit_reference.ts):
 * seeded shuffle per epoch, batches and micro-batches (the same update as the whole batch), Keras's last-fraction
 * validation split, SGD and AdamW with a learning-rate schedule per step, best weights, early stopping, memory,
 * the data forms, resume from a MemoryCheckpointStore, and errors that name the option.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  CheckpointSettingsError,
  MemoryCheckpointStore,
  RandomGenerator,
  createViTClassifier,
  fitViT,
  piecewiseConstantDecay,
  setGlobalSeed,
  sparseCategoricalAccuracy,
  type FitBatch,
  type FitViTOptions,
} from '../../src/index';
import { useBackend } from '../helpers/backends';
import { type Linear, batchGradient, clone, evaluateLinear } from './fit_reference';

const N = 13;
const D = 4;
const C = 3;
const XS: number[][] = Array.from({ length: N }, (_, n) => Array.from({ length: D }, (_, i) => (((n * 7 + i * 3) % 11) - 5) / 4));
const YS: number[] = Array.from({ length: N }, (_, n) => (n * 5 + 1) % C);
const START: Linear = {
  // Irrational-looking values: no two logits tie exactly (a tie could round either way in float32).
  W: Array.from({ length: D }, (_, i) => Array.from({ length: C }, (_, j) => 0.3 * Math.sin(i * 3 + j * 5 + 1))),
  b: [0.13, -0.21, 0.047],
};

function linearModel(p: Linear = START): tfl.LayersModel {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: C, inputShape: [D] })] });
  model.setWeights([tf.tensor2d(p.W), tf.tensor1d(p.b)]);
  return model;
}

function arrays(xs = XS, ys = YS) {
  return { images: Float32Array.from(xs.flat()), labels: Int32Array.from(ys), shape: [xs.length, D] };
}

function weightsOf(model: tfl.LayersModel): Linear {
  const [W, b] = model.getWeights().map((w) => w.arraySync());
  return { W: W as number[][], b: b as number[] };
}

function expectClose(actual: Linear, expected: Linear, tol: number): void {
  actual.W.flat().forEach((v, i) => expect(Math.abs(v - expected.W.flat()[i])).toBeLessThan(tol));
  actual.b.forEach((v, i) => expect(Math.abs(v - expected.b[i])).toBeLessThan(tol));
}

/** Float64 SGD epochs as fitViT runs them: the shuffle of each epoch from one generator, the last fraction held out. */
function referenceSgd(opts: { epochs: number; batchSize: number; lr: number; seed: number; nTrain: number }) {
  const p = clone(START);
  const rng = new RandomGenerator(opts.seed);
  const history: Record<string, number[]> = { loss: [], accuracy: [], val_loss: [], val_accuracy: [] };
  for (let e = 0; e < opts.epochs; e++) {
    const order = Array.from(rng.shuffle(Int32Array.from({ length: opts.nTrain }, (_, i) => i)));
    let lossSum = 0;
    let hits = 0;
    for (let s = 0; s < opts.nTrain; s += opts.batchSize) {
      const idx = order.slice(s, s + opts.batchSize);
      const g = batchGradient(p, idx.map((i) => XS[i]), idx.map((i) => YS[i]));
      lossSum += g.loss * idx.length;
      hits += g.hits;
      p.W.forEach((row, i) => row.forEach((_, j) => (row[j] -= opts.lr * g.dW[i][j])));
      p.b.forEach((_, j) => (p.b[j] -= opts.lr * g.db[j]));
    }
    history.loss.push(lossSum / opts.nTrain);
    history.accuracy.push(hits / opts.nTrain);
    const v = evaluateLinear(p, XS.slice(opts.nTrain), YS.slice(opts.nTrain));
    history.val_loss.push(v.loss);
    history.val_accuracy.push(v.accuracy);
  }
  return { p, history };
}

function expectHistoryClose(actual: Record<string, number[]>, expected: Record<string, number[]>, tol = 1e-5): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [k, v] of Object.entries(expected)) {
    expect(actual[k]).toHaveLength(v.length);
    v.forEach((x, i) => expect(Math.abs(actual[k][i] - x)).toBeLessThan(tol));
  }
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('fitViT against a float64 reference (linear classifier, SGD)', () => {
  // 13 examples, validationSplit 0.25: the first floor(13 · 0.75) = 9 train, the last 4 validate (Keras).
  it.each([1, 2, 4, 5])('batch 4, micro-batches of %i: the same shuffles, losses, accuracies and weights', async (micro) => {
    const model = linearModel();
    const history = await fitViT(model, arrays(), {
      epochs: 3,
      batchSize: 4,
      microBatchSize: micro,
      optimizer: tf.train.sgd(0.5),
      metrics: [sparseCategoricalAccuracy],
      validationSplit: 0.25,
      seed: 17,
    });
    const ref = referenceSgd({ epochs: 3, batchSize: 4, lr: 0.5, seed: 17, nTrain: 9 });
    expectHistoryClose(history.history, ref.history);
    expect(history.epoch).toEqual([0, 1, 2]);
    expect(history.status).toBe('completed');
    expect(history.microBatchSize).toBe(micro);
    expectClose(weightsOf(model), ref.p, 1e-5);
    model.dispose();
  });

  it('AdamW (the default optimizer) with a learning-rate schedule applied per step', async () => {
    const model = linearModel();
    // Steps 0 and 1 at 0.1, steps 2+ at 0.01 (piecewise: values[0] for step ≤ 1).
    const schedule = piecewiseConstantDecay({ boundaries: [1], values: [0.1, 0.01] });
    await fitViT(model, arrays(), { epochs: 2, batchSize: 4, learningRate: schedule, weightDecay: 0, shuffle: false, metrics: [] });
    // Float64 Adam (β1 0.9, β2 0.999, ε 1e-7), 13 examples in batches 4, 4, 4, 1, two epochs, no shuffle.
    const p = clone(START);
    const m = { W: p.W.map((r) => r.map(() => 0)), b: p.b.map(() => 0) };
    const v = { W: p.W.map((r) => r.map(() => 0)), b: p.b.map(() => 0) };
    let t = 0;
    for (let e = 0; e < 2; e++) {
      for (let s = 0; s < N; s += 4) {
        const g = batchGradient(p, XS.slice(s, s + 4), YS.slice(s, s + 4));
        const lr = t <= 1 ? 0.1 : 0.01;
        t++;
        const upd = (w: number[], mm: number[], vv: number[], gg: number[]) =>
          w.forEach((_, j) => {
            mm[j] = 0.9 * mm[j] + 0.1 * gg[j];
            vv[j] = 0.999 * vv[j] + 0.001 * gg[j] ** 2;
            w[j] -= (lr * (mm[j] / (1 - 0.9 ** t))) / (Math.sqrt(vv[j] / (1 - 0.999 ** t)) + 1e-7);
          });
        p.W.forEach((row, i) => upd(row, m.W[i], v.W[i], g.dW[i]));
        upd(p.b, m.b, v.b, g.db);
      }
    }
    expectClose(weightsOf(model), p, 1e-4);
    model.dispose();
  });

  it('tensors, typed arrays, an array of batches and a batch function train alike (no shuffle)', async () => {
    const runs: Linear[] = [];
    const xs = tf.tensor2d(XS);
    const ys = tf.tensor1d(YS, 'int32');
    const batches = (): FitBatch[] =>
      [0, 5, 10].map((s) => ({ x: tf.tensor2d(XS.slice(s, s + 5)), y: tf.tensor1d(YS.slice(s, s + 5), 'int32') }));
    const kept = batches();
    const forms = [{ x: xs, y: ys }, arrays(), kept, () => batches()];
    for (const data of forms) {
      const model = linearModel();
      await fitViT(model, data, { epochs: 2, batchSize: 5, optimizer: tf.train.sgd(0.3), shuffle: false });
      runs.push(weightsOf(model));
      model.dispose();
    }
    const ref = clone(START);
    for (let e = 0; e < 2; e++) {
      for (let s = 0; s < N; s += 5) {
        const g = batchGradient(ref, XS.slice(s, s + 5), YS.slice(s, s + 5));
        ref.W.forEach((row, i) => row.forEach((_, j) => (row[j] -= 0.3 * g.dW[i][j])));
        ref.b.forEach((_, j) => (ref.b[j] -= 0.3 * g.db[j]));
      }
    }
    for (const r of runs) expectClose(r, ref, 1e-5);
    // The caller's batches (a plain array) are not disposed; the function's are.
    expect(kept.every((b) => !b.x.isDisposed && !b.y.isDisposed)).toBe(true);
    tf.dispose([xs, ys, ...kept.flatMap((b) => [b.x, b.y])]);
  });
});

describe('fitViT: best weights and early stopping', () => {
  // Validation labels that disagree with the training labels: the validation loss rises as training fits.
  const valYs = XS.map((_, n) => (YS[n] + 1) % C);

  it('keeps the best epoch by val_loss, stops after `patience` epochs without improvement, restores the best weights', async () => {
    const model = linearModel();
    const valData = arrays(XS, valYs);
    const ends: { epoch: number; improved: boolean; bestEpoch: number }[] = [];
    const history = await fitViT(model, arrays(), {
      epochs: 10,
      batchSize: 13,
      optimizer: tf.train.sgd(0.5),
      shuffle: false,
      metrics: [sparseCategoricalAccuracy],
      validationData: valData,
      bestWeights: { monitor: 'val_loss' },
      earlyStopping: { monitor: 'val_loss', patience: 2 },
      callbacks: { onEpochEnd: (epoch, _logs, info) => void ends.push({ epoch, improved: info.improved, bestEpoch: info.bestEpoch }) },
    });
    // Reference: full-batch SGD; the validation loss after each epoch.
    const p = clone(START);
    const snapshots: Linear[] = [];
    const valLoss: number[] = [];
    for (let e = 0; e < 4; e++) {
      const g = batchGradient(p, XS, YS);
      p.W.forEach((row, i) => row.forEach((_, j) => (row[j] -= 0.5 * g.dW[i][j])));
      p.b.forEach((_, j) => (p.b[j] -= 0.5 * g.db[j]));
      snapshots.push(clone(p));
      valLoss.push(evaluateLinear(p, XS, valYs).loss);
    }
    // The reference's validation loss rises from epoch 0 on: epoch 0 is best; epochs 1 and 2 do not improve;
    // with patience 2 the run stops after epoch 2.
    expect(valLoss[1]).toBeGreaterThan(valLoss[0]);
    expect(valLoss[2]).toBeGreaterThan(valLoss[0]);
    expect(history.status).toBe('stopped-early');
    expect(history.history.val_loss).toHaveLength(3);
    history.history.val_loss.forEach((v, i) => expect(Math.abs(v - valLoss[i])).toBeLessThan(1e-5));
    expect(history.bestEpoch).toBe(0);
    expect(Math.abs(history.bestValue - valLoss[0])).toBeLessThan(1e-5);
    expect(ends).toEqual([
      { epoch: 0, improved: true, bestEpoch: 0 },
      { epoch: 1, improved: false, bestEpoch: 0 },
      { epoch: 2, improved: false, bestEpoch: 0 },
    ]);
    expectClose(weightsOf(model), snapshots[0], 1e-5);
    model.dispose();
  });

  it("mode 'max' on val_accuracy by default; restore: false leaves the last epoch's weights", async () => {
    const model = linearModel();
    const history = await fitViT(model, arrays(), {
      epochs: 2,
      batchSize: 13,
      optimizer: tf.train.sgd(0.5),
      shuffle: false,
      metrics: [sparseCategoricalAccuracy],
      validationData: arrays(XS, valYs),
      bestWeights: { restore: false },
    });
    const p = clone(START);
    for (let e = 0; e < 2; e++) {
      const g = batchGradient(p, XS, YS);
      p.W.forEach((row, i) => row.forEach((_, j) => (row[j] -= 0.5 * g.dW[i][j])));
      p.b.forEach((_, j) => (p.b[j] -= 0.5 * g.db[j]));
    }
    const acc = history.history.val_accuracy;
    expect(history.bestEpoch).toBe(acc[1] > acc[0] ? 1 : 0);
    expectClose(weightsOf(model), p, 1e-5);
    model.dispose();
  });
});

describe('fitViT: memory, interruption, callbacks', () => {
  it('holds the number of tensors flat across steps and epochs, and leaves none behind', async () => {
    const model = linearModel();
    const before = tf.memory().numTensors;
    const counts: number[][] = [];
    await fitViT(model, arrays(), {
      epochs: 4,
      batchSize: 3,
      microBatchSize: 2,
      validationSplit: 0.25,
      bestWeights: true,
      earlyStopping: { patience: 10 },
      checkpoint: new MemoryCheckpointStore(),
      callbacks: {
        onEpochBegin: () => void counts.push([]),
        onBatchEnd: () => void counts[counts.length - 1].push(tf.memory().numTensors),
      },
    });
    // Epoch 0: the optimizer makes its state at the first step; from epoch 1 on, the best weights are held too.
    expect(new Set(counts[0].slice(1)).size).toBe(1);
    const later = counts.slice(1).flat();
    expect(later).toHaveLength(9);
    expect(new Set(later).size).toBe(1);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('stops after the current step when the signal is aborted, dropping the partial epoch', async () => {
    const model = linearModel();
    const signal = { aborted: false };
    let steps = 0;
    const history = await fitViT(model, arrays(), {
      epochs: 5,
      batchSize: 4,
      optimizer: tf.train.sgd(0.1),
      signal,
      callbacks: {
        onBatchEnd: () => {
          if (++steps === 6) signal.aborted = true; // the 2nd step of epoch 2 (4 steps per epoch)
        },
      },
    });
    expect(history.status).toBe('interrupted');
    expect(history.history.loss).toHaveLength(1);
    expect(steps).toBe(6);
    model.dispose();
  });

  it('calls the callbacks in order with the batch logs', async () => {
    const model = linearModel();
    const calls: string[] = [];
    await fitViT(model, arrays(), {
      epochs: 2,
      batchSize: 5,
      optimizer: tf.train.sgd(0.1),
      metrics: [sparseCategoricalAccuracy],
      callbacks: {
        onTrainBegin: (i) => void calls.push(`begin ${i.initialEpoch}/${i.epochs} threads ${i.threads}`),
        onEpochBegin: (e) => void calls.push(`epoch ${e}`),
        onBatchEnd: (s, logs) => void calls.push(`step ${s} size ${logs.size} ${Object.keys(logs).sort().join(',')}`),
        onEpochEnd: (e, logs) => void calls.push(`end ${e} ${Object.keys(logs).sort().join(',')}`),
        onTrainEnd: (h) => void calls.push(`done ${h.status}`),
      },
    });
    expect(calls).toEqual([
      'begin 0/2 threads 1',
      'epoch 0',
      'step 0 size 5 accuracy,loss,size',
      'step 1 size 5 accuracy,loss,size',
      'step 2 size 3 accuracy,loss,size',
      'end 0 accuracy,loss',
      'epoch 1',
      'step 0 size 5 accuracy,loss,size',
      'step 1 size 5 accuracy,loss,size',
      'step 2 size 3 accuracy,loss,size',
      'end 1 accuracy,loss',
      'done completed',
    ]);
    model.dispose();
  });
});

describe('fitViT: resume from a checkpoint (MemoryCheckpointStore)', () => {
  const tinyViT = () =>
    createViTClassifier({
      preset: 'vit-cifar-tiny',
      inputShape: [8, 8, 3],
      imageSize: 8,
      patchSize: 4,
      projectionDim: 8,
      numHeads: 2,
      transformerLayers: 1,
      numClasses: 3,
      mlpDropout: 0.2,
    });
  const n = 20;
  const data = {
    images: Uint8Array.from({ length: n * 192 }, (_, i) => (i * 31 + (i % 7) * 19) % 256),
    labels: Uint8Array.from({ length: n }, (_, i) => (i * 2) % 3),
    shape: [n, 8, 8, 3],
  };
  const opts: FitViTOptions = { batchSize: 6, microBatchSize: 4, validationSplit: 0.2, seed: 9, bestWeights: { monitor: 'val_loss' } };

  it('two epochs, then a resumed run to four: the same history and weights, bit for bit, as four straight epochs', async () => {
    setGlobalSeed(5);
    const straight = tinyViT();
    const h1 = await fitViT(straight, data, { ...opts, epochs: 4 });

    const store = new MemoryCheckpointStore();
    setGlobalSeed(5);
    const first = tinyViT();
    const part = await fitViT(first, data, { ...opts, epochs: 2, checkpoint: store });
    expect(part.history.loss).toHaveLength(2);
    first.dispose();
    // A new model (other weights, other variable names) and a global generator elsewhere: all come from the checkpoint.
    setGlobalSeed(123);
    const resumed = tinyViT();
    const h2 = await fitViT(resumed, data, { ...opts, epochs: 4, checkpoint: store, resume: true });
    expect(h2.initialEpoch).toBe(2);
    expect(h2.history).toEqual(h1.history);
    expect(h2.bestEpoch).toBe(h1.bestEpoch);
    const a = straight.getWeights().map((w) => Array.from(w.dataSync()));
    const b = resumed.getWeights().map((w) => Array.from(w.dataSync()));
    expect(b).toEqual(a);
    straight.dispose();
    resumed.dispose();
  });

  it("resume: 'auto' starts fresh without a checkpoint; a changed setting is refused, naming it", async () => {
    const store = new MemoryCheckpointStore('mem');
    setGlobalSeed(5);
    const model = tinyViT();
    await fitViT(model, data, { ...opts, epochs: 1, checkpoint: store, resume: 'auto' });
    await expect(fitViT(model, data, { ...opts, epochs: 2, checkpoint: store, resume: true, validationSplit: 0.3 })).rejects.toThrow(
      new CheckpointSettingsError('validationSplit', 0.2, 0.3),
    );
    await expect(
      fitViT(model, data, { ...opts, epochs: 2, checkpoint: store, resume: true, settings: { preset: 'x' } }),
    ).rejects.toThrow('resume: the checkpoint was made with preset undefined, not "x"');
    await expect(fitViT(model, data, { ...opts, epochs: 2, checkpoint: store })).rejects.toThrow(
      'checkpoint: mem already holds a run (epoch 1); continue it with resume: true',
    );
    model.dispose();
  });
});

describe('fitViT: bad options and data name the option', () => {
  const cases: [string, Partial<FitViTOptions> & { data?: unknown }, RegExp][] = [
    ['epochs 0', { epochs: 0 }, /epochs/],
    ['batchSize -1', { batchSize: -1 }, /batchSize/],
    ['microBatchSize 1.5', { microBatchSize: 1.5 }, /microBatchSize/],
    ['validationSplit 1', { validationSplit: 1 }, /validationSplit/],
    ['validationSplit and validationData', { validationSplit: 0.1, validationData: arrays() }, /validationSplit or validationData/],
    ['a monitor that is not logged', { bestWeights: { monitor: 'val_loss' } }, /bestWeights\.monitor 'val_loss' is not a log key/],
    ['an unknown mode', { earlyStopping: { mode: 'up' as 'max' } }, /earlyStopping\.mode/],
    ['negative patience', { earlyStopping: { patience: -1 } }, /earlyStopping\.patience/],
    ['resume without a store', { resume: true }, /resume needs a checkpoint store/],
    ['a label outside the classes', { data: { images: new Float32Array(3 * D), labels: [0, 3, 1], shape: [3, D] } }, /^fitViT: data: label 3 at position 1 is outside \[0, 3\)/],
    ['a fractional label', { data: { images: new Float32Array(2 * D), labels: [0, 0.5], shape: [2, D] } }, /^fitViT: data: label 0\.5 at position 1 is not an integer class index/],
    ['images of the wrong length', { data: { images: new Float32Array(5), labels: [0, 1], shape: [2, D] } }, /data\.images holds 5 values, expected 8/],
    ['a stream with validationSplit', { data: [] as FitBatch[], validationSplit: 0.5 }, /validationSplit needs tensors or typed arrays/],
  ];
  it.each(cases)('%s', async (_title, { data, ...options }, pattern) => {
    const model = linearModel();
    const before = tf.memory().numTensors;
    await expect(fitViT(model, (data ?? arrays()) as never, options)).rejects.toThrow(pattern);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
