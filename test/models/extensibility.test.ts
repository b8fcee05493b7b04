import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { mlp } from '../../src/layers/mlp';
import { patchEncoder } from '../../src/layers/patch_encoder';
import { transformerBlock } from '../../src/layers/transformer_block';
import { tokenPooling } from '../../src/models/token_pooling';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { sparseCategoricalCrossentropyFromLogits } from '../../src/training/losses';
import { sparseCategoricalAccuracy } from '../../src/training/metrics';
import { acceptSparseLabels } from '../../src/training/sparse_labels';
import { RandomGenerator } from '../../src/utils/random';
import { useBackend } from '../helpers/backends';

async function roundTrip(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  return tfl.loadLayersModel(tf.io.fromMemory(artifacts!));
}

function uniform(shape: number[], seed: number, lo = -1, hi = 1): tf.Tensor {
  const rng = new RandomGenerator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: size }, () => rng.uniform(lo, hi)), shape);
}

describe('extensibility', () => {
  beforeAll(() => useBackend('cpu'));

  it('a ViT feature extractor with a head of the user, sharing the weights, trainable and serializable', async () => {
    const vit = createViTClassifier({
      preset: 'vit-cifar-tiny',
      inputShape: [8, 8, 3],
      patchSize: 4,
      projectionDim: 16,
      numHeads: 2,
      transformerLayers: 2,
      normalization: { mean: 0, variance: 1 },
      seed: 3,
    });
    const pooled = vit.getLayer('pool').output as tfl.SymbolicTensor;
    const features = tfl.model({ inputs: vit.inputs, outputs: pooled });
    const hidden = tfl.layers.dense({ units: 8, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(pooled);
    const logits = tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(hidden) as tfl.SymbolicTensor;
    const custom = tfl.model({ inputs: vit.inputs, outputs: logits, name: 'my_classifier' });

    const x = uniform([6, 8, 8, 3], 4);
    const f = features.predict(x) as tf.Tensor;
    expect(f.shape).toEqual([6, 16]);
    // The extractor's output is the mean of the normalized tokens of the last block, as the classifier computes it.
    const tokens = tfl.model({ inputs: vit.inputs, outputs: vit.getLayer('norm').output as tfl.SymbolicTensor }).predict(x) as tf.Tensor;
    const meanTokens = tf.mean(tokens, 1);
    expect(Array.from(f.dataSync()).map((v, i) => v - meanTokens.dataSync()[i]).every((d) => Math.abs(d) < 1e-6)).toBe(true);

    // The custom model trains the shared encoder too.
    custom.compile({ optimizer: tf.train.adam(1e-2), loss: sparseCategoricalCrossentropyFromLogits, metrics: [sparseCategoricalAccuracy] });
    expect(acceptSparseLabels(custom)).toBe(1);
    const patchKernel = () => Array.from(vit.getLayer('patch_embed').getWeights()[0].dataSync());
    const before = patchKernel();
    const h = await custom.fit(x, tf.tensor1d([0, 1, 0, 1, 0, 1]), { epochs: 3, batchSize: 6, verbose: 0 });
    expect(Object.keys(h.history).sort()).toEqual(['accuracy', 'loss']);
    expect(patchKernel()).not.toEqual(before);

    const loaded = await roundTrip(custom);
    const a = custom.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, f, tokens, meanTokens, a, b]);
    loaded.dispose();
    custom.dispose();
  });

  it('a TransformerBlock stack on non-image token sequences learns a position-dependent task and round-trips', async () => {
    // Sequences of 6 tokens with 4 features; the label is the sign of the first token's feature 0. With mean pooling
    // over tokens, the model must tell the first token apart by its position embedding.
    const T = 6;
    const F = 4;
    const n = 128;
    const rng = new RandomGenerator(8);
    const values = Float32Array.from({ length: n * T * F }, () => rng.uniform(-1, 1));
    const labels = Array.from({ length: n }, (_, i) => (values[i * T * F] > 0 ? 1 : 0));
    const x = tf.tensor3d(values, [n, T, F]);
    const y = tf.tensor1d(labels);

    const input = tfl.input({ shape: [T, F], name: 'tokens' });
    // PatchEncoder is a generic "project each token + learned position embedding" layer.
    let h = patchEncoder({ numPatches: T, projectionDim: 16, seed: 1, name: 'embed' }).apply(input) as tfl.SymbolicTensor;
    for (let i = 0; i < 2; i++) {
      h = transformerBlock({ numHeads: 2, keyDim: 8, mlpUnits: [32, 16], seed: 10 + i, name: `block_${i + 1}` }).apply(h) as tfl.SymbolicTensor;
    }
    h = tokenPooling({ mode: 'mean', name: 'pool' }).apply(h) as tfl.SymbolicTensor;
    const out = mlp({ units: [2], activation: 'linear', seed: 3, name: 'logits' }).apply(h) as tfl.SymbolicTensor;
    const model = tfl.model({ inputs: input, outputs: out });
    expect(model.outputs[0].shape).toEqual([null, 2]);

    model.compile({ optimizer: tf.train.adam(1e-2), loss: sparseCategoricalCrossentropyFromLogits, metrics: [sparseCategoricalAccuracy] });
    acceptSparseLabels(model);
    const hist = await model.fit(x, y, { epochs: 12, batchSize: 16, shuffle: false, verbose: 0 });
    const acc = hist.history.accuracy as number[];
    expect(acc[acc.length - 1]).toBeGreaterThan(0.9);

    const loaded = await roundTrip(model);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    tf.dispose([x, y, a, b]);
    model.dispose();
    loaded.dispose();
  });
});
