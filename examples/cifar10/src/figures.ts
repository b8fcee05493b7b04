/**
 * The run's figures: training curves (SVG, the reference's two panels), one training image and its patches (PNG,
 * the reference's patch figure), the confusion matrix (SVG + JSON) and where the model looks (attention rollout
 * over test images, PNG + JSON). SVG is used where a figure needs text
 * (axes, class names); PNG (the library's `encodePng`) where it shows pixels.
 */
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { CIFAR_IMAGE_BYTES, type CifarSplit, attentionOverlayGrid, attentionRollout, encodePng, patchLayout } from 'vit-tfjs';
import { writeFileAtomic } from 'vit-tfjs/node';

/** Per-epoch values of each metric, as Keras's `history.history`. */
export type History = Record<string, number[]>;

/**
 * The patch figure: on the left the image (HWC bytes, `size × size × 3`, already resized as the model sees it),
 * on the right its `patchSize × patchSize` patches in a grid with gaps, both scaled up by `scale` (nearest).
 */
export function patchFigure(image: Uint8Array, size: number, patchSize: number, scale = 4): Uint8Array {
  const grid = Math.floor(size / patchSize);
  const gap = 2;
  const margin = 8;
  const leftW = size * scale;
  const rightW = grid * patchSize * scale + (grid - 1) * gap;
  const width = margin + leftW + 3 * margin + rightW + margin;
  const height = margin + Math.max(leftW, rightW) + margin;
  const rgba = new Uint8Array(width * height * 4).fill(255);
  const put = (x: number, y: number, src: number) => {
    const o = (y * width + x) * 4;
    rgba[o] = image[src];
    rgba[o + 1] = image[src + 1];
    rgba[o + 2] = image[src + 2];
    rgba[o + 3] = 255;
  };
  for (let y = 0; y < size * scale; y++) {
    for (let x = 0; x < size * scale; x++) {
      put(margin + x, margin + y, (Math.floor(y / scale) * size + Math.floor(x / scale)) * 3);
    }
  }
  const x0 = margin + leftW + 3 * margin;
  for (let py = 0; py < grid; py++) {
    for (let px = 0; px < grid; px++) {
      const ox = x0 + px * (patchSize * scale + gap);
      const oy = margin + py * (patchSize * scale + gap);
      for (let y = 0; y < patchSize * scale; y++) {
        for (let x = 0; x < patchSize * scale; x++) {
          const iy = py * patchSize + Math.floor(y / scale);
          const ix = px * patchSize + Math.floor(x / scale);
          put(ox + x, oy + y, (iy * size + ix) * 3);
        }
      }
    }
  }
  return encodePng(rgba, width, height, 4);
}

/** {@link patchFigure} of the first of `images` (CIFAR NHWC bytes), resized to `size` as the model sees it. */
export async function firstImagePatches(images: Uint8Array, size: number, patchSize: number): Promise<Uint8Array> {
  const resized = tf.tidy(() => {
    const img = tf.tensor3d(images.subarray(0, CIFAR_IMAGE_BYTES), [32, 32, 3], 'int32');
    const r = size === 32 ? img : tf.image.resizeBilinear(img, [size, size], false, true);
    return tf.cast(tf.clipByValue(tf.round(r), 0, 255), 'int32');
  });
  const bytes = Uint8Array.from(await resized.data());
  resized.dispose();
  return patchFigure(bytes, size, patchSize);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  return Number(v.toPrecision(3)).toString();
}

function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

interface Series {
  label: string;
  values: number[];
  color: string;
}

