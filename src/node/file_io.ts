import { promises as nodeFs } from 'fs';
import * as path from 'path';
import { randomBytes } from 'crypto';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileSynced } from './atomic_write';

/**
 * File name of the model description, as tfjs-node's `file://` handler writes it.
 *
 * @category Model IO
 */
export const MODEL_JSON_FILENAME = 'model.json';
/**
 * File name of the weights, as tfjs-node's `file://` handler writes it.
 *
 * @category Model IO
 */
export const WEIGHTS_BIN_FILENAME = 'weights.bin';
/**
 * Suffix of the sibling folder that holds the previous model while a save swaps the new one in (`<folder>.old`).
 *
 * @category Model IO
 */
export const OLD_FOLDER_SUFFIX = '.old';

/**
 * The file-system calls `fileIO` makes (a subset of Node's `fs.promises`), so that a test can count them or stop
 * the process after any one of them.
 * @internal
 */
export type FileIOFileSystem = Pick<typeof nodeFs, 'mkdir' | 'readdir' | 'open' | 'rename' | 'rm' | 'readFile'>;

/**
 * An IO handler that saves and loads a model on disk without tfjs-node, in the layout of tfjs-node's `file://`
 * handler: a folder with `model.json` (topology, training config, weights manifest) and `weights.bin`.
 *
 * **Saving is atomic as a unit**: both files are written (and flushed to disk) into a temporary folder beside the
 * target (`<folder>.tmp-<pid>-<random>`), then the target is renamed to `<folder>.old`, the temporary folder to
 * the target, and `<folder>.old` is removed. A process killed at any instant leaves the old model or the new one,
 * whole: either in `<folder>`, or — killed between the two renames — in `<folder>.old`, which loading then uses
 * (and the next save cleans up, as it does the temporary folders of killed saves). The target folder must hold
 * nothing but a model (`model.json`, `weights.bin`): a folder with other entries is refused, since the swap
 * replaces the folder as a whole. Saves to one folder must not run concurrently.
 *
 * **Loading checks** what it reads: a `model.json` without a `weightsManifest` (or with an empty one), weight
 * paths that leave the model folder (`../x`, absolute paths) and weight files whose size does not match the
 * manifest are refused with an error naming the file — tfjs would otherwise build the model with freshly
 * initialised weights, or read files outside the folder.
 *
 * @param location The model folder (created when saving), or its `model.json`.
 *
 * @example
 * ```ts
 * import { fileIO } from 'vit-tfjs/node';
 * await model.save(fileIO('./out/best-model'));
 * const restored = await tf.loadLayersModel(fileIO('./out/best-model'));
 * ```
 *
 * @category Model IO
 */
export function fileIO(location: string): tf.io.IOHandler {
  return fileIOWith(location, nodeFs);
}

/**
 * {@link fileIO} with the file-system calls made through `fs` (for tests that count them or stop after one).
 * @internal
 */
export function fileIOWith(location: string, fs: FileIOFileSystem): tf.io.IOHandler {
  return {
    save: (artifacts) => saveArtifacts(fs, location, artifacts),
    load: () => loadArtifacts(fs, location),
  };
}

