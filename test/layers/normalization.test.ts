import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as zlib from 'zlib';

import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';

import { Normalization, normalization } from '../../src/layers/normalization';
import { fileIO } from '../../src/node/file_io';
import { describeBackends, expectNoTensorLeak, onEachBackend } from '../helpers/backends';

/** Float64 mean and population variance per channel (last axis) by direct two-pass sums. */
function refMoments(values: ArrayLike<number>, c: number): { mean: number[]; variance: number[] } {
  const n = values.length / c;
  const mean = new Array<number>(c).fill(0);
  for (let i = 0; i < values.length; i++) mean[i % c] += values[i];
  for (let k = 0; k < c; k++) mean[k] /= n;
  const variance = new Array<number>(c).fill(0);
  for (let i = 0; i < values.length; i++) variance[i % c] += (values[i] - mean[i % c]) ** 2;
  return { mean, variance: variance.map((v) => v / n) };
}

function relErr(a: number, b: number): number {
  return Math.abs(a - b) / Math.max(Math.abs(b), 1e-30);
}

/** Values with a large offset (1e4) and small spread: naive Σx² − (Σx)² loses digits here. */
function offsetData(n: number, c: number): Float64Array {
  return Float64Array.from({ length: n * c }, (_, i) => 1e4 * ((i % c) + 1) + Math.sin(i * 0.37) * (1 + (i % c)));
}

