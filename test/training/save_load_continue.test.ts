import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { fileIO } from '../../src/node/file_io';
import { AdamW } from '../../src/optimizers/adamw';
import { sparseCategoricalCrossentropyFromLogits } from '../../src/training/losses';
import { sparseCategoricalAccuracy, sparseTopKAccuracy } from '../../src/training/metrics';
import { acceptSparseLabels } from '../../src/training/sparse_labels';
import { resolveTrainingFunction, trainingFunctionName } from '../../src/training/serialization';
import { globalRandom, setGlobalSeed } from '../../src/utils/random';
import { useBackend } from '../helpers/backends';
import { testValues } from '../helpers/reference';

const K = 3; // steps before and after the save
const BATCH = 6;
const NUM_CLASSES = 10;

/** A small vit-cifar-tiny: augmentation and stochastic depth on, weights and draws from the global generator. */
function buildModel(): tfl.LayersModel {
  setGlobalSeed(1234);
  return createViTClassifier({
    preset: 'vit-cifar-tiny',
    inputShape: [8, 8, 3],
    numClasses: NUM_CLASSES,
    patchSize: 4,
    projectionDim: 16,
    numHeads: 2,
    transformerLayers: 2,
    dropPathRate: 0.2,
  });
}

function compile(model: tfl.LayersModel): void {
  model.compile({
    optimizer: new AdamW({ learningRate: 0.01, weightDecay: 0.05, weightDecayMode: 'tfa' }),
    loss: sparseCategoricalCrossentropyFromLogits,
    metrics: [sparseCategoricalAccuracy, sparseTopKAccuracy(5)],
  });
}

/** Batch `i`: fixed pseudo-random images and labels (independent of the library's generator). */
function batch(i: number): [tf.Tensor, tf.Tensor] {
  const x = tf.tensor4d(testValues(BATCH * 8 * 8 * 3, 100 + i), [BATCH, 8, 8, 3]);
  const y = tf.tensor1d(Array.from({ length: BATCH }, (_, j) => (3 * i + 7 * j) % NUM_CLASSES), 'int32');
  return [x, y];
}

async function train(model: tfl.LayersModel, from: number, to: number): Promise<number[]> {
  const losses: number[] = [];
  for (let i = from; i < to; i++) {
    const [x, y] = batch(i);
    const out = await model.trainOnBatch(x, y);
    losses.push(Array.isArray(out) ? out[0] : out);
    tf.dispose([x, y]);
  }
  return losses;
}

function weightsOf(model: tfl.LayersModel): number[][] {
  return model.getWeights().map((w) => Array.from(w.dataSync()));
}

async function saveToMemory(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let saved: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      saved = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    { includeOptimizer: true },
  );
  // Through JSON, as a file carries it.
  const a = saved as tf.io.ModelArtifacts;
  return { ...a, modelTopology: JSON.parse(JSON.stringify(a.modelTopology)), trainingConfig: JSON.parse(JSON.stringify(a.trainingConfig)) };
}

