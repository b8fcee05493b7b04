import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileIO, MODEL_JSON_FILENAME, WEIGHTS_BIN_FILENAME } from '../../src/node/file_io';
import { writeFileAtomic } from '../../src/node/atomic_write';
import { useBackend } from '../helpers/backends';

function smallModel(): tfl.LayersModel {
  const input = tfl.input({ shape: [3] });
  const hidden = tfl.layers.dense({ units: 4, activation: 'relu', kernelInitializer: tfl.initializers.glorotUniform({ seed: 1 }) }).apply(input) as tfl.SymbolicTensor;
  const output = tfl.layers.dense({ units: 2, kernelInitializer: tfl.initializers.glorotUniform({ seed: 2 }) }).apply(hidden) as tfl.SymbolicTensor;
  return tfl.model({ inputs: input, outputs: output });
}

describe('fileIO', () => {
  let dir: string;
  beforeAll(async () => {
    await useBackend('cpu');
  });
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vit-tfjs-io-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('writes the tfjs-node file:// layout and loads it back bit-identically', async () => {
    const model = smallModel();
    const x = tf.tensor2d([[0.1, -0.2, 0.3], [1, 2, -3]]);
    const before = (model.predict(x) as tf.Tensor).dataSync();
    const target = path.join(dir, 'nested', 'model');
    await model.save(fileIO(target));

    const files = (await fs.readdir(target)).sort();
    expect(files).toEqual([MODEL_JSON_FILENAME, WEIGHTS_BIN_FILENAME]);
    const json = JSON.parse(await fs.readFile(path.join(target, MODEL_JSON_FILENAME), 'utf8'));
    expect(json.weightsManifest).toHaveLength(1);
    expect(json.weightsManifest[0].paths).toEqual([WEIGHTS_BIN_FILENAME]);
    expect(json.modelTopology.class_name).toBe('Model');
    // 3x4 + 4 + 4x2 + 2 float32 values.
    expect((await fs.stat(path.join(target, WEIGHTS_BIN_FILENAME))).size).toBe((12 + 4 + 8 + 2) * 4);

    for (const location of [target, path.join(target, MODEL_JSON_FILENAME)]) {
      const loaded = await tfl.loadLayersModel(fileIO(location));
      const after = (loaded.predict(x) as tf.Tensor).dataSync();
      expect(Array.from(after)).toEqual(Array.from(before));
    }
  });

  it('overwrites a previous save in place and leaves no temporary files', async () => {
    const model = smallModel();
    await model.save(fileIO(dir));
    await model.save(fileIO(dir));
    expect((await fs.readdir(dir)).sort()).toEqual([MODEL_JSON_FILENAME, WEIGHTS_BIN_FILENAME]);
  });

  it('names the file when model.json is missing, not JSON, or weights are truncated', async () => {
    await expect(tfl.loadLayersModel(fileIO(path.join(dir, 'absent')))).rejects.toThrow(/cannot read .*absent.*model\.json/);

    await fs.writeFile(path.join(dir, MODEL_JSON_FILENAME), '{ not json');
    await expect(tfl.loadLayersModel(fileIO(dir))).rejects.toThrow(/model\.json is not valid JSON/);

    await smallModel().save(fileIO(dir));
    const weights = path.join(dir, WEIGHTS_BIN_FILENAME);
    const bytes = await fs.readFile(weights);
    await fs.writeFile(weights, bytes.subarray(0, bytes.length - 4));
    await expect(tfl.loadLayersModel(fileIO(dir))).rejects.toThrow(/hold 100 bytes but .* describes 104/);
  });
});

describe('writeFileAtomic', () => {
  it('replaces the whole file and keeps the old one when the write fails', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'vit-tfjs-atomic-'));
    const file = path.join(dir, 'a.txt');
    await writeFileAtomic(file, 'first');
    await writeFileAtomic(file, 'second');
    expect(await fs.readFile(file, 'utf8')).toBe('second');
    // A folder where the file should go makes the rename fail: the old contents stay, no temp file is left.
    await expect(writeFileAtomic(path.join(dir, 'missing', 'b.txt'), 'x')).rejects.toThrow();
    expect(await fs.readdir(dir)).toEqual(['a.txt']);
    await fs.rm(dir, { recursive: true, force: true });
  });
});
