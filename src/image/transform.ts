/**
 * A backend-independent implementation of `tf.image.transform` (TF's `ImageProjectiveTransformV3`).
 *
 * Why not `tf.image.transform`: in tfjs 4.22 the cpu kernel returns after the FIRST image of a batch (every other
 * image comes back as the fill value), and the wasm kernel's `'reflect'` mode disagrees with TF's definition. Here
 * the whole transform runs in JavaScript on the batch's values: sampling coordinates and bilinear weights in float64
 * with TF's fill-mode rules, one float32 output tensor. It gives the same result on every backend and is much faster
 * than composing gathers on the wasm backend. It is not differentiable with respect to the image (the augmentation
 * layers sit at the model input, where no gradient is needed).
 */
import * as tf from '@tensorflow/tfjs-core';

import type { FillMode, ImageTransform, InterpolationMode } from './affine';

/**
 * Maps a (continuous) input coordinate into `[0, len - 1]` following TF's fill-mode rules (constant: unchanged).
 *
 * @category Preprocessing and augmentation
 */
export function mapCoordinate(v: number, len: number, mode: FillMode): number {
  if (mode === 'constant' || (v >= 0 && v <= len - 1)) return v;
  if (mode === 'nearest' || len <= 1) return clamp(v, len);
  if (mode === 'reflect') {
    // (d c b a | a b c d | d c b a): period 2·len, mirrored about the pixel edges
    const p = 2 * len;
    let t = v % p;
    if (t < 0) t += p;
    return clamp(t >= len ? p - 1 - t : t, len);
  }
  // 'wrap', exactly as TF's kernel (including its (len - 1) divisor)
  if (v < 0) return clamp(v + len * (Math.trunc(-v / (len - 1)) + 1), len);
  return clamp(v - len * Math.trunc(v / (len - 1)), len);
}

function clamp(q: number, len: number): number {
  return q < 0 ? 0 : q > len - 1 ? len - 1 : q;
}

/** TF's rounding for nearest sampling (std::round: halves away from zero). */
function roundHalfAway(v: number): number {
  return v < 0 ? -Math.round(-v) : Math.round(v);
}

/**
 * Applies one projective transform per image (see {@link ImageTransform}) to a `[B, H, W, C]` float batch, with
 * TF's sampling and fill semantics, the same on every backend.
 *
 * @param images `[B, H, W, C]` images.
 * @param transforms One transform per image (or a single one for all).
 * @param outputShape `[height, width]` of the output; defaults to the input's.
 *
 * @category Preprocessing and augmentation
 */
export function transformImages(
  images: tf.Tensor4D,
  transforms: ArrayLike<number>[],
  interpolation: InterpolationMode = 'bilinear',
  fillMode: FillMode = 'reflect',
  fillValue = 0,
  outputShape?: [number, number],
): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  if (transforms.length !== b && transforms.length !== 1) {
    throw new Error(`transformImages: got ${transforms.length} transforms for a batch of ${b}`);
  }
  const [oh, ow] = outputShape ?? [h, w];
  const src = images.dataSync() as Float32Array;
  const out = new Float32Array(b * oh * ow * c);
  const bilinear = interpolation === 'bilinear';
  let o = 0;
  for (let bi = 0; bi < b; bi++) {
    const t = (transforms.length === 1 ? transforms[0] : transforms[bi]) as ImageTransform;
    const base = bi * h * w * c;
    // reads pixel (y, x) channel ch of image bi, or fillValue outside the image
    const read = (y: number, x: number, ch: number): number => (y >= 0 && y < h && x >= 0 && x < w ? src[base + (y * w + x) * c + ch] : fillValue);
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++, o += c) {
        const k = t[6] * ox + t[7] * oy + 1;
        if (k === 0) {
          out.fill(fillValue, o, o + c);
          continue;
        }
        const x = mapCoordinate((t[0] * ox + t[1] * oy + t[2]) / k, w, fillMode);
        const y = mapCoordinate((t[3] * ox + t[4] * oy + t[5]) / k, h, fillMode);
        if (!bilinear) {
          const ry = roundHalfAway(y);
          const rx = roundHalfAway(x);
          for (let ch = 0; ch < c; ch++) out[o + ch] = read(ry, rx, ch);
          continue;
        }
        const x0 = Math.floor(x);
        const y0 = Math.floor(y);
        const fx = x - x0;
        const fy = y - y0;
        const w00 = (1 - fy) * (1 - fx);
        const w01 = (1 - fy) * fx;
        const w10 = fy * (1 - fx);
        const w11 = fy * fx;
        if (y0 >= 0 && x0 >= 0 && y0 + 1 < h && x0 + 1 < w) {
          const p00 = base + (y0 * w + x0) * c;
          const p10 = p00 + w * c;
          for (let ch = 0; ch < c; ch++) {
            out[o + ch] = w00 * src[p00 + ch] + w01 * src[p00 + c + ch] + w10 * src[p10 + ch] + w11 * src[p10 + c + ch];
          }
        } else {
          for (let ch = 0; ch < c; ch++) {
            // zero weights skip their taps, so that an exact integer coordinate on the last row/column stays exact
            let v = 0;
            if (w00 !== 0) v += w00 * read(y0, x0, ch);
            if (w01 !== 0) v += w01 * read(y0, x0 + 1, ch);
            if (w10 !== 0) v += w10 * read(y0 + 1, x0, ch);
            if (w11 !== 0) v += w11 * read(y0 + 1, x0 + 1, ch);
            out[o + ch] = v;
          }
        }
      }
    }
  }
  return tf.tensor4d(out, [b, oh, ow, c], 'float32');
}
