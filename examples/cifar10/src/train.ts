/**
 * The training run: the Keras "ViT on CIFAR-10" recipe with vit-tfjs — a short script over the library's `fitViT`
 * (seeded shuffle, micro-batches, threads, validation, best epoch, checkpoint and exact resume) and `evaluate`.
 *
 * Everything random comes from seeded generators: the model's (weight initialization, dropout masks, augmentation)
 * from the library's global generator, seeded here, and the per-epoch shuffle from `fitViT`'s own; both states are in
 * every checkpoint (`<out>/checkpoint/`, which also holds the weights, AdamW's state and the best epoch's weights),
 * so a run killed at any moment and resumed ends as one never interrupted.
 */
import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import {
  CIFAR_IMAGE_BYTES,
  CheckpointSettingsError,
  Normalization,
  type FitHistory,
  type ResolvedViTOptions,
  type ViTClassifierOptions,
  createViTClassifier,
  defaultMicroBatchSize,
  fitViT,
  resolveViTOptions,
  setGlobalSeed,
} from 'vit-tfjs';
import {
  type BackendRequest,
  dataParallelTrainer,
  defaultThreadCount,
  evaluateNode,
  fileCheckpointStore,
  fileIO,
  progressBar,
  selectBackend,
  writeFileAtomic,
} from 'vit-tfjs/node';
import { loadData, takeFirst } from './data';
import { type Recipe, describeRecipe, lossOf, optimizerOf, resumeSettings } from './recipe';
import { History, confusionSvg, curvesSvg, firstImagePatches, writeAttentionFigure } from './figures';

/** Everything a run is configured by (the CLI's options): a {@link Recipe}'s settings and the rest. */
export interface TrainConfig extends Recipe {
  data: string;
  /** Overrides of the preset's options (`--model-options`). */
  modelOptions: ViTClassifierOptions;
  /** Largest number of images per forward/backward pass; default the library's `defaultMicroBatchSize`. */
  microBatchSize?: number;
  /** Threads that share each batch (`dataParallelTrainer`); `'auto'`: every core off tfjs-node, 1 with it. */
  threads?: number | 'auto';
  validationSplit: number;
  backend: BackendRequest;
  out: string;
  resume: boolean;
  /** Replace the run already in `out` (its checkpoint and artifacts) instead of refusing to start. */
  overwrite?: boolean;
  limitTrain?: number;
  limitTest?: number;
  seed: number;
  /** Show a progress bar (on a terminal). */
  progress: boolean;
}

/** Where the run's messages go. */
export type Reporter = { log(line: string): void; warn(line: string): void };

/** Set `requested` to stop the run after the current batch (Ctrl-C). */
export type StopSignal = { requested: boolean };

/** What a run ends with: `'interrupted'` when stopped before the last epoch; the test metrics of the best weights when done. */
export interface RunResult {
  status: 'done' | 'interrupted';
  history: History;
  test?: { loss: number; accuracy: number; top5Accuracy: number; bestEpoch: number };
  /** Epochs completed (and checkpointed). */
  epochsDone: number;
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
  attention: 'attention.png', attentionJson: 'attention.json',
} as const;

/** A user-facing error: the CLI prints its message as one line. */
export class UsageError extends Error {}

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

