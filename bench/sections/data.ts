/**
 * CIFAR-10 data loading: wall time and peak RSS of `loadCifar10` on the full official binary archive (streamed:
 * gunzip + tar, no unpacking) and on its unpacked directory (unpacked into a temp folder here), each measured in a
 * fresh child process so that the peak RSS is the loader's own (`process.resourceUsage().maxRSS`); then the
 * throughput of the lazy batching (`batchTensors`, shuffled, float32 NHWC + int32 labels) at batch 256 per backend.
 * Needs ../shared/datasets/cifar-10-binary.tar.gz (skipped with a message otherwise).
 */
import { execFileSync } from 'child_process';
import { existsSync, mkdtempSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { BenchContext } from '../context';
import { batchTensors } from '../../src/data/dataset';
import { loadCifar10 } from '../../src/node/data/load_cifar';

const ROOT = path.resolve(__dirname, '..', '..');
const ARCHIVE = path.resolve(ROOT, '..', 'shared', 'datasets', 'cifar-10-binary.tar.gz');

interface LoadResult {
  ms: number;
  maxRssMB: number;
  train: number;
  test: number;
}

function measureLoadInChild(source: string): LoadResult {
  const loader = path.join(ROOT, 'src', 'node', 'data', 'load_cifar.ts');
  const script = `
    const { loadCifar10 } = require(${JSON.stringify(loader)});
    const t0 = performance.now();
    loadCifar10({ source: ${JSON.stringify(source)} }).then((d) => {
      const ms = performance.now() - t0;
      process.stdout.write(JSON.stringify({ ms, maxRssMB: process.resourceUsage().maxRSS / 1024,
        train: d.train.shape[0], test: d.test.shape[0] }));
    }, (e) => { console.error(e); process.exit(1); });`;
  const out = execFileSync(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: ROOT, encoding: 'utf8' });
  return JSON.parse(out) as LoadResult;
}

export default async function run(ctx: BenchContext): Promise<void> {
  if (!existsSync(ARCHIVE)) {
    ctx.log(`data: skipped, ${ARCHIVE} not found`);
    return;
  }
  const tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-bench-data-'));
  try {
    const a = measureLoadInChild(ARCHIVE);
    const details = { train: a.train, test: a.test, imagesMB: ((a.train + a.test) * 3072) / 2 ** 20 };
    ctx.report({ section: 'data', name: 'loadCifar10 binary archive (.tar.gz, streamed) time', value: a.ms, unit: 'ms', details });
    ctx.report({ section: 'data', name: 'loadCifar10 binary archive (.tar.gz, streamed) peak RSS', value: a.maxRssMB, unit: 'MB', details });
    execFileSync('tar', ['-xzf', ARCHIVE, '-C', tmp]);
    const d = measureLoadInChild(tmp);
    ctx.report({ section: 'data', name: 'loadCifar10 unpacked directory time', value: d.ms, unit: 'ms', details });
    ctx.report({ section: 'data', name: 'loadCifar10 unpacked directory peak RSS', value: d.maxRssMB, unit: 'MB', details });

    const data = await loadCifar10({ source: tmp });
    for (const backend of ctx.backends) {
      await ctx.useBackend(backend);
      const batches = ctx.quick ? 20 : 195; // 195 × 256 ≈ one epoch of 50,000
      const t0 = performance.now();
      let n = 0;
      let b = 0;
      for (const { xs, ys } of batchTensors(data.train, { batchSize: 256, shuffle: true, seed: 1, normalize: 'unit' })) {
        n += xs.shape[0];
        tf.dispose([xs, ys]);
        if (++b >= batches) break;
      }
      const s = (performance.now() - t0) / 1000;
      ctx.report({
        section: 'data',
        name: 'batchTensors batch 256 (shuffled, unit-scaled float32)',
        value: n / s,
        unit: 'images/s',
        backend,
        details: { batches: b },
      });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
