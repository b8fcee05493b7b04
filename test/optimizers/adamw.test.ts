import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { describeBackends, onEachBackend, useBackend } from '../helpers/backends';
import { AdamW, AdamWConfig, NO_DECAY_COMMON } from '../../src/optimizers/adamw';
import { LinearWarmup, cosineDecay, exponentialDecay, linearWarmup } from '../../src/optimizers/schedules';
import { fileIO } from '../../src/node/file_io';

// ------------------------------------------------------------------------------------------------------------
// Problem: three variables, loss_t = ½ Σ c ⊙ (w − target_t)², target varying with the step → grad = c ⊙ (w − target_t).
const SHAPES: Record<string, number[]> = { kernel: [3, 4], bias: [4], gamma: [4] };
const SIZES: Record<string, number> = { kernel: 12, bias: 4, gamma: 4 };
function init(key: string): number[] {
  return Array.from({ length: SIZES[key] }, (_, i) => Math.sin(1.3 * i + key.length) * 0.8);
}
function coef(key: string, i: number): number {
  return 0.5 + ((i * 7 + key.length) % 5) * 0.4;
}
function target(key: string, i: number, t: number): number {
  return Math.cos(0.11 * t + i + key.length) * 1.5 + 0.1 * i;
}

let counter = 0;
function makeVars(): Record<string, tf.Variable> {
  const prefix = `adamw_test${counter++}/dense`;
  const out: Record<string, tf.Variable> = {};
  for (const key of Object.keys(SHAPES)) {
    out[key] = tf.tidy(() => tf.variable(tf.tensor(init(key), SHAPES[key], 'float32'), true, `${prefix}/${key}`));
  }
  return out;
}

/** Runs `steps` optimizer.minimize steps and returns final values. */
function runTf(opt: tf.Optimizer, steps: number): Record<string, number[]> {
  const vars = makeVars();
  const targets = Object.fromEntries(
    Object.keys(SHAPES).map((k) => [k, Array.from({ length: SIZES[k] }, (_, i) => coef(k, i))]),
  );
  const c = Object.fromEntries(Object.keys(SHAPES).map((k) => [k, tf.tensor(targets[k], SHAPES[k])]));
  for (let t = 0; t < steps; t++) {
    const tgt = Object.fromEntries(
      Object.keys(SHAPES).map((k) => [k, tf.tensor(Array.from({ length: SIZES[k] }, (_, i) => target(k, i, t)), SHAPES[k])]),
    );
    const cost = opt.minimize(() =>
      tf.addN(Object.keys(SHAPES).map((k) => tf.mul(0.5, tf.sum(tf.mul(c[k], tf.square(tf.sub(vars[k], tgt[k]))))))) as tf.Scalar,
    );
    cost?.dispose();
    tf.dispose(Object.values(tgt));
  }
  const out = Object.fromEntries(Object.keys(vars).map((k) => [k, Array.from(vars[k].dataSync())]));
  tf.dispose(Object.values(c));
  tf.dispose(Object.values(vars));
  return out;
}

interface RefOpts {
  lr: (t: number) => number;
  wd: (t: number) => number;
  mode: 'lr-scaled' | 'tfa';
  decays: (key: string) => boolean;
  clip?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
}

/** Independent float64 AdamW (Loshchilov & Hutter; torch / TFA decay variants). */
function runRef(o: RefOpts, steps: number): Record<string, number[]> {
  const b1 = o.beta1 ?? 0.9;
  const b2 = o.beta2 ?? 0.999;
  const eps = o.eps ?? 1e-7;
  const keys = Object.keys(SHAPES);
  const w = Object.fromEntries(keys.map((k) => [k, Float32Array.from(init(k)).map((x) => x)]));
  const wd64 = Object.fromEntries(keys.map((k) => [k, Array.from(w[k])]));
  const m = Object.fromEntries(keys.map((k) => [k, new Array<number>(SIZES[k]).fill(0)]));
  const v = Object.fromEntries(keys.map((k) => [k, new Array<number>(SIZES[k]).fill(0)]));
  for (let t = 0; t < steps; t++) {
    const g = Object.fromEntries(keys.map((k) => [k, wd64[k].map((x, i) => coef(k, i) * (x - target(k, i, t)))]));
    if (o.clip != null) {
      let ss = 0;
      for (const k of keys) for (const x of g[k]) ss += x * x;
      const s = o.clip / Math.max(Math.sqrt(ss), o.clip);
      for (const k of keys) g[k] = g[k].map((x) => x * s);
    }
    const lr = o.lr(t);
    const wd = o.wd(t);
    for (const k of keys) {
      for (let i = 0; i < SIZES[k]; i++) {
        m[k][i] = b1 * m[k][i] + (1 - b1) * g[k][i];
        v[k][i] = b2 * v[k][i] + (1 - b2) * g[k][i] ** 2;
        const mh = m[k][i] / (1 - b1 ** (t + 1));
        const vh = v[k][i] / (1 - b2 ** (t + 1));
        let x = wd64[k][i];
        if (o.decays(k)) x = o.mode === 'lr-scaled' ? x - lr * wd * x : x - wd * x;
        wd64[k][i] = x - (lr * mh) / (Math.sqrt(vh) + eps);
      }
    }
  }
  return wd64;
}

