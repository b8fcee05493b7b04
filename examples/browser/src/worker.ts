/// <reference lib="webworker" />
// The training worker: builds a ViT, trains it on the CIFAR-10 sample with fitViT, evaluates it on the test batch,
// computes top-5 predictions and attention rollout overlays, and saves it to IndexedDB. The page stays responsive
// because all of this runs here. Messages in: `init`, `train`, `stop`, `save`; out: see ./messages.ts.
import * as tf from '@tensorflow/tfjs-core';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { LayersModel } from '@tensorflow/tfjs-layers';
import {
  adaptNormalization,
  attentionOverlay,
  attentionRollout,
  createViTClassifier,
  evaluate,
  fitViT,
  opsInfo,
  parseCifarBinaryBatch,
  setGlobalSeed,
  type ViTClassifierOptions,
} from 'vit-tfjs';
import type { BackendChoice, FromWorker, PredictionInfo, Settings, ToWorker } from './messages';

const RECORD = 3073; // CIFAR-10 binary record: 1 label byte + 32×32×3 pixels
const TRAIN_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin']; // 400 images each in the sample
const INSPECT = 8; // test images shown with top-5 and attention overlays

let base = '';
let model: LayersModel | null = null;
let stopRequested = false;

const post = (m: FromWorker, transfer: Transferable[] = []) => (self as DedicatedWorkerGlobalScope).postMessage(m, transfer);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function fetchBytes(file: string): Promise<Uint8Array> {
  const res = await fetch(new URL(`cifar/${file}`, base));
  if (!res.ok) throw new Error(`fetching ${file}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** Which GPU backends this worker could run: WebGPU where `navigator.gpu` gives an adapter, WebGL 2 on an OffscreenCanvas. */
async function availableBackends(): Promise<BackendChoice[]> {
  const out: BackendChoice[] = ['wasm'];
  try {
    const gpu = (navigator as unknown as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu;
    if (gpu != null && (await gpu.requestAdapter()) != null) out.push('webgpu');
  } catch {
    // no WebGPU
  }
  try {
    if (typeof OffscreenCanvas !== 'undefined' && new OffscreenCanvas(1, 1).getContext('webgl2') != null) out.push('webgl');
  } catch {
    // no WebGL 2
  }
  return out;
}

/** Starts `requested` (loading its tfjs backend package on demand), falling back to wasm, then cpu. */
async function startBackend(requested: BackendChoice, available: BackendChoice[]): Promise<string | undefined> {
  if (requested !== 'wasm') {
    if (!available.includes(requested)) return `${requested} is not available in this browser: using wasm`;
    try {
      if (requested === 'webgl') await import('@tensorflow/tfjs-backend-webgl');
      else await import('@tensorflow/tfjs-backend-webgpu');
      if (await tf.setBackend(requested)) return undefined;
    } catch (err) {
      return `${requested} did not start (${(err as Error).message}): using wasm`;
    }
    return `${requested} did not start: using wasm`;
  }
  return undefined;
}

async function init(pageBase: string, requested: BackendChoice): Promise<void> {
  base = pageBase;
  setWasmPaths(new URL('tfjs-wasm/', base).href);
  const available = await availableBackends();
  const note = await startBackend(requested, available);
  if (requested === 'wasm' || note != null) {
    if (!(await tf.setBackend('wasm'))) await tf.setBackend('cpu');
  }
  await tf.ready();
  // The library's SIMD kernels may compile in the background: wait a little for them to join in.
  const t0 = performance.now();
  let info = opsInfo();
  while (tf.getBackend() === 'wasm' && !info.simdKernels && performance.now() - t0 < 5000) {
    await sleep(50);
    info = opsInfo();
  }
  post({ type: 'backend', info: { ...info }, crossOriginIsolated: self.crossOriginIsolated === true, available, note });
}

function modelOptions(preset: string, seed: number): ViTClassifierOptions {
  if (preset === 'micro') return { preset: 'vit-cifar-tiny', transformerLayers: 2, seed, name: 'vit_micro' };
  return { preset: preset as ViTClassifierOptions['preset'], seed };
}

function softmax(row: ArrayLike<number>): number[] {
  const max = Math.max(...Array.from(row));
  const e = Array.from(row, (v) => Math.exp(v - max));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

async function train(s: Settings): Promise<void> {
  stopRequested = false;
  post({ type: 'status', text: 'Loading the CIFAR-10 sample…' });
  const parts: Uint8Array[] = [];
  for (const file of TRAIN_FILES) {
    if (parts.reduce((n, p) => n + p.length, 0) >= s.trainImages * RECORD) break;
    parts.push(await fetchBytes(file));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((off, p) => (all.set(p, off), off + p.length), 0);
  const trainData = parseCifarBinaryBatch(all.subarray(0, Math.min(all.length, s.trainImages * RECORD)), { name: 'train' });
  const testBytes = await fetchBytes('test_batch.bin');
  const testData = parseCifarBinaryBatch(testBytes.subarray(0, Math.min(testBytes.length, s.testImages * RECORD)), { name: 'test_batch.bin' });

  post({ type: 'status', text: 'Building the model…' });
  setGlobalSeed(s.seed);
  model?.dispose();
  model = createViTClassifier(modelOptions(s.preset, s.seed));
  const pixels = tf.tensor4d(trainData.images, trainData.shape as [number, number, number, number], 'int32');
  await adaptNormalization(model, pixels);
  pixels.dispose();
  const params = model.countParams();

  const stepsPerEpoch = Math.ceil(trainData.labels.length / s.batchSize);
  const totalSteps = stepsPerEpoch * s.epochs;
  let step = 0;
  let images = 0;
  let epoch = 0;
  const t0 = performance.now();
  post({ type: 'status', text: `Training ${params.toLocaleString('en')} parameters…` });
  const history = await fitViT(model, trainData, {
    epochs: s.epochs,
    batchSize: s.batchSize,
    learningRate: s.learningRate,
    seed: s.seed,
    signal: { get aborted() { return stopRequested; } },
    callbacks: {
      onEpochBegin: (e) => {
        epoch = e;
      },
      onBatchEnd: (_step, logs) => {
        step += 1;
        images += logs.size ?? s.batchSize;
        const seconds = (performance.now() - t0) / 1000;
        const imagesPerSecond = images / seconds;
        post({
          type: 'batch',
          step,
          totalSteps,
          epoch,
          loss: logs.loss,
          accuracy: logs.accuracy,
          imagesPerSecond,
          secondsLeft: ((totalSteps - step) * seconds) / step,
          seconds,
        });
      },
      onEpochEnd: (e, logs) => {
        post({ type: 'epoch', epoch: e, logs: { ...logs } });
      },
    },
  });
  const trainSeconds = (performance.now() - t0) / 1000;

  post({ type: 'status', text: 'Evaluating on the test images…' });
  const ev = await evaluate(model, testData, { batchSize: 50 });

  // Top-5 and attention rollout for the first test images.
  const n = Math.min(INSPECT, testData.labels.length);
  const imgBytes = testData.images.subarray(0, n * 32 * 32 * 3);
  const x = tf.tensor4d(Float32Array.from(imgBytes), [n, 32, 32, 3]);
  const logits = model.predict(x) as tf.Tensor;
  const logitValues = await logits.data();
  logits.dispose();
  const rollout = attentionRollout(model, x);
  const [, rows, cols] = rollout.shape;
  const maps = await rollout.data();
  rollout.dispose();
  x.dispose();
  const predictions: PredictionInfo[] = [];
  for (let i = 0; i < n; i++) {
    const probs = softmax(logitValues.subarray(i * 10, (i + 1) * 10));
    const top5 = probs
      .map((p, c) => ({ c, p }))
      .sort((a, b) => b.p - a.p)
      .slice(0, 5);
    const image = imgBytes.slice(i * 3072, (i + 1) * 3072);
    const overlay = attentionOverlay(image, [32, 32, 3], maps.subarray(i * rows * cols, (i + 1) * rows * cols), [rows, cols], {
      alpha: 0.5,
    });
    predictions.push({ label: testData.labels[i], probabilities: probs, top5, image, overlay: overlay.data });
  }
  post({
    type: 'done',
    status: history.status,
    history: history.history,
    params,
    trainSeconds,
    imagesPerSecond: images / trainSeconds,
    test: { images: testData.labels.length, accuracy: ev.accuracy, loss: ev.loss, confusionMatrix: ev.confusionMatrix },
    predictions,
    info: { ...opsInfo() },
  });
}

async function save(url: string): Promise<void> {
  if (!model) throw new Error('no model: train one first');
  const result = await model.save(url);
  post({ type: 'saved', url, bytes: result.modelArtifactsInfo.weightDataBytes ?? 0 });
}

self.onmessage = (ev: MessageEvent<ToWorker>) => {
  const m = ev.data;
  const run = async () => {
    if (m.type === 'init') await init(m.base, m.backend);
    else if (m.type === 'train') await train(m.settings);
    else if (m.type === 'stop') stopRequested = true;
    else if (m.type === 'save') await save(m.url);
  };
  run().catch((err: unknown) => post({ type: 'error', text: String((err as Error)?.message ?? err) }));
};
