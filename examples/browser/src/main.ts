// The page: the form, live curves and metrics from the training worker, the inspection views, and the main-thread
// side of "keep and reuse" (loading from IndexedDB, downloads, classifying a dropped picture).
// For tests and the curious, `window.__vit` holds what the worker last posted and what the page computed.
import * as tf from '@tensorflow/tfjs-core';
import { loadLayersModel, type LayersModel } from '@tensorflow/tfjs-layers';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { opsInfo } from 'vit-tfjs'; // importing vit-tfjs also registers its layers, so saved models load
import type { BackendChoice, BatchMessage, DoneMessage, FromWorker, PredictionInfo, Settings } from './messages';

const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
const MODEL_URL = 'indexeddb://vit-tfjs-browser-example';

interface PageState {
  backend?: Record<string, unknown>;
  lastBatch?: BatchMessage;
  shown?: { loss: number; accuracy: number; step: number };
  done?: Omit<DoneMessage, 'predictions'> & { predictions: Omit<PredictionInfo, 'image' | 'overlay'>[] };
  saved?: string;
  loaded?: { url: string; params: number };
  classified?: { probabilities: number[]; top5: { c: number; p: number }[] };
  error?: string;
  curvePoints: number;
}
const state: PageState = { curvePoints: 0 };
(window as unknown as { __vit: PageState }).__vit = state;

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const pageBase = new URL('./', location.href).href;

// ---- the worker -------------------------------------------------------------------------------------------------
const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
// The backend comes from the page's address (?backend=webgl), set by the backend menu; wasm by default.
const requestedBackend = (['wasm', 'webgl', 'webgpu'] as const).find((b) => b === new URLSearchParams(location.search).get('backend')) ?? 'wasm';
worker.postMessage({ type: 'init', base: pageBase, backend: requestedBackend });
const losses: number[] = [];
const accuracies: number[] = [];

worker.onmessage = (ev: MessageEvent<FromWorker>) => {
  const m = ev.data;
  switch (m.type) {
    case 'backend':
      state.backend = { ...m.info, crossOriginIsolated: m.crossOriginIsolated, available: m.available };
      $('backend').textContent = `Backend (worker): ${describeBackend(m.info, m.crossOriginIsolated)}${m.note != null ? ` (${m.note})` : ''}`;
      showBackendChoices(m.available, String(m.info.backend));
      break;
    case 'status':
      $('status').textContent = m.text;
      break;
    case 'batch':
      onBatch(m);
      break;
    case 'epoch':
      $('status').textContent = `Epoch ${m.epoch + 1} done: loss ${m.logs.loss.toFixed(4)}, accuracy ${(100 * m.logs.accuracy).toFixed(1)} %.`;
      break;
    case 'done':
      onDone(m);
      break;
    case 'saved':
      state.saved = m.url;
      $<HTMLButtonElement>('download').disabled = false;
      $('keep-status').textContent = `Saved to ${m.url} (${(m.bytes / 1e6).toFixed(2)} MB of weights).`;
      break;
    case 'error':
      state.error = m.text;
      $('status').textContent = `Error: ${m.text}`;
      setTraining(false);
      break;
  }
};

/** Fills the backend menu with what the worker found; choosing one reloads the page with `?backend=`. */
function showBackendChoices(available: BackendChoice[], active: string): void {
  const select = $<HTMLSelectElement>('backend-choice');
  const labels: Record<BackendChoice, string> = { wasm: 'wasm (CPU, SIMD kernels)', webgl: 'WebGL (GPU)', webgpu: 'WebGPU (GPU)' };
  select.replaceChildren(
    ...(['wasm', 'webgl', 'webgpu'] as const).map((b) => {
      const option = new Option(available.includes(b) ? labels[b] : `${labels[b]}: not available here`, b, false, b === active);
      option.disabled = !available.includes(b);
      return option;
    }),
  );
  select.disabled = available.length < 2;
}
$<HTMLSelectElement>('backend-choice').addEventListener('change', (ev) => {
  const url = new URL(location.href);
  url.searchParams.set('backend', (ev.target as HTMLSelectElement).value);
  location.assign(url.href);
});

