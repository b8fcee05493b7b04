/**
 * `mlpOutputActivation: false` (the standard ViT block MLP, needed by PyTorch checkpoints) serializes and loads back;
 * the default leaves the configs of existing models unchanged (no new key).
 */
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import * as tfl from '@tensorflow/tfjs-layers';
import { TransformerBlock } from '../../../src/layers/transformer_block';
import { createViTClassifier } from '../../../src/models/vit_classifier';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('TransformerBlock mlpOutputActivation', () => {
  it('is in the config only when false, and a model with it saves and loads with the same outputs', async () => {
    expect(new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [16, 8] }).getConfig()).not.toHaveProperty('mlpOutputActivation');
    const block = new TransformerBlock({ numHeads: 2, keyDim: 4, mlpUnits: [16, 8], mlpOutputActivation: false });
    expect(block.getConfig().mlpOutputActivation).toBe(false);
    const model = createViTClassifier({ preset: 'vit-cifar-small', transformerLayers: 1, mlpOutputActivation: false, seed: 4 });
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
    expect((loaded.getLayer('block_1') as TransformerBlock).mlpOutputActivation).toBe(false);
    const x = tf.randomUniform([2, 32, 32, 3], 0, 255, 'float32', 1);
    const a = model.predict(x) as tf.Tensor;
    const b = loaded.predict(x) as tf.Tensor;
    expect(Array.from(b.dataSync())).toEqual(Array.from(a.dataSync()));
    // And it changes the function (GELU after the last dense or not).
    const withGelu = createViTClassifier({ preset: 'vit-cifar-small', transformerLayers: 1, seed: 4 });
    const c = withGelu.predict(x) as tf.Tensor;
    expect(Array.from(c.dataSync())).not.toEqual(Array.from(a.dataSync()));
    tf.dispose([x, a, b, c]);
    [model, loaded, withGelu].forEach((m) => m.dispose());
  });
});
