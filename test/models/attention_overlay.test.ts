/**
 * Attention pictures: upsampling, colormaps, overlays and grids (plain arrays; no backend needed).
 */
import { encodePng } from '../../src/data/png';
import { attentionOverlay, attentionOverlayGrid, colormapColor, upsampleMap } from '../../src/models/attention_overlay';

describe('upsampleMap', () => {
  it('keeps a constant map constant and matches bilinear interpolation at pixel centres', () => {
    expect([...upsampleMap([3, 3, 3, 3], 2, 2, 5, 7)].every((v) => v === 3)).toBe(true);
    // 1×2 map [0, 1] to width 4: centres at source x = -0.25, 0.25, 0.75, 1.25 → clamped 0, 0.25, 0.75, 1.
    expect([...upsampleMap([0, 1], 1, 2, 1, 4)]).toEqual([0, 0.25, 0.75, 1]);
    // Rows likewise, and the two axes combine as a product.
    const up = upsampleMap([0, 0, 0, 4], 2, 2, 4, 4);
    expect(up[2 * 4 + 2]).toBeCloseTo(4 * 0.75 * 0.75, 6);
    expect(up[3 * 4 + 3]).toBe(4);
  });

  it('names bad sizes', () => {
    expect(() => upsampleMap([1, 2, 3], 2, 2, 4, 4)).toThrow(/upsampleMap: map has 3 values, expected 2×2/);
    expect(() => upsampleMap([1], 1, 1, 0, 4)).toThrow(/upsampleMap: height/);
  });
});

describe('colormapColor', () => {
  it('runs from the first to the last colour of each map', () => {
    expect(colormapColor(0, 'viridis')).toEqual([68, 1, 84]);
    expect(colormapColor(1, 'viridis')).toEqual([253, 231, 37]);
    expect(colormapColor(0, 'jet')).toEqual([0, 0, 128]);
    expect(colormapColor(1, 'jet')).toEqual([128, 0, 0]);
    expect(colormapColor(0.5, 'gray')).toEqual([128, 128, 128]);
    expect(colormapColor(2, 'gray')).toEqual([255, 255, 255]); // clamped
  });
});

describe('attentionOverlay', () => {
  const image = Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => (i * 5) % 256);

  it('is the image with alpha 0 and the colour of the (normalised) map with alpha 1', () => {
    const plain = attentionOverlay(image, [4, 4, 3], [0, 1, 2, 3], [2, 2], { alpha: 0 });
    expect(plain.width).toBe(4);
    expect(plain.height).toBe(4);
    expect(plain.data).toBeInstanceOf(Uint8ClampedArray);
    for (let p = 0; p < 16; p++) expect([...plain.data.subarray(p * 4, p * 4 + 4)]).toEqual([...image.subarray(p * 3, p * 3 + 3), 255]);
    const colour = attentionOverlay(image, [4, 4, 3], [0, 1, 2, 3], [2, 2], { alpha: 1, colormap: 'gray' });
    // Top-left pixel: the map's minimum → black; bottom-right: its maximum → white.
    expect([...colour.data.subarray(0, 4)]).toEqual([0, 0, 0, 255]);
    expect([...colour.data.subarray(15 * 4, 16 * 4)]).toEqual([255, 255, 255, 255]);
    // Blending is linear in alpha.
    const half = attentionOverlay(image, [4, 4, 3], [0, 1, 2, 3], [2, 2], { alpha: 0.5, colormap: 'gray' });
    expect(half.data[15 * 4]).toBe(Math.round(0.5 * image[45] + 0.5 * 255));
  });

  it('takes grayscale and RGBA images and makes a valid PNG with encodePng', () => {
    const gray = attentionOverlay(new Uint8Array(6 * 4).fill(100), [6, 4, 1], [1, 2], [1, 2]);
    expect([gray.width, gray.height]).toEqual([4, 6]);
    const rgba = attentionOverlay(new Uint8Array(2 * 2 * 4).fill(9), [2, 2, 4], [5], [1, 1], { colormap: 'viridis' });
    const png = encodePng(new Uint8Array(rgba.data.buffer), rgba.width, rgba.height, 4);
    expect([...png.subarray(1, 4)]).toEqual([0x50, 0x4e, 0x47]);
  });

  it('names bad arguments', () => {
    expect(() => attentionOverlay(image, [4, 4, 2], [1], [1, 1])).toThrow(/^attentionOverlay: channels must be 1, 3 or 4/);
    expect(() => attentionOverlay(image, [4, 4, 3], [1], [1, 1], { alpha: 2 })).toThrow(/^attentionOverlay: options.alpha/);
    expect(() => attentionOverlay(image, [4, 4, 3], [1], [1, 1], { colormap: 'hot' as never })).toThrow(/^attentionOverlay: options.colormap/);
    expect(() => attentionOverlay(image, [5, 4, 3], [1], [1, 1])).toThrow(/^attentionOverlay: image has 48 values, expected 5×4×3/);
  });
});

describe('attentionOverlayGrid', () => {
  it('lays out image and overlay pairs with padding and frames', () => {
    const n = 3;
    const images = new Uint8Array(n * 2 * 2 * 3).fill(50);
    const maps = [1, 2, 3, 4, 4, 3, 2, 1, 0, 0, 0, 1];
    const grid = attentionOverlayGrid(images, [n, 2, 2, 3], maps, [2, 2], { columns: 2, scale: 2, padding: 1, frames: [[0, 255, 0], null, [255, 0, 0]] });
    // A cell: frame 2 + image 4 + gap 1 + overlay 4 + frame 2 = 13 wide, 2 + 4 + 2 = 8 high; 2 columns, 2 rows.
    expect(grid.width).toBe(2 * 13 + 3);
    expect(grid.height).toBe(2 * 8 + 3);
    expect(grid.data.length).toBe(grid.width * grid.height * 4);
    const px = (x: number, y: number) => [...grid.data.subarray((y * grid.width + x) * 4, (y * grid.width + x) * 4 + 4)];
    expect(px(0, 0)).toEqual([255, 255, 255, 255]); // padding
    expect(px(1, 1)).toEqual([0, 255, 0, 255]); // first cell's frame
    expect(px(3, 3)).toEqual([50, 50, 50, 255]); // first image
    expect(px(1, 10)).toEqual([255, 0, 0, 255]); // third cell's frame
    const plain = attentionOverlayGrid(images, [n, 2, 2, 3], maps, [2, 2], { showImage: false, padding: 0 });
    expect([plain.width, plain.height]).toEqual([4, 4]);
  });

  it('names bad arguments', () => {
    const images = new Uint8Array(2 * 2 * 2 * 3);
    expect(() => attentionOverlayGrid(images, [2, 2, 2, 3], [1, 2], [1, 2])).toThrow(/^attentionOverlayGrid: maps has 2 values, expected 2×1×2/);
    expect(() => attentionOverlayGrid(images, [2, 2, 2], [1], [1, 1])).toThrow(/^attentionOverlayGrid: shape must be/);
    expect(() => attentionOverlayGrid(images, [2, 2, 2, 3], [1, 2], [1, 1], { frames: [null] })).toThrow(/^attentionOverlayGrid: options.frames/);
  });
});
