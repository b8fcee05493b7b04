/**
 * Projective-transform helpers in the layout of `tf.image.transform` (TF's `ImageProjectiveTransformV3`).
 *
 * A transform is 8 numbers `[a0, a1, a2, b0, b1, b2, c0, c1]`; it maps an OUTPUT pixel `(x, y)` (column, row, in
 * pixel-index coordinates) to the INPUT location it samples:
 * `((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k)` with `k = c0 x + c1 y + 1`.
 * Browser-safe, pure JavaScript.
 */

/**
 * One projective transform `[a0, a1, a2, b0, b1, b2, c0, c1]` (output → input map, see module docs).
 *
 * @category Preprocessing and augmentation
 */
export type ImageTransform = [number, number, number, number, number, number, number, number];

/**
 * How `tf.image.transform` fills points that map outside the input.
 *
 * @category Preprocessing and augmentation
 */
export type FillMode = 'reflect' | 'wrap' | 'constant' | 'nearest';
/**
 * Sampling used by `tf.image.transform`.
 *
 * @category Preprocessing and augmentation
 */
export type InterpolationMode = 'bilinear' | 'nearest';

/**
 * The fill modes accepted by the augmentation layers (Keras's names).
 *
 * @category Preprocessing and augmentation
 */
export const FILL_MODES: readonly FillMode[] = ['reflect', 'wrap', 'constant', 'nearest'];
/**
 * The interpolation modes accepted by the augmentation layers.
 *
 * @category Preprocessing and augmentation
 */
export const INTERPOLATION_MODES: readonly InterpolationMode[] = ['bilinear', 'nearest'];

/**
 * Keras's rotation transform (`keras.layers.RandomRotation`): rotates an image of `height`×`width` by `angle`
 * radians about its centre (positive = counter-clockwise on screen, as in Keras).
 *
 * @example
 * tf.image.transform(images, tf.tensor2d([rotationTransform(Math.PI / 2, 32, 32)]), 'bilinear', 'reflect');
 *
 * @category Preprocessing and augmentation
 */
export function rotationTransform(angle: number, height: number, width: number): ImageTransform {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  const xOffset = (width - 1 - (c * (width - 1) - s * (height - 1))) / 2;
  const yOffset = (height - 1 - (s * (width - 1) + c * (height - 1))) / 2;
  return [c, -s, xOffset, s, c, yOffset, 0, 0];
}

/**
 * Keras's zoom transform (`keras.layers.RandomZoom`): samples the input at `zoom` times the distance from the image
 * centre, so a zoom factor above 1 shows a larger region (zooms out) and below 1 zooms in.
 * `zoomHeight`/`zoomWidth` are `1 + factor` as drawn by Keras.
 *
 * @category Preprocessing and augmentation
 */
export function zoomTransform(zoomHeight: number, zoomWidth: number, height: number, width: number): ImageTransform {
  const xOffset = ((width - 1) / 2) * (1 - zoomWidth);
  const yOffset = ((height - 1) / 2) * (1 - zoomHeight);
  return [zoomWidth, 0, xOffset, 0, zoomHeight, yOffset, 0, 0];
}

/**
 * The transform that shifts an image by `dy` pixels down and `dx` pixels right (negative: up / left): the output pixel
 * `(x, y)` samples the input at `(x − dx, y − dy)`, Keras's `RandomTranslation` matrix `[1, 0, −dx, 0, 1, −dy, 0, 0]`.
 *
 * @category Preprocessing and augmentation
 */
export function translationTransform(dy: number, dx: number): ImageTransform {
  return [1, 0, -dx, 0, 1, -dy, 0, 0];
}

/**
 * The single transform equal to applying `first` to an image and then `second` to the result: the output pixel
 * `p` samples `first`'s output at `second(p)`, which samples the input at `first(second(p))`; as 3×3 matrices the
 * product `first · second` (normalised so its bottom-right entry is 1).
 *
 * @category Preprocessing and augmentation
 */
export function composeTransforms(first: ImageTransform, second: ImageTransform): ImageTransform {
  const A = toMatrix(first);
  const B = toMatrix(second);
  const M = new Array<number>(9).fill(0);
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      let acc = 0;
      for (let k = 0; k < 3; k++) acc += A[i * 3 + k] * B[k * 3 + j];
      M[i * 3 + j] = acc;
    }
  }
  const n = M[8];
  if (n === 0) throw new Error('composeTransforms: the composed transform is degenerate (k = 0)');
  return [M[0] / n, M[1] / n, M[2] / n, M[3] / n, M[4] / n, M[5] / n, M[6] / n, M[7] / n];
}

/**
 * The input location `[x, y]` that output pixel `(x, y)` samples under `t`.
 *
 * @category Preprocessing and augmentation
 */
export function applyTransform(t: ImageTransform, x: number, y: number): [number, number] {
  const k = t[6] * x + t[7] * y + 1;
  return [(t[0] * x + t[1] * y + t[2]) / k, (t[3] * x + t[4] * y + t[5]) / k];
}

function toMatrix(t: ImageTransform): number[] {
  return [t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7], 1];
}
