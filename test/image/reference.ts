/**
 * Float64 references for the augmentation tests, written from the definitions (Keras's transform matrices and TF's
 * ImageProjectiveTransformV3 sampling), independently of src/.
 */

/** Keras RandomRotation matrix (keras/src/layers/preprocessing/image_preprocessing/random_rotation.py). */
export function refRotation(angle: number, h: number, w: number): number[] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return [c, -s, (w - 1 - (c * (w - 1) - s * (h - 1))) / 2, s, c, (h - 1 - (s * (w - 1) + c * (h - 1))) / 2, 0, 0];
}

/** Keras RandomZoom matrix. */
export function refZoom(zh: number, zw: number, h: number, w: number): number[] {
  return [zw, 0, ((w - 1) / 2) * (1 - zw), 0, zh, ((h - 1) / 2) * (1 - zh), 0, 0];
}

/** Fill-mode coordinate mapping of TF's kernel (reflect: d c b a | a b c d | d c b a). */
function mapCoord(v: number, len: number, mode: string): number {
  if (mode === 'constant') return v;
  const clamp = (q: number) => Math.min(Math.max(q, 0), len - 1);
  if (mode === 'nearest') return clamp(v);
  if (v >= 0 && v <= len - 1) return v;
  if (len <= 1) return 0;
  if (mode === 'reflect') {
    const p = 2 * len;
    const t = ((v % p) + p) % p;
    return clamp(t >= len ? p - 1 - t : t);
  }
  // wrap, as TF's kernel defines it (period len, with its (len - 1) divisor)
  if (v < 0) return clamp(v + len * (Math.trunc(-v / (len - 1)) + 1));
  return clamp(v - len * Math.trunc(v / (len - 1)));
}

/** Float64 reference of tf.image.transform for one [H, W, C] image stored row-major in `img`. */
export function refTransform(
  img: ArrayLike<number>,
  h: number,
  w: number,
  c: number,
  t: number[],
  interpolation: string,
  fillMode: string,
  fillValue: number,
): Float64Array {
  const out = new Float64Array(h * w * c);
  const read = (y: number, x: number, ch: number) => (y >= 0 && y < h && x >= 0 && x < w ? img[(y * w + x) * c + ch] : fillValue);
  for (let oy = 0; oy < h; oy++) {
    for (let ox = 0; ox < w; ox++) {
      const k = t[6] * ox + t[7] * oy + 1;
      const x = mapCoord((t[0] * ox + t[1] * oy + t[2]) / k, w, fillMode);
      const y = mapCoord((t[3] * ox + t[4] * oy + t[5]) / k, h, fillMode);
      for (let ch = 0; ch < c; ch++) {
        let v: number;
        if (interpolation === 'nearest') v = read(Math.sign(y) * Math.round(Math.abs(y)), Math.sign(x) * Math.round(Math.abs(x)), ch);
        else {
          const x0 = Math.floor(x);
          const y0 = Math.floor(y);
          const fx = x - x0;
          const fy = y - y0;
          v =
            (1 - fy) * ((1 - fx) * read(y0, x0, ch) + fx * read(y0, x0 + 1, ch)) +
            fy * ((1 - fx) * read(y0 + 1, x0, ch) + fx * read(y0 + 1, x0 + 1, ch));
        }
        out[(oy * w + ox) * c + ch] = v;
      }
    }
  }
  return out;
}

/** 3×3 product a·b of two 8-number transforms (normalised). */
export function refCompose(a: number[], b: number[]): number[] {
  const A = [...a, 1];
  const B = [...b, 1];
  const M: number[] = [];
  for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) M.push(A[i * 3] * B[j] + A[i * 3 + 1] * B[3 + j] + A[i * 3 + 2] * B[6 + j]);
  return M.slice(0, 8).map((v) => v / M[8]);
}

/** Half-pixel-centre bilinear resize (TF2 tf.image.resize) of one [H, W, C] image, float64. */
export function refResizeBilinear(img: ArrayLike<number>, h: number, w: number, c: number, oh: number, ow: number): Float64Array {
  const out = new Float64Array(oh * ow * c);
  for (let oy = 0; oy < oh; oy++) {
    const sy = Math.max(0, (oy + 0.5) * (h / oh) - 0.5);
    const y0 = Math.min(Math.floor(sy), h - 1);
    const y1 = Math.min(y0 + 1, h - 1);
    const fy = sy - y0;
    for (let ox = 0; ox < ow; ox++) {
      const sx = Math.max(0, (ox + 0.5) * (w / ow) - 0.5);
      const x0 = Math.min(Math.floor(sx), w - 1);
      const x1 = Math.min(x0 + 1, w - 1);
      const fx = sx - x0;
      for (let ch = 0; ch < c; ch++) {
        const at = (y: number, x: number) => img[(y * w + x) * c + ch];
        out[(oy * ow + ox) * c + ch] =
          (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x1)) + fy * ((1 - fx) * at(y1, x0) + fx * at(y1, x1));
      }
    }
  }
  return out;
}

/** Kolmogorov–Smirnov statistic of `samples` against U[lo, hi]. */
export function ksUniform(samples: number[], lo: number, hi: number): number {
  const s = [...samples].sort((a, b) => a - b);
  const n = s.length;
  let d = 0;
  s.forEach((v, i) => {
    const F = Math.min(1, Math.max(0, (v - lo) / (hi - lo)));
    d = Math.max(d, Math.abs(F - i / n), Math.abs(F - (i + 1) / n));
  });
  return d;
}

/** Max absolute difference. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** `b` test images `[h, w, c]` (NHWC, flattened) whose values change linearly along x and y, per channel and image. */
export function gradientImages(b: number, h: number, w: number, c: number): Float32Array {
  const v = new Float32Array(b * h * w * c);
  for (let i = 0; i < v.length; i++) {
    const ch = i % c;
    const x = Math.floor(i / c) % w;
    const y = Math.floor(i / (c * w)) % h;
    v[i] = (ch + 1) * (2 * x - 0.7 * y) + 5 * Math.floor(i / (h * w * c));
  }
  return v;
}
