/**
 * The worker thread of a {@link DataParallelTrainer} (internal entry point, built as `dist/parallel-worker.*`):
 * builds a copy of the model from its topology, then for each step loads the current weights from the shared
 * buffer and returns the gradients of its share of the batch.
 */
import { parentPort } from 'worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
// The library's index registers every layer class, so that the topology deserializes.
import { accumulateGradients, RandomGenerator, resolveTrainingFunction, withRandomGenerator } from 'vit-tfjs';
import { selectBackend } from '../backend';
import { slotView, type InitMessage, type PredictMessage, type StepMessage, type TrainerMessage, type WeightSlot, type WorkerReply } from './protocol';

interface WorkerState {
  model: tfl.LayersModel;
  slots: WeightSlot[];
  weights: SharedArrayBuffer;
  microBatchSize?: number;
  loss?: (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;
}

let state: WorkerState | null = null;

function reply(message: WorkerReply, transfer: ArrayBuffer[] = []): void {
  parentPort!.postMessage(message, transfer);
}

async function init(msg: InitMessage): Promise<void> {
  tf.enableProdMode();
  if (msg.backend === 'tensorflow' || msg.backend === 'wasm' || msg.backend === 'cpu') {
    await selectBackend({ backend: msg.backend });
  } else {
    throw new Error(`unsupported backend '${msg.backend}'`);
  }
  for (const specifier of msg.imports) await import(specifier);
  const model = await tfl.models.modelFromJSON({ modelTopology: msg.topology as tf.io.ModelJSON['modelTopology'] });
  const weights = model.weights;
  if (weights.length !== msg.slots.length) {
    throw new Error(`the rebuilt model has ${weights.length} weights, the trainer's ${msg.slots.length}`);
  }
  weights.forEach((w, i) => {
    const slot = msg.slots[i];
    if (w.shape.join(',') !== slot.shape.join(',') || w.trainable !== slot.trainable) {
      throw new Error(`weight ${i} ('${w.name}') of the rebuilt model does not match the trainer's ('${slot.name}')`);
    }
  });
  const loss = msg.loss != null ? resolveTrainingFunction(msg.loss) : undefined;
  state = { model, slots: msg.slots, weights: msg.weights, microBatchSize: msg.microBatchSize, loss };
}

function loadWeights(s: WorkerState): void {
  // `slice` copies out of the shared buffer: the cpu backend keeps the array it is given, which the trainer rewrites.
  const values = s.slots.map((slot) => tf.tensor(slotView(s.weights, slot).slice(), slot.shape, slot.dtype));
  try {
    s.model.setWeights(values);
  } finally {
    tf.dispose(values);
  }
}

function step(msg: StepMessage): void {
  const s = state;
  if (s == null) throw new Error('step before init');
  loadWeights(s);
  const x = tf.tensor(msg.x, msg.xShape, 'float32');
  const y = tf.tensor(msg.y, msg.yShape, msg.yDtype);
  try {
    const result = withRandomGenerator(new RandomGenerator(msg.seed), () =>
      accumulateGradients(s.model, x, y, { microBatchSize: s.microBatchSize, totalBatchSize: msg.totalBatchSize, loss: s.loss }),
    );
    const gradients = result.gradients.map((g) => Float32Array.from(g.dataSync() as Float32Array));
    const outputs = Float32Array.from(result.outputs.dataSync() as Float32Array);
    const outputsShape = result.outputs.shape;
    tf.dispose([...result.gradients, result.outputs]);
    reply(
      { type: 'result', id: msg.id, loss: result.loss, gradients, outputs, outputsShape },
      [...gradients.map((g) => g.buffer as ArrayBuffer), outputs.buffer as ArrayBuffer],
    );
  } finally {
    tf.dispose([x, y]);
  }
}

function predict(msg: PredictMessage): void {
  const s = state;
  if (s == null) throw new Error('predict before init');
  loadWeights(s);
  const x = tf.tensor(msg.x, msg.xShape, 'float32');
  try {
    const y = tf.tidy(() => s.model.apply(x, { training: false }) as tf.Tensor);
    const outputs = Float32Array.from(y.dataSync() as Float32Array);
    const outputsShape = y.shape;
    y.dispose();
    reply({ type: 'predicted', id: msg.id, outputs, outputsShape }, [outputs.buffer as ArrayBuffer]);
  } finally {
    x.dispose();
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

parentPort!.on('message', (msg: TrainerMessage) => {
  if (msg.type === 'init') {
    init(msg).then(
      () => reply({ type: 'ready' }),
      (err) => reply({ type: 'error', message: messageOf(err) }),
    );
    return;
  }
  try {
    if (msg.type === 'predict') predict(msg);
    else step(msg);
  } catch (err) {
    reply({ type: 'error', id: msg.id, message: messageOf(err) });
  }
});
