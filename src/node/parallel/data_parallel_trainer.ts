import { availableParallelism } from 'os';
import * as path from 'path';
import { fileURLToPath } from 'url';
import { Worker } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import {
  accumulateGradients,
  type AccumulatedGradients,
  applyAccumulatedGradients,
  globalRandom,
  RandomGenerator,
  trainStep,
  trainingFunctionName,
  type TrainStepResult,
  withRandomGenerator,
} from 'vit-tfjs';
import { type PredictMessage, slotView, type StepMessage, type TrainerMessage, type WeightSlot, type WorkerReply } from './protocol';

/**
 * Options of {@link DataParallelTrainer.create}.
 *
 * @category Training
 */
export interface DataParallelOptions {
  /**
   * Threads that share each batch, this one included (so `threads - 1` worker threads are started). Default:
   * {@link defaultThreadCount}. `1` runs plain {@link trainStep} on this thread.
   */
  threads?: number;
  /**
   * Largest number of images a thread runs forward and backward at once: its share of a batch is split into
   * micro-batches of at most this size (as `trainStep` does). Default: the whole share.
   */
  microBatchSize?: number;
  /**
   * Modules each worker imports before it rebuilds the model: the files that register your own custom layers
   * (absolute paths or package names). vit-tfjs's layers are always registered.
   */
  imports?: string[];
  /** The worker script; default the one shipped next to this module (`parallel-worker.cjs` / `.mjs`). */
  workerScript?: string;
  /** Skip the update of a batch whose loss is not finite (see `ApplyGradientsOptions.skipNonFinite` of vit-tfjs). */
  skipNonFinite?: boolean;
  /**
   * The per-example loss; default `sparseCategoricalCrossentropyFromLogits`. With more than one thread it must be one
   * of the library's losses (the workers get it by its saved name, `trainingFunctionName`), e.g.
   * `sparseCategoricalCrossentropyWithLabelSmoothing(0.1)`.
   */
  loss?: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
}

type StepReply = Extract<WorkerReply, { type: 'result' }>;
type PredictReply = Extract<WorkerReply, { type: 'predicted' }>;

interface Pending {
  resolve: (reply: StepReply | PredictReply) => void;
  reject: (err: Error) => void;
}

/** One worker thread and the request it is working on. */
class WorkerHandle {
  readonly worker: Worker;
  private pending: Pending | null = null;
  private failure: Error | null = null;
  private readyWaiter: { resolve: () => void; reject: (err: Error) => void } | null = null;

  constructor(
    readonly index: number,
    script: { file: string; eval: boolean },
  ) {
    // Workers inherit the process's Node options; `--input-type` (of `node -e`) is refused for a file entry.
    const execArgv = process.execArgv.filter((a) => !a.startsWith('--input-type'));
    this.worker = new Worker(script.file, { eval: script.eval, execArgv });
    this.worker.on('message', (msg: WorkerReply) => this.onMessage(msg));
    this.worker.on('error', (err) => this.fail(new Error(`worker thread ${index} failed: ${err.message}`)));
    this.worker.on('exit', (code) => this.fail(new Error(`worker thread ${index} exited (code ${code})`)));
  }

  private onMessage(msg: WorkerReply): void {
    if (msg.type === 'ready') {
      this.readyWaiter?.resolve();
      this.readyWaiter = null;
    } else if (msg.type === 'error') {
      const err = new Error(`worker thread ${this.index}: ${msg.message}`);
      if (msg.id == null) this.fail(err);
      else this.settle((p) => p.reject(err));
    } else {
      this.settle((p) => p.resolve(msg));
    }
  }

  private settle(fn: (p: Pending) => void): void {
    const p = this.pending;
    this.pending = null;
    if (p) fn(p);
  }

  fail(err: Error): void {
    if (this.failure == null) this.failure = err;
    this.readyWaiter?.reject(err);
    this.readyWaiter = null;
    this.settle((p) => p.reject(err));
  }

  ready(): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.readyWaiter = { resolve, reject }));
  }

  request(msg: StepMessage, transfer: ArrayBuffer[]): Promise<StepReply>;
  request(msg: PredictMessage, transfer: ArrayBuffer[]): Promise<PredictReply>;
  request(msg: StepMessage | PredictMessage, transfer: ArrayBuffer[]): Promise<StepReply | PredictReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending = { resolve: resolve as Pending['resolve'], reject };
      this.worker.postMessage(msg, transfer);
    });
  }

  post(msg: TrainerMessage): void {
    this.worker.postMessage(msg);
  }
}

