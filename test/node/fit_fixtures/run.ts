/**
 * A small fitViT run with a checkpoint folder, for the kill-and-resume tests (test/node/checkpoint_store.test.ts).
 * Run as a script (`node --import tsx run.ts`), it reads its settings from the environment:
 *   FIT_DIR (required): the run's folder; its checkpoint is FIT_DIR/checkpoint, its result FIT_DIR/result.json;
 *   FIT_EPOCHS (default 3); FIT_THREADS (default 1);
 *   FIT_KILL_AFTER_OP=k: SIGKILLs this process right after its k-th file operation (1-based, counted from the
 *     start of training: every fs.promises call and every write, sync and close of a file handle);
 *   FIT_KILL_AFTER_STEP=s: SIGKILLs it after the s-th optimizer step (counted over the whole run).
 * Every file operation is logged (name, path) in result.json, with the op count at the end of each checkpoint save.
 */
import * as fsSync from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

tf.enableProdMode();
import { createViTClassifier, evaluate, fitViT, setGlobalSeed, type FitHistory } from '../../../src/index';
import { dataParallelTrainer, fileCheckpointStore } from '../../../src/node/index';

/** What a run ends with (compared between runs). */
export interface FixtureResult {
  history: FitHistory['history'];
  status: string;
  bestEpoch: number;
  bestValue: number;
  /** The model's weights at the end (the best epoch's, restored), base64 of their float32 bytes. */
  weights: string[];
  test: { loss: number; accuracy: number; topKAccuracy: number; confusionMatrix: number[][] };
  initialEpoch: number;
}

const SIZE = 8;
const CLASSES = 3;

/** Deterministic images and labels (no randomness of the library involved). */
function makeData(n: number, offset: number): { images: Uint8Array; labels: Uint8Array; shape: number[] } {
  const images = new Uint8Array(n * SIZE * SIZE * 3);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const label = (i * 7 + offset) % CLASSES;
    labels[i] = label;
    for (let p = 0; p < SIZE * SIZE * 3; p++) {
      // Class-dependent brightness per channel plus a pattern: learnable, not trivial.
      images[i * SIZE * SIZE * 3 + p] = (40 + 70 * ((label + (p % 3)) % CLASSES) + ((p * 13 + i * 29 + offset) % 61)) & 255;
    }
  }
  return { images, labels, shape: [n, SIZE, SIZE, 3] };
}

/** The tiny model of the tests: the tiny preset (augmentation and dropout draw from the global generator), 8×8 images. */
export function makeModel() {
  return createViTClassifier({
    preset: 'vit-cifar-tiny',
    inputShape: [SIZE, SIZE, 3],
    imageSize: SIZE,
    patchSize: 4,
    projectionDim: 8,
    numHeads: 2,
    transformerLayers: 1,
    numClasses: CLASSES,
    mlpDropout: 0.1,
  });
}

/** Runs (or resumes) the fixture's training in `dir` and returns its result. */
export async function runFixture(
  dir: string,
  options: { epochs?: number; threads?: number; onStep?: (step: number) => void; onSaved?: () => void } = {},
): Promise<FixtureResult> {
  await tf.setBackend('cpu');
  await tf.ready();
  setGlobalSeed(11);
  const model = makeModel();
  const train = makeData(36, 0);
  const test = makeData(12, 5);
  const store = fileCheckpointStore(path.join(dir, 'checkpoint'));
  if (options.onSaved != null) {
    const save = store.save.bind(store);
    store.save = async (c) => {
      await save(c);
      options.onSaved!();
    };
  }
  let steps = 0;
  const history = await fitViT(model, train, {
    epochs: options.epochs ?? 3,
    batchSize: 8,
    microBatchSize: 4,
    validationSplit: 0.25,
    seed: 3,
    learningRate: 0.01,
    bestWeights: { monitor: 'val_loss' },
    checkpoint: store,
    resume: 'auto',
    trainer: dataParallelTrainer({ threads: options.threads ?? 1 }),
    callbacks: { onBatchEnd: () => options.onStep?.(++steps) },
  });
  const t = await evaluate(model, test, { batchSize: 5, topK: 2 });
  const weights = model.weights.map((w) => Buffer.from((w.read().dataSync() as Float32Array).buffer).toString('base64'));
  model.dispose();
  return {
    history: history.history,
    status: history.status,
    bestEpoch: history.bestEpoch,
    bestValue: history.bestValue,
    weights,
    test: { loss: t.loss, accuracy: t.accuracy, topKAccuracy: t.topKAccuracy, confusionMatrix: t.confusionMatrix },
    initialEpoch: history.initialEpoch,
  };
}

/** Counts file operations (and kills the process after the k-th one when asked). */
function installOpHook(killAfter: number | null, log: string[]): void {
  const fsp = fsSync.promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
  const count = (name: string, target: unknown) => {
    log.push(`${name} ${String(target)}`);
    if (killAfter != null && log.length >= killAfter) process.kill(process.pid, 'SIGKILL');
  };
  for (const name of ['mkdir', 'rm', 'rmdir', 'rename', 'unlink', 'writeFile', 'copyFile', 'appendFile', 'truncate']) {
    const original = fsp[name];
    if (typeof original !== 'function') continue;
    fsp[name] = async (...args: unknown[]) => {
      const r = await original.apply(fsSync.promises, args);
      count(name, args[0]);
      return r;
    };
  }
  const open = fsp.open;
  fsp.open = async (...args: unknown[]) => {
    const handle = (await open.apply(fsSync.promises, args)) as Record<string, (...a: unknown[]) => Promise<unknown>>;
    count('open', args[0]);
    for (const m of ['write', 'writeFile', 'sync', 'datasync', 'close', 'truncate']) {
      const orig = handle[m];
      if (typeof orig !== 'function') continue;
      handle[m] = async (...a: unknown[]) => {
        const r = await orig.apply(handle, a);
        count(`handle.${m}`, args[0]);
        return r;
      };
    }
    return handle;
  };
}

if (require.main === module) {
  const dir = process.env.FIT_DIR;
  if (!dir) throw new Error('FIT_DIR is not set');
  const killOp = process.env.FIT_KILL_AFTER_OP ? Number(process.env.FIT_KILL_AFTER_OP) : null;
  const killStep = process.env.FIT_KILL_AFTER_STEP ? Number(process.env.FIT_KILL_AFTER_STEP) : null;
  const ops: string[] = [];
  const saves: number[] = [];
  installOpHook(killOp, ops);
  runFixture(dir, {
    epochs: Number(process.env.FIT_EPOCHS ?? 3),
    threads: Number(process.env.FIT_THREADS ?? 1),
    onStep: (s) => {
      if (s === killStep) process.kill(process.pid, 'SIGKILL');
    },
    onSaved: () => saves.push(ops.length),
  }).then(
    (result) => {
      fsSync.writeFileSync(path.join(dir, 'result.json'), JSON.stringify({ ...result, ops, saves }));
    },
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
