/**
 * The training run: the Keras "ViT on CIFAR-10" recipe with vit-tfjs, in an epoch loop of its own so that a run
 * is reproducible from one seed and resumable exactly from its last checkpoint.
 *
 * Why not `model.fit`: its per-epoch shuffle uses `Math.random`, which cannot be seeded or saved. Here the
 * shuffle comes from a seeded `RandomGenerator` and the model's randomness (weight initialization, dropout masks,
 * augmentation draws) from the library's global generator; both generators' states go into every checkpoint, with
 * the weights and the optimizer's state.
 */
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { SingleBar } from 'cli-progress';
import {
  AdamW,
  CIFAR_IMAGE_BYTES,
  type CifarSplit,
  Normalization,
  RandomGenerator,
  RandomState,
  type ResolvedViTOptions,
  ViTClassifierOptions,
  ViTPresetName,
  acceptSparseLabels,
  createViTClassifier,
  globalRandom,
  resolveViTOptions,
  setGlobalSeed,
  sparseCategoricalAccuracy,
  sparseCategoricalCrossentropyFromLogits,
  sparseTopKAccuracy,
} from 'vit-tfjs';
import { BackendRequest, DataParallelTrainer, defaultThreadCount, fileIO, selectBackend, writeFileAtomic } from 'vit-tfjs/node';
import { loadData, takeFirst } from './data';
import { History, confusionSvg, curvesSvg, patchFigure } from './figures';

/** Everything a run is configured by (the CLI's options). */
export interface TrainConfig {
  data: string;
  preset: ViTPresetName;
  /** Overrides of the preset's options (`--model-options`). */
  modelOptions: ViTClassifierOptions;
  epochs: number;
  batchSize: number;
  /**
   * Largest number of images run forward and backward at once; a larger batch sums the gradients of micro-batches
   * before one optimizer step (`trainStep`). Default without tfjs-node (the wasm heap stops at 4 GiB): 32 for
   * `keras-cifar10`, 64 for the compact presets; with tfjs-node, the whole batch.
   */
  microBatchSize?: number;
  /**
   * Threads that share each batch (`DataParallelTrainer`): `'auto'` (default) uses every core with the wasm and cpu
   * backends, which run one thread each in Node, and 1 with tfjs-node, which uses every core itself.
   */
  threads?: number | 'auto';
  learningRate: number;
  weightDecay: number;
  validationSplit: number;
  backend: BackendRequest;
  out: string;
  resume: boolean;
  limitTrain?: number;
  limitTest?: number;
  seed: number;
  /** Show a progress bar (on a terminal). */
  progress: boolean;
}

/** Where the run's messages go. */
export interface Reporter {
  log(line: string): void;
  warn(line: string): void;
}

/** Set `requested` to stop the run after the current batch (Ctrl-C). */
export interface StopSignal {
  requested: boolean;
}

/** What a run ends with. */
export interface RunResult {
  /** `'done'`, or `'interrupted'` when stopped before the last epoch. */
  status: 'done' | 'interrupted';
  history: History;
  /** Test metrics of the best-validation-accuracy weights (when done). */
  test?: { loss: number; accuracy: number; top5Accuracy: number; bestEpoch: number };
  /** Epochs completed (and checkpointed). */
  epochsDone: number;
}

/** The checkpoint folder's state file. */
interface CheckpointState {
  version: 1;
  /** Number of completed epochs. */
  epoch: number;
  /** The settings that must not change on resume. */
  settings: Record<string, unknown>;
  history: History;
  rng: { global: RandomState; shuffle: RandomState };
  best: { epoch: number; value: number };
  optimizer: { specs: tf.io.WeightsManifestEntry[] };
  /** Threads the run trained on (absent: 1); the random draws depend on it. */
  threads?: number;
}

/** File and folder names inside `--out`. */
export const OUT = {
  history: 'history.json',
  bestModel: 'best-model',
  checkpoint: 'checkpoint',
  curves: 'training_curves.svg',
  patches: 'patches.png',
  confusionSvg: 'confusion_matrix.svg',
  confusionJson: 'confusion_matrix.json',
  testMetrics: 'test_metrics.json',
} as const;

