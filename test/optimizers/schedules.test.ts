import * as tf from '@tensorflow/tfjs-core';
import {
  CosineDecay,
  ExponentialDecay,
  LearningRateSchedule,
  LinearWarmup,
  PiecewiseConstantDecay,
  cosineDecay,
  deserializeSchedule,
  exponentialDecay,
  linearWarmup,
  piecewiseConstantDecay,
  serializeSchedule,
} from '../../src/optimizers/schedules';

describe('learning-rate schedules: closed forms', () => {
  it('linearWarmup ramps linearly then holds (or hands over to `after`)', () => {
    const s = linearWarmup({ initialLearningRate: 1e-4, targetLearningRate: 1e-3, warmupSteps: 10 });
    expect(s.value(0)).toBeCloseTo(1e-4, 15);
    expect(s.value(5)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 15);
    expect(s.value(10)).toBe(1e-3);
    expect(s.value(1000)).toBe(1e-3);
    const t = linearWarmup({ targetLearningRate: 2, warmupSteps: 4, after: exponentialDecay({ initialLearningRate: 2, decaySteps: 1, decayRate: 0.5 }) });
    expect([0, 1, 2, 3, 4, 5, 6].map((k) => t.value(k))).toEqual([0, 0.5, 1, 1.5, 2, 1, 0.5]);
  });

  it('cosineDecay follows Keras 3: lr·((1−α)·½(1+cos(πt/T))+α), with optional warmup', () => {
    const s = cosineDecay({ initialLearningRate: 0.1, decaySteps: 100, alpha: 0.2 });
    const f = (t: number) => 0.1 * (0.8 * 0.5 * (1 + Math.cos((Math.PI * Math.min(t, 100)) / 100)) + 0.2);
    for (const t of [0, 1, 25, 50, 99, 100, 150]) expect(s.value(t)).toBeCloseTo(f(t), 15);
    expect(s.value(50)).toBeCloseTo(0.1 * (0.8 * 0.5 + 0.2), 15);
    expect(s.value(100)).toBeCloseTo(0.02, 15);
    const w = cosineDecay({ initialLearningRate: 0, warmupTarget: 1e-3, warmupSteps: 10, decaySteps: 90 });
    expect(w.value(0)).toBe(0);
    expect(w.value(4)).toBeCloseTo(4e-4, 15);
    expect(w.value(10)).toBeCloseTo(1e-3, 15);
    expect(w.value(55)).toBeCloseTo(0.5e-3, 15);
    expect(w.value(100)).toBeCloseTo(0, 15);
  });

  it('piecewiseConstantDecay uses values[i] on (boundaries[i−1], boundaries[i]]', () => {
    const s = piecewiseConstantDecay({ boundaries: [10, 20], values: [1, 0.5, 0.1] });
    expect([0, 10, 11, 20, 21, 1e6].map((t) => s.value(t))).toEqual([1, 1, 0.5, 0.5, 0.1, 0.1]);
  });

  it('exponentialDecay: lr·rate^(t/T), floored exponent with staircase', () => {
    const s = exponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.96 });
    for (const t of [0, 5, 10, 33]) expect(s.value(t)).toBeCloseTo(0.1 * 0.96 ** (t / 10), 15);
    const st = exponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5, staircase: true });
    expect([0, 9, 10, 19, 20].map((t) => st.value(t))).toEqual([0.1, 0.1, 0.05, 0.05, 0.025]);
  });

  it('serializes through getConfig/fromConfig (nested `after` too) and is registered', () => {
    const all: LearningRateSchedule[] = [
      linearWarmup({ targetLearningRate: 1, warmupSteps: 3, after: cosineDecay({ initialLearningRate: 1, decaySteps: 7, alpha: 0.1 }) }),
      cosineDecay({ initialLearningRate: 0, warmupTarget: 1, warmupSteps: 2, decaySteps: 5 }),
      piecewiseConstantDecay({ boundaries: [1, 2], values: [3, 2, 1] }),
      exponentialDecay({ initialLearningRate: 1, decaySteps: 2, decayRate: 0.9, staircase: true }),
    ];
    const classes = [LinearWarmup, CosineDecay, PiecewiseConstantDecay, ExponentialDecay];
    all.forEach((s, i) => {
      const back = deserializeSchedule(JSON.parse(JSON.stringify(serializeSchedule(s))) as tf.serialization.ConfigDict);
      expect(back).toBeInstanceOf(classes[i]);
      expect(back.getConfig()).toEqual(s.getConfig());
      for (let t = 0; t < 12; t++) expect(back.value(t)).toBe(s.value(t));
    });
    expect(() => deserializeSchedule({ className: 'Nope', config: {} })).toThrow(/Nope/);
  });

  it('rejects bad arguments by name', () => {
    expect(() => linearWarmup({ targetLearningRate: -1, warmupSteps: 2 })).toThrow(/targetLearningRate/);
    expect(() => linearWarmup({ targetLearningRate: 1, warmupSteps: 0 })).toThrow(/warmupSteps/);
    expect(() => cosineDecay({ initialLearningRate: 1, decaySteps: 0 })).toThrow(/decaySteps/);
    expect(() => cosineDecay({ initialLearningRate: 1, decaySteps: 5, alpha: 2 })).toThrow(/alpha/);
    expect(() => cosineDecay({ initialLearningRate: NaN, decaySteps: 5 })).toThrow(/initialLearningRate/);
    expect(() => piecewiseConstantDecay({ boundaries: [2, 1], values: [1, 2, 3] })).toThrow(/increasing/);
    expect(() => piecewiseConstantDecay({ boundaries: [1], values: [1] })).toThrow(/one more/);
    expect(() => exponentialDecay({ initialLearningRate: 1, decaySteps: 1, decayRate: 0 })).toThrow(/decayRate/);
    expect(() => exponentialDecay({ initialLearningRate: 1, decaySteps: 1, decayRate: 0.5 }).value(-1)).toThrow(/step/);
  });
});