describeBackends('Normalization', () => {
  it('adapt over streamed batches (sync and async iterables, uneven sizes) equals the float64 statistics', async () => {
    const [n, c] = [1000, 3];
    const all = offsetData(n, c);
    const ref = refMoments(all, c);
    const sizes = [1, 7, 300, 692];
    const batches = (): { data: Float64Array; shape: number[] }[] => {
      let off = 0;
      return sizes.map((s) => {
        const b = { data: all.subarray(off * c, (off + s) * c), shape: [s, c] };
        off += s;
        return b;
      });
    };
    async function* gen() {
      for (const b of batches()) yield b;
    }
    for (const source of [batches(), gen()]) {
      const layer = normalization();
      await layer.adapt(source);
      const { mean, variance, count } = layer.getStatistics();
      expect(count).toBe(n);
      for (let k = 0; k < c; k++) {
        // float32 storage of the result limits the comparison to ~6e-8 relative
        expect(relErr(mean[k], ref.mean[k])).toBeLessThan(1e-6);
        expect(relErr(variance[k], ref.variance[k])).toBeLessThan(1e-6);
      }
    }
  });

  it('adapts on a tensor and on uint8 [N, H, W, C] batches; applies Keras formula (x − mean) / max(√var, 1e-7)', async () => {
    const u8 = Uint8Array.from({ length: 10 * 4 * 4 * 3 }, (_, i) => (i * 37 + (i >> 3)) % 256);
    const ref = refMoments(u8, 3);
    const layer = normalization();
    await layer.adapt([{ data: u8.subarray(0, 4 * 48), shape: [4, 4, 4, 3] }, { data: u8.subarray(4 * 48), shape: [6, 4, 4, 3] }]);
    const t = tf.tensor4d(Array.from(u8), [10, 4, 4, 3]);
    const layer2 = normalization();
    await layer2.adapt(t);
    for (const l of [layer, layer2]) {
      const s = l.getStatistics();
      for (let k = 0; k < 3; k++) expect(relErr(s.variance[k], ref.variance[k])).toBeLessThan(1e-6);
    }
    const out = (layer.apply(t) as tf.Tensor).dataSync();
    const s = layer.getStatistics();
    for (let i = 0; i < 60; i++) expect(out[i]).toBeCloseTo((u8[i] - s.mean[i % 3]) / Math.sqrt(s.variance[i % 3]), 4);
    // zero variance: divides by epsilon 1e-7, not by 0; invert multiplies back
    const z = normalization({ mean: [1, 2], variance: [0, 4] });
    const zo = (z.apply(tf.tensor2d([[1.5, 6]])) as tf.Tensor).dataSync();
    expect(zo[0]).toBeCloseTo(0.5 / 1e-7, -1);
    expect(zo[1]).toBeCloseTo(2, 6);
    const inv = normalization({ mean: [1, 2], variance: [9, 4], invert: true });
    expect(Array.from((inv.apply(tf.tensor2d([[1, -1]])) as tf.Tensor).dataSync())).toEqual([4, 0]);
    t.dispose();
    await expectNoTensorLeak(() => tf.tidy(() => layer.apply(tf.ones([2, 4, 4, 3])) as tf.Tensor).dispose());
  });

  it('supports axis null (global) and a non-last axis', async () => {
    const data = offsetData(40, 3);
    const g = normalization({ axis: null });
    await g.adapt({ data, shape: [40, 3] });
    const all = refMoments(data, 1);
    expect(relErr(g.getStatistics().mean[0], all.mean[0])).toBeLessThan(1e-6);
    expect(relErr(g.getStatistics().variance[0], all.variance[0])).toBeLessThan(1e-6);
    // axis 1 of [N, 3, 2]: statistics per row index, over N and the last axis
    const a = normalization({ axis: 1 });
    const d = Float64Array.from({ length: 40 * 6 }, (_, i) => Math.floor(i / 2) % 3 * 10 + (i % 7));
    await a.adapt({ data: d, shape: [40, 3, 2] });
    for (let r = 0; r < 3; r++) {
      const vals: number[] = [];
      for (let i = 0; i < d.length; i++) if (Math.floor(i / 2) % 3 === r) vals.push(d[i]);
      const m = refMoments(vals, 1);
      expect(relErr(a.getStatistics().mean[r], m.mean[0])).toBeLessThan(1e-6);
      expect(relErr(a.getStatistics().variance[r], m.variance[0])).toBeLessThan(1e-6);
    }
  });

  it('has 7 non-trainable params for 3 channels and save → load restores the adapted statistics', async () => {
    const layer = normalization({ name: 'norm' });
    const input = tfl.input({ shape: [4, 4, 3] });
    const model = tfl.model({ inputs: input, outputs: layer.apply(input) as tfl.SymbolicTensor });
    await layer.adapt({ data: offsetData(32, 3), shape: [2, 4, 4, 3] });
    expect(model.countParams()).toBe(7);
    expect(layer.trainableWeights.length).toBe(0);
    let saved: tf.io.ModelArtifacts | undefined;
    await model.save(tf.io.withSaveHandler(async (a) => ((saved = a), { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } })));
    const loaded = await tfl.loadLayersModel(tf.io.fromMemory(saved as tf.io.ModelArtifacts));
    const norm = loaded.getLayer('norm') as Normalization;
    expect(norm).toBeInstanceOf(Normalization);
    expect(norm.getStatistics()).toEqual(layer.getStatistics());
    const x = tf.randomUniform([2, 4, 4, 3], 0, 3e4);
    expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
    // on disk, through the library's fileIO handler
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vit-norm-'));
    try {
      await model.save(fileIO(dir));
      const fromDisk = await tfl.loadLayersModel(fileIO(dir));
      expect((fromDisk.getLayer('norm') as Normalization).getStatistics()).toEqual(layer.getStatistics());
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    x.dispose();
  });

  it('rejects bad arguments', async () => {
    expect(() => normalization({ mean: [1] })).toThrow(/mean and variance/);
    expect(() => normalization({ mean: [1], variance: [-1] })).toThrow(/variance/);
    expect(() => normalization({ axis: 1.5 })).toThrow(/^Normalization: axis/);
    await expect(normalization().adapt(42 as never)).rejects.toThrow(/^Normalization: adapt/);
    await expect(normalization().adapt({ data: new Uint8Array(5), shape: [2, 3] })).rejects.toThrow(/shape/);
    await expect(normalization().adapt([{ data: new Uint8Array(6), shape: [2, 3] }, { data: new Uint8Array(8), shape: [2, 4] }])).rejects.toThrow(/^Normalization: adapt .*inconsistent/);
  });
});

