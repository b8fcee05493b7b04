import { zlibSync } from 'fflate';
import { crc32 } from './crc32';
import { assertNonNegativeInteger, assertPositiveInteger } from '../utils/validate';

/**
 * Options of {@link encodeImageGridPng}.
 *
 * @category Data
 */
export interface ImageGridOptions {
  /** Which images to draw (default: all, in order). */
  indices?: number[];
  /** Images per row (default: ceil(sqrt(count))). */
  columns?: number;
  /** Integer upscale factor, nearest neighbour (default 1). */
  scale?: number;
  /** Pixels between images and around the grid (default 2 when more than one image, else 0). */
  padding?: number;
  /** Background (padding) colour, RGB 0..255 (default white). */
  background?: [number, number, number];
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

/**
 * Encodes RGB (or grayscale) pixels as an 8-bit PNG, without filtering (filter type 0 on every row).
 *
 * @param pixels Row-major, `width * height * channels` bytes.
 * @param channels 1 (gray), 3 (RGB) or 4 (RGBA).
 *
 * @category Data
 */
export function encodePng(pixels: Uint8Array, width: number, height: number, channels: 1 | 3 | 4 = 3): Uint8Array {
  assertPositiveInteger('width', width);
  assertPositiveInteger('height', height);
  if (channels !== 1 && channels !== 3 && channels !== 4) throw new Error(`channels must be 1, 3 or 4, got ${channels}`);
  if (pixels.length !== width * height * channels) {
    throw new Error(`pixels has ${pixels.length} bytes, expected ${width * height * channels} (${width}×${height}×${channels})`);
  }
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  const ihdr = new Uint8Array(13);
  const v = new DataView(ihdr.buffer);
  v.setUint32(0, width);
  v.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = channels === 1 ? 0 : channels === 3 ? 2 : 6;
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlibSync(raw, { level: 6 })),
    chunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * The pixel size of a grid drawn by {@link renderImageGrid}.
 *
 * @category Data
 */
export interface ImageGrid {
  /** RGB (or gray) pixels, row-major. */
  pixels: Uint8Array;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Channels (1 or 3). */
  channels: 1 | 3;
}

/**
 * Draws a grid of uint8 NHWC images (e.g. a CIFAR split, or patches) into one RGB/gray pixel buffer.
 *
 * @param images uint8 NHWC pixels.
 * @param shape `[n, h, w, c]` with c = 1 or 3.
 *
 * @category Data
 */
export function renderImageGrid(
  images: Uint8Array,
  shape: readonly [number, number, number, number] | readonly number[],
  options: ImageGridOptions = {},
): ImageGrid {
  if (shape.length !== 4) throw new Error(`shape must be [n, h, w, c], got [${shape}]`);
  const [n, h, w, c] = shape;
  if (c !== 1 && c !== 3) throw new Error(`shape[3] (channels) must be 1 or 3, got ${c}`);
  if (images.length !== n * h * w * c) throw new Error(`images has ${images.length} bytes, expected ${n * h * w * c} for shape [${shape}]`);
  const indices = options.indices ?? Array.from({ length: n }, (_, i) => i);
  if (indices.length === 0) throw new Error('options.indices must not be empty');
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= n) throw new Error(`options.indices: index ${i} out of range [0, ${n})`);
  }
  const count = indices.length;
  const columns = options.columns ?? Math.ceil(Math.sqrt(count));
  assertPositiveInteger('options.columns', columns);
  const scale = options.scale ?? 1;
  assertPositiveInteger('options.scale', scale);
  const pad = options.padding ?? (count > 1 ? 2 : 0);
  assertNonNegativeInteger('options.padding', pad);
  const bg = options.background ?? [255, 255, 255];
  const rows = Math.ceil(count / columns);
  const cols = Math.min(columns, count);
  const cw = w * scale;
  const ch = h * scale;
  const width = cols * cw + (cols + 1) * pad;
  const height = rows * ch + (rows + 1) * pad;
  const pixels = new Uint8Array(width * height * c);
  if (c === 3) {
    for (let i = 0; i < width * height; i++) {
      pixels[i * 3] = bg[0];
      pixels[i * 3 + 1] = bg[1];
      pixels[i * 3 + 2] = bg[2];
    }
  } else pixels.fill(bg[0]);
  for (let k = 0; k < count; k++) {
    const img = indices[k] * h * w * c;
    const x0 = pad + (k % columns) * (cw + pad);
    const y0 = pad + Math.floor(k / columns) * (ch + pad);
    for (let y = 0; y < ch; y++) {
      const sy = Math.floor(y / scale);
      for (let x = 0; x < cw; x++) {
        const sx = Math.floor(x / scale);
        const s = img + (sy * w + sx) * c;
        const d = ((y0 + y) * width + x0 + x) * c;
        for (let q = 0; q < c; q++) pixels[d + q] = images[s + q];
      }
    }
  }
  return { pixels, width, height, channels: c };
}

/**
 * Encodes a grid of uint8 NHWC images as PNG bytes (optionally upscaled, with padding), e.g. to look at a sample of
 * CIFAR images or at the patches of one image.
 *
 * @example
 * ```ts
 * const png = encodeImageGridPng(train.images, train.shape, { indices: [0, 1, 2, 3], scale: 4 });
 * ```
 *
 * @category Data
 */
export function encodeImageGridPng(
  images: Uint8Array,
  shape: readonly [number, number, number, number] | readonly number[],
  options: ImageGridOptions = {},
): Uint8Array {
  const g = renderImageGrid(images, shape, options);
  return encodePng(g.pixels, g.width, g.height, g.channels);
}
