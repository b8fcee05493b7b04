/**
 * Messages between a {@link DataParallelTrainer} and its worker threads (internal).
 *
 * Weights travel through one SharedArrayBuffer that the trainer fills before each step (every thread reads the
 * same copy); inputs go to each worker with its message, gradients and outputs come back transferred.
 */

/**
 * Where one weight of the model lies in the shared weight buffer (in 4-byte elements).
 *
 * @category Training
 */
export interface WeightSlot {
  name: string;
  shape: number[];
  dtype: 'float32' | 'int32';
  offset: number;
  size: number;
  trainable: boolean;
}

/**
 * The part of the shared weight buffer that holds `slot`.
 *
 * @category Training
 */
export function slotView(buffer: SharedArrayBuffer, slot: WeightSlot): Float32Array | Int32Array {
  return slot.dtype === 'int32' ? new Int32Array(buffer, slot.offset * 4, slot.size) : new Float32Array(buffer, slot.offset * 4, slot.size);
}

/**
 * Trainer → worker: build the model.
 *
 * @category Training
 */
export interface InitMessage {
  type: 'init';
  /** tfjs backend name to activate ('wasm', 'cpu', 'tensorflow'). */
  backend: string;
  /** `model.toJSON(null, false)`: the model's topology. */
  topology: unknown;
  /** Layout of `model.weights` in {@link InitMessage.weights}. */
  slots: WeightSlot[];
  /** All weights of the model, rewritten by the trainer before each step. */
  weights: SharedArrayBuffer;
  microBatchSize?: number;
  /** The loss by its saved name (`trainingFunctionName`); absent: the default loss. */
  loss?: string;
  /** Modules to import before the model is built (custom layers). */
  imports: string[];
}

/**
 * Trainer → worker: gradients of a share of a batch.
 *
 * @category Training
 */
export interface StepMessage {
  type: 'step';
  id: number;
  x: Float32Array;
  xShape: number[];
  y: Float32Array | Int32Array;
  yShape: number[];
  yDtype: 'float32' | 'int32';
  /** Size of the whole batch (the loss is a mean over it). */
  totalBatchSize: number;
  /** Seed of the share's random stream (dropout, augmentation). */
  seed: number;
}

/**
 * Trainer → worker: the model's outputs (inference mode) for a share of a batch.
 *
 * @category Training
 */
export interface PredictMessage {
  type: 'predict';
  id: number;
  x: Float32Array;
  xShape: number[];
}

/**
 * Worker → trainer.
 *
 * @category Training
 */
export type WorkerReply =
  | { type: 'ready' }
  | { type: 'predicted'; id: number; outputs: Float32Array; outputsShape: number[] }
  | {
      type: 'result';
      id: number;
      loss: number;
      /** One array per trainable weight, in the order of `model.trainableWeights`. */
      gradients: Float32Array[];
      outputs: Float32Array;
      outputsShape: number[];
    }
  | { type: 'error'; id?: number; message: string };

/**
 * Trainer → worker.
 *
 * @category Training
 */
export type TrainerMessage = InitMessage | StepMessage | PredictMessage;
