/**
 * Pictures of attention maps: a map upsampled to the image size, coloured and blended over the image, as RGBA pixels
 * (a canvas `ImageData` in the browser, {@link encodePng} in Node).
 */
import { assertNonNegativeInteger, assertPositiveInteger, show } from '../utils/validate';

/**
 * Colormaps of {@link attentionOverlay}: `'viridis'` (perceptually uniform, dark blue → yellow), `'jet'` (blue → red)
 * or `'gray'`.
 *
 * @category Attention
 */
export type AttentionColormap = 'viridis' | 'jet' | 'gray';

/**
 * RGBA pixels, row-major, 4 bytes a pixel: the fields of a canvas `ImageData` (`new ImageData(p.data, p.width, p.height)`).
 *
 * @category Attention
 */
export interface RgbaImage {
  /** `width · height · 4` bytes. */
  data: Uint8ClampedArray;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/**
 * Options of {@link attentionOverlay}.
 *
 * @category Attention
 */
export interface AttentionOverlayOptions {
  /** Colormap. Default `'jet'`. */
  colormap?: AttentionColormap;
  /** Opacity of the colour over the image, in [0, 1]. Default 0.5. */
  alpha?: number;
  /**
   * Stretch the map to [0, 1] (its minimum → the colormap's first colour, its maximum → the last) before colouring.
   * Default true; with false the values are clamped to [0, 1].
   */
  normalize?: boolean;
}

/**
 * Options of {@link attentionOverlayGrid}.
 *
 * @category Attention
 */
export interface AttentionGridOptions extends AttentionOverlayOptions {
  /** Images per row (default ceil(√count)). */
  columns?: number;
  /** Integer upscale factor of every cell, nearest neighbour (default 1). */
  scale?: number;
  /** Pixels between cells and around the grid (default 2). */
  padding?: number;
  /** Draw each image beside its overlay (default true). */
  showImage?: boolean;
  /** Frame colour of each cell (RGB 0..255), e.g. green/red for right/wrong predictions; default none. */
  frames?: ([number, number, number] | null)[];
  /** Background (padding) colour, RGB 0..255 (default white). */
  background?: [number, number, number];
}

const VIRIDIS: [number, number, number][] = [
  [68, 1, 84], [72, 35, 116], [64, 67, 135], [52, 94, 141], [41, 120, 142], [32, 144, 140],
  [34, 167, 132], [68, 190, 112], [121, 209, 81], [189, 222, 38], [253, 231, 37],
];

/**
 * The colour of `v` in [0, 1] (clamped) in a colormap, RGB 0..255.
 *
 * @category Attention
 */
export function colormapColor(v: number, colormap: AttentionColormap = 'jet'): [number, number, number] {
  const x = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
  if (colormap === 'gray') return [Math.round(255 * x), Math.round(255 * x), Math.round(255 * x)];
  if (colormap === 'jet') {
    const c = (o: number) => Math.round(255 * Math.min(1, Math.max(0, 1.5 - Math.abs(4 * x - o))));
    return [c(3), c(2), c(1)];
  }
  if (colormap !== 'viridis') throw new Error(`colormap must be 'viridis', 'jet' or 'gray', got ${show(colormap)}`);
  const p = x * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(p));
  const f = p - i;
  return [0, 1, 2].map((k) => Math.round(VIRIDIS[i][k] * (1 - f) + VIRIDIS[i + 1][k] * f)) as [number, number, number];
}

/**
 * Bilinear upsampling of a map `[rows, cols]` to `[height, width]` (pixel centres, edges clamped: the map's cells
 * are spread over the whole image as its patches are).
 *
 * @category Attention
 */
export function upsampleMap(map: ArrayLike<number>, rows: number, cols: number, height: number, width: number): Float32Array {
  for (const [n, v] of [['rows', rows], ['cols', cols], ['height', height], ['width', width]] as const) assertPositiveInteger(`upsampleMap: ${n}`, v);
  if (map.length !== rows * cols) throw new Error(`upsampleMap: map has ${map.length} values, expected ${rows}×${cols}`);
  const out = new Float32Array(height * width);
  const coord = (i: number, outN: number, inN: number): [number, number, number] => {
    const s = Math.min(inN - 1, Math.max(0, ((i + 0.5) * inN) / outN - 0.5));
    const i0 = Math.floor(s);
    const i1 = Math.min(inN - 1, i0 + 1);
    return [i0, i1, s - i0];
  };
  for (let y = 0; y < height; y++) {
    const [y0, y1, fy] = coord(y, height, rows);
    for (let x = 0; x < width; x++) {
      const [x0, x1, fx] = coord(x, width, cols);
      const top = map[y0 * cols + x0] * (1 - fx) + map[y0 * cols + x1] * fx;
      const bottom = map[y1 * cols + x0] * (1 - fx) + map[y1 * cols + x1] * fx;
      out[y * width + x] = top * (1 - fy) + bottom * fy;
    }
  }
  return out;
}

