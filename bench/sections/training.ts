/**
 * Training and inference throughput of the classifier presets on each backend:
 * - training images/s: one `trainOnBatch` step (forward, backward, optimizer step: AdamW from src/optimizers when
 *   it exists, else `tf.train.adam`) on random 32×32×3 images, batch 64 and 256; then the same with the batch split
 *   between every core (`DataParallelTrainer`, one copy of the model per thread) on the wasm and cpu backends;
 * - inference images/s: `predict` on a batch of 256;
 * - batch-1 latency: median of many `predict` calls on one image;
 * - memory: `tf.memory().numBytes` after training, and the process's peak resident set size.
 * Warm-up steps are excluded and medians reported. The reference preset's batches above 32 accumulate gradients
 * over micro-batches of 32 (its activations at batch 64 exceed the wasm backend's 4 GiB heap); the rows say so.
 * On the cpu backend (plain JavaScript, 20–50× slower) the
 * reference preset trains at batch 64 only, with fewer repeats; the rows say so in `details`.
 *
 * Each (backend, preset) is measured in a child process of its own (a fresh wasm heap; peak RSS per preset).
 *
 * Environment: `VIT_BENCH_PRESETS=name,name` limits the presets measured.
 */
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { median, timeRepeated, type BenchContext, type BenchRow } from '../context';
import { initWasmBackendWithThreads } from '../../src/ops/wasm/node_threads';
import { createViTClassifier } from '../../src/models/vit_classifier';
import { VIT_PRESET_NAMES, VIT_PRESETS, type ViTPresetName } from '../../src/models/presets';
import { sparseCategoricalCrossentropyFromLogits } from '../../src/training/losses';
import { trainStep } from '../../src/training/train_step';
import { DataParallelTrainer, defaultThreadCount } from '../../src/node/parallel/data_parallel_trainer';

const MB = 2 ** 20;

/** AdamW (lr 1e-3, weight decay 1e-4, the recipe's) if src/optimizers provides it, else Adam; and its name. */
async function makeOptimizer(): Promise<{ optimizer: tf.Optimizer; name: string }> {
  const file = path.join(__dirname, '..', '..', 'src', 'optimizers', 'adamw.ts');
  if (fs.existsSync(file)) {
    try {
      const mod = (await import(file)) as Record<string, unknown>;
      const AdamW = (mod.AdamW ?? (mod.default as Record<string, unknown> | undefined)?.AdamW) as
        | (new (args: { learningRate: number; weightDecay: number }) => tf.Optimizer)
        | undefined;
      if (typeof AdamW === 'function') return { optimizer: new AdamW({ learningRate: 1e-3, weightDecay: 1e-4 }), name: 'AdamW' };
    } catch {
      // fall back to Adam
    }
  }
  return { optimizer: tf.train.adam(1e-3), name: 'Adam (AdamW not available)' };
}

function presetsToRun(): ViTPresetName[] {
  const env = process.env.VIT_BENCH_PRESETS;
  if (env == null || env.trim() === '') return [...VIT_PRESET_NAMES];
  const wanted = env.split(',').map((s) => s.trim());
  for (const w of wanted) {
    if (!(VIT_PRESET_NAMES as readonly string[]).includes(w)) {
      throw new Error(`VIT_BENCH_PRESETS: unknown preset '${w}' (${VIT_PRESET_NAMES.join(', ')})`);
    }
  }
  return VIT_PRESET_NAMES.filter((p) => wanted.includes(p));
}

interface Plan {
  /** Largest batch run at once; larger batches accumulate gradients over micro-batches of this size. */
  microBatch?: number;
  trainBatches: number[];
  trainRepeats: number;
  inferBatch: number;
  inferRepeats: number;
  latencyRepeats: number;
  note?: string;
}

function plan(ctx: BenchContext, backend: string, preset: ViTPresetName): Plan {
  if (ctx.quick) return { trainBatches: [8], trainRepeats: 1, inferBatch: 8, inferRepeats: 1, latencyRepeats: 3 };
  if (backend === 'cpu') {
    return preset === 'keras-cifar10'
      ? { trainBatches: [64], trainRepeats: 2, inferBatch: 64, inferRepeats: 2, latencyRepeats: 5, note: 'cpu: batch 64 only, 2 repeats' }
      : { trainBatches: [64, 256], trainRepeats: 2, inferBatch: 256, inferRepeats: 2, latencyRepeats: 10, note: 'cpu: 2 repeats' };
  }
  // The reference preset keeps ~20–40 MB of activations per image for the backward pass: more than the wasm
  // backend's 4 GiB heap holds at batch 64.
  // The compact presets abort the 4 GiB heap at batch 256 too: they accumulate over micro-batches of 64.
  const microBatch = preset === 'keras-cifar10' ? 32 : 64;
  // Five repeats for the compact presets (a step takes seconds): on a shared machine three leave the median noisy.
  const trainRepeats = preset === 'keras-cifar10' ? 3 : 5;
  return { microBatch, trainBatches: [64, 256], trainRepeats, inferBatch: 256, inferRepeats: 3, latencyRepeats: 30 };
}

