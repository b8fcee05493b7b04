/**
 * Save → load round trips of a model, to memory and to disk (tfjs-node's file layout through `fileIO`).
 */
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileIO } from '../../src/node/file_io';

/** Saves `model` to memory, loads it back with `tf.loadLayersModel`, and returns the loaded model. */
export async function roundTripMemory(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  let artifacts: tf.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  // Through JSON, as a file would carry it.
  const topology = JSON.parse(JSON.stringify((artifacts as tf.io.ModelArtifacts).modelTopology));
  return tfl.loadLayersModel(tf.io.fromMemory({ ...(artifacts as tf.io.ModelArtifacts), modelTopology: topology }));
}

/** Saves `model` into a temporary folder with `fileIO`, loads it back, removes the folder. */
export async function roundTripDisk(model: tfl.LayersModel): Promise<tfl.LayersModel> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vit-tfjs-roundtrip-'));
  try {
    await model.save(fileIO(dir));
    return await tfl.loadLayersModel(fileIO(dir));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Predicts with `model`, saves and reloads it (memory and disk), predicts again, and expects bit-identical outputs.
 * Returns the loaded models (caller disposes).
 */
export async function expectIdenticalAfterRoundTrip(model: tfl.LayersModel, input: tf.Tensor | tf.Tensor[]): Promise<tfl.LayersModel[]> {
  const outputs = (m: tfl.LayersModel): number[][] => {
    const y = m.predict(input);
    const list = Array.isArray(y) ? y : [y];
    const values = list.map((t) => Array.from(t.dataSync()));
    tf.dispose(list);
    return values;
  };
  const before = outputs(model);
  const loaded = [await roundTripMemory(model), await roundTripDisk(model)];
  for (const m of loaded) {
    expect(m.layers.map((l) => l.getClassName())).toEqual(model.layers.map((l) => l.getClassName()));
    expect(outputs(m)).toEqual(before);
  }
  return loaded;
}
