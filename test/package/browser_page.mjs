/* global window, location, performance, navigator, setTimeout, URL */
// The page of test/package/browser.test.ts, bundled with esbuild from the consumer project that has the packed
// tarball installed (copied there as browser/entry.mjs). It reports on `window.__result`.
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as vit from 'vit-tfjs';

const BATCH = 16;
const WARMUP_STEPS = 1;
const TIMED_STEPS = 3;
const SAVE_PATH = 'indexeddb://vit-tfjs-browser-test';

/** The library's report on its ops (opsInfo, or what older builds export). */
function info() {
  if (typeof vit.opsInfo === 'function') return vit.opsInfo();
  return { backend: tf.getBackend(), simdKernels: typeof vit.useSimdKernels === 'function' ? vit.useSimdKernels() : false };
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function main() {
  setWasmPaths(new URL('../wasm/', location.href).href);
  if (!(await tf.setBackend('wasm'))) throw new Error('the wasm backend did not start');
  await tf.ready();
  // On a browser's main thread the SIMD kernels are compiled asynchronously: the first query starts it.
  const start = performance.now();
  let ops = info();
  while (!ops.simdKernels && performance.now() - start < 20000) {
    await sleep(50);
    ops = info();
  }
  const simdWait = performance.now() - start;

  vit.setGlobalSeed(1);
  const model = vit.createViTClassifier({ preset: 'vit-cifar-tiny', seed: 1 });
  const x = tf.randomUniform([BATCH, 32, 32, 3], 0, 1, 'float32', 2);
  const y = tf.tensor1d(Array.from({ length: BATCH }, (_, i) => i % 10), 'int32');
  await vit.adaptNormalization(model, x);
  const optimizer = new vit.AdamW({ learningRate: 1e-3, weightDecay: 1e-4 });
  const losses = [];
  const step = () => {
    const r = vit.trainStep(model, optimizer, x, y);
    r.outputs.dispose();
    losses.push(r.loss);
  };
  for (let i = 0; i < WARMUP_STEPS; i++) step();
  const t0 = performance.now();
  for (let i = 0; i < TIMED_STEPS; i++) step();
  const seconds = (performance.now() - t0) / 1000;
  const opsAfterTraining = info();

  const xTest = tf.randomUniform([4, 32, 32, 3], 0, 1, 'float32', 3);
  const before = await model.predict(xTest).data();
  await model.save(SAVE_PATH);
  const loaded = await tfl.loadLayersModel(SAVE_PATH);
  const after = await loaded.predict(xTest).data();
  let maxAbsDiff = 0;
  let identical = before.length === after.length;
  for (let i = 0; i < before.length; i++) {
    if (before[i] !== after[i]) identical = false;
    maxAbsDiff = Math.max(maxAbsDiff, Math.abs(before[i] - after[i]));
  }
  const stored = Object.keys(await tf.io.listModels());
  return {
    ok: true,
    userAgent: navigator.userAgent,
    crossOriginIsolated: globalThis.crossOriginIsolated === true,
    ops,
    opsAfterTraining,
    simdWaitMs: Math.round(simdWait),
    batch: BATCH,
    timedSteps: TIMED_STEPS,
    seconds,
    imagesPerSecond: (TIMED_STEPS * BATCH) / seconds,
    losses,
    params: model.countParams(),
    predictions: before.length,
    identical,
    maxAbsDiff,
    stored,
    loadedLayers: loaded.layers.length,
    modelLayers: model.layers.length,
  };
}

main().then(
  (result) => {
    window.__result = result;
  },
  (err) => {
    window.__result = { ok: false, error: String((err && err.stack) || err) };
  },
);
