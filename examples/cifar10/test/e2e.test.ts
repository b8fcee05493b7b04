/**
 * End to end on the bundled sample (real CIFAR-10 images): a small model trained for 3 epochs on the 1,800
 * training images (200 held out for validation) with the wasm backend, then every artifact is checked.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { unzlibSync } from 'fflate';
import { useBackend } from '../../../test/helpers/backends';
import { fileIO } from '../../../src/node/index';
import { parseCifarBinaryBatch } from '../../../src/index';
import { CliResult, EXAMPLE_DIR, TEST_MODEL, runCli, tempDir } from './run_cli';

const KEYS = ['loss', 'accuracy', 'top-5-accuracy', 'val_loss', 'val_accuracy', 'val_top-5-accuracy'];
const EPOCHS = 3;

/**
 * Reads an 8-bit RGB or RGBA PNG written without row filters (filter type 0, as the library's encodePng writes
 * every row) into RGBA; any other filter type fails the test.
 */
function readPng(bytes: Uint8Array): { width: number; height: number; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  expect([...bytes.subarray(0, 8)]).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  for (let o = 8; o < bytes.length; ) {
    const len = view.getUint32(o);
    const type = String.fromCharCode(...bytes.subarray(o + 4, o + 8));
    const body = bytes.subarray(o + 8, o + 8 + len);
    if (type === 'IHDR') {
      width = view.getUint32(o + 8);
      height = view.getUint32(o + 12);
      expect(body[8]).toBe(8);
      channels = body[9] === 6 ? 4 : body[9] === 2 ? 3 : 0;
      expect(channels).toBeGreaterThan(0);
    } else if (type === 'IDAT') {
      idat.push(body);
    }
    o += 12 + len;
  }
  const joined = new Uint8Array(idat.reduce((a, c) => a + c.length, 0));
  idat.reduce((off, c) => (joined.set(c, off), off + c.length), 0);
  const raw = unzlibSync(joined);
  const stride = width * channels;
  const data = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    expect(raw[y * (stride + 1)]).toBe(0);
    for (let x = 0; x < width; x++) {
      const s = y * (stride + 1) + 1 + x * channels;
      data.set([raw[s], raw[s + 1], raw[s + 2], channels === 4 ? raw[s + 3] : 255], (y * width + x) * 4);
    }
  }
  return { width, height, data };
}