/** The worker script next to this module: the built one in `dist`, or the TypeScript source through tsx. */
function defaultWorkerScript(): { file: string; eval: boolean } {
  // This module's file: `__filename` in CommonJS (dist/node.cjs; the sources under jest and tsx), `import.meta.url`
  // in the ESM build (dist/node.mjs: no `__filename` shim, whose Node imports would reach the browser-safe entry).
  const self = typeof __filename === 'string' ? __filename : fileURLToPath(import.meta.url);
  const dir = path.dirname(self);
  const ext = path.extname(self);
  if (ext === '.ts') {
    // Running from the sources (tests, tsx): compile the worker on the fly with tsx's require hook.
    const tsx = require.resolve('tsx/cjs/api');
    const entry = path.join(dir, 'worker.ts');
    return { file: `require(${JSON.stringify(tsx)}).register(); require(${JSON.stringify(entry)});`, eval: true };
  }
  return { file: path.join(dir, `parallel-worker${ext === '.mjs' ? '.mjs' : '.cjs'}`), eval: false };
}

/**
 * The thread count {@link DataParallelTrainer} uses by default on the active backend: every core (at most 8) for
 * wasm and cpu, which compute on one thread each in Node; 1 for tfjs-node, which uses every core itself.
 *
 * @category Training
 */
export function defaultThreadCount(): number {
  return tf.getBackend() === 'tensorflow' ? 1 : Math.min(8, availableParallelism());
}

/** Splits `n` into `parts` sizes that differ by at most one (larger first). */
function shareSizes(n: number, parts: number): number[] {
  const base = Math.floor(n / parts);
  return Array.from({ length: parts }, (_, i) => base + (i < n % parts ? 1 : 0));
}

/**
 * Runs this thread's share of a batch (`own`) while the workers run theirs (`requests`, already sent), then waits for
 * all of them. Returns every result; on any failure, releases what `own` made and throws the first error (a
 * worker's before this thread's).
 */
async function joinShares<O, R>(requests: Promise<R>[], own: () => O, release: (value: O) => void): Promise<{ own: O; replies: R[] }> {
  const settled = Promise.allSettled(requests);
  let mine: { value: O } | null = null;
  let ownError: unknown = null;
  try {
    mine = { value: own() };
  } catch (err) {
    ownError = err;
  }
  const replies = await settled;
  const failed = replies.find((r) => r.status === 'rejected') as PromiseRejectedResult | undefined;
  if (mine == null || failed != null) {
    if (mine != null) release(mine.value);
    throw failed != null ? failed.reason : ownError;
  }
  return { own: mine.value, replies: replies.map((r) => (r as PromiseFulfilledResult<R>).value) };
}

/**
 * Data-parallel training on the CPU: each batch is split between this thread and worker threads, each running the
 * forward and backward pass on its share with its own copy of the model; the gradients are summed here and one
 * optimizer step updates the model. The update is the same as {@link trainStep}'s on the whole batch (up to float
 * summation order), and each share draws dropout and augmentation from its own stream seeded from
 * {@link globalRandom}, so a run is reproducible for a given seed and thread count.
 *
 * Meant for the wasm and cpu backends, which use one core each in Node (tfjs-node already uses every core).
 * Each worker holds a copy of the model and of its activations: memory grows with the thread count.
 *
 * @example
 * ```ts
 * import { DataParallelTrainer } from 'vit-tfjs/node';
 * const trainer = await DataParallelTrainer.create(model, optimizer, { threads: 2, microBatchSize: 32 });
 * const { loss, outputs } = await trainer.step(xs, ys); // one optimizer step
 * outputs.dispose();
 * await trainer.dispose();
 * ```
 *
 * @category Training
 */
export class DataParallelTrainer {
  /** Threads that share each batch (this one included). */
  readonly threads: number;
  private readonly slots: WeightSlot[];
  private readonly weightBuffer: SharedArrayBuffer;
  private workers: WorkerHandle[];
  private nextId = 0;
  private disposed = false;

  private constructor(
    readonly model: tfl.LayersModel,
    readonly optimizer: tf.Optimizer | null,
    private readonly options: DataParallelOptions,
    threads: number,
  ) {
    this.threads = threads;
    let offset = 0;
    const trainable = new Set(model.trainableWeights.map((w) => w.id));
    this.slots = model.weights.map((w) => {
      if (w.dtype !== 'float32' && w.dtype !== 'int32') {
        throw new Error(`DataParallelTrainer: weight '${w.name}' has dtype ${w.dtype}; only float32 and int32 are supported`);
      }
      const size = w.shape.reduce((a: number, b) => a * (b as number), 1);
      const slot = { name: w.name, shape: w.shape as number[], dtype: w.dtype, offset, size, trainable: trainable.has(w.id) };
      offset += size;
      return slot;
    });
    this.weightBuffer = new SharedArrayBuffer(Math.max(1, offset) * 4);
    this.workers = [];
  }