function describeBackend(info: Record<string, unknown>, isolated: boolean): string {
  const parts = [String(info.backend)];
  if (info.backend === 'wasm') {
    parts.push(info.simdKernels ? 'vit-tfjs SIMD kernels on' : 'SIMD kernels off');
    parts.push(info.wasmThreaded ? 'threaded (cross-origin isolated)' : isolated ? 'single-threaded' : 'single-threaded (page not cross-origin isolated)');
  }
  return parts.join(', ');
}

function setTraining(on: boolean): void {
  $<HTMLButtonElement>('train').disabled = on;
  $<HTMLButtonElement>('stop').disabled = !on;
  $<HTMLButtonElement>('save').disabled = on || !state.done;
}

// ---- training ---------------------------------------------------------------------------------------------------
$('train-form').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const form = new FormData(ev.target as HTMLFormElement);
  const num = (k: string) => Number(form.get(k));
  const settings: Settings = {
    preset: String(form.get('preset')),
    epochs: num('epochs'),
    batchSize: num('batchSize'),
    learningRate: num('learningRate'),
    trainImages: num('trainImages'),
    testImages: num('testImages'),
    seed: num('seed'),
  };
  losses.length = 0;
  accuracies.length = 0;
  state.lastBatch = undefined;
  state.shown = undefined;
  state.done = undefined;
  state.error = undefined;
  drawCurves();
  setTraining(true);
  worker.postMessage({ type: 'train', settings });
});
$('stop').addEventListener('click', () => worker.postMessage({ type: 'stop' }));

function fmtTime(s: number): string {
  if (!Number.isFinite(s)) return '–';
  const m = Math.floor(s / 60);
  return m > 0 ? `${m} min ${Math.round(s % 60)} s` : `${Math.round(s)} s`;
}

function onBatch(m: BatchMessage): void {
  state.lastBatch = m;
  losses.push(m.loss);
  accuracies.push(m.accuracy);
  $('m-step').textContent = `${m.step} / ${m.totalSteps} (epoch ${m.epoch + 1})`;
  $('m-loss').textContent = m.loss.toFixed(4);
  $('m-accuracy').textContent = `${(100 * m.accuracy).toFixed(1)} %`;
  $('m-speed').textContent = m.imagesPerSecond.toFixed(1);
  $('m-left').textContent = fmtTime(m.secondsLeft);
  // What the page shows, read back from the page (the test compares it with the worker's message).
  state.shown = {
    step: m.step,
    loss: Number($('m-loss').textContent),
    accuracy: Number.parseFloat($('m-accuracy').textContent ?? '') / 100,
  };
  drawCurves();
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function drawCurve(svg: SVGSVGElement, values: number[], color: string, fixed?: [number, number]): number {
  svg.replaceChildren();
  const W = 460;
  const H = 180;
  const pad = { l: 44, r: 8, t: 8, b: 20 };
  const finite = values.filter(Number.isFinite);
  let [lo, hi] = fixed ?? [Math.min(...finite), Math.max(...finite)];
  if (!finite.length) [lo, hi] = [0, 1];
  if (hi - lo < 1e-9) [lo, hi] = [lo - 0.5, hi + 0.5];
  const el = (name: string, attrs: Record<string, string | number>, text?: string) => {
    const e = document.createElementNS(SVG_NS, name);
    for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
    if (text) e.textContent = text;
    svg.appendChild(e);
    return e;
  };
  el('line', { x1: pad.l, y1: H - pad.b, x2: W - pad.r, y2: H - pad.b, stroke: '#888' });
  el('line', { x1: pad.l, y1: pad.t, x2: pad.l, y2: H - pad.b, stroke: '#888' });
  el('text', { x: pad.l - 4, y: pad.t + 10, 'text-anchor': 'end', 'font-size': 11 }, hi.toFixed(2));
  el('text', { x: pad.l - 4, y: H - pad.b, 'text-anchor': 'end', 'font-size': 11 }, lo.toFixed(2));
  el('text', { x: W - pad.r, y: H - 4, 'text-anchor': 'end', 'font-size': 11 }, `step ${values.length}`);
  const n = values.length;
  const pts: string[] = [];
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) return;
    const x = pad.l + ((W - pad.l - pad.r) * (n === 1 ? 0.5 : i / (n - 1)));
    const y = H - pad.b - ((H - pad.t - pad.b) * (v - lo)) / (hi - lo);
    pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  if (pts.length) el('polyline', { points: pts.join(' '), fill: 'none', stroke: color, 'stroke-width': 2, 'data-points': pts.length });
  return pts.length;
}
function drawCurves(): void {
  state.curvePoints = drawCurve($('loss-curve') as unknown as SVGSVGElement, losses, '#c0392b');
  drawCurve($('acc-curve') as unknown as SVGSVGElement, accuracies, '#234e8c', [0, 1]);
}
drawCurves();

