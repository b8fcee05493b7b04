/**
 * `vit-tfjs/node` as the docs' code blocks see it in the tests: everything real, except that `loadCifar10` reads a
 * small slice of the bundled sample (examples/cifar10/data) wherever the block asked to read from, so no block
 * downloads or needs the full data set.
 */
import * as path from 'path';
import { CIFAR_IMAGE_BYTES, type CifarDataset, type CifarSplit } from '../../src/index';
import { loadCifar10 as loadReal, type LoadCifarOptions } from '../../src/node/index';

export * from '../../src/node/index';

const SAMPLE = path.resolve(__dirname, '../../examples/cifar10/data/cifar-10-sample');

/** Training and test images the stub returns. */
export const STUB_SIZES = { train: 10, test: 10 } as const;

function first(split: CifarSplit, n: number): CifarSplit {
  return { images: split.images.slice(0, n * CIFAR_IMAGE_BYTES), labels: split.labels.slice(0, n), shape: [n, 32, 32, 3] };
}

/** The sample's first images, whatever `options.source` says (the option object is type-checked as usual). */
export async function loadCifar10(options: LoadCifarOptions): Promise<CifarDataset> {
  void options;
  const all = await loadReal({ source: SAMPLE, checkRecordCounts: false });
  return { ...all, train: first(all.train, STUB_SIZES.train), test: first(all.test, STUB_SIZES.test) };
}
