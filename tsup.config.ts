import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    node: 'src/node/index.ts',
    // The worker thread of DataParallelTrainer, started from dist/node.* by file name.
    'parallel-worker': 'src/node/parallel/worker.ts',
  },
  format: ['esm', 'cjs'],
  // Declarations for the two public entries only (the worker script is no API).
  dts: { entry: { index: 'src/index.ts', node: 'src/node/index.ts' }, compilerOptions: { types: ['node'] } },
  tsconfig: 'tsconfig.build.json',
  sourcemap: true,
  clean: true,
  // No `__filename` shim: in the ESM build it lands in a chunk shared with dist/index.mjs and imports Node's `path`
  // and `url` there, which breaks browser bundles. DataParallelTrainer finds its worker through `import.meta.url`.
  shims: false,
  target: 'es2020',
  // The tfjs packages are peers; tfjs-node and the wasm backend are loaded at run time when present.
  external: [/^@tensorflow\//, 'vit-tfjs', /^tsx\//],
  esbuildOptions(options, { format }) {
    // The CommonJS build finds its own file through `__filename`; its `import.meta.url` branch is never taken.
    if (format === 'cjs') options.define = { ...options.define, 'import.meta.url': 'undefined' };
  },
  outExtension({ format }) {
    return { js: format === 'esm' ? '.mjs' : '.cjs' };
  },
});