function randomBatch(batch: number, shape: readonly number[], numClasses: number, seed: number): [tf.Tensor, tf.Tensor] {
  const x = tf.randomUniform([batch, ...shape], 0, 255, 'float32', seed);
  const y = tf.cast(tf.floor(tf.randomUniform([batch], 0, numClasses, 'float32', seed + 1)), 'float32');
  return [x, y];
}

/** Measures one preset on the active backend and reports its rows. */
async function measurePreset(ctx: BenchContext, backend: string, preset: ViTPresetName): Promise<void> {
  const p = plan(ctx, backend, preset);
  const inputShape = VIT_PRESETS[preset].options.inputShape ?? [32, 32, 3];
  const numClasses = VIT_PRESETS[preset].options.numClasses ?? 10;
  const model = createViTClassifier({ preset, seed: 1 });
  const { optimizer, name: optimizerName } = await makeOptimizer();
  model.compile({ optimizer, loss: sparseCategoricalCrossentropyFromLogits });
  let peakRss = process.memoryUsage().rss;
  const details = (extra: Record<string, unknown>) => ({ preset, optimizer: optimizerName, ...(p.note ? { note: p.note } : {}), ...extra });
  for (const batch of p.trainBatches) {
    const micro = Math.min(batch, p.microBatch ?? batch);
    const [x, y] = randomBatch(batch, inputShape, numClasses, 7);
    const step =
      micro === batch
        ? () => model.trainOnBatch(x, y)
        : () => trainStep(model, optimizer, x, y, { microBatchSize: micro }).outputs.dispose();
    const t = await timeRepeated(step, { warmup: 1, repeats: p.trainRepeats });
    tf.dispose([x, y]);
    peakRss = Math.max(peakRss, t.peakRssBytes);
    ctx.report({
      section: 'training',
      name: `${preset} train batch ${batch}`,
      value: (batch * 1000) / t.medianMs,
      unit: 'images/s',
      backend,
      details: details({
        batch,
        ...(micro !== batch ? { microBatch: micro, how: `gradients of ${batch / micro} micro-batches summed, one optimizer step` } : {}),
        repeats: p.trainRepeats,
        medianStepMs: t.medianMs,
        minStepMs: t.minMs,
      }),
    });
  }
  // Data parallelism: each batch split between this thread and worker threads (wasm and cpu run one thread each).
  const threads = defaultThreadCount();
  if (threads > 1) {
    const trainer = await DataParallelTrainer.create(model, optimizer, { threads, microBatchSize: p.microBatch });
    try {
      for (const batch of p.trainBatches) {
        const [x, y] = randomBatch(batch, inputShape, numClasses, 7);
        const t = await timeRepeated(async () => (await trainer.step(x, y)).outputs.dispose(), { warmup: 1, repeats: p.trainRepeats });
        tf.dispose([x, y]);
        peakRss = Math.max(peakRss, t.peakRssBytes);
        ctx.report({
          section: 'training',
          name: `${preset} train batch ${batch}, ${threads} threads`,
          value: (batch * 1000) / t.medianMs,
          unit: 'images/s',
          backend,
          details: details({
            batch,
            threads,
            how: `DataParallelTrainer: ${threads} shares of the batch${p.microBatch ? ` in micro-batches of up to ${p.microBatch}` : ''}, gradients summed, one optimizer step`,
            repeats: p.trainRepeats,
            medianStepMs: t.medianMs,
            minStepMs: t.minMs,
          }),
        });
      }
    } finally {
      await trainer.dispose();
    }
  }
  ctx.report({
    section: 'training',
    name: `${preset} tf.memory after training`,
    value: tf.memory().numBytes / MB,
    unit: 'MB',
    backend,
    details: details({ numTensors: tf.memory().numTensors }),
  });

  const [xi] = randomBatch(p.inferBatch, inputShape, numClasses, 11);
  const ti = await timeRepeated(
    () => {
      const out = model.predict(xi, { batchSize: p.inferBatch }) as tf.Tensor;
      out.dataSync();
      out.dispose();
    },
    { warmup: 1, repeats: p.inferRepeats },
  );
  xi.dispose();
  peakRss = Math.max(peakRss, ti.peakRssBytes);
  ctx.report({
    section: 'inference',
    name: `${preset} predict batch ${p.inferBatch}`,
    value: (p.inferBatch * 1000) / ti.medianMs,
    unit: 'images/s',
    backend,
    details: details({ batch: p.inferBatch, repeats: p.inferRepeats, medianMs: ti.medianMs }),
  });

  const [x1] = randomBatch(1, inputShape, numClasses, 13);
  const samples: number[] = [];
  for (let i = 0; i < p.latencyRepeats + 2; i++) {
    const t0 = performance.now();
    const out = model.predict(x1) as tf.Tensor;
    out.dataSync();
    out.dispose();
    if (i >= 2) samples.push(performance.now() - t0);
  }
  x1.dispose();
  ctx.report({
    section: 'inference',
    name: `${preset} latency batch 1`,
    value: median(samples),
    unit: 'ms',
    backend,
    details: details({ repeats: p.latencyRepeats, minMs: Math.min(...samples) }),
  });
  ctx.report({
    section: 'training',
    name: `${preset} peak RSS`,
    // maxRSS (KiB): the process's true peak; this process measures only this preset.
    value: Math.max(peakRss, process.memoryUsage().rss, process.resourceUsage().maxRSS * 1024) / MB,
    unit: 'MB',
    backend,
    details: details({ note: 'peak resident set size of the process that measured this preset alone' }),
  });
  optimizer.dispose();
  model.dispose();
}