  /**
   * Starts the worker threads and builds the model in each (from `model.toJSON()`; the weights follow at every
   * step). Call it after the model is built and its non-trainable state (e.g. `Normalization.adapt`) is set; it
   * resolves when every worker is ready. With `optimizer` `null` the trainer only predicts (see
   * {@link DataParallelTrainer.predict}).
   */
  static async create(model: tfl.LayersModel, optimizer: tf.Optimizer | null, options: DataParallelOptions = {}): Promise<DataParallelTrainer> {
    const threads = options.threads ?? defaultThreadCount();
    if (!Number.isInteger(threads) || threads < 1) throw new Error(`DataParallelTrainer: threads must be a positive integer, got ${threads}`);
    const micro = options.microBatchSize;
    if (micro != null && (!Number.isInteger(micro) || micro < 1)) {
      throw new Error(`DataParallelTrainer: microBatchSize must be a positive integer, got ${micro}`);
    }
    if (threads > 1 && options.loss != null && trainingFunctionName(options.loss) == null) {
      throw new Error(
        `DataParallelTrainer: the loss '${options.loss.name || 'anonymous'}' cannot be sent to worker threads: with threads > 1 ` +
          'use one of the library\'s losses (e.g. sparseCategoricalCrossentropyWithLabelSmoothing), or threads: 1',
      );
    }
    const trainer = new DataParallelTrainer(model, optimizer, options, threads);
    if (threads > 1) await trainer.startWorkers();
    return trainer;
  }

  private async startWorkers(): Promise<void> {
    const script = this.options.workerScript != null ? { file: this.options.workerScript, eval: false } : defaultWorkerScript();
    const topology = this.model.toJSON(null, false);
    this.workers = Array.from({ length: this.threads - 1 }, (_, i) => new WorkerHandle(i + 1, script));
    const ready = this.workers.map((w) => w.ready());
    for (const w of this.workers) {
      w.post({
        type: 'init',
        backend: tf.getBackend(),
        topology,
        slots: this.slots,
        weights: this.weightBuffer,
        microBatchSize: this.options.microBatchSize,
        loss: this.options.loss != null ? trainingFunctionName(this.options.loss) : undefined,
        imports: this.options.imports ?? [],
      });
    }
    try {
      await Promise.all(ready);
    } catch (err) {
      await this.dispose();
      throw new Error(`DataParallelTrainer: could not start the worker threads: ${(err as Error).message}`);
    }
  }

  /** Copies every weight of the model into the shared buffer the workers read. */
  private publishWeights(): void {
    this.model.weights.forEach((w, i) => {
      slotView(this.weightBuffer, this.slots[i]).set(w.read().dataSync() as ArrayLike<number>);
    });
  }