// ---- inspection -------------------------------------------------------------------------------------------------
function rgbCanvas(rgb: Uint8Array, label: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = 32;
  c.height = 32;
  const img = new ImageData(32, 32);
  for (let i = 0; i < 1024; i++) {
    img.data[4 * i] = rgb[3 * i];
    img.data[4 * i + 1] = rgb[3 * i + 1];
    img.data[4 * i + 2] = rgb[3 * i + 2];
    img.data[4 * i + 3] = 255;
  }
  c.getContext('2d')!.putImageData(img, 0, 0);
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  return c;
}
function rgbaCanvas(rgba: Uint8ClampedArray, label: string): HTMLCanvasElement {
  const c = document.createElement('canvas');
  c.width = 32;
  c.height = 32;
  c.getContext('2d')!.putImageData(new ImageData(new Uint8ClampedArray(rgba), 32, 32), 0, 0);
  c.setAttribute('role', 'img');
  c.setAttribute('aria-label', label);
  return c;
}
function top5List(top5: { c: number; p: number }[], truth?: number): HTMLOListElement {
  const ol = document.createElement('ol');
  for (const { c, p } of top5) {
    const li = document.createElement('li');
    li.textContent = `${CLASSES[c]} ${(100 * p).toFixed(1)} %`;
    if (truth !== undefined && c === truth) li.className = 'right';
    ol.appendChild(li);
  }
  return ol;
}

function onDone(m: DoneMessage): void {
  setTraining(false);
  state.done = { ...m, predictions: m.predictions.map(({ label, probabilities, top5 }) => ({ label, probabilities, top5 })) };
  $<HTMLButtonElement>('save').disabled = false;
  const last = (k: string) => m.history[k]?.[m.history[k].length - 1];
  $('status').textContent =
    `Done (${m.status}): ${m.params.toLocaleString('en')} parameters, ${m.trainSeconds.toFixed(1)} s, ` +
    `${m.imagesPerSecond.toFixed(1)} images/s; last epoch loss ${last('loss')?.toFixed(4)}, accuracy ${(100 * (last('accuracy') ?? NaN)).toFixed(1)} %.`;
  $('m-left').textContent = '0 s';
  $('test-summary').textContent =
    `Test: ${m.test.images} images, accuracy ${(100 * m.test.accuracy).toFixed(1)} %, loss ${m.test.loss.toFixed(4)}. ` +
    'Below: the first test images, their attention rollout (where the class token looked, red = most) and the top-5 classes.';
  const grid = $('predictions');
  grid.replaceChildren();
  m.predictions.forEach((p, i) => {
    const fig = document.createElement('figure');
    fig.className = 'prediction';
    fig.appendChild(rgbCanvas(p.image, `test image ${i}: ${CLASSES[p.label]}`));
    fig.appendChild(rgbaCanvas(p.overlay, `attention rollout over test image ${i}`));
    const cap = document.createElement('figcaption');
    const ok = p.top5[0].c === p.label;
    cap.innerHTML = `#${i} true: <b>${CLASSES[p.label]}</b> <span class="${ok ? 'right' : 'wrong'}">${ok ? '✓' : '✗'}</span>`;
    fig.appendChild(cap);
    fig.appendChild(top5List(p.top5, p.label));
    grid.appendChild(fig);
  });
  renderConfusion(m.test.confusionMatrix);
}