function maxAbsDiff(a: Record<string, number[]>, b: Record<string, number[]>): number {
  let d = 0;
  for (const k of Object.keys(a)) for (let i = 0; i < a[k].length; i++) d = Math.max(d, Math.abs(a[k][i] - b[k][i]));
  return d;
}

const STEPS = 120;

interface Case {
  title: string;
  config: () => AdamWConfig;
  ref: RefOpts;
}
const cosine = () => cosineDecay({ initialLearningRate: 0, warmupTarget: 0.02, warmupSteps: 20, decaySteps: 100, alpha: 0.1 });
const cosineRef = cosine();
const CASES: Case[] = [
  {
    title: 'lr-scaled, all weights decay',
    config: () => ({ learningRate: 0.01, weightDecay: 0.5 }),
    ref: { lr: () => 0.01, wd: () => 0.5, mode: 'lr-scaled', decays: () => true },
  },
  {
    title: 'tfa, all weights decay',
    config: () => ({ learningRate: 0.01, weightDecay: 0.004, weightDecayMode: 'tfa' }),
    ref: { lr: () => 0.01, wd: () => 0.004, mode: 'tfa', decays: () => true },
  },
  {
    title: 'lr-scaled + NO_DECAY_COMMON + clipGlobalNorm + cosine schedule',
    config: () => ({ learningRate: cosine(), weightDecay: 0.5, exclude: NO_DECAY_COMMON, clipGlobalNorm: 1.5 }),
    ref: { lr: (t) => cosineRef.value(t), wd: () => 0.5, mode: 'lr-scaled', decays: (k) => k === 'kernel', clip: 1.5 },
  },
  {
    title: 'tfa + string/predicate exclusions + clip + schedules for lr and wd',
    config: () => ({
      learningRate: exponentialDecay({ initialLearningRate: 0.02, decaySteps: 30, decayRate: 0.5 }),
      weightDecay: exponentialDecay({ initialLearningRate: 0.004, decaySteps: 30, decayRate: 0.5 }),
      weightDecayMode: 'tfa',
      exclude: ['bias', (n: string) => n.endsWith('/gamma')],
      clipGlobalNorm: 1,
      beta1: 0.8,
      beta2: 0.99,
      epsilon: 1e-6,
    }),
    ref: {
      lr: (t) => 0.02 * 0.5 ** (t / 30),
      wd: (t) => 0.004 * 0.5 ** (t / 30),
      mode: 'tfa',
      decays: (k) => k === 'kernel',
      clip: 1,
      beta1: 0.8,
      beta2: 0.99,
      eps: 1e-6,
    },
  },
];

