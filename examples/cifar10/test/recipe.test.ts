/**
 * The recipes' learning-rate schedules against hand-computed values, and what a recipe turns into.
 */
import '@tensorflow/tfjs-backend-cpu';
import { RECIPES, type Recipe, learningRateOf, lossOf, optimizerOf, resumeSettings } from '../src/recipe';

const at = (lr: ReturnType<typeof learningRateOf>, step: number) => (typeof lr === 'number' ? lr : lr.value(step));

describe('examples/cifar10: recipes', () => {
  const cosine: Recipe = { ...RECIPES['cpu-hour'], epochs: 3, learningRate: 0.004, warmupEpochs: 1 };

  it('warmup-cosine: linear from 0 over the warmup epochs, then half a cosine down to 0 at the last step', () => {
    const lr = learningRateOf(cosine, 10); // 30 steps: 10 of warmup, 20 of decay
    expect(at(lr, 0)).toBe(0);
    expect(at(lr, 5)).toBeCloseTo(0.002, 12); // 0.004 · 5/10
    expect(at(lr, 10)).toBeCloseTo(0.004, 12); // the peak
    expect(at(lr, 20)).toBeCloseTo(0.002, 12); // 0.004 · ½(1 + cos(π·10/20))
    expect(at(lr, 25)).toBeCloseTo(0.004 * 0.5 * (1 + Math.cos((Math.PI * 15) / 20)), 12); // 0.000585786…
    expect(at(lr, 30)).toBeCloseTo(0, 12);
  });

  it('warmup-cosine without warmup starts at the peak; a fractional warmup rounds to whole steps', () => {
    expect(at(learningRateOf({ ...cosine, warmupEpochs: 0 }, 10), 0)).toBeCloseTo(0.004, 12);
    expect(at(learningRateOf({ ...cosine, warmupEpochs: 0 }, 10), 15)).toBeCloseTo(0.002, 12); // ½(1 + cos(π/2))
    const lr = learningRateOf({ ...cosine, warmupEpochs: 0.25 }, 10); // round(2.5) = 3 warmup steps
    expect(at(lr, 3)).toBeCloseTo(0.004, 12);
    expect(at(lr, 2)).toBeCloseTo(0.004 * (2 / 3), 12);
  });

  it('constant: the rate itself; a warmup as long as the run is refused', () => {
    expect(learningRateOf(RECIPES.keras, 176)).toBe(0.001);
    expect(() => learningRateOf({ ...cosine, warmupEpochs: 3 }, 10)).toThrow(/--warmup-epochs 3 leaves no step for the decay in 3 epoch/);
  });

  it('the optimizer and the loss of each recipe', () => {
    const keras = optimizerOf(RECIPES.keras, 176);
    expect(keras.getConfig()).toMatchObject({ weightDecay: 1e-4, weightDecayMode: 'tfa' });
    expect(keras.isDecayed('block_1/layer_norm_1/gamma')).toBe(true);
    const cpuHour = optimizerOf(RECIPES['cpu-hour'], 176);
    expect(cpuHour.getConfig()).toMatchObject({ weightDecay: 0.05, weightDecayMode: 'lr-scaled' });
    for (const name of ['block_1/layer_norm_1/gamma', 'block_1/attention/query/bias', 'patch_embed/position_embedding']) expect(cpuHour.isDecayed(name)).toBe(false);
    expect(cpuHour.isDecayed('block_1/attention/query/kernel')).toBe(true);
    expect(lossOf(RECIPES.keras)).toBeUndefined();
    expect(lossOf(RECIPES['cpu-hour'])?.name).toBe('sparseCategoricalCrossentropyWithLabelSmoothing(0.1)');
    keras.dispose();
    cpuHour.dispose();
  });

  it('a resume repeats every setting; the epochs only where a schedule depends on them', () => {
    expect(resumeSettings(RECIPES.keras)).not.toHaveProperty('epochs');
    expect(resumeSettings(RECIPES['cpu-hour'])).toMatchObject({ epochs: 15, schedule: 'warmup-cosine', labelSmoothing: 0.1, decayExclusions: 'common' });
  });
});
