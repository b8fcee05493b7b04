/**
 * fitViT in Node: the data-parallel trainer (two threads: the same update as the float64 whole-batch reference),
 * the progress bar (drawn on a terminal, silent otherwise) and fitViTNode's defaults.
 */
import { PassThrough } from 'stream';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fitViT, sparseCategoricalAccuracy } from '../../src/index';
import { dataParallelTrainer, fitViTNode, progressBar } from '../../src/node/index';
import { useBackend } from '../helpers/backends';
import { type Linear, batchGradient, clone } from '../training/fit_reference';

const D = 3;
const C = 3;
const N = 10;
const XS = Array.from({ length: N }, (_, n) => Array.from({ length: D }, (_, i) => (((n * 5 + i * 4) % 9) - 4) / 3));
const YS = Array.from({ length: N }, (_, n) => (n * 2 + 1) % C);
const START: Linear = {
  W: Array.from({ length: D }, (_, i) => Array.from({ length: C }, (_, j) => 0.3 * Math.sin(i * 2 + j * 3 + 0.7))),
  b: [0.11, -0.07, 0.03],
};

function linearModel(): tfl.LayersModel {
  const model = tfl.sequential({ layers: [tfl.layers.dense({ units: C, inputShape: [D] })] });
  model.setWeights([tf.tensor2d(START.W), tf.tensor1d(START.b)]);
  return model;
}

const data = () => ({ images: Float32Array.from(XS.flat()), labels: YS, shape: [N, D] });

/** A stream that says it is a terminal, collecting what is written. */
function fakeTerminal(): { stream: NodeJS.WriteStream; text: () => string } {
  const s = new PassThrough() as unknown as NodeJS.WriteStream & PassThrough;
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  Object.assign(s, { isTTY: true, columns: 200, rows: 40, cursorTo: () => true, clearLine: () => true, moveCursor: () => true });
  return { stream: s, text: () => text };
}

beforeAll(async () => {
  await useBackend('cpu');
});

describe('dataParallelTrainer', () => {
  it('two threads: the same weights as the float64 whole-batch SGD reference', async () => {
    const model = linearModel();
    const history = await fitViT(model, data(), {
      epochs: 2,
      batchSize: 5,
      shuffle: false,
      optimizer: tf.train.sgd(0.4),
      metrics: [sparseCategoricalAccuracy],
      trainer: dataParallelTrainer({ threads: 2 }),
    });
    expect(history.threads).toBe(2);
    const p = clone(START);
    const losses: number[] = [];
    for (let e = 0; e < 2; e++) {
      let sum = 0;
      for (let s = 0; s < N; s += 5) {
        const g = batchGradient(p, XS.slice(s, s + 5), YS.slice(s, s + 5));
        sum += g.loss * 5;
        p.W.forEach((row, i) => row.forEach((_, j) => (row[j] -= 0.4 * g.dW[i][j])));
        p.b.forEach((_, j) => (p.b[j] -= 0.4 * g.db[j]));
      }
      losses.push(sum / N);
    }
    const [W, b] = model.getWeights().map((w) => w.arraySync()) as [number[][], number[]];
    W.flat().forEach((v, i) => expect(Math.abs(v - p.W.flat()[i])).toBeLessThan(1e-5));
    b.forEach((v, i) => expect(Math.abs(v - p.b[i])).toBeLessThan(1e-5));
    history.history.loss.forEach((v, i) => expect(Math.abs(v - losses[i])).toBeLessThan(1e-5));
    model.dispose();
  }, 120_000);

  it('refuses a loss of its own on several threads, and a bad thread count, naming the option', async () => {
    expect(() => dataParallelTrainer({ threads: 0 })).toThrow(/threads must be a positive integer or 'auto'/);
    const model = linearModel();
    const loss = function zeroLoss(y: tf.Tensor, p: tf.Tensor) {
      return tf.sum(tf.mul(p, 0), -1);
    };
    await expect(fitViT(model, data(), { loss, trainer: dataParallelTrainer({ threads: 2 }) })).rejects.toThrow(
      /the loss 'zeroLoss' cannot be sent to worker threads: with threads > 1 use one of the library's losses/,
    );
    model.dispose();
  });
});

describe('progressBar', () => {
  it('is off when the stream is not a terminal, unless enabled', () => {
    const plain = new PassThrough() as unknown as NodeJS.WriteStream;
    expect(progressBar({ stream: plain })).toBeUndefined();
    expect(progressBar({ stream: fakeTerminal().stream, enabled: false })).toBeUndefined();
    expect(progressBar({ stream: fakeTerminal().stream })).toBeDefined();
  });

  it('draws each epoch with the steps, running loss and metrics, images per second and ETA', async () => {
    const term = fakeTerminal();
    const model = linearModel();
    await fitViT(model, data(), { epochs: 2, batchSize: 4, optimizer: tf.train.sgd(0.1), progress: progressBar({ stream: term.stream }) });
    const text = term.text();
    expect(text).toMatch(/Epoch 1\/2 \[[^\]]*\] 3\/3 \| loss \d+\.\d{4} \| acc \d\.\d{4} \| top-5 1\.0000 \| [\d.]+ img\/s \| ETA /);
    expect(text).toMatch(/Epoch 2\/2 \[[^\]]*\] 3\/3 /);
    model.dispose();
  });
});

describe('fitViTNode', () => {
  it('trains with Node defaults (no progress bar off a terminal) and takes a checkpoint path', async () => {
    const os = await import('os');
    const fs = await import('fs');
    const path = await import('path');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vit-fitnode-'));
    const model = linearModel();
    const h = await fitViTNode(model, data(), { epochs: 1, batchSize: 5, threads: 1, optimizer: tf.train.sgd(0.1), checkpoint: path.join(dir, 'ckpt') });
    expect(h.threads).toBe(1);
    expect(fs.readdirSync(path.join(dir, 'ckpt')).sort()).toEqual(['model.json', 'optimizer.bin', 'state.json', 'weights.bin']);
    model.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
