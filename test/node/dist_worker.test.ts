/**
 * The built package (dist/, made by `npm run build`; built here first when missing or stale, see
 * test/package/ensure-dist.cjs): `vit-tfjs/node` in both module formats starts DataParallelTrainer's worker script
 * from dist/ (found through `__filename` in CommonJS, `import.meta.url` in ESM) and shares one copy of `vit-tfjs`
 * with the caller (the global seed set through `vit-tfjs` makes two runs identical).
 */
import { execFileSync } from 'child_process';
import * as path from 'path';

const ROOT = path.resolve(__dirname, '../..');

beforeAll(() => {
  execFileSync(process.execPath, [path.join(ROOT, 'test/package/ensure-dist.cjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
}, 300_000);

/** A script that trains a small model for two data-parallel steps and prints the losses. */
function script(format: 'cjs' | 'mjs'): string {
  const load =
    format === 'cjs'
      ? "const tf = require('@tensorflow/tfjs-core'); const lib = require('vit-tfjs'); const node = require('vit-tfjs/node');"
      : "import * as tf from '@tensorflow/tfjs-core'; import * as lib from 'vit-tfjs'; import * as node from 'vit-tfjs/node';";
  const body = `
    const main = async () => {
      await node.selectBackend({ backend: 'cpu' });
      tf.enableProdMode();
      const losses = [];
      for (let run = 0; run < 2; run++) {
        lib.setGlobalSeed(9);
        const model = lib.createViTClassifier({ inputShape: [8, 8, 3], imageSize: 8, patchSize: 4, projectionDim: 8,
          numHeads: 2, keyDim: 4, transformerLayers: 1, mlpHeadUnits: [], numClasses: 3, normalization: false,
          representation: 'gap', augmentation: { flip: 'horizontal' }, mlpDropout: 0.3 });
        const trainer = await node.DataParallelTrainer.create(model, tf.train.sgd(0.1), { threads: 2 });
        const x = tf.randomUniform([6, 8, 8, 3], 0, 1, 'float32', 1);
        const y = tf.tensor1d([0, 1, 2, 0, 1, 2], 'int32');
        for (let i = 0; i < 2; i++) { const r = await trainer.step(x, y); r.outputs.dispose(); losses.push(r.loss); }
        await trainer.dispose();
      }
      console.log(JSON.stringify(losses));
    };
    main();`;
  return load + body;
}

function run(format: 'cjs' | 'mjs'): number[] {
  const args = format === 'mjs' ? ['--input-type=module', '-e', script(format)] : ['-e', script(format)];
  const out = execFileSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  return JSON.parse(out.trim().split('\n').pop() as string) as number[];
}

describe('dist: vit-tfjs/node with worker threads', () => {
  it('runs DataParallelTrainer from dist/node.cjs and dist/node.mjs, reproducibly and alike', () => {
    const cjs = run('cjs');
    const mjs = run('mjs');
    expect(cjs).toHaveLength(4);
    cjs.forEach((l) => expect(Number.isFinite(l)).toBe(true));
    // Same seed, same thread count: the second run repeats the first exactly; the second step differs from the
    // first (the weights moved).
    expect(cjs.slice(2)).toEqual(cjs.slice(0, 2));
    expect(cjs[1]).not.toBe(cjs[0]);
    // Both formats run the same code from the same seed.
    expect(mjs).toEqual(cjs);
  });
});