/** A minimal XML well-formedness check: one root `<svg>`, every element closed in order. */
function expectWellFormedSvg(text: string): void {
  expect(text.startsWith('<?xml')).toBe(true);
  const body = text.replace(/^<\?xml[^>]*\?>\s*/, '');
  const stack: string[] = [];
  let roots = 0;
  for (const m of body.matchAll(/<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g)) {
    const [, closing, name, , selfClosing] = m;
    if (closing) {
      expect(stack.pop()).toBe(name);
    } else if (!selfClosing) {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) {
      roots++;
    }
  }
  expect(stack).toEqual([]);
  expect(roots).toBe(1);
  expect(body.trimStart().startsWith('<svg')).toBe(true);
  // No stray '<' outside the tags matched above.
  expect(body.replace(/<\/?[a-zA-Z][\w:-]*(?:\s+[\w:-]+="[^"<]*")*\s*\/?>/g, '')).not.toMatch(/</);
}

describe('examples/cifar10 end to end (bundled sample, wasm)', () => {
  let out: string;
  let run: CliResult;

  beforeAll(async () => {
    out = tempDir('e2e');
    run = await runCli([...TEST_MODEL, '--epochs', String(EPOCHS), '--batch-size', '32', '--backend', 'wasm', '--seed', '7', '--out', out]);
  }, 170_000);

  afterAll(() => fs.rmSync(out, { recursive: true, force: true }));

  it('exits 0 and prints the backend, one line per epoch and the test accuracy as the reference', () => {
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Backend: wasm \(/m);
    expect(run.stdout).toContain('Data: 1800 training, 200 validation, 500 test images');
    for (let e = 1; e <= EPOCHS; e++) expect(run.stdout).toMatch(new RegExp(`^Epoch ${e}/${EPOCHS} - .* val_accuracy: `, 'm'));
    expect(run.stdout).toMatch(/^Test accuracy: \d+\.\d\d%$/m);
    expect(run.stdout).toMatch(/^Test top 5 accuracy: \d+\.\d\d%$/m);
  });

  it('writes a history with the reference keys, one finite value per epoch', () => {
    const history = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8')) as Record<string, number[]>;
    expect(Object.keys(history).sort()).toEqual([...KEYS].sort());
    for (const key of KEYS) {
      expect(history[key]).toHaveLength(EPOCHS);
      for (const v of history[key]) expect(Number.isFinite(v)).toBe(true);
    }
    // Validation accuracies are fractions of the 200 validation images.
    for (const v of history.val_accuracy) expect(Math.abs(v * 200 - Math.round(v * 200))).toBeLessThan(1e-9);
    for (const k of ['accuracy', 'top-5-accuracy', 'val_accuracy', 'val_top-5-accuracy']) {
      for (const v of history[k]) expect(v >= 0 && v <= 1).toBe(true);
    }
    // top-5 hits include top-1 hits.
    history.val_accuracy.forEach((v, i) => expect(history['val_top-5-accuracy'][i]).toBeGreaterThanOrEqual(v));
  });

  it('reaches a test accuracy well above chance', () => {
    // 500 test images. A model at chance (10% top-1, 50% top-5) would score 10% ± 1.3% and 50% ± 2.2% (one standard
    // deviation of a binomial mean): the thresholds below are 7.4 and 6.7 standard deviations above chance, so an
    // untrained or broken model cannot pass by luck. This seeded run reaches about 30% and 80%.
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'test_metrics.json'), 'utf8'));
    expect(metrics.testImages).toBe(500);
    expect(metrics.accuracy).toBeGreaterThan(0.2);
    expect(metrics.top5Accuracy).toBeGreaterThan(0.65);
    expect(run.stdout).toContain(`Test accuracy: ${(metrics.accuracy * 100).toFixed(2)}%`);
    expect(run.stdout).toContain(`Test top 5 accuracy: ${(metrics.top5Accuracy * 100).toFixed(2)}%`);
  });

  it('saves the best model, which loads and reproduces the reported test accuracy and confusion matrix', async () => {
    const history = JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8')) as Record<string, number[]>;
    const metrics = JSON.parse(fs.readFileSync(path.join(out, 'test_metrics.json'), 'utf8'));
    const bestEpoch = history.val_accuracy.indexOf(Math.max(...history.val_accuracy)) + 1;
    expect(metrics.bestEpoch).toBe(bestEpoch);

    await useBackend('wasm');
    const model = await tfl.loadLayersModel(fileIO(path.join(out, 'best-model')));
    const test = parseCifarBinaryBatch(
      fs.readFileSync(path.join(EXAMPLE_DIR, 'data/cifar-10-sample/cifar-10-batches-bin/test_batch.bin')),
      { name: 'test_batch.bin' },
    );
    const logits = tf.tidy(() => model.predict(tf.tensor4d(Float32Array.from(test.images), [500, 32, 32, 3])) as tf.Tensor);
    const scores = (await logits.array()) as number[][];
    tf.dispose(logits);
    model.dispose();
    const confusion = JSON.parse(fs.readFileSync(path.join(out, 'confusion_matrix.json'), 'utf8'));
    let hits = 0;
    let top5 = 0;
    const matrix = Array.from({ length: 10 }, () => new Array<number>(10).fill(0));
    scores.forEach((row, i) => {
      const label = test.labels[i];
      const predicted = row.indexOf(Math.max(...row));
      if (predicted === label) hits++;
      if (row.filter((s) => s > row[label]).length < 5) top5++;
      matrix[label][predicted]++;
    });
    // Same backend as the CLI, but other batch shapes: allow a nearly tied image or two to flip.
    expect(Math.abs(hits / 500 - metrics.accuracy)).toBeLessThanOrEqual(2 / 500);
    expect(Math.abs(top5 / 500 - metrics.top5Accuracy)).toBeLessThanOrEqual(2 / 500);
    expect(confusion.classNames).toEqual(['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck']);
    const m = confusion.matrix as number[][];
    expect(m.map((r) => r.reduce((a, b) => a + b, 0))).toEqual(new Array(10).fill(50)); // 50 test images per class
    expect(m.reduce((a, r, i) => a + r[i], 0)).toBe(Math.round(metrics.accuracy * 500));
    const differing = m.flat().reduce((a, v, k) => a + Math.abs(v - matrix[Math.floor(k / 10)][k % 10]), 0);
    expect(differing).toBeLessThanOrEqual(4);
  });

  it('writes a checkpoint that holds the last epoch, the optimizer state and the generators', () => {
    const dir = path.join(out, 'checkpoint');
    const state = JSON.parse(fs.readFileSync(path.join(dir, 'state.json'), 'utf8'));
    expect(state.epoch).toBe(EPOCHS);
    expect(state.rng.global).toHaveLength(4);
    expect(state.rng.shuffle).toHaveLength(4);
    const modelJson = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    const weightBytes = modelJson.weightsManifest[0].weights.reduce(
      (a: number, w: { shape: number[] }) => a + 4 * w.shape.reduce((p, d) => p * d, 1),
      0,
    );
    expect(fs.statSync(path.join(dir, 'weights.bin')).size).toBe(weightBytes);
    // AdamW: iter, two beta powers, then m and v for every trainable weight.
    const specs = state.optimizer.specs as { name: string; shape: number[] }[];
    expect(specs.slice(0, 3).map((s) => s.name)).toEqual(['iter', 'beta1_power', 'beta2_power']);
    const optBytes = specs.reduce((a, s) => a + 4 * s.shape.reduce((p, d) => p * d, 1), 0);
    expect(fs.statSync(path.join(dir, 'optimizer.bin')).size).toBe(optBytes);
    expect(fs.readdirSync(out).filter((f) => f.includes('tmp') || f.endsWith('.old'))).toEqual([]);
  });

  it('draws the curves, the patch figure and the confusion matrix', () => {
    expectWellFormedSvg(fs.readFileSync(path.join(out, 'training_curves.svg'), 'utf8'));
    const confusion = fs.readFileSync(path.join(out, 'confusion_matrix.svg'), 'utf8');
    expectWellFormedSvg(confusion);
    expect(confusion).toContain('>airplane<');
    // 32×32 image (no resizing in this preset), 8×8 patches: 4×4 of them. Scale 4, gaps 2, margins 8 + 24 + 8.
    const png = readPng(fs.readFileSync(path.join(out, 'patches.png')));
    expect(png.width).toBe(8 + 128 + 24 + (4 * 32 + 3 * 2) + 8);
    expect(png.height).toBe(8 + 134 + 8);
    // The top-left pixel of the image is the first training image's first pixel (CHW record → RGB).
    const first = fs.readFileSync(path.join(EXAMPLE_DIR, 'data/cifar-10-sample/cifar-10-batches-bin/data_batch_1.bin'));
    const o = (8 * png.width + 8) * 4;
    expect([...png.data.subarray(o, o + 3)]).toEqual([first[1], first[1 + 1024], first[1 + 2048]]);
  });

  it('draws the attention figure: two test images of each class beside their rollout, framed by right or wrong', () => {
    const about = JSON.parse(fs.readFileSync(path.join(out, 'attention.json'), 'utf8'));
    const cells = about.cells as { index: number; true: string; predicted: string }[];
    expect(cells).toHaveLength(20);
    const names = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
    expect(cells.map((c) => c.true)).toEqual(names.flatMap((n) => [n, n]));
    for (const c of cells) expect(names).toContain(c.predicted);
    // 4 cells a row, 5 rows; a cell: frame 2 + image 96 + gap 4 + overlay 96 + frame 2, padding 4, a caption band of
    // 14 pixels under each row.
    const png = readPng(fs.readFileSync(path.join(out, 'attention.png')));
    expect(png.width).toBe(4 * 200 + 5 * 4);
    expect(png.height).toBe(5 * (100 + 14) + 6 * 4);
    const test = fs.readFileSync(path.join(EXAMPLE_DIR, 'data/cifar-10-sample/cifar-10-batches-bin/test_batch.bin'));
    cells.forEach((c, k) => {
      const [x0, y0] = [4 + (k % 4) * 204, 4 + Math.floor(k / 4) * 118];
      const at = (x: number, y: number) => [...png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3)];
      const right = c.true === c.predicted;
      expect(at(x0, y0)).toEqual(right ? [40, 160, 40] : [200, 40, 40]);
      expect(at(x0 + 199, y0 + 99)).toEqual(right ? [40, 160, 40] : [200, 40, 40]);
      // The caption under the cell: white with text in green or red.
      const band: number[][] = [];
      for (let y = y0 + 100; y < y0 + 114; y++) for (let x = x0; x < x0 + 200; x++) band.push(at(x, y));
      expect(band.filter((p) => p.join() === (right ? '20,110,20' : '170,20,20')).length).toBeGreaterThan(20);
      expect(band.every((p) => p.join() === '255,255,255' || p.join() === (right ? '20,110,20' : '170,20,20'))).toBe(true);
      // The image's first pixel (CHW record → RGB), then an overlay pixel that is not the image's.
      const record = 1 + c.index * 3073;
      expect(at(x0 + 2, y0 + 2)).toEqual([test[record], test[record + 1024], test[record + 2048]]);
      expect(at(x0 + 2 + 96 + 4, y0 + 2)).not.toEqual(at(x0 + 2, y0 + 2));
    });
  });
});
