import { type ImageGridOptions, encodeImageGridPng } from 'vit-tfjs';
import { writeFileAtomic } from '../atomic_write';

/**
 * Writes a grid of uint8 NHWC images to a PNG file, atomically (see {@link encodeImageGridPng} for the options).
 *
 * @example
 * ```ts
 * await writeImageGridPng('sample.png', train.images, train.shape, { indices: [0, 1, 2, 3], scale: 4 });
 * ```
 *
 * @category Data
 */
export async function writeImageGridPng(
  file: string,
  images: Uint8Array,
  shape: readonly [number, number, number, number] | readonly number[],
  options: ImageGridOptions = {},
): Promise<void> {
  await writeFileAtomic(file, encodeImageGridPng(images, shape, options));
}
