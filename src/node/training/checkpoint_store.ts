import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import type { CheckpointState, CheckpointStore, EncodedWeights, TrainingCheckpoint } from 'vit-tfjs';
import { fileIO } from '../file_io';
import { writeFileSynced } from '../atomic_write';

/**
 * File names inside a {@link FileCheckpointStore} folder.
 *
 * @category Training
 */
export const CHECKPOINT_FILES = {
  /** The model, in `fileIO`'s layout (with `weights.bin`): loadable with `tf.loadLayersModel(fileIO(folder))`. */
  model: 'model.json',
  /** The optimizer's state (specs in `state.json`). */
  optimizer: 'optimizer.bin',
  /** The best epoch's weights (specs in `state.json`). */
  bestWeights: 'best-weights.bin',
  /** Epoch, settings, history, generator states, best epoch: written last, so its presence marks a whole checkpoint. */
  state: 'state.json',
} as const;

/** `state.json`: the checkpoint's state and the specs of its binary files. */
interface StateFile extends CheckpointState {
  optimizer: { specs: EncodedWeights['specs'] };
  bestWeights: { specs: EncodedWeights['specs'] } | null;
}


function toArrayBuffer(b: Buffer): ArrayBuffer {
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
}

/**
 * A {@link CheckpointStore} in one folder on disk, `dir` (for `fitViT`'s `checkpoint` option): `model.json` and
 * `weights.bin` (the model, loadable with `fileIO`), `optimizer.bin`, `best-weights.bin` and `state.json`.
 *
 * Each save writes a whole new folder in a staging folder beside `dir` (`.<name>-tmp-<pid>/`) and swaps it into place with two renames
 * (the old one goes to `<name>.old` in between, then is removed), so a process killed at any moment leaves the
 * previous checkpoint or the new one, whole: `load` takes `dir`, or `<name>.old` when a kill fell between the renames.
 *
 * @example
 * ```ts
 * import { fileCheckpointStore } from 'vit-tfjs/node';
 * await fitViT(model, data, { epochs: 10, checkpoint: fileCheckpointStore('runs/a/checkpoint'), resume: 'auto' });
 * ```
 *
 * @category Training
 */
export class FileCheckpointStore implements CheckpointStore {
  /** The checkpoint folder (absolute). */
  readonly location: string;

  /** @param dir The checkpoint folder; its parent is created on the first save. */
  constructor(dir: string) {
    if (typeof dir !== 'string' || dir.length === 0) throw new Error(`fileCheckpointStore: dir must be a non-empty path, got ${String(dir)}`);
    this.location = path.resolve(dir);
  }

  private get oldDir(): string {
    return `${this.location}.old`;
  }

  private get tmpDir(): string {
    return path.join(path.dirname(this.location), `.${path.basename(this.location)}-tmp-${process.pid}`);
  }

  /** The folder a load reads: the checkpoint, or the previous one when a kill fell between the two renames; null when none. */
  findFolder(): string | null {
    for (const dir of [this.location, this.oldDir]) {
      if (existsSync(path.join(dir, CHECKPOINT_FILES.state))) return dir;
    }
    return null;
  }

  /** See {@link CheckpointStore.load}. */
  async load(): Promise<TrainingCheckpoint | null> {
    const dir = this.findFolder();
    if (dir == null) return null;
    const statePath = path.join(dir, CHECKPOINT_FILES.state);
    let state: StateFile;
    try {
      state = JSON.parse(await fs.readFile(statePath, 'utf8')) as StateFile;
    } catch (err) {
      throw new Error(`checkpoint: cannot read ${statePath}: ${(err as Error).message}`);
    }
    const model = await fileIO(dir).load!();
    const readBin = async (name: string, specs: EncodedWeights['specs']): Promise<EncodedWeights> => {
      const file = path.join(dir, name);
      const data = toArrayBuffer(await fs.readFile(file));
      const expected = specs.reduce((a, s) => a + 4 * s.shape.reduce((p, d) => p * d, 1), 0);
      if (data.byteLength !== expected) throw new Error(`checkpoint: ${file} holds ${data.byteLength} bytes, ${statePath} describes ${expected}`);
      return { specs, data };
    };
    const { optimizer, bestWeights, ...rest } = state;
    return {
      state: rest,
      model,
      optimizer: await readBin(CHECKPOINT_FILES.optimizer, optimizer.specs),
      bestWeights: bestWeights == null ? null : await readBin(CHECKPOINT_FILES.bestWeights, bestWeights.specs),
    };
  }

  /** See {@link CheckpointStore.save}: writes a new folder, then swaps it in. */
  async save(checkpoint: TrainingCheckpoint): Promise<void> {
    const parent = path.dirname(this.location);
    await fs.mkdir(parent, { recursive: true });
    // Leftovers of a killed save (of this or an earlier process): everything of a save happens inside its staging folder.
    const prefix = `.${path.basename(this.location)}-tmp-`;
    for (const name of await fs.readdir(parent)) {
      if (name.startsWith(prefix)) await fs.rm(path.join(parent, name), { recursive: true, force: true });
    }
    const staging = this.tmpDir;
    await fs.mkdir(staging);
    const tmp = path.join(staging, 'checkpoint');
    // The model first: fileIO creates (or replaces) its folder; the other files follow, state.json last.
    await fileIO(tmp).save!(checkpoint.model);
    await writeFileSynced(path.join(tmp, CHECKPOINT_FILES.optimizer), new Uint8Array(checkpoint.optimizer.data));
    if (checkpoint.bestWeights != null) {
      await writeFileSynced(path.join(tmp, CHECKPOINT_FILES.bestWeights), new Uint8Array(checkpoint.bestWeights.data));
    }
    const state: StateFile = {
      ...checkpoint.state,
      optimizer: { specs: checkpoint.optimizer.specs },
      bestWeights: checkpoint.bestWeights == null ? null : { specs: checkpoint.bestWeights.specs },
    };
    await writeFileSynced(path.join(tmp, CHECKPOINT_FILES.state), JSON.stringify(state));
    // Swap: a kill between the renames leaves <name>.old, which load takes. Remove an old one only while the
    // checkpoint itself exists (otherwise the old one is the only whole checkpoint).
    if (existsSync(this.location)) {
      await fs.rm(this.oldDir, { recursive: true, force: true });
      await fs.rename(this.location, this.oldDir);
    }
    await fs.rename(tmp, this.location);
    await fs.rm(this.oldDir, { recursive: true, force: true });
    await fs.rm(staging, { recursive: true, force: true });
  }
}

/**
 * A {@link FileCheckpointStore} for the folder `dir`.
 *
 * @example
 * ```ts
 * await fitViT(model, data, { epochs: 10, checkpoint: fileCheckpointStore('runs/a/checkpoint'), resume: 'auto' });
 * ```
 *
 * @category Training
 */
export function fileCheckpointStore(dir: string): FileCheckpointStore {
  return new FileCheckpointStore(dir);
}
