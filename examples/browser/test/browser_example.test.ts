/**
 * The browser example end to end: its production build (`vite build`), served from 127.0.0.1 with the headers that
 * make the page cross-origin isolated, opened in headless Chromium (Debian's `chromium`, driven by playwright-core).
 * The test fills in the form (vit-cifar-tiny, one epoch of a few steps), trains in the page's worker, waits for the
 * curves and metrics, checks that what the page shows is what the worker posted, saves to IndexedDB, reloads the
 * page, loads the model and classifies a fixed picture (test image 0, as a PNG dropped into the file input): the same
 * prediction as the worker's. Screenshot: examples/browser/test/output/browser-example.png.
 *
 * Not skipped when Chromium is missing: it fails and says how to install it (`.ci/run` does).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import type { Browser, Page } from 'playwright-core';
import { CONTENT_TYPES, launchChromium } from '../../../test/helpers/chromium';
import { encodePng } from 'vit-tfjs';

const EXAMPLE = path.resolve(__dirname, '..');
const ROOT = path.resolve(EXAMPLE, '../..');
const DIST = path.join(EXAMPLE, 'dist');
const OUTPUT = path.join(__dirname, 'output');
const TEST_BATCH = path.join(ROOT, 'examples/cifar10/data/cifar-10-sample/cifar-10-batches-bin/test_batch.bin');
const SETTINGS = { preset: 'vit-cifar-tiny', epochs: '1', batchSize: '32', learningRate: '0.001', trainImages: '128', testImages: '100', seed: '1' };

interface Batch {
  step: number;
  totalSteps: number;
  loss: number;
  accuracy: number;
  imagesPerSecond: number;
  secondsLeft: number;
}
interface PageState {
  backend?: Record<string, unknown>;
  lastBatch?: Batch;
  shown?: { loss: number; accuracy: number; step: number };
  done?: {
    status: string;
    imagesPerSecond: number;
    trainSeconds: number;
    params: number;
    test: { images: number; accuracy: number; loss: number; confusionMatrix: number[][] };
    predictions: { label: number; probabilities: number[]; top5: { c: number; p: number }[] }[];
  };
  saved?: string;
  loaded?: { url: string; params: number };
  classified?: { probabilities: number[]; top5: { c: number; p: number }[] };
  error?: string;
  curvePoints: number;
}

/** The production build, served with COOP/COEP (cross-origin isolated). */
function serve(root: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname).replace(/^\/+/, '') || 'index.html';
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, {
      'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Cache-Control': 'no-store',
      'Cross-Origin-Resource-Policy': 'same-origin',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cross-Origin-Embedder-Policy': 'require-corp',
    });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Test image 0 of the bundled sample as a PNG (CIFAR records are a label byte, then R, G and B planes). */
function testImagePng(): Buffer {
  const rec = fs.readFileSync(TEST_BATCH).subarray(1, 3073);
  const rgb = new Uint8Array(3072);
  for (let i = 0; i < 1024; i++) for (let k = 0; k < 3; k++) rgb[3 * i + k] = rec[k * 1024 + i];
  return Buffer.from(encodePng(rgb, 32, 32, 3));
}

let server: http.Server | undefined;
let browser: Browser | undefined;
let origin = '';

