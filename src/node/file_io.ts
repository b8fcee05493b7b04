import { promises as fs } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import { writeFileAtomic } from './atomic_write';

/** File name of the model description, as tfjs-node's `file://` handler writes it. */
export const MODEL_JSON_FILENAME = 'model.json';
/** File name of the weights, as tfjs-node's `file://` handler writes it. */
export const WEIGHTS_BIN_FILENAME = 'weights.bin';

/**
 * An IO handler that saves and loads a model on disk without tfjs-node, in the layout of tfjs-node's `file://`
 * handler: a folder with `model.json` (topology, training config, weights manifest) and `weights.bin`.
 *
 * Saving writes each file atomically (a temporary file in the same folder, then a rename), `weights.bin` first,
 * so an interrupted save never leaves a truncated file behind and a folder that held a model still holds a whole one.
 *
 * @param location The model folder (created when saving), or, for loading, the folder or its `model.json`.
 *
 * @example
 * ```ts
 * import { fileIO } from 'vit-tfjs/node';
 * await model.save(fileIO('./out/best-model'));
 * const restored = await tf.loadLayersModel(fileIO('./out/best-model'));
 * ```
 */
export function fileIO(location: string): tf.io.IOHandler {
  return {
    save: (artifacts) => saveArtifacts(location, artifacts),
    load: () => loadArtifacts(location),
  };
}

function modelFolder(location: string): string {
  return path.basename(location) === MODEL_JSON_FILENAME ? path.dirname(location) : location;
}

async function saveArtifacts(location: string, artifacts: tf.io.ModelArtifacts): Promise<tf.io.SaveResult> {
  if (artifacts.modelTopology instanceof ArrayBuffer) {
    throw new Error('fileIO: saving a binary (GraphDef) model topology is not supported; save a LayersModel');
  }
  const folder = modelFolder(location);
  await fs.mkdir(folder, { recursive: true });

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
  await writeFileAtomic(path.join(folder, WEIGHTS_BIN_FILENAME), new Uint8Array(weightBytes));
  await writeFileAtomic(path.join(folder, MODEL_JSON_FILENAME), jsonText);

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

async function loadArtifacts(location: string): Promise<tf.io.ModelArtifacts> {
  const jsonPath = path.basename(location) === MODEL_JSON_FILENAME ? location : path.join(location, MODEL_JSON_FILENAME);
  const folder = path.dirname(jsonPath);
  let text: string;
  try {
    text = await fs.readFile(jsonPath, 'utf8');
  } catch (err) {
    throw new Error(`fileIO: cannot read ${jsonPath}: ${(err as Error).message}`);
  }
  let modelJSON: tf.io.ModelJSON;
  try {
    modelJSON = JSON.parse(text) as tf.io.ModelJSON;
  } catch (err) {
    throw new Error(`fileIO: ${jsonPath} is not valid JSON: ${(err as Error).message}`);
  }
  if (modelJSON == null || typeof modelJSON !== 'object' || modelJSON.modelTopology == null) {
    throw new Error(`fileIO: ${jsonPath} has no modelTopology`);
  }
  return tf.io.getModelArtifactsForJSON(modelJSON, async (manifest) => {
    if (!Array.isArray(manifest)) throw new Error(`fileIO: ${jsonPath} has no valid weightsManifest`);
    const specs: tf.io.WeightsManifestEntry[] = [];
    const buffers: ArrayBuffer[] = [];
    for (const group of manifest) {
      specs.push(...group.weights);
      for (const file of group.paths) {
        const filePath = path.join(folder, file);
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

function weightByteLength(spec: tf.io.WeightsManifestEntry): number {
  const size = spec.shape.reduce((a, b) => a * b, 1);
  if (spec.quantization != null) {
    const q = spec.quantization.dtype;
    return size * (q === 'uint8' ? 1 : q === 'uint16' || q === 'float16' ? 2 : 4);
  }
  if (spec.dtype === 'string') throw new Error(`fileIO: string weight '${spec.name}' is not supported`);
  return size * (DTYPE_BYTES[spec.dtype] ?? 4);
}