function modelFolder(location: string): string {
  return path.resolve(path.basename(location) === MODEL_JSON_FILENAME ? path.dirname(location) : location);
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** The entries of `dir`, or null when it does not exist. */
async function entriesOf(fs: FileIOFileSystem, dir: string): Promise<string[] | null> {
  try {
    return await fs.readdir(dir);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return null;
    if (errorCode(err) === 'ENOTDIR') throw new Error(`fileIO: ${dir} exists and is not a folder`);
    throw err;
  }
}


/** Flushes a folder's entries (the renames and new files in it) to disk; a no-op where folders cannot be opened. */
async function syncFolder(fs: FileIOFileSystem, dir: string): Promise<void> {
  let handle: nodeFs.FileHandle | undefined;
  try {
    handle = await fs.open(dir, 'r');
    await handle.sync();
  } catch {
    // Windows cannot open a folder; some file systems refuse fsync on one.
  } finally {
    await handle?.close().catch(() => undefined);
  }
}

function processIsAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Entries a model folder may hold: the model, and the temporary files of the per-file atomic writes of 0.1. */
function isModelEntry(name: string): boolean {
  return name === MODEL_JSON_FILENAME || name === WEIGHTS_BIN_FILENAME || /^\.(model\.json|weights\.bin)\..*\.tmp$/.test(name);
}

async function saveArtifacts(fs: FileIOFileSystem, location: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new Error('fileIO: saving a binary (GraphDef) model topology is not supported; save a LayersModel');
  }
  const folder = modelFolder(location);
  const parent = path.dirname(folder);
  const base = path.basename(folder);
  const old = folder + OLD_FOLDER_SUFFIX;

  const weightBytes = artifacts.weightData == null ? new ArrayBuffer(0) : tf.io.concatenateArrayBuffers(artifacts.weightData);
  const weightsManifest: tf.io.WeightsManifestConfig = [{ paths: [WEIGHTS_BIN_FILENAME], weights: artifacts.weightSpecs ?? [] }];
  const modelJSON: tf.io.ModelJSON = {
    modelTopology: artifacts.modelTopology as object,
    weightsManifest,
    format: artifacts.format,
    generatedBy: artifacts.generatedBy,
    convertedBy: artifacts.convertedBy,
  };
  if (artifacts.trainingConfig != null) modelJSON.trainingConfig = artifacts.trainingConfig;
  if (artifacts.signature != null) modelJSON.signature = artifacts.signature;
  if (artifacts.userDefinedMetadata != null) modelJSON.userDefinedMetadata = artifacts.userDefinedMetadata;
  if (artifacts.modelInitializer != null) modelJSON.modelInitializer = artifacts.modelInitializer;
  if (artifacts.initializerSignature != null) modelJSON.initializerSignature = artifacts.initializerSignature;
  const jsonText = JSON.stringify(modelJSON);

  await fs.mkdir(parent, { recursive: true });
  // Temporary folders of saves that were killed (their process is gone).
  const stale = new RegExp(`^${escapeRegExp(base)}\\.tmp-(\\d+)-[0-9a-f]+$`);
  for (const name of (await entriesOf(fs, parent)) ?? []) {
    const m = stale.exec(name);
    if (m != null && !processIsAlive(Number(m[1]))) await fs.rm(path.join(parent, name), { recursive: true, force: true });
  }
  const current = await entriesOf(fs, folder);
  const foreign = (current ?? []).filter((name) => !isModelEntry(name));
  if (foreign.length > 0) {
    throw new Error(
      `fileIO: ${folder} holds entries other than a model (${foreign.slice(0, 5).join(', ')}${foreign.length > 5 ? ', …' : ''}); ` +
        `a save replaces the folder as a whole, so save the model into a folder of its own`,
    );
  }

  const tmp = path.join(parent, `${base}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await fs.mkdir(tmp);
    await writeFileSynced(path.join(tmp, WEIGHTS_BIN_FILENAME), new Uint8Array(weightBytes), fs);
    await writeFileSynced(path.join(tmp, MODEL_JSON_FILENAME), jsonText, fs);
    await syncFolder(fs, tmp);
  } catch (err) {
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }

  // The swap. Without a target folder, `<folder>.old` (if any) is the current model: it stays until the new one is in.
  let movedAway = false;
  try {
    if (current != null) {
      await fs.rm(old, { recursive: true, force: true });
      await fs.rename(folder, old);
      movedAway = true;
    }
    await fs.rename(tmp, folder);
  } catch (err) {
    if (movedAway) await fs.rename(old, folder).catch(() => undefined);
    await fs.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
  await syncFolder(fs, parent);
  await fs.rm(old, { recursive: true, force: true });

  return {
    modelArtifactsInfo: {
      dateSaved: new Date(),
      modelTopologyType: 'JSON',
      modelTopologyBytes: Buffer.byteLength(JSON.stringify(artifacts.modelTopology), 'utf8'),
      weightSpecsBytes: Buffer.byteLength(JSON.stringify(artifacts.weightSpecs ?? []), 'utf8'),
      weightDataBytes: weightBytes.byteLength,
    },
  };
}

/** Reads `model.json` of `folder`, or of `<folder>.old` when a save was killed between its two renames. */
async function readModelJSON(fs: FileIOFileSystem, folder: string): Promise<{ jsonPath: string; text: string }> {
  const jsonPath = path.join(folder, MODEL_JSON_FILENAME);
  try {
    return { jsonPath, text: await fs.readFile(jsonPath, 'utf8') };
  } catch (err) {
    if (errorCode(err) === 'ENOENT' && (await entriesOf(fs, folder)) == null) {
      const oldPath = path.join(folder + OLD_FOLDER_SUFFIX, MODEL_JSON_FILENAME);
      try {
        return { jsonPath: oldPath, text: await fs.readFile(oldPath, 'utf8') };
      } catch {
        // Report the folder asked for.
      }
    }
    throw new Error(`fileIO: cannot read ${jsonPath}: ${(err as Error).message}`);
  }
}

/** Throws unless `file` (a weights path from `jsonPath`'s manifest) names a file inside `folder`. */
function weightFilePath(folder: string, file: unknown, jsonPath: string): string {
  if (typeof file !== 'string' || file.length === 0) {
    throw new Error(`fileIO: ${jsonPath} lists a weights path that is not a file name: ${JSON.stringify(file)}`);
  }
  const resolved = path.resolve(folder, file);
  const relative = path.relative(folder, resolved);
  if (
    path.posix.isAbsolute(file) ||
    path.win32.isAbsolute(file) ||
    relative === '' ||
    relative === '..' ||
    relative.startsWith(`..${path.sep}`) ||
    path.isAbsolute(relative)
  ) {
    throw new Error(`fileIO: ${jsonPath} lists the weights file '${file}', which is outside the model folder ${folder}`);
  }
  return resolved;
}

async function loadArtifacts(fs: FileIOFileSystem, location: string): Promise<tf.io.ModelArtifacts> {
  const { jsonPath, text } = await readModelJSON(fs, modelFolder(location));
  const folder = path.dirname(jsonPath);
  let modelJSON: tf.io.ModelJSON;
  try {
    modelJSON = JSON.parse(text) as tf.io.ModelJSON;
  } catch (err) {
    throw new Error(`fileIO: ${jsonPath} is not valid JSON: ${(err as Error).message}`);
  }
  if (modelJSON == null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
    throw new Error(`fileIO: ${jsonPath} has no modelTopology`);
  }
  // tfjs builds a model without weights from a model.json without a manifest: freshly initialised, silently.
  const manifest = modelJSON.weightsManifest as unknown;
  if (manifest == null) throw new Error(`fileIO: ${jsonPath} has no weightsManifest, so its weights cannot be loaded`);
  if (!Array.isArray(manifest) || manifest.length === 0) {
    throw new Error(`fileIO: ${jsonPath} has an empty or invalid weightsManifest (expected a non-empty array of { paths, weights })`);
  }
  const files: string[][] = manifest.map((group: unknown, i: number) => {
    const g = group as Partial<tf.io.WeightsManifestConfig[number]> | null;
    if (g == null || !Array.isArray(g.paths) || !Array.isArray(g.weights)) {
      throw new Error(`fileIO: ${jsonPath} has an invalid weightsManifest entry ${i} (expected { paths: string[], weights: [...] })`);
    }
    g.weights.forEach((spec: unknown, j: number) => checkWeightSpec(spec, `weightsManifest[${i}].weights[${j}]`, jsonPath));
    return g.paths.map((file: unknown) => weightFilePath(folder, file, jsonPath));
  });

  return tf.io.getModelArtifactsForJSON(modelJSON, async (groups) => {
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (let i = 0; i < groups.length; i++) {
      specs.push(...groups[i].weights);
      for (const filePath of files[i]) {
        let bytes: Buffer;
        try {
          bytes = await fs.readFile(filePath);
        } catch (err) {
          throw new Error(`fileIO: cannot read weights file ${filePath}: ${(err as Error).message}`);
        }
        buffers.push(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
      }
    }
    const weightData = tf.io.concatenateArrayBuffers(buffers);
    const expected = specs.reduce((sum, spec) => sum + weightByteLength(spec), 0);
    if (weightData.byteLength !== expected) {
      throw new Error(
        `fileIO: weights in ${folder} hold ${weightData.byteLength} bytes but ${jsonPath} describes ${expected} (truncated or mismatched weights.bin)`,
      );
    }
    return [specs, weightData];
  });
}

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, complex64: 8, uint8: 1, float16: 2 };

/** Throws unless `spec` (at `where` in `jsonPath`) is a weight entry: a name, a shape of whole numbers, a known dtype. */
function checkWeightSpec(spec: unknown, where: string, jsonPath: string): void {
  const s = spec as Partial<tf.io.WeightsManifestEntry> | null;
  const fail = (what: string): never => {
    throw new Error(`fileIO: ${jsonPath}: ${where} ${what}`);
  };
  if (s == null || typeof s !== 'object' || Array.isArray(s)) fail('is not a weight entry (expected { name, shape, dtype })');
  const entry = s as Partial<tf.io.WeightsManifestEntry>;
  if (typeof entry.name !== 'string' || entry.name.length === 0) fail(`has no name (got ${JSON.stringify(entry.name)})`);
  const shape = entry.shape as unknown;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
    fail(`('${entry.name}') has shape ${JSON.stringify(shape)}, expected an array of whole numbers`);
  }
  if (entry.dtype === 'string') fail(`('${entry.name}') is a string weight, which is not supported`);
  if (typeof entry.dtype !== 'string' || !(entry.dtype in DTYPE_BYTES)) {
    fail(`('${entry.name}') has dtype ${JSON.stringify(entry.dtype)}, expected one of ${Object.keys(DTYPE_BYTES).join(', ')}`);
  }
}

function weightByteLength(spec: tf.io.WeightsManifestEntry): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization != null) {
    const q = spec.quantization.dtype;
    return size * (q === 'uint8' ? 1 : q === 'uint16' || q === 'float16' ? 2 : 4);
  }
  return size * DTYPE_BYTES[spec.dtype];
}