function fmtTime(seconds: number): string {
  const s = Math.round(seconds);
  const [h, m] = [Math.floor(s / 3600), Math.floor((s % 3600) / 60)];
  return h > 0 ? `${h}h${String(m).padStart(2, '0')}m` : m > 0 ? `${m}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

const json = (v: unknown) => JSON.stringify(v, null, 2) + '\n';

/** Runs the whole pipeline; see the module comment. */
export async function runTraining(cfg: TrainConfig, rep: Reporter, stop: StopSignal = { requested: false }): Promise<RunResult> {
  // --- check what can be checked before any work ---
  let resolved: ResolvedViTOptions;
  try {
    resolved = resolveViTOptions({ ...cfg.modelOptions, preset: cfg.preset });
  } catch (err) {
    throw new UsageError(`--model-options: ${(err as Error).message}`);
  }
  if (cfg.schedule === 'warmup-cosine' && cfg.warmupEpochs >= cfg.epochs) {
    throw new UsageError(`--warmup-epochs ${cfg.warmupEpochs} leaves no step for the cosine decay in ${cfg.epochs} epoch(s)`);
  }
  const out = path.resolve(cfg.out);
  await ensureWritableDir(out);
  const store = fileCheckpointStore(path.join(out, OUT.checkpoint));
  if (cfg.resume && store.findFolder() == null) throw new UsageError(`--resume: no checkpoint in '${out}' to resume from`);
  if (cfg.resume && cfg.overwrite) throw new UsageError('--overwrite: not with --resume (it would discard the run to resume)');
  if (!cfg.resume && !cfg.overwrite && store.findFolder() != null) {
    throw new UsageError(`--out: '${out}' already holds a run (${OUT.checkpoint}/); continue it with --resume, replace it with --overwrite or choose another --out`);
  }

  // Without this, tfjs prints a banner recommending tfjs-node when the cpu backend starts; the backend line says it.
  tf.enableProdMode();
  const backend = await selectBackend({ backend: cfg.backend }).catch((err: Error) => {
    throw new UsageError(`--backend ${cfg.backend}: ${err.message}`);
  });
  rep.log(`Backend: ${backend.description}`);
  const data = await loadData(cfg.data, rep.log).catch((err: Error) => {
    throw new UsageError(err.message);
  });
  const all = takeFirst(data.train, cfg.limitTrain);
  const testSet = takeFirst(data.test, cfg.limitTest);
  // The validation set is the last fraction of the training images, as Keras's validation_split (and fitViT's).
  const nTotal = all.labels.length;
  const nTrain = Math.floor(nTotal * (1 - cfg.validationSplit));
  if (nTrain < 1 || nTotal - nTrain < 1) {
    throw new UsageError(`--validation-split ${cfg.validationSplit} of ${nTotal} images leaves ${nTrain} for training and ${nTotal - nTrain} for validation`);
  }
  rep.log(`Data: ${nTrain} training, ${nTotal - nTrain} validation, ${testSet.labels.length} test images (${cfg.data})`);

  if (cfg.overwrite) {
    // Only now, once the options and the data are known to be good: the previous run's artifacts go.
    for (const name of [...Object.values(OUT), `${OUT.checkpoint}.old`]) await fs.rm(path.join(out, name), { recursive: true, force: true });
  }

  // The patch figure: the first training image as the model sees it (resized), and its patches.
  await writeFileAtomic(path.join(out, OUT.patches), await firstImagePatches(all.images, resolved.imageSize[0], resolved.patchSize));

  // The model; a resumed run takes its weights (the normalization's statistics too) from the checkpoint.
  setGlobalSeed(cfg.seed);
  const model = createViTClassifier({ ...cfg.modelOptions, preset: cfg.preset });
  const norm = model.layers.find((l) => l instanceof Normalization) as Normalization | undefined;
  if (!cfg.resume && norm != null) {
    // Statistics from the training images, bytes as they are, in chunks of 2,000 (Keras: layer.adapt(x_train)).
    await norm.adapt(
      (function* () {
        for (let s = 0; s < nTotal; s += 2000) {
          const e = Math.min(s + 2000, nTotal);
          yield { data: all.images.subarray(s * CIFAR_IMAGE_BYTES, e * CIFAR_IMAGE_BYTES), shape: [e - s, 32, 32, 3] };
        }
      })(),
    );
  }
  const microBatchSize = cfg.microBatchSize ?? defaultMicroBatchSize(model, cfg.batchSize);
  if (microBatchSize < cfg.batchSize) rep.log(`Gradient accumulation: micro-batches of ${microBatchSize}, one optimizer step per batch of ${cfg.batchSize}`);
  rep.log(`Model: preset '${cfg.preset}', ${model.countParams().toLocaleString('en-US')} parameters; ${describeRecipe(cfg)}`);
  const threads = cfg.threads == null || cfg.threads === 'auto' ? defaultThreadCount() : cfg.threads;
  if (threads > 1) rep.log(`Threads: ${threads} (each batch split between them)`);

  const writeCurves = async (history: History) => {
    await writeFileAtomic(path.join(out, OUT.history), json(history));
    await writeFileAtomic(path.join(out, OUT.curves), curvesSvg(history));
  };
  const settings = { data: cfg.data, modelOptions: cfg.modelOptions, ...resumeSettings(cfg) };
  let fit: FitHistory;
  try {
    fit = await fitViT(model, all, {
      epochs: cfg.epochs,
      batchSize: cfg.batchSize,
      microBatchSize,
      optimizer: optimizerOf(cfg, Math.ceil(nTrain / cfg.batchSize)),
      loss: lossOf(cfg),
      validationSplit: cfg.validationSplit,
      seed: cfg.seed,
      bestWeights: { monitor: 'val_accuracy' },
      checkpoint: store,
      resume: cfg.resume,
      settings,
      trainer: dataParallelTrainer({ threads }),
      progress: progressBar({ enabled: cfg.progress }),
      signal: { get aborted() { return stop.requested; } },
      onWarning: (message) => rep.warn(`--${message}`),
      callbacks: {
        onTrainBegin: ({ initialEpoch, resumedFrom }) => {
          if (resumedFrom != null) rep.log(`Resuming after epoch ${initialEpoch} from ${store.findFolder()}`);
        },
        onEpochEnd: async (epoch, logs, info) => {
          const values = Object.entries(logs).map(([k, v]) => `${k}: ${v.toFixed(4)}`);
          rep.log([`Epoch ${epoch + 1}/${cfg.epochs}`, fmtTime(info.seconds), `${info.imagesPerSecond.toFixed(1)} img/s`, ...values].join(' - '));
          // The checkpoint (with the best weights) is already written: best-model/ is an export of them.
          if (info.improved) await model.save(fileIO(path.join(out, OUT.bestModel)));
          await writeCurves(info.history);
        },
      },
    });
  } catch (err) {
    model.dispose();
    if (err instanceof CheckpointSettingsError) throw new UsageError(`--${err.message}`);
    throw err;
  }
  const history = fit.history;
  const epochsDone = history.loss?.length ?? 0;
  if (fit.status === 'interrupted') {
    model.dispose();
    return { status: 'interrupted', history, epochsDone };
  }

  // --- the best epoch's weights (fitViT restored them) on the test set ---
  const bestEpoch = fit.bestEpoch + 1;
  await model.save(fileIO(path.join(out, OUT.bestModel))); // also after a resume that trained no better epoch
  await writeCurves(history);
  rep.log(`Best validation accuracy ${(fit.bestValue * 100).toFixed(2)}% at epoch ${bestEpoch}; evaluating those weights on the test set`);
  const test = await evaluateNode(model, testSet, { batchSize: microBatchSize * threads, topK: 5, threads, loss: lossOf(cfg) });
  await writeAttentionFigure(model, testSet, data.classNames, out).finally(() => model.dispose()); // attention.png/.json
  rep.log(`Test accuracy: ${(test.accuracy * 100).toFixed(2)}%`);
  rep.log(`Test top 5 accuracy: ${(test.topKAccuracy * 100).toFixed(2)}%`);
  const metrics = { loss: test.loss, accuracy: test.accuracy, top5Accuracy: test.topKAccuracy, bestEpoch };
  await writeFileAtomic(path.join(out, OUT.testMetrics), json({ ...metrics, testImages: testSet.labels.length }));
  const confusion = { classNames: data.classNames, rows: 'true class', columns: 'predicted class', matrix: test.confusionMatrix };
  await writeFileAtomic(path.join(out, OUT.confusionJson), json(confusion));
  const title = `Confusion matrix (test, ${(test.accuracy * 100).toFixed(2)}% accuracy)`;
  await writeFileAtomic(path.join(out, OUT.confusionSvg), confusionSvg(test.confusionMatrix, data.classNames, title));
  return { status: 'done', history, epochsDone, test: metrics };
}
