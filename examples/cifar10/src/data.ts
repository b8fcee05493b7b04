/**
 * CIFAR-10 for the example, through `vit-tfjs/node`'s `loadCifar10`: a folder (also a sample such as the bundled
 * `data/cifar-10-sample`, whose batches are smaller than the official 10,000 images), a `.tar.gz` archive or
 * `'download'`. Errors name the `--data` option.
 */
import { existsSync, promises as fs } from 'fs';
import { CIFAR_IMAGE_BYTES, type CifarDataset, type CifarSplit } from 'vit-tfjs';
import { loadCifar10 } from 'vit-tfjs/node';

export type { CifarDataset, CifarSplit };

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
    // A folder may hold a sample (as the bundled one) with batches smaller than the official 10,000 images.
    const isFolder = source !== 'download' && (await fs.stat(source)).isDirectory();
    return await loadCifar10({
      source,
      checkRecordCounts: !isFolder,
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