function checkImage(fn: string, image: ArrayLike<number>, shape: readonly number[]): [number, number, number] {
  if (!Array.isArray(shape) || shape.length !== 3) throw new Error(`${fn}: imageShape must be [height, width, channels], got ${show(shape)}`);
  const [h, w, c] = shape;
  assertPositiveInteger(`${fn}: height`, h);
  assertPositiveInteger(`${fn}: width`, w);
  if (c !== 1 && c !== 3 && c !== 4) throw new Error(`${fn}: channels must be 1, 3 or 4, got ${show(c)}`);
  if (image == null || image.length !== h * w * c) throw new Error(`${fn}: image has ${image?.length} values, expected ${h}×${w}×${c}`);
  return [h, w, c];
}

function checkOverlay(fn: string, o: AttentionOverlayOptions): { colormap: AttentionColormap; alpha: number; normalize: boolean } {
  const colormap = o.colormap ?? 'jet';
  if (colormap !== 'viridis' && colormap !== 'jet' && colormap !== 'gray') throw new Error(`${fn}: options.colormap must be 'viridis', 'jet' or 'gray', got ${show(o.colormap)}`);
  const alpha = o.alpha ?? 0.5;
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) throw new Error(`${fn}: options.alpha must be a number in [0, 1], got ${show(o.alpha)}`);
  return { colormap, alpha, normalize: o.normalize ?? true };
}

function draw(
  fn: string,
  image: ArrayLike<number>,
  imageOffset: number,
  [h, w, c]: [number, number, number],
  map: ArrayLike<number>,
  mapShape: readonly number[],
  opts: { colormap: AttentionColormap; alpha: number; normalize: boolean },
): Uint8ClampedArray {
  if (!Array.isArray(mapShape) || mapShape.length !== 2) throw new Error(`${fn}: mapShape must be [rows, cols], got ${show(mapShape)}`);
  const up = upsampleMap(map, mapShape[0], mapShape[1], h, w);
  let lo = 0;
  let range = 1;
  if (opts.normalize) {
    lo = Infinity;
    let hi = -Infinity;
    for (let i = 0; i < map.length; i++) {
      if (Number.isFinite(map[i])) {
        lo = Math.min(lo, map[i]);
        hi = Math.max(hi, map[i]);
      }
    }
    if (!Number.isFinite(lo)) lo = hi = 0;
    range = hi > lo ? hi - lo : 1;
  }
  const out = new Uint8ClampedArray(h * w * 4);
  for (let p = 0; p < h * w; p++) {
    const s = imageOffset + p * c;
    const rgb = c === 1 ? [image[s], image[s], image[s]] : [image[s], image[s + 1], image[s + 2]];
    const col = colormapColor((up[p] - lo) / range, opts.colormap);
    for (let k = 0; k < 3; k++) out[p * 4 + k] = Math.round((1 - opts.alpha) * rgb[k] + opts.alpha * col[k]);
    out[p * 4 + 3] = 255;
  }
  return out;
}

/**
 * Overlays an attention map on an image: the map `[rows, cols]` (e.g. one image's {@link attentionRollout}) is
 * upsampled bilinearly to the image size, stretched to [0, 1], coloured and blended with opacity `alpha` over the
 * image (HWC pixels 0..255, 1, 3 or 4 channels; alpha channel ignored). Returns RGBA pixels: in a browser
 * `ctx.putImageData(new ImageData(p.data, p.width, p.height), 0, 0)`, in Node `encodePng(p.data, p.width, p.height, 4)`.
 *
 * @example
 * ```ts
 * const picture = attentionOverlay(pixels, [32, 32, 3], await map.data(), [8, 8], { colormap: 'viridis' });
 * ```
 *
 * @category Attention
 */
export function attentionOverlay(
  image: ArrayLike<number>,
  imageShape: readonly [number, number, number] | readonly number[],
  map: ArrayLike<number>,
  mapShape: readonly [number, number] | readonly number[],
  options: AttentionOverlayOptions = {},
): RgbaImage {
  const fn = 'attentionOverlay';
  const shape = checkImage(fn, image, imageShape as number[]);
  const data = draw(fn, image, 0, shape, map, mapShape as number[], checkOverlay(fn, options ?? {}));
  return { data, width: shape[1], height: shape[0] };
}