  /**
   * One training step on the batch `x`, `y` (labels as {@link trainStep} takes them): the shares' gradients are
   * summed and `optimizer` applies them. Returns the batch's mean loss and the model's outputs (the caller disposes
   * them), as {@link trainStep}.
   */
  async step(x: tf.Tensor, y: tf.Tensor): Promise<TrainStepResult> {
    if (this.disposed) throw new Error('DataParallelTrainer: step after dispose()');
    const optimizer = this.optimizer;
    if (optimizer == null) throw new Error('DataParallelTrainer.step: this trainer was created without an optimizer (predict only)');
    const batch = x.shape[0];
    if (y.shape[0] !== batch) throw new Error(`DataParallelTrainer.step: x has ${batch} examples but y has ${y.shape[0]}`);
    if (x.dtype !== 'float32') throw new Error(`DataParallelTrainer.step: x must be float32, got ${x.dtype}`);
    if (y.dtype !== 'float32' && y.dtype !== 'int32') throw new Error(`DataParallelTrainer.step: y must be int32 or float32, got ${y.dtype}`);
    if (this.threads === 1) {
      return trainStep(this.model, optimizer, x, y, {
        microBatchSize: this.options.microBatchSize,
        skipNonFinite: this.options.skipNonFinite,
        loss: this.options.loss,
      });
    }

    const sizes = shareSizes(batch, this.threads);
    const seeds = sizes.map(() => globalRandom().nextSeed());
    this.publishWeights();
    // Send the workers their shares first, so that they run while this thread computes the first share.
    const requests: Promise<StepReply>[] = [];
    const xData = x.dataSync() as Float32Array;
    const yData = y.dataSync() as Float32Array | Int32Array;
    const xRow = x.size / batch;
    const yRow = y.size / batch;
    let start = sizes[0];
    for (let t = 1; t < this.threads; t++) {
      const size = sizes[t];
      if (size === 0) continue;
      // `slice` copies: the worker receives buffers of its own.
      const msg: StepMessage = {
        type: 'step',
        id: this.nextId++,
        x: xData.slice(start * xRow, (start + size) * xRow),
        xShape: [size, ...x.shape.slice(1)],
        y: yData.slice(start * yRow, (start + size) * yRow),
        yShape: [size, ...y.shape.slice(1)],
        yDtype: y.dtype,
        totalBatchSize: batch,
        seed: seeds[t],
      };
      start += size;
      requests.push(this.workers[t - 1].request(msg, [msg.x.buffer as ArrayBuffer, msg.y.buffer as ArrayBuffer]));
    }
    const { own: mine, replies: results } = await joinShares(
      requests,
      (): AccumulatedGradients => {
        const xs = tf.slice(x, 0, sizes[0]);
        const ys = tf.slice(y, 0, sizes[0]);
        try {
          return withRandomGenerator(new RandomGenerator(seeds[0]), () =>
            accumulateGradients(this.model, xs, ys, { microBatchSize: this.options.microBatchSize, totalBatchSize: batch, loss: this.options.loss }),
          );
        } finally {
          tf.dispose([xs, ys]);
        }
      },
      (own) => tf.dispose([...own.gradients, own.outputs]),
    );
    const gradients = tf.tidy(() =>
      mine.gradients.map((g, i) => results.reduce((sum, r) => tf.add(sum, tf.tensor(r.gradients[i], g.shape, 'float32')), g)),
    );
    const outputs = tf.tidy(() => tf.concat([mine.outputs, ...results.map((r) => tf.tensor(r.outputs, r.outputsShape, 'float32'))], 0));
    tf.dispose([...mine.gradients, mine.outputs]);
    const loss = results.reduce((sum, r) => sum + r.loss, mine.loss);
    return applyAccumulatedGradients(this.model, optimizer, { gradients, loss, outputs }, { skipNonFinite: this.options.skipNonFinite });
  }

  /**
   * The model's outputs for `x` in inference mode (`model.apply(x, { training: false })`), the batch split between
   * the threads as in {@link DataParallelTrainer.step}: what `fitViT` validates with, and `evaluate`'s `predict`.
   * The caller disposes the result.
   */
  async predict(x: tf.Tensor): Promise<tf.Tensor> {
    if (this.disposed) throw new Error('DataParallelTrainer: predict after dispose()');
    const input = x.dtype === 'float32' ? x : tf.cast(x, 'float32');
    try {
      const batch = input.shape[0];
      const sizes = shareSizes(batch, this.threads);
      if (this.threads === 1 || sizes[1] === 0) return tf.tidy(() => this.model.apply(input, { training: false }) as tf.Tensor);
      this.publishWeights();
      const xData = input.dataSync() as Float32Array;
      const row = input.size / batch;
      const requests: Promise<PredictReply>[] = [];
      let start = sizes[0];
      for (let t = 1; t < this.threads; t++) {
        const size = sizes[t];
        if (size === 0) continue;
        const msg: PredictMessage = { type: 'predict', id: this.nextId++, x: xData.slice(start * row, (start + size) * row), xShape: [size, ...input.shape.slice(1)] };
        start += size;
        requests.push(this.workers[t - 1].request(msg, [msg.x.buffer as ArrayBuffer]));
      }
      const { own: mine, replies: parts } = await joinShares(
        requests,
        () => tf.tidy(() => this.model.apply(tf.slice(input, 0, sizes[0]), { training: false }) as tf.Tensor),
        (own) => own.dispose(),
      );
      const result = tf.tidy(() => tf.concat([mine, ...parts.map((p) => tf.tensor(p.outputs, p.outputsShape, 'float32'))], 0));
      mine.dispose();
      return result;
    } finally {
      if (input !== x) input.dispose();
    }
  }

  /** Stops the worker threads. The model and optimizer stay usable on this thread. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    const workers = this.workers;
    this.workers = [];
    await Promise.all(
      workers.map(async (w) => {
        w.fail(new Error('DataParallelTrainer disposed'));
        await w.worker.terminate();
      }),
    );
  }
}