const CHILD_ENV = 'VIT_BENCH_TRAINING_CHILD';
const ROW_PREFIX = '@@vit-bench-row ';

/**
 * Each (backend, preset) runs in a child process: the wasm heap never shrinks, so a preset measured after
 * another would inherit its heap (and could run out of the 4 GiB), and peak RSS is only meaningful per process.
 */
function runChild(ctx: BenchContext, backend: string, preset: ViTPresetName): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, __filename], {
      env: { ...process.env, [CHILD_ENV]: JSON.stringify({ backend, preset, quick: ctx.quick }) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let buffer = '';
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (line.startsWith(ROW_PREFIX)) ctx.report(JSON.parse(line.slice(ROW_PREFIX.length)) as BenchRow);
        else if (line.trim() !== '' && !/tfjs-node|^=+$|^Hi, looks like/.test(line.trim())) ctx.log(line.trim());
      }
    });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`${preset} on ${backend}: child process exited with ${code ?? signal}`)),
    );
  });
}

async function childMain(spec: { backend: string; preset: ViTPresetName; quick: boolean }): Promise<void> {
  const threads = process.env.VIT_BENCH_WASM_THREADS;
  if (spec.backend === 'wasm' && threads != null) await initWasmBackendWithThreads(Number(threads));
  if (!(await tf.setBackend(spec.backend))) throw new Error(`backend '${spec.backend}' failed to initialise`);
  await tf.ready();
  const ctx: BenchContext = {
    quick: spec.quick,
    backends: [spec.backend],
    async useBackend() {},
    report(row: BenchRow) {
      process.stdout.write(`${ROW_PREFIX}${JSON.stringify(row)}\n`);
    },
    log(message: string) {
      process.stdout.write(`${message}\n`);
    },
  };
  await measurePreset(ctx, spec.backend, spec.preset);
}

if (process.env[CHILD_ENV] != null) {
  tf.env().set('IS_TEST', false);
  childMain(JSON.parse(process.env[CHILD_ENV] as string) as { backend: string; preset: ViTPresetName; quick: boolean }).then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err instanceof Error ? (err.stack ?? err.message) : err);
      process.exit(1);
    },
  );
}

export default async function run(ctx: BenchContext): Promise<void> {
  const failures: string[] = [];
  for (const backend of ctx.backends) {
    for (const preset of presetsToRun()) {
      try {
        await runChild(ctx, backend, preset);
      } catch (err) {
        failures.push(err instanceof Error ? err.message : String(err));
        ctx.log(`failed: ${failures[failures.length - 1]}`);
      }
    }
  }
  if (failures.length > 0) throw new Error(failures.join('; '));
}
