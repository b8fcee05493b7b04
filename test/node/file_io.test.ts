import { spawnSync } from 'child_process';
import { promises as fs } from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { fileIO, fileIOWith, FileIOFileSystem, MODEL_JSON_FILENAME, OLD_FOLDER_SUFFIX, WEIGHTS_BIN_FILENAME } from '../../src/node/file_io';
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

  describe('load checks and swap', () => {
    async function editModelJSON(folder: string, edit: (json: Record<string, unknown>) => void): Promise<string> {
      const file = path.join(folder, MODEL_JSON_FILENAME);
      const json = JSON.parse(await fs.readFile(file, 'utf8'));
      edit(json);
      await fs.writeFile(file, JSON.stringify(json));
      return file;
    }

    it('refuses a model.json without weightsManifest, or with an empty one, naming the file', async () => {
      await smallModel().save(fileIO(dir));
      const file = await editModelJSON(dir, (j) => delete j.weightsManifest);
      const escaped = file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      await expect(tfl.loadLayersModel(fileIO(dir))).rejects.toThrow(new RegExp(`^fileIO: ${escaped} has no weightsManifest`));
      await editModelJSON(dir, (j) => (j.weightsManifest = []));
      await expect(tfl.loadLayersModel(fileIO(dir))).rejects.toThrow(new RegExp(`^fileIO: ${escaped} has an empty or invalid weightsManifest`));
      await editModelJSON(dir, (j) => (j.weightsManifest = [{ paths: 'weights.bin' }]));
      await expect(tfl.loadLayersModel(fileIO(dir))).rejects.toThrow(/invalid weightsManifest entry 0/);
    });

    it('refuses weight paths that leave the model folder, naming the file and the path', async () => {
      const model = smallModel();
      const folder = path.join(dir, 'model');
      await model.save(fileIO(folder));
      // A copy of the weights beside the folder, where "../weights.bin" would find it.
      await fs.copyFile(path.join(folder, WEIGHTS_BIN_FILENAME), path.join(dir, WEIGHTS_BIN_FILENAME));
      for (const bad of ['../weights.bin', path.join(dir, WEIGHTS_BIN_FILENAME), 'sub/../../weights.bin', '/etc/passwd', 'C:\\x\\weights.bin', '.', '']) {
        await editModelJSON(folder, (j) => ((j.weightsManifest as { paths: string[] }[])[0].paths = [bad]));
        const message = bad === '' ? /lists a weights path that is not a file name: ""/ : /lists the weights file '.*', which is outside the model folder/;
        await expect(tfl.loadLayersModel(fileIO(folder))).rejects.toThrow(message);
        await expect(tfl.loadLayersModel(fileIO(folder))).rejects.toThrow(path.join(folder, MODEL_JSON_FILENAME));
      }
      // A path inside the folder (a subfolder) is fine.
      await fs.mkdir(path.join(folder, 'sub'));
      await fs.rename(path.join(folder, WEIGHTS_BIN_FILENAME), path.join(folder, 'sub', 'w.bin'));
      await editModelJSON(folder, (j) => ((j.weightsManifest as { paths: string[] }[])[0].paths = ['sub/w.bin']));
      const loaded = await tfl.loadLayersModel(fileIO(folder));
      const x = tf.tensor2d([[1, 2, 3]]);
      expect(Array.from((loaded.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((model.predict(x) as tf.Tensor).dataSync()));
    });

    it('loads <folder>.old when the folder is missing (a save killed between its renames); the next save removes it', async () => {
      const a = smallModel();
      const x = tf.tensor2d([[0.5, -1, 2]]);
      const folder = path.join(dir, 'best');
      await a.save(fileIO(folder));
      await fs.rename(folder, folder + OLD_FOLDER_SUFFIX);
      const back = await tfl.loadLayersModel(fileIO(folder));
      expect(Array.from((back.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((a.predict(x) as tf.Tensor).dataSync()));
      // Also through the model.json path.
      await expect(tfl.loadLayersModel(fileIO(path.join(folder, MODEL_JSON_FILENAME)))).resolves.toBeDefined();
      await a.save(fileIO(folder));
      expect((await fs.readdir(dir)).sort()).toEqual(['best']);
      // With the folder there, a stale .old is not read.
      await fs.mkdir(folder + OLD_FOLDER_SUFFIX);
      await fs.writeFile(path.join(folder + OLD_FOLDER_SUFFIX, MODEL_JSON_FILENAME), 'stale');
      await expect(tfl.loadLayersModel(fileIO(folder))).resolves.toBeDefined();
    });

    it('refuses to save over a folder that holds other files, and changes nothing', async () => {
      await fs.writeFile(path.join(dir, 'notes.txt'), 'mine');
      await expect(smallModel().save(fileIO(dir))).rejects.toThrow(/holds entries other than a model \(notes\.txt\); .*a folder of its own/);
      expect(await fs.readdir(dir)).toEqual(['notes.txt']);
      expect((await fs.readdir(path.dirname(dir))).filter((n) => n.startsWith(path.basename(dir) + '.'))).toEqual([]);
    });

    it('removes the temporary folders of killed saves, and keeps the old model when a write fails', async () => {
      const folder = path.join(dir, 'm');
      const a = smallModel();
      await a.save(fileIO(folder));
      // A temporary folder left by a process that is gone.
      const deadPid = spawnSync(process.execPath, ['-e', '']).pid as number;
      const stale = path.join(dir, `m.tmp-${deadPid}-0123456789ab`);
      await fs.mkdir(stale);
      await fs.writeFile(path.join(stale, WEIGHTS_BIN_FILENAME), 'partial');
      // The second file write fails (a full disk): the save rejects, the old model stays, no temporary folder is left.
      let writes = 0;
      const failing = {
        ...fs,
        open: async (file: string, flags: string) => {
          const handle = await fs.open(file, flags);
          if (flags === 'w' && ++writes === 2) {
            await handle.close();
            throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
          }
          return handle;
        },
      } as unknown as FileIOFileSystem;
      const b = tfl.sequential({ layers: [tfl.layers.dense({ units: 1, inputShape: [3] })] });
      await expect(b.save(fileIOWith(folder, failing))).rejects.toThrow(/ENOSPC/);
      expect((await fs.readdir(dir)).sort()).toEqual(['m']);
      const back = await tfl.loadLayersModel(fileIO(folder));
      const x = tf.tensor2d([[1, 1, 1]]);
      expect(Array.from((back.predict(x) as tf.Tensor).dataSync())).toEqual(Array.from((a.predict(x) as tf.Tensor).dataSync()));
    });
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
