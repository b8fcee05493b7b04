import { defineConfig } from 'tsup';

export default defineConfig({
  entry: {
    index: 'src/index.ts',
    node: 'src/node/index.ts',
    // The worker thread of DataParallelTrainer, started from dist/node.* by file name.
    'parallel-worker': 'src/node/parallel/worker.ts',
  },
  format: ['esm', 'cjs'],
  dts: { compilerOptions: { types: ['node'] } },
  tsconfig: 'tsconfig.build.json',
  sourcemap: true,
  clean: true,
  // __filename / __dirname in the ESM build (DataParallelTrainer finds its worker script next to itself).
  shims: true,
  target: 'es2020',
  // The tfjs packages are peers; tfjs-node and the wasm backend are loaded at run time when present.
  external: [/^@tensorflow\//, 'vit-tfjs', /^tsx\//],
  outExtension({ format }) {
    return { js: format === 'esm' ? '.mjs' : '.cjs' };
  },
});
