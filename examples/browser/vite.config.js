// Vite config of the browser example. A small plugin serves (dev) and emits (build) the files the page fetches
// without copying them into the repository: the CIFAR-10 sample batches bundled with examples/cifar10 under
// /cifar/, and tfjs-backend-wasm's .wasm binaries under /tfjs-wasm/. Pages are served cross-origin isolated
// (COOP/COEP), so that the wasm backend may load its threaded build.
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as path from 'node:path';
import { URL, fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const CIFAR_DIR = path.resolve(here, '../cifar10/data/cifar-10-sample/cifar-10-batches-bin');
const CIFAR_FILES = ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'test_batch.bin'];
const WASM_DIR = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
const WASM_FILES = fs.readdirSync(WASM_DIR).filter((f) => /^tfjs-backend-wasm.*\.wasm$/.test(f));

/** URL path → file on disk, for everything the plugin provides. */
const STATIC = new Map([
  ...CIFAR_FILES.map((f) => [`cifar/${f}`, path.join(CIFAR_DIR, f)]),
  ...WASM_FILES.map((f) => [`tfjs-wasm/${f}`, path.join(WASM_DIR, f)]),
]);

const ISOLATION = {
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Embedder-Policy': 'require-corp',
};

function sampleData() {
  return {
    name: 'vit-tfjs-sample-data',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const rel = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname).replace(/^\/+/, '');
        const file = STATIC.get(rel);
        if (!file) return next();
        res.setHeader('Content-Type', rel.endsWith('.wasm') ? 'application/wasm' : 'application/octet-stream');
        for (const [k, v] of Object.entries(ISOLATION)) res.setHeader(k, v);
        fs.createReadStream(file).pipe(res);
      });
    },
    generateBundle() {
      for (const [fileName, file] of STATIC) this.emitFile({ type: 'asset', fileName, source: fs.readFileSync(file) });
    },
  };
}

export default defineConfig({
  base: './',
  plugins: [sampleData()],
  worker: { format: 'es' },
  build: { target: 'es2022', chunkSizeWarningLimit: 4000 },
  server: { headers: ISOLATION },
  preview: { headers: ISOLATION },
});