describe('save with includeOptimizer → load → continue training [cpu]', () => {
  let dir: string;
  let reference: { weights: number[][]; losses: number[] };

  beforeAll(async () => {
    await useBackend('cpu');
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vit-tfjs-continue-'));
    // The uninterrupted run: 2K steps.
    const model = buildModel();
    compile(model);
    const losses = await train(model, 0, 2 * K);
    reference = { weights: weightsOf(model), losses };
    model.optimizer.dispose();
    model.dispose();
  });

  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('stores the loss and metrics by name in the training config', async () => {
    const model = buildModel();
    compile(model);
    const artifacts = await saveToMemory(model);
    const config = artifacts.trainingConfig as unknown as Record<string, unknown>;
    expect(config.loss).toBe('vit>sparseCategoricalCrossentropyFromLogits');
    expect(config.metrics).toEqual(['vit>sparseCategoricalAccuracy', 'vit>sparseTopKAccuracy?k=5&name=top-5-accuracy']);
    expect((config.optimizer_config as Record<string, unknown>).class_name).toBe('AdamW');
    model.optimizer.dispose();
    model.dispose();
  });

  for (const medium of ['memory', 'disk'] as const) {
    it(`K steps, save to ${medium}, load, K more steps: bit-identical to 2K uninterrupted steps`, async () => {
      const model = buildModel();
      compile(model);
      const first = await train(model, 0, K);
      const generatorState = globalRandom().getState();

      let loaded: tfl.LayersModel;
      if (medium === 'memory') {
        const artifacts = await saveToMemory(model);
        model.optimizer.dispose();
        model.dispose();
        loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
      } else {
        const target = path.join(dir, 'model');
        await model.save(fileIO(target), { includeOptimizer: true });
        model.optimizer.dispose();
        model.dispose();
        loaded = await tfl.loadLayersModel(fileIO(target));
      }
      // Loading builds layers (initializers draw from the global generator): restore it as a checkpoint would.
      globalRandom().setState(generatorState);

      const optimizer = loaded.optimizer as AdamW;
      expect(optimizer).toBeInstanceOf(AdamW);
      expect(optimizer.iterations).toBe(K);
      expect(optimizer.weightDecayMode).toBe('tfa');
      const second = await train(loaded, K, 2 * K);

      expect([...first, ...second]).toEqual(reference.losses);
      const got = weightsOf(loaded);
      expect(got.length).toBe(reference.weights.length);
      got.forEach((w, i) => expect(w).toEqual(reference.weights[i]));
      // The training moved the weights (the comparison is not of untouched models).
      expect(reference.losses[2 * K - 1]).not.toBe(reference.losses[0]);
      loaded.optimizer.dispose();
      loaded.dispose();
    });
  }

  it('fit after loading logs the same metric keys, with sparse labels, without recompiling; leaks nothing', async () => {
    const tensors = tf.memory().numTensors;
    const model = buildModel();
    compile(model);
    const artifacts = await saveToMemory(model);
    model.optimizer.dispose();
    model.dispose();
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    const [x, y] = batch(0);
    const h = await loaded.fit(x, y, { epochs: 1, batchSize: BATCH, shuffle: false, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['accuracy', 'loss', 'top-5-accuracy']);
    // With 10 classes and top-5, the History value is a fraction of the 6 examples.
    expect(Number.isInteger(Math.round((h.history['top-5-accuracy'][0] as number) * BATCH))).toBe(true);
    tf.dispose([x, y]);
    loaded.optimizer.dispose();
    loaded.dispose();
    expect(tf.memory().numTensors).toBe(tensors);
  });
});

describe('training config of a model of the user own', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  function plainModel(): tfl.LayersModel {
    const input = tfl.input({ shape: [4] });
    const out = tfl.layers.dense({ units: 6, kernelInitializer: tfl.initializers.glorotUniform({ seed: 5 }) }).apply(input) as tfl.SymbolicTensor;
    return tfl.model({ inputs: input, outputs: out });
  }

  it('a plain LayersModel comes back compiled, takes class-index labels, and trains as the original', async () => {
    const x = tf.tensor2d(testValues(8 * 4, 9), [8, 4]);
    const y = tf.tensor1d([0, 1, 2, 3, 4, 5, 0, 1]);
    const a = plainModel();
    a.compile({
      optimizer: new AdamW({ learningRate: 0.05 }),
      loss: sparseCategoricalCrossentropyFromLogits,
      metrics: [sparseTopKAccuracy(2, 'top_2 custom')],
    });
    acceptSparseLabels(a);
    await a.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const artifacts = await saveToMemory(a);
    expect((artifacts.trainingConfig as unknown as Record<string, unknown>).metrics).toEqual([
      'vit>sparseTopKAccuracy?k=2&name=top_2+custom',
    ]);
    const b = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    const ha = await a.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    const hb = await b.fit(x, y, { epochs: 1, batchSize: 8, shuffle: false, verbose: 0 });
    expect(Object.keys(hb.history).sort()).toEqual(['loss', 'top_2 custom']);
    expect(hb.history).toEqual(ha.history);
    const wa = a.getWeights().map((w) => Array.from(w.dataSync()));
    b.getWeights().forEach((w, i) => expect(Array.from(w.dataSync())).toEqual(wa[i]));
    tf.dispose([x, y]);
    for (const m of [a, b]) {
      m.optimizer.dispose();
      m.dispose();
    }
  });

  it('stores a loss given per output name and a single metric function, and loads them back', async () => {
    const m = plainModel();
    const outputName = m.outputNames[0];
    m.compile({ optimizer: 'sgd', loss: { [outputName]: sparseCategoricalCrossentropyFromLogits }, metrics: sparseCategoricalAccuracy });
    const artifacts = await saveToMemory(m);
    const config = artifacts.trainingConfig as unknown as Record<string, unknown>;
    expect(config.loss).toEqual({ [outputName]: 'vit>sparseCategoricalCrossentropyFromLogits' });
    expect(config.metrics).toEqual(['vit>sparseCategoricalAccuracy']);
    const back = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    const x = tf.tensor2d(testValues(4 * 4, 2), [4, 4]);
    const y = tf.tensor1d([5, 0, 1, 2]);
    const h = await back.fit(x, y, { epochs: 1, batchSize: 4, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['accuracy', 'loss']);
    tf.dispose([x, y]);
    m.dispose();
    back.dispose();
  });

  it("AdamW's getWeights → setWeights round trip keeps the state, even into itself, and leaks nothing", async () => {
    const m = plainModel();
    const opt = new AdamW({ learningRate: 0.05, weightDecay: 0.01 });
    m.compile({ optimizer: opt, loss: sparseCategoricalCrossentropyFromLogits });
    acceptSparseLabels(m);
    const x = tf.tensor2d(testValues(4 * 4, 3), [4, 4]);
    const y = tf.tensor1d([5, 0, 1, 2]);
    await m.trainOnBatch(x, y);
    const snapshot = async () => (await opt.getWeights()).map((w) => [w.name, Array.from(w.tensor.dataSync())] as const);
    const before = await snapshot();
    const tensors = tf.memory().numTensors;
    await opt.setWeights(await opt.getWeights());
    await m.save(tf.io.withSaveHandler(async () => ({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })), {
      includeOptimizer: true,
    });
    expect(tf.memory().numTensors).toBe(tensors);
    expect(await snapshot()).toEqual(before);
    expect(before.map(([name]) => name).slice(0, 3)).toEqual(['iter', 'beta1_power', 'beta2_power']);
    expect(before[0][1]).toEqual([1]);
    tf.dispose([x, y]);
    opt.dispose();
    m.dispose();
  });

  it('leaves tfjs-layers names alone and names an unknown vit> function', async () => {
    const m = plainModel();
    m.compile({ optimizer: 'sgd', loss: 'meanSquaredError', metrics: ['mae'] });
    const artifacts = await saveToMemory(m);
    const config = artifacts.trainingConfig as unknown as Record<string, unknown>;
    expect(config.loss).toBe('mean_squared_error');
    expect(config.metrics).toEqual(['mae']);
    const back = await tfl.loadLayersModel(tf.io.fromMemory(artifacts));
    expect(back.optimizer).toBeDefined();

    const future = { ...artifacts, trainingConfig: { ...(artifacts.trainingConfig as tf.io.TrainingConfig), loss: 'vit>focalLoss' } };
    await expect(tfl.loadLayersModel(tf.io.fromMemory(future))).rejects.toThrow(/unknown loss or metric 'vit>focalLoss'/);
    expect(() => resolveTrainingFunction('accuracy')).toThrow(/not a vit-tfjs loss or metric name/);
    expect(resolveTrainingFunction('vit>sparseCategoricalCrossentropyFromLogits')).toBe(sparseCategoricalCrossentropyFromLogits);
    expect(trainingFunctionName(resolveTrainingFunction('vit>sparseTopKAccuracy?k=3&name=t3'))).toBe('vit>sparseTopKAccuracy?k=3&name=t3');
    m.dispose();
    back.dispose();
  });
});
