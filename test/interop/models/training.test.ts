/**
 * Training equivalence with PyTorch: from tv-a's weights, 20 AdamW steps on 4 fixed batches of 4 images (cycled), no
 * dropout, no augmentation, give torch.optim.AdamW's loss trajectory (training.json, scripts/interop/make_vit_fixtures.py,
 * float64 reference). PyTorch's AdamW decays by `p ← p − lr·wd·p` before the Adam step: that is vit-tfjs's
 * `weightDecayMode: 'lr-scaled'` (the default; not 'tfa', which decays by wd·p unscaled), with torch's eps 1e-8
 * (vit-tfjs's default is tfjs's 1e-7) and every parameter decayed (torch was given model.parameters(): no exclusions).
 *
 * Measured max |loss − torch float64| over the 20 steps (loss 2.295 → 0.790): 9.9e-6 on cpu and on wasm (torch's own
 * float32 run differs from its float64 run by 7.3e-7). Tolerance: 5e-5 per step; the logits after the 20 steps within 1e-4.
 *
 * With VIT_WRITE_EXPORT_FIXTURES=1 the trained model is also exported (torchvision, timm, hf and hf-v5 layouts) into
 * test/fixtures/interop/models/exported-*.safetensors with its logits (exported-logits.json), which
 * `make_vit_fixtures.py --verify-exported` and `verify_real_libraries.py` load into PyTorch with strict=True.
 */
import { writeFileSync } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { createViTFromCheckpoint } from '../../../src/interop/create_from_checkpoint';
import { exportViTCheckpoint } from '../../../src/interop/export_checkpoint';
import { readSafetensors, writeSafetensors } from '../../../src/interop/safetensors';
import { AdamW } from '../../../src/optimizers/adamw';
import { sparseCategoricalCrossentropyFromLogits } from '../../../src/training/losses';
import { describeBackends } from '../../helpers/backends';
import { CASES, FIXTURES, maxAbsDiff, readCheckpoint, readJson } from './fixtures';

interface TrainingFixture {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  steps: number;
  batches: { pixels: string; shape: [number, number, number, number]; labels: number[] }[];
  losses: number[];
  lossesFloat32: number[];
  logitsAfter: number[][];
}
const T: TrainingFixture = readJson('training.json');
const TOLERANCE = 5e-5;

function batchTensors(b: TrainingFixture['batches'][number]): [tf.Tensor4D, tf.Tensor1D] {
  const bytes = Buffer.from(b.pixels, 'base64');
  return [tf.tensor4d(Float32Array.from(bytes), b.shape, 'float32'), tf.tensor1d(b.labels, 'int32')];
}

describeBackends('20 AdamW steps from a torchvision checkpoint', (backend) => {
  it(`give torch.optim.AdamW's loss trajectory within ${TOLERANCE}`, () => {
    const { model, preprocessing } = createViTFromCheckpoint(readCheckpoint('tv-a.safetensors'), { numHeads: 2 });
    const before = tf.memory().numTensors;
    const optimizer = new AdamW({
      learningRate: T.lr,
      weightDecay: T.weightDecay,
      weightDecayMode: 'lr-scaled',
      beta1: T.beta1,
      beta2: T.beta2,
      epsilon: T.epsilon,
    });
    const batches = T.batches.map(batchTensors);
    const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
    const losses: number[] = [];
    for (let step = 0; step < T.steps; step++) {
      const [x, y] = batches[step % batches.length];
      const loss = optimizer.minimize(() => tf.mean(sparseCategoricalCrossentropyFromLogits(y, model.apply(x, { training: true }) as tf.Tensor)) as tf.Scalar, true, vars);
      losses.push((loss as tf.Scalar).dataSync()[0]);
      (loss as tf.Scalar).dispose();
    }
    const diff = Math.max(...losses.map((l, i) => Math.abs(l - T.losses[i])));
    const torch32 = Math.max(...T.lossesFloat32.map((l, i) => Math.abs(l - T.losses[i])));
    console.log(
      `${backend}: max |loss − torch float64| over ${T.steps} AdamW steps = ${diff.toExponential(2)} ` +
        `(torch float32 vs float64: ${torch32.toExponential(2)}); losses ${losses[0].toFixed(5)} → ${losses[T.steps - 1].toFixed(5)}`,
    );
    expect(diff).toBeLessThan(TOLERANCE);
    const after = model.predict(batches[0][0]) as tf.Tensor;
    expect(maxAbsDiff(after.dataSync(), T.logitsAfter)).toBeLessThan(1e-4);

    // The trained model exported, read back: the same logits.
    const bytes = writeSafetensors(exportViTCheckpoint(model, 'torchvision'), { format: 'pt' });
    const back = createViTFromCheckpoint(readSafetensors(bytes), { numHeads: 2 });
    const again = back.model.predict(batches[0][0]) as tf.Tensor;
    expect(maxAbsDiff(again.dataSync(), [Array.from(after.dataSync())])).toBe(0);
    if (backend === 'cpu' && process.env.VIT_WRITE_EXPORT_FIXTURES === '1') {
      for (const layout of ['torchvision', 'timm', 'hf', 'hf-v5'] as const) {
        writeFileSync(path.join(FIXTURES, `exported-${layout}.safetensors`), writeSafetensors(exportViTCheckpoint(model, layout), { format: 'pt' }));
      }
      const pixels = (batches[0][0].arraySync() as number[][][][]);
      writeFileSync(
        path.join(FIXTURES, 'exported-logits.json'),
        JSON.stringify({
          note: 'tv-a after the 20 AdamW steps of training.test.ts, exported by exportViTCheckpoint; logits computed by vit-tfjs (cpu)',
          config: CASES['tv-a'].config,
          layerNormEpsilon: 1e-6,
          mean: preprocessing.mean,
          std: preprocessing.std,
          pixels,
          logits: after.arraySync(),
        }),
      );
    }
    tf.dispose([after, again]);
    back.model.dispose();
    batches.flat().forEach((t) => t.dispose());
    optimizer.dispose();
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