describeBackends('AdamW', (backend) => {
  for (const c of CASES) {
    it(`matches a float64 reference over ${STEPS} steps: ${c.title}`, () => {
      const opt = new AdamW(c.config());
      const got = runTf(opt, STEPS);
      opt.dispose();
      const want = runRef(c.ref, STEPS);
      expect(maxAbsDiff(got, want)).toBeLessThanOrEqual(1e-5);
      // Non-vacuous: the decay (and exclusions) change the trajectory far beyond the tolerance.
      const noDecay = runRef({ ...c.ref, decays: () => false }, STEPS);
      const allDecay = runRef({ ...c.ref, decays: () => true }, STEPS);
      expect(maxAbsDiff(want, noDecay)).toBeGreaterThan(1e-3);
      if (c.config().exclude != null) expect(maxAbsDiff(want, allDecay)).toBeGreaterThan(1e-4);
    });
  }

  it('weightDecay: 0 reproduces tf.train.adam bit for bit', () => {
    const a = new AdamW({ learningRate: 0.01, weightDecay: 0, beta1: 0.85, beta2: 0.995, epsilon: 1e-7 });
    const b = tf.train.adam(0.01, 0.85, 0.995, 1e-7);
    const got = runTf(a, 60);
    const want = runTf(b, 60);
    a.dispose();
    b.dispose();
    for (const k of Object.keys(got)) expect(Float32Array.from(got[k])).toEqual(Float32Array.from(want[k]));
    expect(got).toEqual(want);
  });

  it('keeps tf.memory().numTensors flat over many steps (schedule, clipping, exclusions)', () => {
    const before = tf.memory().numTensors;
    const opt = new AdamW({ learningRate: cosine(), weightDecay: 0.1, exclude: NO_DECAY_COMMON, clipGlobalNorm: 1 });
    const vars = makeVars();
    const step = () => {
      const cost = opt.minimize(() => tf.addN(Object.values(vars).map((v) => tf.sum(tf.square(tf.sin(v))))) as tf.Scalar);
      cost?.dispose();
    };
    step();
    const afterWarm = tf.memory().numTensors;
    for (let i = 0; i < 100; i++) step();
    expect(tf.memory().numTensors).toBe(afterWarm);
    opt.dispose();
    tf.dispose(Object.values(vars));
    expect(tf.memory().numTensors).toBe(before);
    expect(backend).toBeDefined();
  });

  it('applyGradients with a NamedTensor[] list and skips null gradients', () => {
    const w = tf.variable(tf.tensor1d([1, -2]), true, `adamw_list_${backend}`);
    const opt = new AdamW({ learningRate: 0.1, weightDecay: 0.5 });
    const g = tf.tensor1d([0.5, 0.25]);
    opt.applyGradients([{ name: w.name, tensor: g }]);
    // Step 1: m̂ = g, v̂ = g² → step = lr · g/(|g|+ε) ≈ lr·sign(g); decay w·(1 − lr·wd).
    const want = [1 * (1 - 0.05) - 0.1 * (0.5 / (0.5 + 1e-7)), -2 * (1 - 0.05) - 0.1 * (0.25 / (0.25 + 1e-7))];
    const got = Array.from(w.dataSync());
    got.forEach((x, i) => expect(x).toBeCloseTo(want[i], 5));
    expect(opt.iterations).toBe(1);
    tf.dispose([w, g]);
    opt.dispose();
  });
});

describe('AdamW cross-backend agreement', () => {
  it('cpu and wasm trajectories agree within 1e-6', async () => {
    const res = await onEachBackend(() => {
      const opt = new AdamW(CASES[2].config());
      const out = runTf(opt, STEPS);
      opt.dispose();
      return out;
    });
    expect(maxAbsDiff(res.cpu, res.wasm)).toBeLessThanOrEqual(1e-6);
  });
});

// ------------------------------------------------------------------------------------------------------------
function tinyModel(): tfl.LayersModel {
  const model = tfl.sequential();
  model.add(tfl.layers.dense({ units: 5, inputShape: [4], activation: 'tanh', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }), biasInitializer: tfl.initializers.randomNormal({ seed: 2 }) }));
  model.add(tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 3 }) }));
  return model;
}
const resumeConfig = (): AdamWConfig => ({
  learningRate: linearWarmup({ targetLearningRate: 0.05, warmupSteps: 5, after: cosineDecay({ initialLearningRate: 0.05, decaySteps: 30 }) }),
  weightDecay: 0.01,
  weightDecayMode: 'tfa',
  exclude: [NO_DECAY_COMMON, 'dense_kernel_name_with_underscores'],
  clipGlobalNorm: 2,
});
function batch(t: number): [tf.Tensor, tf.Tensor] {
  const x = tf.tensor2d(Array.from({ length: 24 }, (_, i) => Math.sin(i * 0.7 + t)), [6, 4]);
  const y = tf.tensor2d(Array.from({ length: 12 }, (_, i) => Math.cos(i * 0.3 - t)), [6, 2]);
  return [x, y];
}
async function train(model: tfl.LayersModel, from: number, to: number): Promise<void> {
  for (let t = from; t < to; t++) {
    const [x, y] = batch(t);
    await model.trainOnBatch(x, y);
    tf.dispose([x, y]);
  }
}

