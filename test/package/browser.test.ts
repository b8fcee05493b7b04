/**
 * The packed tarball in a real browser: a page bundled with esbuild from the consumer project (vit-tfjs from the
 * tarball, tfjs-core, tfjs-layers, tfjs-backend-wasm), served from 127.0.0.1 (cross-origin isolated, so that the
 * wasm backend may use threads), opened in headless Chromium (Debian's `chromium`, driven by playwright-core). The
 * page (./browser_page.mjs) builds `vit-cifar-tiny`, trains a few AdamW steps on the wasm backend with the library's
 * SIMD kernels, saves to `indexeddb://`, reloads with tfjs-layers' `loadLayersModel` and compares predictions.
 *
 * Not skipped when Chromium is missing: it fails and says how to install it (`.ci/run` does).
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { CONTENT_TYPES, launchChromium } from '../helpers/chromium';
import { docFiles, snippetModule, snippetsOf } from '../docs/extract_snippets';
import { packedPackage } from './packed';


interface PageResult {
  ok: boolean;
  error?: string;
  crossOriginIsolated: boolean;
  ops: { backend: string; simdKernels: boolean; [key: string]: unknown };
  opsAfterTraining: { backend: string; simdKernels: boolean; [key: string]: unknown };
  simdWaitMs: number;
  batch: number;
  timedSteps: number;
  seconds: number;
  imagesPerSecond: number;
  losses: number[];
  params: number;
  predictions: number;
  identical: boolean;
  maxAbsDiff: number;
  stored: string[];
  loadedLayers: number;
  modelLayers: number;
  userAgent: string;
}

/**
 * Serves `root` on 127.0.0.1: pages under /isolated/ with the headers that make them cross-origin isolated (the wasm
 * backend may then use its threaded build), pages under /plain/ without (what a page gets by default).
 */
function serve(root: string): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const [, variant, ...rest] = decodeURIComponent(url.pathname).split('/');
    let rel = rest.join('/');
    if (variant === 'isolated' || variant === 'plain') rel = rel === '' ? 'index.html' : rel;
    else if (variant === 'docs' && rest.join('/') === '') rel = 'docs.html';
    else rel = [variant, ...rest].join('/');
    const file = path.resolve(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404).end('not found');
      return;
    }
    const headers: http.OutgoingHttpHeaders = {
      'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Cache-Control': 'no-store',
      'Cross-Origin-Resource-Policy': 'same-origin',
    };
    if (variant === 'isolated') {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
    }
    res.writeHead(200, headers);
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

let server: http.Server | undefined;
let browser: Browser | undefined;
let origin = '';

/** Bundles the page from the consumer project, serves it, starts Chromium. */
beforeAll(async () => {
  const { consumer } = packedPackage();
  const www = path.join(consumer, 'browser', 'www');
  fs.rmSync(www, { recursive: true, force: true });
  fs.mkdirSync(path.join(www, 'wasm'), { recursive: true });
  const entry = path.join(consumer, 'browser', 'entry.mjs');
  fs.copyFileSync(path.join(__dirname, 'browser_page.mjs'), entry);
  const bundle = await build({
    entryPoints: [entry],
    absWorkingDir: consumer,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2020',
    outfile: path.join(www, 'app.js'),
    sourcemap: true,
    metafile: true,
    logLevel: 'silent',
  });
  expect(bundle.errors).toEqual([]);
  // The page runs the published build of vit-tfjs.
  expect(Object.keys(bundle.metafile.inputs).some((i) => i.includes('node_modules/vit-tfjs/dist/index.mjs'))).toBe(true);
  const wasmDist = path.join(consumer, 'node_modules/@tensorflow/tfjs-backend-wasm/dist');
  const binaries = fs.readdirSync(wasmDist).filter((f) => /^tfjs-backend-wasm.*\.wasm$/.test(f));
  expect(binaries.length).toBeGreaterThan(0);
  for (const f of binaries) fs.copyFileSync(path.join(wasmDist, f), path.join(www, 'wasm', f));
  fs.writeFileSync(
    path.join(www, 'index.html'),
    '<!doctype html><html><head><meta charset="utf-8"><title>vit-tfjs</title></head>' +
      '<body><script type="module" src="../app.js"></script></body></html>\n',
  );
  await bundleDocsPage(consumer, www, binaries.map((f) => path.join(wasmDist, f)));
  server = await serve(www);
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await launchChromium();
}, 300_000);

/**
 * The docs' blocks fenced ```ts browser (README's Browser section), bundled as written from the consumer project into
 * one page that runs them in order: the wasm binaries at /tfjs-wasm/ and a CIFAR-10 test batch (the bundled sample's,
 * 500 images) at /cifar/test_batch.bin, where the blocks fetch them.
 */