function panel(x0: number, title: string, yLabel: string, series: Series[], w: number, h: number): string {
  const left = x0 + 60;
  const top = 40;
  const pw = w - 80;
  const ph = h - 90;
  const all = series.flatMap((s) => s.values).filter((v) => Number.isFinite(v));
  let lo = all.length ? Math.min(...all) : 0;
  let hi = all.length ? Math.max(...all) : 1;
  if (hi - lo < 1e-9) {
    lo -= 0.5;
    hi += 0.5;
  }
  const yt = niceTicks(lo, hi);
  lo = Math.min(lo, yt[0]);
  hi = Math.max(hi, yt[yt.length - 1]);
  const n = Math.max(...series.map((s) => s.values.length), 1);
  const sx = (i: number) => left + (n === 1 ? pw / 2 : (i / (n - 1)) * pw);
  const sy = (v: number) => top + ph - ((v - lo) / (hi - lo)) * ph;
  const out: string[] = [];
  out.push(`<text x="${left + pw / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`);
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const t of yt) {
    const y = sy(t).toFixed(1);
    out.push(`<line x1="${left}" x2="${left + pw}" y1="${y}" y2="${y}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle" font-size="11">${fmt(t)}</text>`);
  }
  const xStep = Math.max(1, Math.ceil(n / 10));
  for (let i = 0; i < n; i += xStep) {
    out.push(`<text x="${sx(i).toFixed(1)}" y="${top + ph + 16}" text-anchor="middle" font-size="11">${i + 1}</text>`);
  }
  out.push(`<text x="${left + pw / 2}" y="${top + ph + 36}" text-anchor="middle" font-size="12">Epochs</text>`);
  out.push(
    `<text transform="translate(${x0 + 16},${top + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(yLabel)}</text>`,
  );
  series.forEach((s, k) => {
    const pts = s.values.map((v, i) => `${sx(i).toFixed(1)},${sy(v).toFixed(1)}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
    for (let i = 0; i < s.values.length; i++) {
      out.push(`<circle cx="${sx(i).toFixed(1)}" cy="${sy(s.values[i]).toFixed(1)}" r="2.5" fill="${s.color}"/>`);
    }
    const ly = top + 14 + k * 18;
    out.push(`<line x1="${left + pw - 150}" x2="${left + pw - 126}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${left + pw - 120}" y="${ly}" dominant-baseline="middle" font-size="12">${esc(s.label)}</text>`);
  });
  return out.join('\n');
}

/**
 * The reference's training figure as SVG: left, training and validation loss per epoch; right, training and
 * validation accuracy per epoch.
 */
export function curvesSvg(history: History): string {
  const w = 480;
  const h = 360;
  const get = (k: string) => history[k] ?? [];
  const body = [
    panel(0, 'Train and Validation Losses Over Epochs', 'Loss', [
      { label: 'train_loss', values: get('loss'), color: '#1f77b4' },
      { label: 'val_loss', values: get('val_loss'), color: '#ff7f0e' },
    ], w, h),
    panel(w, 'Train and Validation Accuracy Over Epochs', 'Accuracy', [
      { label: 'train_accuracy', values: get('accuracy'), color: '#1f77b4' },
      { label: 'val_accuracy', values: get('val_accuracy'), color: '#ff7f0e' },
    ], w, h),
  ].join('\n');
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * w}" height="${h}" viewBox="0 0 ${2 * w} ${h}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${body}\n</svg>\n`
  );
}

/** The confusion matrix as SVG: rows are true classes, columns predicted; cells shaded by row fraction, with counts. */
export function confusionSvg(matrix: number[][], classNames: string[], title: string): string {
  const n = matrix.length;
  const cell = 44;
  const left = 110;
  const top = 60;
  const width = left + n * cell + 20;
  const height = top + n * cell + 100;
  const out: string[] = [];
  out.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>`);
  for (let i = 0; i < n; i++) {
    const rowSum = matrix[i].reduce((a, b) => a + b, 0);
    for (let j = 0; j < n; j++) {
      const frac = rowSum > 0 ? matrix[i][j] / rowSum : 0;
      const shade = Math.round(255 * (1 - frac));
      const x = left + j * cell;
      const y = top + i * cell;
      out.push(`<rect x="${x}" y="${y}" width="${cell}" height="${cell}" fill="rgb(${shade},${shade},255)" stroke="#fff"/>`);
      const color = frac > 0.5 ? 'white' : 'black';
      out.push(
        `<text x="${x + cell / 2}" y="${y + cell / 2}" text-anchor="middle" dominant-baseline="middle" font-size="12" fill="${color}">${matrix[i][j]}</text>`,
      );
    }
    out.push(
      `<text x="${left - 6}" y="${top + i * cell + cell / 2}" text-anchor="end" dominant-baseline="middle" font-size="12">${esc(classNames[i] ?? String(i))}</text>`,
    );
    out.push(
      `<text transform="translate(${left + i * cell + cell / 2},${top + n * cell + 8}) rotate(45)" font-size="12">${esc(classNames[i] ?? String(i))}</text>`,
    );
  }
  out.push(`<text x="${left + (n * cell) / 2}" y="${height - 8}" text-anchor="middle" font-size="13">Predicted class</text>`);
  out.push(`<text transform="translate(16,${top + (n * cell) / 2}) rotate(-90)" text-anchor="middle" font-size="13">True class</text>`);
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n` +
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n` +
    `<rect width="100%" height="100%" fill="white"/>\n${out.join('\n')}\n</svg>\n`
  );
}

/** The first `perClass` test images of each class, in class order (indices into the split). */
function firstOfEachClass(labels: ArrayLike<number>, numClasses: number, perClass: number): number[] {
  const picked: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < labels.length; i++) if (picked[labels[i]]?.length < perClass) picked[labels[i]].push(i);
  return picked.flat();
}

/** A 3×5 pixel font (rows of 3 bits, top first) for the captions of the attention figure. */
const FONT: Record<string, number[]> = {
  A: [2, 5, 7, 5, 5], B: [6, 5, 6, 5, 6], C: [3, 4, 4, 4, 3], D: [6, 5, 5, 5, 6], E: [7, 4, 6, 4, 7], F: [7, 4, 6, 4, 4],
  G: [3, 4, 5, 5, 3], H: [5, 5, 7, 5, 5], I: [7, 2, 2, 2, 7], J: [1, 1, 1, 5, 2], K: [5, 5, 6, 5, 5], L: [4, 4, 4, 4, 7],
  M: [5, 7, 7, 5, 5], N: [6, 5, 5, 5, 5], O: [2, 5, 5, 5, 2], P: [6, 5, 6, 4, 4], Q: [2, 5, 5, 6, 3], R: [6, 5, 6, 5, 5],
  S: [3, 4, 2, 1, 6], T: [7, 2, 2, 2, 2], U: [5, 5, 5, 5, 7], V: [5, 5, 5, 5, 2], W: [5, 5, 7, 7, 5], X: [5, 5, 2, 5, 5],
  Y: [5, 5, 2, 2, 2], Z: [7, 1, 2, 4, 7], '>': [4, 2, 1, 2, 4], ' ': [0, 0, 0, 0, 0],
};

/** Draws `text` (upper-cased) into RGBA `data` of width `width` at (x, y), each font pixel `size`×`size`. */
function drawText(data: Uint8ClampedArray, width: number, text: string, x: number, y: number, rgb: number[], size = 2): void {
  [...text.toUpperCase()].forEach((ch, i) => {
    (FONT[ch] ?? FONT[' ']).forEach((bits, row) => {
      for (let col = 0; col < 3; col++) {
        if (((bits >> (2 - col)) & 1) === 0) continue;
        for (let dy = 0; dy < size; dy++) {
          for (let dx = 0; dx < size; dx++) data.set([...rgb, 255], ((y + row * size + dy) * width + x + (i * 4 + col) * size + dx) * 4);
        }
      }
    });
  });
}

/** Geometry of the attention figure (the e2e test checks it): 4 cells a row, ×3, padding 4, a caption band of 14 px under each row. */
export const ATTENTION_FIGURE = { columns: 4, scale: 3, padding: 4, caption: 14 } as const;

/**
 * The attention figure: for the first two test images of each class, the image and its attention rollout
 * (`attentionRollout`, jet colormap over the image), framed green where the model's prediction is right and red
 * where it is wrong, with "TRUE > PREDICTED" under each pair; 4 pairs a row, scaled ×3. Writes `<name>.png` and
 * `<name>.json` (per cell: test index, true and predicted class) into `dir`.
 */
export async function writeAttentionFigure(model: tfl.LayersModel, test: CifarSplit, classNames: string[], dir: string, name = 'attention'): Promise<void> {
  const indices = firstOfEachClass(test.labels, classNames.length, 2);
  if (indices.length === 0) return;
  const pixels = new Uint8Array(indices.length * CIFAR_IMAGE_BYTES);
  indices.forEach((i, k) => pixels.set(test.images.subarray(i * CIFAR_IMAGE_BYTES, (i + 1) * CIFAR_IMAGE_BYTES), k * CIFAR_IMAGE_BYTES));
  const x = tf.tensor4d(Float32Array.from(pixels), [indices.length, 32, 32, 3]);
  const rollout = attentionRollout(model, x);
  const predicted = tf.tidy(() => tf.argMax(model.predict(x) as tf.Tensor, 1));
  const [maps, classes] = [await rollout.data(), (await predicted.array()) as number[]];
  tf.dispose([x, rollout, predicted]);
  const { rows, cols } = patchLayout(model);
  const cells = indices.map((i, k) => ({ index: i, true: classNames[test.labels[i]], predicted: classNames[classes[k]] }));
  const frames = cells.map((c) => (c.true === c.predicted ? [40, 160, 40] : [200, 40, 40]) as [number, number, number]);
  const { columns, scale, padding, caption } = ATTENTION_FIGURE;
  const grid = attentionOverlayGrid(pixels, [indices.length, 32, 32, 3], maps, [rows, cols], { columns, scale, padding, frames });
  // The grid again, with a caption band under each row of cells.
  const cellH = 32 * scale + 4; // image and the frame of 2 pixels above and below
  const cellW = (grid.width - padding) / Math.min(columns, cells.length) - padding;
  const gridRows = Math.ceil(cells.length / columns);
  const height = grid.height + gridRows * caption;
  const data = new Uint8ClampedArray(grid.width * height * 4).fill(255);
  for (let y = 0; y < grid.height; y++) {
    let band = 0; // caption bands above this line: the rows of cells that end at or above it
    while (band < gridRows && padding + band * (cellH + padding) + cellH <= y) band++;
    data.set(grid.data.subarray(y * grid.width * 4, (y + 1) * grid.width * 4), (y + band * caption) * grid.width * 4);
  }
  cells.forEach((c, k) => {
    const r = Math.floor(k / columns);
    const x0 = padding + (k % columns) * (cellW + padding);
    const y0 = padding + r * (cellH + padding + caption) + cellH + 2;
    drawText(data, grid.width, `${c.true} > ${c.predicted}`, x0 + 2, y0, c.true === c.predicted ? [20, 110, 20] : [170, 20, 20]);
  });
  await writeFileAtomic(path.join(dir, `${name}.png`), encodePng(new Uint8Array(data.buffer), grid.width, height, 4));
  const about = 'rows of 4 cells, left to right: image, attention rollout (jet: blue low, red high); frame green = right, red = wrong; caption: TRUE > PREDICTED';
  await writeFileAtomic(path.join(dir, `${name}.json`), JSON.stringify({ layout: about, cells }, null, 2) + '\n');
}