/**
 * A grid of overlays ({@link attentionOverlay}) of several images, each (by default) beside its image, as one RGBA
 * picture: `images` NHWC pixels `[n, h, w, c]`, `maps` `[n, rows, cols]` (e.g. `await attentionRollout(...).data()`).
 *
 * @example
 * ```ts
 * const grid = attentionOverlayGrid(pixels, [8, 32, 32, 3], await maps.data(), [8, 8], { columns: 4, scale: 3 });
 * ```
 *
 * @category Attention
 */
export function attentionOverlayGrid(
  images: ArrayLike<number>,
  shape: readonly [number, number, number, number] | readonly number[],
  maps: ArrayLike<number>,
  mapShape: readonly [number, number] | readonly number[],
  options: AttentionGridOptions = {},
): RgbaImage {
  const fn = 'attentionOverlayGrid';
  if (!Array.isArray(shape) || shape.length !== 4) throw new Error(`${fn}: shape must be [n, height, width, channels], got ${show(shape)}`);
  const [n, h, w, c] = shape as number[];
  assertPositiveInteger(`${fn}: n`, n);
  checkImage(fn, { length: images.length / n } as ArrayLike<number>, [h, w, c]);
  if (images.length !== n * h * w * c) throw new Error(`${fn}: images has ${images.length} values, expected ${n}×${h}×${w}×${c}`);
  if (!Array.isArray(mapShape) || mapShape.length !== 2) throw new Error(`${fn}: mapShape must be [rows, cols], got ${show(mapShape)}`);
  const cells = mapShape[0] * mapShape[1];
  if (maps.length !== n * cells) throw new Error(`${fn}: maps has ${maps.length} values, expected ${n}×${mapShape[0]}×${mapShape[1]}`);
  const o = options ?? {};
  const opts = checkOverlay(fn, o);
  const columns = o.columns ?? Math.ceil(Math.sqrt(n));
  assertPositiveInteger(`${fn}: options.columns`, columns);
  const scale = o.scale ?? 1;
  assertPositiveInteger(`${fn}: options.scale`, scale);
  const pad = o.padding ?? 2;
  assertNonNegativeInteger(`${fn}: options.padding`, pad);
  if (o.frames != null && o.frames.length !== n) throw new Error(`${fn}: options.frames has ${o.frames.length} entries for ${n} images`);
  const showImage = o.showImage ?? true;
  const bg = o.background ?? [255, 255, 255];
  const frame = o.frames != null ? 2 : 0;
  const panes = showImage ? 2 : 1;
  const cw = panes * w * scale + (panes - 1) * pad + 2 * frame;
  const ch = h * scale + 2 * frame;
  const cols = Math.min(columns, n);
  const rows = Math.ceil(n / columns);
  const width = cols * cw + (cols + 1) * pad;
  const height = rows * ch + (rows + 1) * pad;
  const data = new Uint8ClampedArray(width * height * 4);
  for (let p = 0; p < width * height; p++) data.set([bg[0], bg[1], bg[2], 255], p * 4);
  const blit = (src: (p: number) => [number, number, number], x0: number, y0: number) => {
    for (let y = 0; y < h * scale; y++) {
      for (let x = 0; x < w * scale; x++) {
        const rgb = src(Math.floor(y / scale) * w + Math.floor(x / scale));
        data.set([rgb[0], rgb[1], rgb[2], 255], ((y0 + y) * width + x0 + x) * 4);
      }
    }
  };
  for (let k = 0; k < n; k++) {
    const x0 = pad + (k % columns) * (cw + pad);
    const y0 = pad + Math.floor(k / columns) * (ch + pad);
    const f = o.frames?.[k];
    if (f != null) {
      for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) data.set([f[0], f[1], f[2], 255], ((y0 + y) * width + x0 + x) * 4);
    }
    const offset = k * h * w * c;
    const overlay = draw(fn, images, offset, [h, w, c], Array.prototype.slice.call(maps, k * cells, (k + 1) * cells) as number[], mapShape as number[], opts);
    let xi = x0 + frame;
    if (showImage) {
      blit((p) => {
        const s = offset + p * c;
        return c === 1 ? [images[s], images[s], images[s]] : [images[s], images[s + 1], images[s + 2]];
      }, xi, y0 + frame);
      xi += w * scale + pad;
    }
    blit((p) => [overlay[p * 4], overlay[p * 4 + 1], overlay[p * 4 + 2]], xi, y0 + frame);
  }
  return { data, width, height };
}