beforeAll(async () => {
  // vit-tfjs resolves to the repository's dist/ (its package exports): build it when stale, then the example.
  execFileSync(process.execPath, [path.join(ROOT, 'test/package/ensure-dist.cjs')], { cwd: ROOT, stdio: 'inherit' });
  const vite = path.join(path.dirname(require.resolve('vite/package.json', { paths: [EXAMPLE] })), 'bin/vite.js');
  execFileSync(process.execPath, [vite, 'build', '--logLevel', 'warn'], { cwd: EXAMPLE, stdio: 'inherit' });
  expect(fs.existsSync(path.join(DIST, 'index.html'))).toBe(true);
  expect(fs.readdirSync(path.join(DIST, 'tfjs-wasm')).length).toBeGreaterThan(0);
  expect(fs.existsSync(path.join(DIST, 'cifar', 'test_batch.bin'))).toBe(true);
  server = await serve(DIST);
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

const pageState = (page: Page) => page.evaluate(() => (window as unknown as { __vit: PageState }).__vit);

test('trains in the page, shows what the worker computed, and reuses the saved model after a reload', async () => {
  const context = await (browser as Browser).newContext({ viewport: { width: 1000, height: 800 } });
  const errors: string[] = [];
  try {
    const page = await context.newPage();
    page.on('pageerror', (err) => errors.push(String(err)));
    await page.goto(`${origin}/`);
    await page.waitForFunction(() => (window as unknown as { __vit: PageState }).__vit.backend !== undefined, null, { timeout: 30_000 });
    const backend = (await pageState(page)).backend!;
    expect(backend.backend).toBe('wasm');
    expect(backend.crossOriginIsolated).toBe(true);
    expect(await page.textContent('#backend')).toContain('wasm');
    // The backend menu offers what the worker found (wasm always); asking for a GPU backend this browser lacks falls
    // back to wasm and says so.
    const available = backend.available as string[];
    expect(available).toContain('wasm');
    expect(await page.locator('#backend-choice option:not([disabled])').allTextContents()).toHaveLength(available.length);
    const missing = (['webgpu', 'webgl'] as const).find((b) => !available.includes(b));
    if (missing != null) {
      const other = await context.newPage();
      await other.goto(`${origin}/?backend=${missing}`);
      await other.waitForFunction(() => (window as unknown as { __vit: PageState }).__vit.backend !== undefined, null, { timeout: 30_000 });
      expect((await pageState(other)).backend!.backend).toBe('wasm');
      expect(await other.textContent('#backend')).toContain(`${missing} is not available in this browser: using wasm`);
      await other.close();
    }
    for (const gpu of (['webgl', 'webgpu'] as const).filter((b) => available.includes(b))) {
      // An available GPU backend starts when asked for (the worker loads its package on demand).
      const other = await context.newPage();
      await other.goto(`${origin}/?backend=${gpu}`);
      await other.waitForFunction(() => (window as unknown as { __vit: PageState }).__vit.backend !== undefined, null, { timeout: 60_000 });
      expect((await pageState(other)).backend!.backend).toBe(gpu);
      expect(await other.inputValue('#backend-choice')).toBe(gpu);
      await other.close();
    }
    console.log(`browser example: backends available in headless Chromium: ${available.join(', ')}`);

    // The form, as a user would fill it in (labels are real labels).
    await page.getByLabel('Model').selectOption(SETTINGS.preset);
    await page.getByLabel('Epochs').fill(SETTINGS.epochs);
    await page.getByLabel('Batch size').fill(SETTINGS.batchSize);
    await page.getByLabel('Learning rate').fill(SETTINGS.learningRate);
    await page.getByLabel('Training images').fill(SETTINGS.trainImages);
    await page.getByLabel('Test images').fill(SETTINGS.testImages);
    await page.getByLabel('Seed').fill(SETTINGS.seed);
    const t0 = Date.now();
    await page.getByRole('button', { name: 'Train' }).click();

    // The page stays responsive while the worker trains: the first batch arrives and the curve grows.
    await page.waitForFunction(() => (window as unknown as { __vit: PageState }).__vit.curvePoints >= 1, null, { timeout: 60_000 });
    expect(await page.evaluate(() => 1 + 1)).toBe(2);
    await page.waitForFunction(
      () => {
        const s = (window as unknown as { __vit: PageState }).__vit;
        return s.done !== undefined || s.error !== undefined;
      },
      null,
      { timeout: 60_000 },
    );
    const wall = (Date.now() - t0) / 1000;
    const s = await pageState(page);
    expect(s.error).toBeUndefined();
    const steps = Math.ceil(Number(SETTINGS.trainImages) / Number(SETTINGS.batchSize));
    expect(s.done!.status).toBe('completed');
    expect(s.lastBatch!.step).toBe(steps);
    expect(s.curvePoints).toBe(steps);
    expect(await page.locator('#loss-curve polyline').getAttribute('data-points')).toBe(String(steps));

    // The metrics shown are finite numbers, the ones the worker posted last.
    const last = s.lastBatch!;
    const shownLoss = Number(await page.textContent('#m-loss'));
    const shownAccuracy = Number.parseFloat((await page.textContent('#m-accuracy')) ?? '') / 100;
    const shownSpeed = Number(await page.textContent('#m-speed'));
    for (const v of [shownLoss, shownAccuracy, shownSpeed, last.loss, last.accuracy]) expect(Number.isFinite(v)).toBe(true);
    expect(Math.abs(shownLoss - last.loss)).toBeLessThanOrEqual(5e-5);
    expect(Math.abs(shownAccuracy - last.accuracy)).toBeLessThanOrEqual(5e-4);
    expect(Math.abs(shownSpeed - last.imagesPerSecond)).toBeLessThanOrEqual(0.05);
    expect(s.shown).toEqual({ step: last.step, loss: shownLoss, accuracy: shownAccuracy });
    expect(last.loss).toBeGreaterThan(0);
    expect(last.accuracy).toBeGreaterThanOrEqual(0);
    expect(last.accuracy).toBeLessThanOrEqual(1);

    // Inspection: top-5 of the first test images, their attention overlays, the confusion matrix.
    expect(s.done!.test.images).toBe(Number(SETTINGS.testImages));
    const cm = s.done!.test.confusionMatrix;
    expect(cm.flat().reduce((a, b) => a + b, 0)).toBe(Number(SETTINGS.testImages));
    expect(await page.locator('#predictions figure').count()).toBe(8);
    expect(await page.locator('#predictions canvas').count()).toBe(16);
    expect(await page.locator('#predictions ol').first().locator('li').count()).toBe(5);
    expect(await page.locator('table.confusion tbody tr').count()).toBe(10);

    // Save to IndexedDB (from the worker).
    await page.getByRole('button', { name: 'Save to IndexedDB' }).click();
    await page.waitForFunction(() => (window as unknown as { __vit: PageState }).__vit.saved !== undefined, null, { timeout: 30_000 });
    fs.mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: path.join(OUTPUT, 'browser-example.png'), fullPage: true });
    const expected = s.done!.predictions[0];
    console.log(
      `browser example: ${s.done!.params} parameters, ${steps} steps of ${SETTINGS.batchSize} in ${s.done!.trainSeconds.toFixed(2)} s ` +
        `(${s.done!.imagesPerSecond.toFixed(1)} images/s in the worker, wall clock; last batch ${last.imagesPerSecond.toFixed(1)}), ` +
        `click-to-done ${wall.toFixed(1)} s; backend ${JSON.stringify(backend)}; test accuracy ${s.done!.test.accuracy}`,
    );

    // Reload: a fresh page loads the saved model and classifies test image 0, dropped in as a PNG.
    await page.reload();
    await page.waitForFunction(() => (window as unknown as { __vit: PageState }).__vit.backend !== undefined, null, { timeout: 30_000 });
    await page.getByRole('button', { name: 'Load from IndexedDB' }).click();
    await page.waitForFunction(
      () => {
        const st = (window as unknown as { __vit: PageState }).__vit;
        return st.loaded !== undefined || st.error !== undefined;
      },
      null,
      { timeout: 30_000 },
    );
    expect((await pageState(page)).error).toBeUndefined();
    expect((await pageState(page)).loaded!.params).toBe(s.done!.params);
    await page.getByLabel(/Classify a picture/).setInputFiles({ name: 'test0.png', mimeType: 'image/png', buffer: testImagePng() });
    await page.waitForFunction(
      () => {
        const st = (window as unknown as { __vit: PageState }).__vit;
        return st.classified !== undefined || st.error !== undefined;
      },
      null,
      { timeout: 30_000 },
    );
    const after = await pageState(page);
    expect(after.error).toBeUndefined();
    expect(after.classified!.top5[0].c).toBe(expected.top5[0].c);
    expect(after.classified!.top5.map((t) => t.c)).toEqual(expected.top5.map((t) => t.c));
    const diff = Math.max(...after.classified!.probabilities.map((p, i) => Math.abs(p - expected.probabilities[i])));
    expect(diff).toBeLessThan(1e-4);
    expect(await page.locator('#picture-top5 li').count()).toBe(5);
    await page.screenshot({ path: path.join(OUTPUT, 'browser-example-reloaded.png'), fullPage: true });
    expect(errors).toEqual([]);
  } finally {
    await context.close();
  }
}, 150_000);