async function bundleDocsPage(consumer: string, www: string, wasmBinaries: string[]): Promise<void> {
  const blocks = docFiles()
    .flatMap(snippetsOf)
    .filter((b) => b.browser);
  expect(blocks.length).toBeGreaterThan(0);
  const dir = path.join(consumer, 'browser', 'docs');
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  blocks.forEach((b, i) => fs.writeFileSync(path.join(dir, `block_${i}.ts`), snippetModule(b, (spec) => spec)));
  const entry = [
    ...blocks.map((_b, i) => `import block_${i} from './block_${i}';`),
    `const ids = ${JSON.stringify(blocks.map((b) => b.id))};`,
    `const blocks = [${blocks.map((_b, i) => `block_${i}`).join(', ')}];`,
    '(async () => {',
    '  for (let i = 0; i < blocks.length; i++) {',
    '    try { await blocks[i](); } catch (err) { throw new Error(`${ids[i]}: ${(err && err.stack) || err}`); }',
    '  }',
    '})().then(() => { window.__result = { ok: true, blocks: ids }; }, (err) => { window.__result = { ok: false, error: String(err.message) }; });',
  ].join('\n');
  fs.writeFileSync(path.join(dir, 'entry.ts'), entry);
  const bundle = await build({
    entryPoints: [path.join(dir, 'entry.ts')],
    absWorkingDir: consumer,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    outfile: path.join(www, 'docs.js'),
    logLevel: 'silent',
  });
  expect(bundle.errors).toEqual([]);
  fs.mkdirSync(path.join(www, 'tfjs-wasm'), { recursive: true });
  for (const f of wasmBinaries) fs.copyFileSync(f, path.join(www, 'tfjs-wasm', path.basename(f)));
  fs.mkdirSync(path.join(www, 'cifar'), { recursive: true });
  fs.copyFileSync(
    path.resolve(__dirname, '../../examples/cifar10/data/cifar-10-sample/cifar-10-batches-bin/test_batch.bin'),
    path.join(www, 'cifar', 'test_batch.bin'),
  );
  fs.writeFileSync(
    path.join(www, 'docs.html'),
    '<!doctype html><html><head><meta charset="utf-8"><title>vit-tfjs docs</title></head>' +
      '<body><script type="module" src="../docs.js"></script></body></html>\n',
  );
}

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
});

/**
 * Opens `path` in a fresh browser context (its own IndexedDB), waits until the page sets `window.__result`, and
 * returns it with the page's console output; a page that does not finish, or reports `ok: false`, fails with its log.
 */
async function openPage<T extends { ok: boolean; error?: string }>(path: string, timeout: number): Promise<{ result: T; log: string[]; seconds: number }> {
  const context = await (browser as Browser).newContext();
  const log: string[] = [];
  try {
    const page = await context.newPage();
    page.on('console', (msg) => log.push(`console.${msg.type()}: ${msg.text()}`));
    page.on('pageerror', (err) => log.push(`page error: ${err.message}`));
    const t0 = Date.now();
    await page.goto(`${origin}${path}`);
    let result: T;
    try {
      await page.waitForFunction(() => (window as unknown as { __result?: unknown }).__result !== undefined, null, { timeout, polling: 250 });
      result = (await page.evaluate(() => (window as unknown as { __result: unknown }).__result)) as T;
    } catch (err) {
      throw new Error(`the page ${path} did not finish: ${(err as Error).message}\n${log.join('\n')}`);
    }
    if (!result.ok) throw new Error(`the page ${path} failed: ${result.error}\n${log.join('\n')}`);
    return { result, log, seconds: (Date.now() - t0) / 1000 };
  } finally {
    await context.close();
  }
}

/** Runs the training page and returns what it reports. */
async function runPage(variant: 'isolated' | 'plain'): Promise<PageResult> {
  const { result } = await openPage<PageResult>(`/${variant}/`, 120_000);
  console.log(
    `browser test, ${variant} page (${result.userAgent}): ${result.imagesPerSecond.toFixed(1)} images/s ` +
      `(wall clock, ${result.timedSteps} AdamW steps of ${result.batch} images in ${result.seconds.toFixed(2)} s, ` +
      `after a warm-up step); crossOriginIsolated ${result.crossOriginIsolated}; SIMD kernels ready after ` +
      `${result.simdWaitMs} ms; ops ${JSON.stringify(result.opsAfterTraining)}; ` +
      `losses ${result.losses.map((l) => l.toFixed(4)).join(', ')}`,
  );
  return result;
}

function check(result: PageResult): void {
  expect(result.ops.backend).toBe('wasm');
  expect(result.ops.simdKernels).toBe(true);
  expect(result.opsAfterTraining.simdKernels).toBe(true);
  expect(result.params).toBeGreaterThan(800_000);
  expect(result.losses.every((l) => Number.isFinite(l))).toBe(true);
  expect(result.losses[result.losses.length - 1]).not.toBe(result.losses[0]);
  expect(result.imagesPerSecond).toBeGreaterThan(0);
  expect(result.stored).toContain('indexeddb://vit-tfjs-browser-test');
  expect(result.loadedLayers).toBe(result.modelLayers);
  expect(result.predictions).toBe(40);
  expect({ identical: result.identical, maxAbsDiff: result.maxAbsDiff }).toEqual({ identical: true, maxAbsDiff: 0 });
}

describe('the packed package in headless Chromium: vit-cifar-tiny trained on wasm with the SIMD kernels, saved to IndexedDB, reloaded with identical predictions', () => {
  it('on a plain page (the single-threaded wasm build)', async () => {
    const result = await runPage('plain');
    expect(result.crossOriginIsolated).toBe(false);
    check(result);
  }, 150_000);

  it('on a cross-origin isolated page (the threaded wasm build, shared memory)', async () => {
    const result = await runPage('isolated');
    expect(result.crossOriginIsolated).toBe(true);
    expect(result.opsAfterTraining.wasmThreaded).toBe(true);
    check(result);
  }, 150_000);
});

describe('the docs in the browser', () => {
  it('every ```ts browser block of README.md and docs/guide runs as written in Chromium', async () => {
    const { result, log, seconds } = await openPage<{ ok: boolean; error?: string; blocks?: string[] }>('/docs/', 240_000);
    console.log(`docs blocks ${result.blocks?.join(', ')} ran in Chromium in ${seconds.toFixed(1)} s:\n${log.join('\n')}`);
    expect(result.blocks?.length).toBeGreaterThan(0);
  }, 300_000);
});
