/**
 * Training checkpoints of {@link fitViT}: what one holds, where it is kept (a {@link CheckpointStore}), and the
 * conversions between a live model and optimizer and their stored bytes.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { RandomState } from '../utils/random';

/**
 * Tensors as bytes: `tf.io.encodeWeights`'s specs and one buffer.
 *
 * @category Training
 */
export interface EncodedWeights {
  /** Name, shape and dtype of each tensor, in order. */
  specs: tf.io.WeightsManifestEntry[];
  /** The tensors' bytes, concatenated in the order of `specs`. */
  data: ArrayBuffer;
}

/**
 * The JSON part of a {@link TrainingCheckpoint}.
 *
 * @category Training
 */
export interface CheckpointState {
  /** Format version (2). */
  version: 2;
  /** Number of completed epochs. */
  epoch: number;
  /** The settings that must not change on resume (see {@link FitViTOptions.settings}). */
  settings: Record<string, unknown>;
  /** Per-epoch logs so far, as {@link FitHistory.history}. */
  history: Record<string, number[]>;
  /** States of the library's global generator and of the shuffle generator after the last completed epoch. */
  rng: { global: RandomState; shuffle: RandomState };
  /** The best epoch so far (0-based, -1: none) and its monitored value (null when none). */
  best: { epoch: number; value: number | null };
  /** Early stopping: epochs without improvement, its best value, and whether it stopped the run. */
  earlyStopping: { wait: number; best: number | null; stopped: boolean };
  /** Threads the run trained on (the random draws depend on them). */
  threads: number;
}

/**
 * Everything {@link fitViT} needs to continue a run exactly where it stood after an epoch: the model's weights,
 * the optimizer's state, every generator's state, the history, the best epoch's weights and the settings.
 *
 * @category Training
 */
export interface TrainingCheckpoint {
  /** Epoch, settings, history, generator states, best epoch. */
  state: CheckpointState;
  /** The model as `model.save` gives it (topology, weight specs and data). */
  model: tf.io.ModelArtifacts;
  /** The optimizer's state (`optimizer.getWeights()`). */
  optimizer: EncodedWeights;
  /** The best epoch's weights (all of `model.weights`, in order), or null when none is tracked yet. */
  bestWeights: EncodedWeights | null;
}

/**
 * Where {@link fitViT} keeps its checkpoint: one at a time, replaced as a whole after each epoch. `save` must be
 * atomic: a run killed during it leaves the previous checkpoint or the new one, whole (as `load` sees it).
 * {@link MemoryCheckpointStore} works anywhere; `fileCheckpointStore` of `vit-tfjs/node` keeps it in a folder.
 *
 * @category Training
 */
export interface CheckpointStore {
  /** Where the checkpoint lives, for messages (a path, a key). */
  readonly location: string;
  /** The last checkpoint saved, or null when there is none. */
  load(): Promise<TrainingCheckpoint | null>;
  /** Replaces the checkpoint with `checkpoint`, atomically. */
  save(checkpoint: TrainingCheckpoint): Promise<void>;
}

/**
 * A {@link CheckpointStore} in memory (copies of the bytes): for tests, and for resuming within one page or process
 * after an error.
 *
 * @example
 * ```ts
 * const store = new MemoryCheckpointStore();
 * await fitViT(model, data, { epochs: 2, checkpoint: store });
 * await fitViT(model, data, { epochs: 4, checkpoint: store, resume: true }); // epochs 3 and 4
 * ```
 *
 * @category Training
 */
export class MemoryCheckpointStore implements CheckpointStore {
  /** See {@link CheckpointStore.location}. */
  readonly location: string;
  private saved: TrainingCheckpoint | null = null;

  /** @param location A name for messages; default `'memory'`. */
  constructor(location = 'memory') {
    this.location = location;
  }

  /** See {@link CheckpointStore.load}. */
  async load(): Promise<TrainingCheckpoint | null> {
    return this.saved == null ? null : copyCheckpoint(this.saved);
  }

  /** See {@link CheckpointStore.save}. */
  async save(checkpoint: TrainingCheckpoint): Promise<void> {
    this.saved = copyCheckpoint(checkpoint);
  }
}

function copyCheckpoint(c: TrainingCheckpoint): TrainingCheckpoint {
  const weightData = c.model.weightData == null ? undefined : joinBuffers(c.model.weightData).slice(0);
  return {
    state: JSON.parse(JSON.stringify(c.state)) as CheckpointState,
    model: { ...c.model, weightData },
    optimizer: { specs: c.optimizer.specs, data: c.optimizer.data.slice(0) },
    bestWeights: c.bestWeights == null ? null : { specs: c.bestWeights.specs, data: c.bestWeights.data.slice(0) },
  };
}

/** One ArrayBuffer of tfjs's `WeightData` (a buffer or a list of them). @internal */
export function joinBuffers(data: ArrayBuffer | ArrayBuffer[]): ArrayBuffer {
  return Array.isArray(data) ? tf.io.concatenateArrayBuffers(data) : data;
}

/** Encodes named tensors. @internal */
export async function encodeNamed(named: { name: string; tensor: tf.Tensor }[]): Promise<EncodedWeights> {
  const { data, specs } = await tf.io.encodeWeights(named);
  return { specs, data: joinBuffers(data as ArrayBuffer | ArrayBuffer[]) };
}

/** Decodes {@link EncodedWeights} into named tensors, in the order of the specs (the caller disposes them). @internal */
export function decodeNamed(encoded: EncodedWeights): { name: string; tensor: tf.Tensor }[] {
  const map = tf.io.decodeWeights(encoded.data, encoded.specs);
  return encoded.specs.map((s) => ({ name: s.name, tensor: map[s.name] }));
}

/** The model's artifacts as `model.save` produces them. @internal */
export async function modelArtifacts(model: tfl.LayersModel): Promise<tf.io.ModelArtifacts> {
  let captured: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      captured = artifacts;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  if (captured == null) throw new Error('fitViT: model.save produced no artifacts');
  const a = captured as tf.io.ModelArtifacts;
  return { ...a, weightData: a.weightData == null ? undefined : joinBuffers(a.weightData as ArrayBuffer | ArrayBuffer[]) };
}

/**
 * Sets `model`'s weights (all of `model.weights`, in order) from encoded tensors, checking count and shapes.
 * @internal
 */
export function setModelWeights(model: tfl.LayersModel, specs: tf.io.WeightsManifestEntry[], data: ArrayBuffer, what: string): void {
  const weights = model.weights;
  if (specs.length !== weights.length) {
    throw new Error(`${what}: holds ${specs.length} weights but the model has ${weights.length} (a different model?)`);
  }
  specs.forEach((s, i) => {
    const shape = weights[i].shape;
    if (s.shape.length !== shape.length || s.shape.some((d, j) => d !== shape[j])) {
      throw new Error(`${what}: weight ${i} ('${s.name}') has shape [${s.shape}] but the model's '${weights[i].name}' has [${shape}]`);
    }
  });
  const named = decodeNamed({ specs, data });
  try {
    model.setWeights(named.map((n) => n.tensor));
  } finally {
    tf.dispose(named.map((n) => n.tensor));
  }
}