describe('AdamW resume (cpu, bit for bit)', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('model.save(fileIO, { includeOptimizer: true }) + tf.loadLayersModel resumes exactly', async () => {
    const full = tinyModel();
    full.compile({ optimizer: new AdamW(resumeConfig()), loss: 'meanSquaredError' });
    const initial = full.getWeights().map((w) => tf.clone(w));
    await train(full, 0, 20);
    const want = full.getWeights().map((w) => Array.from(w.dataSync()));

    const first = tinyModel();
    first.setWeights(initial);
    first.compile({ optimizer: new AdamW(resumeConfig()), loss: 'meanSquaredError' });
    await train(first, 0, 10);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'adamw-'));
    try {
      await first.save(fileIO(dir), { includeOptimizer: true });
      const restored = await tfl.loadLayersModel(fileIO(dir));
      expect(restored.optimizer).toBeInstanceOf(AdamW);
      const opt = restored.optimizer as AdamW;
      expect(opt.getConfig()).toEqual(new AdamW(resumeConfig()).getConfig());
      expect(opt.iterations).toBe(10);
      await train(restored, 10, 20);
      const got = restored.getWeights().map((w) => Array.from(w.dataSync()));
      expect(got).toEqual(want);
      restored.optimizer.dispose();
      restored.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    // Sanity: the second half did change the weights.
    const mid = first.getWeights().map((w) => Array.from(w.dataSync()));
    expect(mid).not.toEqual(want);
    tf.dispose(initial);
    full.optimizer.dispose();
    first.optimizer.dispose();
    full.dispose();
    first.dispose();
  });

  it('getWeights/setWeights through encodeWeights on disk resume a custom loop exactly', async () => {
    const cfg = (): AdamWConfig => ({ learningRate: cosine(), weightDecay: 0.3, exclude: NO_DECAY_COMMON, clipGlobalNorm: 1 });
    const a = new AdamW(cfg());
    const want = runTf(a, 20);
    a.dispose();

    // 10 steps, save state, fresh variables carry on from the saved values with a fresh optimizer.
    const b = new AdamW(cfg());
    const vars = makeVars();
    const stepOnce = (opt: AdamW, vs: Record<string, tf.Variable>, t: number) => {
      const cost = opt.minimize(() =>
        tf.addN(
          Object.keys(SHAPES).map((k) => {
            const c = tf.tensor(Array.from({ length: SIZES[k] }, (_, i) => coef(k, i)), SHAPES[k]);
            const tg = tf.tensor(Array.from({ length: SIZES[k] }, (_, i) => target(k, i, t)), SHAPES[k]);
            return tf.mul(0.5, tf.sum(tf.mul(c, tf.square(tf.sub(vs[k], tg)))));
          }),
        ) as tf.Scalar,
      );
      cost?.dispose();
    };
    for (let t = 0; t < 10; t++) stepOnce(b, vars, t);
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'adamw-state-')), 'state.bin');
    const { data, specs } = await tf.io.encodeWeights([
      ...Object.values(vars).map((v) => ({ name: v.name, tensor: v as tf.Tensor })),
      ...(await b.getWeights()),
    ]);
    fs.writeFileSync(file, Buffer.from(data as ArrayBuffer));
    fs.writeFileSync(`${file}.json`, JSON.stringify(specs));
    b.dispose();
    tf.dispose(Object.values(vars));

    const bytes = fs.readFileSync(file);
    const decoded = tf.io.decodeWeights(
      bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
      JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as tf.io.WeightsManifestEntry[],
    );
    const fresh = makeVars(); // new names: state is matched by position
    for (const k of Object.keys(fresh)) fresh[k].assign(decoded[vars[k].name]);
    const c = new AdamW(cfg());
    const specsList = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as tf.io.WeightsManifestEntry[];
    await c.setWeights(specsList.slice(3).map((s) => ({ name: s.name, tensor: decoded[s.name] })));
    expect(c.iterations).toBe(10);
    for (let t = 10; t < 20; t++) stepOnce(c, fresh, t);
    const got = Object.fromEntries(Object.keys(fresh).map((k) => [k, Array.from(fresh[k].dataSync())]));
    expect(got).toEqual(want);
    tf.dispose(Object.values(decoded));
    tf.dispose(Object.values(fresh));
    c.dispose();
    fs.rmSync(path.dirname(file), { recursive: true, force: true });
  });
});