function renderConfusion(cm: number[][]): void {
  const max = Math.max(1, ...cm.flat());
  const table = document.createElement('table');
  table.className = 'confusion';
  table.innerHTML =
    '<caption>Confusion matrix on the test images (rows: true class, columns: predicted)</caption>' +
    `<thead><tr><th scope="col">true \\ predicted</th>${CLASSES.map((c) => `<th scope="col" title="${c}">${c.slice(0, 4)}</th>`).join('')}</tr></thead>`;
  const body = document.createElement('tbody');
  cm.forEach((row, t) => {
    const tr = document.createElement('tr');
    tr.innerHTML =
      `<th scope="row">${CLASSES[t]}</th>` +
      row
        .map((v, p) => {
          const a = v / max;
          const bg = t === p ? `rgba(27,122,27,${a})` : `rgba(192,57,43,${a})`;
          return `<td style="background:${bg};color:${a > 0.6 ? '#fff' : '#000'}">${v}</td>`;
        })
        .join('');
    body.appendChild(tr);
  });
  table.appendChild(body);
  $('confusion').replaceChildren(table);
}

// ---- keep and reuse (main thread) -------------------------------------------------------------------------------
let loaded: LayersModel | null = null;
let mainReady: Promise<void> | null = null;
function mainBackend(): Promise<void> {
  mainReady ??= (async () => {
    setWasmPaths(new URL('tfjs-wasm/', pageBase).href);
    if (!(await tf.setBackend('wasm'))) await tf.setBackend('cpu');
    await tf.ready();
    opsInfo(); // starts compiling the library's kernels in the background
  })();
  return mainReady;
}

$('save').addEventListener('click', () => {
  $('keep-status').textContent = 'Saving…';
  worker.postMessage({ type: 'save', url: MODEL_URL });
});

async function loadSaved(): Promise<LayersModel> {
  await mainBackend();
  const models = await tf.io.listModels();
  if (!models[MODEL_URL]) throw new Error('nothing saved yet: train a model and press "Save to IndexedDB"');
  loaded?.dispose();
  loaded = await loadLayersModel(MODEL_URL);
  state.loaded = { url: MODEL_URL, params: loaded.countParams() };
  $('keep-status').textContent = `Loaded ${MODEL_URL} (${loaded.countParams().toLocaleString('en')} parameters, saved ${new Date(models[MODEL_URL].dateSaved).toLocaleString()}).`;
  $<HTMLButtonElement>('download').disabled = false;
  return loaded;
}

const report = (err: unknown) => {
  state.error = String((err as Error)?.message ?? err);
  $('keep-status').textContent = `Error: ${state.error}`;
};
$('load').addEventListener('click', () => void loadSaved().catch(report));
$('download').addEventListener('click', () => {
  void (async () => {
    const model = loaded ?? (await loadSaved());
    await model.save('downloads://vit-tfjs-model');
  })().catch(report);
});

async function classify(file: Blob): Promise<void> {
  const model = loaded ?? (await loadSaved());
  const bitmap = await createImageBitmap(file);
  const canvas = $<HTMLCanvasElement>('picture-canvas');
  const ctx = canvas.getContext('2d', { willReadFrequently: true })!;
  ctx.imageSmoothingQuality = 'high';
  ctx.clearRect(0, 0, 32, 32);
  ctx.drawImage(bitmap, 0, 0, 32, 32);
  const { data } = ctx.getImageData(0, 0, 32, 32);
  const rgb = new Float32Array(32 * 32 * 3);
  for (let i = 0; i < 1024; i++) for (let k = 0; k < 3; k++) rgb[3 * i + k] = data[4 * i + k];
  const probabilities = tf.tidy(() => {
    const logits = model.predict(tf.tensor4d(rgb, [1, 32, 32, 3])) as tf.Tensor;
    return Array.from(tf.softmax(logits).dataSync());
  });
  const top5 = probabilities
    .map((p, c) => ({ c, p }))
    .sort((a, b) => b.p - a.p)
    .slice(0, 5);
  state.classified = { probabilities, top5 };
  $('picture-top5').replaceWith(Object.assign(top5List(top5), { id: 'picture-top5' }));
}

$<HTMLInputElement>('picture').addEventListener('change', (ev) => {
  const file = (ev.target as HTMLInputElement).files?.[0];
  if (file) void classify(file).catch(report);
});
const drop = $('drop');
drop.addEventListener('dragover', (ev) => {
  ev.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (ev) => {
  ev.preventDefault();
  drop.classList.remove('over');
  const file = ev.dataTransfer?.files[0];
  if (file) void classify(file).catch(report);
});
