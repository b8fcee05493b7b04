/**
 * CIFAR-10 for the example. Archives and `'download'` go through `vit-tfjs/node`'s `loadCifar10`. A folder in the
 * binary layout is read here with the library's batch parser, because it may hold a sample (as the bundled
 * `data/cifar-10-sample`), with batches smaller than the official 10,000 images, which `loadCifar10` rejects as
 * truncated. Errors name the `--data` option.
 */
import { existsSync, promises as fs } from 'fs';
import * as path from 'path';
import {
  CIFAR_IMAGE_BYTES,
  type CifarDataset,
  type CifarSplit,
  concatSplits,
  parseCifarBinaryBatch,
  parseCifarLabelNames,
} from 'vit-tfjs';
import { loadCifar10 } from 'vit-tfjs/node';

export type { CifarDataset, CifarSplit };

/** Reads `data_batch_*.bin`, `test_batch.bin` and `batches.meta.txt` from `dir` or `dir/cifar-10-batches-bin`. */
async function readBinaryFolder(dir: string): Promise<CifarDataset | null> {
  const nested = path.join(dir, 'cifar-10-batches-bin');
  const folder = existsSync(nested) ? nested : dir;
  const names = await fs.readdir(folder);
  const trainFiles = names.filter((n) => /^data_batch_\d+\.bin$/.test(n)).sort();
  if (trainFiles.length === 0 || !names.includes('test_batch.bin') || !names.includes('batches.meta.txt')) return null;
  const read = async (name: string) =>
    parseCifarBinaryBatch(new Uint8Array(await fs.readFile(path.join(folder, name))), { name: path.join(folder, name) });
  const train = concatSplits(await Promise.all(trainFiles.map(read)));
  const test = await read('test_batch.bin');
  const classNames = parseCifarLabelNames(await fs.readFile(path.join(folder, 'batches.meta.txt'), 'utf8'));
  return { train, test, classNames };
}

/**
 * Loads CIFAR-10 from `source`: a folder (the binary layout, possibly a sample, or the Python layout), a `.tar.gz`
 * archive, or `'download'`.
 *
 * @param log Called with progress lines (download).
 */
export async function loadData(source: string, log: (line: string) => void = () => undefined): Promise<CifarDataset> {
  if (source !== 'download' && !existsSync(source)) {
    throw new Error(`--data: '${source}' does not exist (give a CIFAR-10 folder, a .tar.gz archive or 'download')`);
  }
  let lastTenth = -1;
  try {
    if (source !== 'download' && (await fs.stat(source)).isDirectory()) {
      const data = await readBinaryFolder(source);
      if (data != null) return data;
    }
    return await loadCifar10({
      source,
      onProgress: ({ received, total }) => {
        if (total == null || total === 0) return;
        const tenth = Math.floor((10 * received) / total);
        if (tenth !== lastTenth) {
          lastTenth = tenth;
          log(`Downloading CIFAR-10: ${(received / 2 ** 20).toFixed(0)} of ${(total / 2 ** 20).toFixed(0)} MB`);
        }
      },
    });
  } catch (err) {
    throw new Error(`--data: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** The first `n` images of a split (all of them when `n` is undefined or larger). */
export function takeFirst(set: CifarSplit, n?: number): CifarSplit {
  const count = set.labels.length;
  if (n == null || n >= count) return set;
  return {
    images: set.images.subarray(0, n * CIFAR_IMAGE_BYTES),
    labels: set.labels.subarray(0, n),
    shape: [n, 32, 32, 3],
  };
}