const METRIC_KEYS = ['loss', 'accuracy', 'top-5-accuracy'] as const;

/** A user-facing error: the CLI prints its message as one line. */
export class UsageError extends Error {}

function settingsOf(cfg: TrainConfig, counts: { train: number; val: number }): Record<string, unknown> {
  return {
    data: cfg.data,
    preset: cfg.preset,
    modelOptions: cfg.modelOptions,
    batchSize: cfg.batchSize,
    learningRate: cfg.learningRate,
    weightDecay: cfg.weightDecay,
    validationSplit: cfg.validationSplit,
    seed: cfg.seed,
    trainImages: counts.train,
    valImages: counts.val,
  };
}

/** Checks that `--out` can be written, creating it; throws a {@link UsageError} otherwise. */
export async function ensureWritableDir(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    const probe = path.join(dir, `.write-test-${process.pid}`);
    await fs.writeFile(probe, '');
    await fs.unlink(probe);
  } catch (err) {
    throw new UsageError(`--out: cannot write to '${dir}' (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/** The images `indices` of a set as a float32 `[n, 32, 32, 3]` tensor (values 0–255) and int32 labels. */
function gather(set: CifarSplit, indices: ArrayLike<number>): { x: tf.Tensor; y: tf.Tensor } {
  const n = indices.length;
  const pixels = new Float32Array(n * CIFAR_IMAGE_BYTES);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = indices[i];
    const src = set.images.subarray(k * CIFAR_IMAGE_BYTES, (k + 1) * CIFAR_IMAGE_BYTES);
    pixels.set(src, i * CIFAR_IMAGE_BYTES);
    labels[i] = set.labels[k];
  }
  return { x: tf.tensor4d(pixels, [n, 32, 32, 3]), y: tf.tensor1d(labels, 'int32') };
}

function range(from: number, to: number): Int32Array {
  const a = new Int32Array(to - from);
  for (let i = 0; i < a.length; i++) a[i] = from + i;
  return a;
}

/** Loss, top-1 and top-5 accuracy (and the confusion matrix) of the model on `indices` of `set`, in inference mode. */
async function evaluate(
  model: tfl.LayersModel,
  set: CifarSplit,
  indices: Int32Array,
  batchSize: number,
  numClasses: number,
): Promise<{ loss: number; accuracy: number; top5Accuracy: number; confusion: number[][] }> {
  const top5 = sparseTopKAccuracy(5);
  let loss = 0;
  let acc = 0;
  let top = 0;
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let start = 0; start < indices.length; start += batchSize) {
    const { x, y } = gather(set, indices.subarray(start, Math.min(start + batchSize, indices.length)));
    const [l, a, t, p] = tf.tidy(() => {
      const logits = model.predict(x) as tf.Tensor;
      return [
        tf.sum(sparseCategoricalCrossentropyFromLogits(y, logits)),
        tf.sum(sparseCategoricalAccuracy(y, logits)),
        tf.sum(top5(y, logits)),
        tf.argMax(logits, -1),
      ];
    });
    loss += (await l.data())[0];
    acc += (await a.data())[0];
    top += (await t.data())[0];
    const predicted = await p.data();
    const truth = await y.data();
    for (let i = 0; i < predicted.length; i++) confusion[truth[i]][predicted[i]]++;
    tf.dispose([x, y, l, a, t, p]);
  }
  const n = indices.length;
  return { loss: loss / n, accuracy: acc / n, top5Accuracy: top / n, confusion };
}

async function saveOptimizer(optimizer: AdamW, dir: string): Promise<tf.io.WeightsManifestEntry[]> {
  const named = await optimizer.getWeights();
  const { data, specs } = await tf.io.encodeWeights(named);
  const bytes = new Uint8Array(tf.io.concatenateArrayBuffers(Array.isArray(data) ? data : [data]));
  await fs.writeFile(path.join(dir, 'optimizer.bin'), bytes);
  return specs;
}

async function loadOptimizer(optimizer: AdamW, dir: string, specs: tf.io.WeightsManifestEntry[]): Promise<void> {
  const buf = await fs.readFile(path.join(dir, 'optimizer.bin'));
  const map = tf.io.decodeWeights(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength), specs);
  const named = specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
  await optimizer.setWeights(named);
  tf.dispose(Object.values(map));
}

/** Writes the checkpoint into a fresh folder, then swaps it in: a crash leaves the old or the new one whole. */
async function writeCheckpoint(out: string, model: tfl.LayersModel, optimizer: AdamW, state: Omit<CheckpointState, 'optimizer'>): Promise<void> {
  const final = path.join(out, OUT.checkpoint);
  const tmp = path.join(out, `.${OUT.checkpoint}-tmp-${process.pid}`);
  const old = path.join(out, `${OUT.checkpoint}.old`);
  await fs.rm(tmp, { recursive: true, force: true });
  await fs.mkdir(tmp, { recursive: true });
  await model.save(fileIO(tmp));
  const specs = await saveOptimizer(optimizer, tmp);
  await fs.writeFile(path.join(tmp, 'state.json'), JSON.stringify({ ...state, optimizer: { specs } }));
  await fs.rm(old, { recursive: true, force: true });
  if (existsSync(final)) await fs.rename(final, old);
  await fs.rename(tmp, final);
  await fs.rm(old, { recursive: true, force: true });
}

/** The checkpoint folder to resume from: `checkpoint/`, or `checkpoint.old/` if a crash hit between the renames. */
function findCheckpoint(out: string): string | null {
  for (const name of [OUT.checkpoint, `${OUT.checkpoint}.old`]) {
    const dir = path.join(out, name);
    if (existsSync(path.join(dir, 'state.json'))) return dir;
  }
  return null;
}

function fmtTime(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/** Runs the whole pipeline; see the module comment. */
export async function runTraining(cfg: TrainConfig, rep: Reporter, stop: StopSignal = { requested: false }): Promise<RunResult> {
  // --- check what can be checked before any work ---
  let resolved: ResolvedViTOptions;
  try {
    resolved = resolveViTOptions({ ...cfg.modelOptions, preset: cfg.preset });
  } catch (err) {
    throw new UsageError(`--model-options: ${(err as Error).message}`);
  }
  const out = path.resolve(cfg.out);
  await ensureWritableDir(out);
  const checkpointDir = findCheckpoint(out);
  if (cfg.resume && checkpointDir == null) {
    throw new UsageError(`--resume: no checkpoint in '${out}' to resume from`);
  }
  if (!cfg.resume && checkpointDir != null) {
    throw new UsageError(`--out: '${out}' already holds a run (${OUT.checkpoint}/); continue it with --resume or choose another --out`);
  }

  // Without this, tfjs prints a banner recommending tfjs-node when the cpu backend starts; the backend line says it.
  tf.enableProdMode();
  const backend = await selectBackend({ backend: cfg.backend }).catch((err: Error) => {
    throw new UsageError(`--backend ${cfg.backend}: ${err.message}`);
  });
  rep.log(`Backend: ${backend.description}`);

  let data: Awaited<ReturnType<typeof loadData>>;
  try {
    data = await loadData(cfg.data, rep.log);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const all = takeFirst(data.train, cfg.limitTrain);
  const testSet = takeFirst(data.test, cfg.limitTest);
  // The validation set is the last fraction of the training images, as Keras's validation_split.
  const nTotal = all.labels.length;
  const nTrain = Math.floor(nTotal * (1 - cfg.validationSplit));
  const nVal = nTotal - nTrain;
  if (nTrain < 1 || nVal < 1) {
    throw new UsageError(`--validation-split ${cfg.validationSplit} of ${nTotal} images leaves ${nTrain} for training and ${nVal} for validation`);
  }
  rep.log(`Data: ${nTrain} training, ${nVal} validation, ${testSet.labels.length} test images (${cfg.data})`);

  // The patch figure: the first training image as the model sees it (resized), and its patches.
  const [size] = resolved.imageSize;
  const resizedImage = tf.tidy(() => {
    const img = tf.tensor3d(all.images.subarray(0, CIFAR_IMAGE_BYTES), [32, 32, 3], 'int32');
    const r = size === 32 ? img : tf.image.resizeBilinear(img, [size, size], false, true);
    return tf.cast(tf.clipByValue(tf.round(r), 0, 255), 'int32');
  });
  const resizedBytes = Uint8Array.from(await resizedImage.data());
  resizedImage.dispose();
  await writeFileAtomic(path.join(out, OUT.patches), patchFigure(resizedBytes, size, resolved.patchSize));

  const microBatchSize =
    cfg.microBatchSize ??
    (backend.name === 'tensorflow' ? cfg.batchSize : Math.min(cfg.preset === 'keras-cifar10' ? 32 : 64, cfg.batchSize));
  if (microBatchSize < cfg.batchSize) rep.log(`Gradient accumulation: micro-batches of ${microBatchSize}, one optimizer step per batch of ${cfg.batchSize}`);
  const settings = { ...settingsOf(cfg, { train: nTrain, val: nVal }), microBatchSize };
  const threads = cfg.threads == null || cfg.threads === 'auto' ? defaultThreadCount() : cfg.threads;
  const shuffleRng = new RandomGenerator(cfg.seed);
  const optimizer = new AdamW({ learningRate: cfg.learningRate, weightDecay: cfg.weightDecay, weightDecayMode: 'tfa' });
  let model: tfl.LayersModel;
  let history: History = {};
  let startEpoch = 0;
  let best = { epoch: -1, value: -Infinity };
  let bestWeights: tf.Tensor[] | null = null;
  let pendingGlobalState: RandomState | null = null;
  let ckptState: CheckpointState | null = null;

  if (checkpointDir != null) {
    ckptState = JSON.parse(await fs.readFile(path.join(checkpointDir, 'state.json'), 'utf8')) as CheckpointState;
    for (const [key, value] of Object.entries(settings)) {
      if (JSON.stringify(ckptState.settings[key]) !== JSON.stringify(value)) {
        throw new UsageError(
          `--resume: the checkpoint was made with ${key} ${JSON.stringify(ckptState.settings[key])}, not ${JSON.stringify(value)}`,
        );
      }
    }
    model = await tfl.loadLayersModel(fileIO(checkpointDir));
    history = ckptState.history;
    startEpoch = ckptState.epoch;
    best = { epoch: ckptState.best.epoch, value: ckptState.best.epoch >= 0 ? ckptState.best.value : -Infinity };
    if (best.epoch >= 0) {
      // The best weights so far (a model of their own, read and dropped).
      const bestModel = await tfl.loadLayersModel(fileIO(path.join(out, OUT.bestModel)));
      bestWeights = bestModel.getWeights().map((w) => tf.keep(tf.clone(w)));
      bestModel.dispose();
    }
    const ckptThreads = ckptState.threads ?? 1;
    if (ckptThreads !== threads) {
      rep.warn(
        `--resume: the checkpoint was trained on ${ckptThreads} thread(s), this run uses ${threads}: ` +
          'training continues, but its random draws differ from an uninterrupted run',
      );
    }
    shuffleRng.setState(ckptState.rng.shuffle);
    pendingGlobalState = ckptState.rng.global;
    rep.log(`Resuming after epoch ${startEpoch} from ${checkpointDir}`);
  } else {
    setGlobalSeed(cfg.seed);
    model = createViTClassifier({ ...cfg.modelOptions, preset: cfg.preset });
    const norm = model.layers.find((l) => l instanceof Normalization) as Normalization | undefined;
    if (norm != null) {
      // Statistics from the training images, in chunks, bytes as they are (Keras: layer.adapt(x_train)).
      const chunk = 2000;
      const batches = function* () {
        for (let s = 0; s < nTotal; s += chunk) {
          const e = Math.min(s + chunk, nTotal);
          yield { data: all.images.subarray(s * CIFAR_IMAGE_BYTES, e * CIFAR_IMAGE_BYTES), shape: [e - s, 32, 32, 3] };
        }
      };
      await norm.adapt(batches());
    }
  }
  model.compile({
    optimizer,
    loss: sparseCategoricalCrossentropyFromLogits,
    metrics: [sparseCategoricalAccuracy, sparseTopKAccuracy(5)],
  });
  acceptSparseLabels(model);
  if (checkpointDir != null && ckptState != null) await loadOptimizer(optimizer, checkpointDir, ckptState.optimizer.specs);
  // Loading models runs initializers that draw from the global generator: restore its state last.
  if (pendingGlobalState != null) globalRandom().setState(pendingGlobalState);
  const params = model.countParams();
  rep.log(`Model: preset '${cfg.preset}', ${params.toLocaleString('en-US')} parameters; AdamW lr ${cfg.learningRate}, weight decay ${cfg.weightDecay}`);
  // Each batch is split between `threads` threads, each with a copy of the model (data parallelism).
  const trainer = await DataParallelTrainer.create(model, optimizer, { threads, microBatchSize });
  if (threads > 1) rep.log(`Threads: ${threads} (each batch split between them)`);
  try {
    return await trainEpochs();
  } finally {
    await trainer.dispose();
  }

  /** The epochs, then the test evaluation of the best weights. */
  async function trainEpochs(): Promise<RunResult> {
    const trainIdx = range(0, nTrain);
    const valIdx = range(nTrain, nTotal);
    const steps = Math.ceil(nTrain / cfg.batchSize);
    let interrupted = false;
    const top5Metric = sparseTopKAccuracy(5);

    for (let epoch = startEpoch; epoch < cfg.epochs && !interrupted; epoch++) {
      const order = shuffleRng.shuffle(Int32Array.from(trainIdx));
      const sums = [0, 0, 0];
      let seen = 0;
      const t0 = Date.now();
      const bar = cfg.progress
        ? new SingleBar({
            format: `Epoch ${epoch + 1}/${cfg.epochs} [{bar}] {value}/{total} | loss {loss} | acc {acc} | top-5 {top5} | {ips} img/s | ETA {eta_formatted}`,
            stream: process.stderr,
            hideCursor: true,
            etaBuffer: 20,
          })
        : null;
      bar?.start(steps, 0, { loss: '-', acc: '-', top5: '-', ips: '-' });
      for (let step = 0; step < steps; step++) {
        // Let the event loop run (signals, progress output): on the cpu and wasm backends the awaits in a step
        // resolve as microtasks only, so without this a Ctrl-C would be seen only after training.
        await new Promise((resolve) => setImmediate(resolve));
        if (stop.requested) {
          interrupted = true;
          break;
        }
        const batch = order.subarray(step * cfg.batchSize, Math.min((step + 1) * cfg.batchSize, nTrain));
        const { x, y } = gather(all, batch);
        const { loss, outputs } = await trainer.step(x, y);
        const [accuracy, top5Accuracy] = tf.tidy(() => [tf.mean(sparseCategoricalAccuracy(y, outputs)), tf.mean(top5Metric(y, outputs))]);
        const values = [loss, (await accuracy.data())[0], (await top5Accuracy.data())[0]];
        tf.dispose([x, y, outputs, accuracy, top5Accuracy]);
        for (let k = 0; k < 3; k++) sums[k] += values[k] * batch.length;
        seen += batch.length;
        const ips = seen / ((Date.now() - t0) / 1000);
        bar?.update(step + 1, {
          loss: (sums[0] / seen).toFixed(4),
          acc: (sums[1] / seen).toFixed(4),
          top5: (sums[2] / seen).toFixed(4),
          ips: ips.toFixed(1),
        });
      }
      bar?.stop();
      if (interrupted) break;

      const val = await evaluate(model, all, valIdx, cfg.batchSize, resolved.numClasses);
      const seconds = (Date.now() - t0) / 1000;
      const row: Record<string, number> = {
        loss: sums[0] / seen,
        accuracy: sums[1] / seen,
        'top-5-accuracy': sums[2] / seen,
        val_loss: val.loss,
        val_accuracy: val.accuracy,
        'val_top-5-accuracy': val.top5Accuracy,
      };
      for (const [k, v] of Object.entries(row)) (history[k] ??= []).push(v);
      rep.log(
        `Epoch ${epoch + 1}/${cfg.epochs} - ${fmtTime(seconds)} - ${(nTrain / seconds).toFixed(1)} img/s - ` +
          Object.entries(row)
            .map(([k, v]) => `${k}: ${v.toFixed(4)}`)
            .join(' - '),
      );

      if (val.accuracy > best.value) {
        best = { epoch, value: val.accuracy };
        if (bestWeights != null) tf.dispose(bestWeights);
        bestWeights = model.getWeights().map((w) => tf.keep(tf.clone(w)));
        await model.save(fileIO(path.join(out, OUT.bestModel)));
      }
      await writeCheckpoint(out, model, optimizer, {
        version: 1,
        epoch: epoch + 1,
        settings,
        history,
        rng: { global: globalRandom().getState(), shuffle: shuffleRng.getState() },
        best,
        threads,
      });
      await writeFileAtomic(path.join(out, OUT.history), JSON.stringify(history, null, 2) + '\n');
      await writeFileAtomic(path.join(out, OUT.curves), curvesSvg(history));
    }

    const epochsDone = history.loss?.length ?? 0;
    if (interrupted || epochsDone < cfg.epochs) {
      if (epochsDone > 0) {
        await writeFileAtomic(path.join(out, OUT.history), JSON.stringify(history, null, 2) + '\n');
        await writeFileAtomic(path.join(out, OUT.curves), curvesSvg(history));
      }
      if (bestWeights != null) tf.dispose(bestWeights);
      model.dispose();
      optimizer.dispose();
      return { status: 'interrupted', history, epochsDone };
    }

    // --- the best epoch's weights on the test set ---
    if (bestWeights != null) {
      model.setWeights(bestWeights);
      tf.dispose(bestWeights);
    }
    rep.log(`Best validation accuracy ${(best.value * 100).toFixed(2)}% at epoch ${best.epoch + 1}; evaluating those weights on the test set`);
    const test = await evaluate(model, testSet, range(0, testSet.labels.length), cfg.batchSize, resolved.numClasses);
    rep.log(`Test accuracy: ${(test.accuracy * 100).toFixed(2)}%`);
    rep.log(`Test top 5 accuracy: ${(test.top5Accuracy * 100).toFixed(2)}%`);
    const testMetrics = { loss: test.loss, accuracy: test.accuracy, top5Accuracy: test.top5Accuracy, bestEpoch: best.epoch + 1, testImages: testSet.labels.length };
    await writeFileAtomic(path.join(out, OUT.testMetrics), JSON.stringify(testMetrics, null, 2) + '\n');
    await writeFileAtomic(
      path.join(out, OUT.confusionJson),
      JSON.stringify({ classNames: data.classNames, rows: 'true class', columns: 'predicted class', matrix: test.confusion }, null, 2) + '\n',
    );
    await writeFileAtomic(
      path.join(out, OUT.confusionSvg),
      confusionSvg(test.confusion, data.classNames, `Confusion matrix (test, ${(test.accuracy * 100).toFixed(2)}% accuracy)`),
    );
    model.dispose();
    optimizer.dispose();
    return { status: 'done', history, epochsDone, test: { loss: test.loss, accuracy: test.accuracy, top5Accuracy: test.top5Accuracy, bestEpoch: best.epoch + 1 } };
  }
}

export { METRIC_KEYS };