describe('AdamW with model.fit', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('trains through model.compile/fit without leaking tensors', async () => {
    const model = tinyModel();
    const opt = new AdamW({ learningRate: 0.05, weightDecay: 1e-4, weightDecayMode: 'tfa', exclude: NO_DECAY_COMMON });
    model.compile({ optimizer: opt, loss: 'meanSquaredError' });
    const [x, y] = batch(0);
    const h1 = await model.fit(x, y, { epochs: 1, batchSize: 3, verbose: 0 });
    const before = tf.memory().numTensors;
    const h2 = await model.fit(x, y, { epochs: 20, batchSize: 3, verbose: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(opt.iterations).toBe(42);
    expect(h2.history.loss[19] as number).toBeLessThan(h1.history.loss[0] as number);
    tf.dispose([x, y]);
    opt.dispose();
    model.dispose();
  });
});

describe('AdamW config and validation', () => {
  beforeAll(async () => {
    await useBackend('cpu');
  });

  it('round-trips through getConfig / fromConfig and the serialization registry', () => {
    const opt = new AdamW(resumeConfig());
    const cfg = opt.getConfig();
    const map = tf.serialization.SerializationMap.getMap().classNameMap;
    const [cls, fromConfig] = map['AdamW'];
    const back = fromConfig(cls, cfg) as AdamW;
    expect(back).toBeInstanceOf(AdamW);
    expect(back.getConfig()).toEqual(cfg);
    expect(back.exclude[0]).toEqual(NO_DECAY_COMMON);
    expect(back.isDecayed('m/dense_Dense1/bias_2')).toBe(false);
    expect(back.isDecayed('m/dense_Dense1/kernel')).toBe(true);
    expect(back.isDecayed('vit/encoder_layer_norm/gamma')).toBe(false);
    expect(back.isDecayed('vit/patch_encoder/position_embedding')).toBe(false);
    expect(back.isDecayed('vit/patch_encoder/class_token')).toBe(false);
    expect(back.isDecayed('vit/not_a_bias_kernel')).toBe(true);
    opt.dispose();
    back.dispose();
  });

  it('rejects a predicate in getConfig with a clear message', () => {
    const opt = new AdamW({ exclude: () => true });
    expect(() => opt.getConfig()).toThrow(/exclude predicate/);
    opt.dispose();
  });

  it.each([
    [{ learningRate: -1 }, /learningRate/],
    [{ learningRate: NaN }, /learningRate/],
    [{ weightDecay: -0.1 }, /weightDecay/],
    [{ beta1: 1 }, /beta1/],
    [{ beta1: -0.1 }, /beta1/],
    [{ beta2: 1.5 }, /beta2/],
    [{ epsilon: 0 }, /epsilon/],
    [{ epsilon: -1e-8 }, /epsilon/],
    [{ clipGlobalNorm: 0 }, /clipGlobalNorm/],
    [{ weightDecayMode: 'keras' }, /weightDecayMode/],
  ] as [AdamWConfig, RegExp][])('throws on bad argument %j', (cfg, re) => {
    expect(() => new AdamW(cfg)).toThrow(re);
  });

  it('throws at apply time when a schedule returns NaN, naming it', () => {
    class Broken extends LinearWarmup {
      override value(): number {
        return NaN;
      }
    }
    const opt = new AdamW({ learningRate: new Broken({ targetLearningRate: 1, warmupSteps: 1 }) });
    const w = tf.variable(tf.scalar(1), true, 'adamw_nan_case');
    const g = tf.scalar(1);
    const before = tf.memory().numTensors;
    expect(() => opt.applyGradients({ [w.name]: g })).toThrow(/learningRate schedule .* returned NaN at step 0/);
    expect(tf.memory().numTensors).toBe(before);
    expect(w.dataSync()[0]).toBe(1);
    tf.dispose([w, g]);
    opt.dispose();
  });
});