it('Normalization: cpu and wasm agree', async () => {
  const r = await onEachBackend(async () => {
    const l = normalization({ mean: [100, 120, 110], variance: [3000, 2500, 4000] });
    return tf.tidy(() => Array.from((l.apply(tf.tensor2d([[0, 255, 128], [17, 3, 250]])) as tf.Tensor).dataSync()));
  });
  expect(r.cpu).toEqual(r.wasm);
});

// ---------------------------------------------------------------------------------------------------------------
// Full CIFAR-10 training set, read with an independent minimal tar.gz reader (zlib + 512-byte tar headers).
const CIFAR = path.resolve(__dirname, '../../../shared/datasets/cifar-10-binary.tar.gz');
const haveCifar = fs.existsSync(CIFAR);
if (!haveCifar) console.warn(`skipping the CIFAR-10 adapt test: ${CIFAR} is absent`);

function readTarGz(file: string): Map<string, Buffer> {
  const tar = zlib.gunzipSync(fs.readFileSync(file));
  const out = new Map<string, Buffer>();
  let off = 0;
  while (off + 512 <= tar.length) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    out.set(name, tar.subarray(off + 512, off + 512 + size));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

(haveCifar ? it : it.skip)('adapt on the full CIFAR-10 training set (batches of 1000 uint8 images) equals float64 statistics', async () => {
  const files = readTarGz(CIFAR);
  const names = [1, 2, 3, 4, 5].map((i) => [...files.keys()].find((k) => k.endsWith(`data_batch_${i}.bin`)) as string);
  // reference: exact integer sums (Σx and Σx² < 2^53) per channel over the planar records
  const sum = [0, 0, 0];
  const sq = [0, 0, 0];
  let images = 0;
  for (const name of names) {
    const buf = files.get(name) as Buffer;
    for (let r = 0; r < buf.length; r += 3073) {
      for (let ch = 0; ch < 3; ch++) {
        const base = r + 1 + ch * 1024;
        for (let p = 0; p < 1024; p++) {
          const v = buf[base + p];
          sum[ch] += v;
          sq[ch] += v * v;
        }
      }
      images++;
    }
  }
  expect(images).toBe(50000);
  const n = images * 1024;
  const refMean = sum.map((s) => s / n);
  const refVar = sq.map((s, k) => s / n - refMean[k] * refMean[k]);
  function* batches() {
    for (const name of names) {
      const buf = files.get(name) as Buffer;
      for (let start = 0; start < 10000; start += 1000) {
        const hwc = new Uint8Array(1000 * 3072); // [1000, 32, 32, 3]
        for (let i = 0; i < 1000; i++) {
          const rec = (start + i) * 3073 + 1;
          for (let p = 0; p < 1024; p++) for (let ch = 0; ch < 3; ch++) hwc[i * 3072 + p * 3 + ch] = buf[rec + ch * 1024 + p];
        }
        yield { data: hwc, shape: [1000, 32, 32, 3] };
      }
    }
  }
  const layer = normalization();
  await layer.adapt(batches());
  const s = layer.getStatistics();
  console.log(`CIFAR-10 train channel means ${Array.from(s.mean).map((v) => v.toFixed(4))}, variances ${Array.from(s.variance).map((v) => v.toFixed(4))}; float64 ${refMean.map((v) => v.toFixed(6))} / ${refVar.map((v) => v.toFixed(6))}`);
  expect(s.count).toBe(n);
  for (let k = 0; k < 3; k++) {
    expect(relErr(s.mean[k], refMean[k])).toBeLessThan(1e-6);
    expect(relErr(s.variance[k], refVar[k])).toBeLessThan(1e-6);
  }
  // the official data's channel means are ≈ 125.3, 122.9, 113.9
  expect(Math.abs(refMean[0] - 125.3)).toBeLessThan(0.1);
  expect(Math.abs(refMean[1] - 122.9)).toBeLessThan(0.1);
  expect(Math.abs(refMean[2] - 113.9)).toBeLessThan(0.1);
});
