/**
 * Random geometric augmentation through projective transforms (`transformImages`, TF's `tf.image.transform` semantics): the shared base of {@link RandomRotation} and
 * {@link RandomZoom}, and {@link RandomAffine}, which fuses a rotation and a zoom into ONE transform per image and ONE
 * `tf.image.transform` call per batch.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ViTLayerArgs } from './layer_args';
import type { CallKwargs } from './layer_utils';

import {
  composeTransforms,
  FILL_MODES,
  FillMode,
  ImageTransform,
  INTERPOLATION_MODES,
  InterpolationMode,
  rotationTransform,
  zoomTransform,
} from '../image/affine';
import { transformImages } from '../image/transform';
import { layerRandom, RandomGenerator } from '../utils/random';
import { assertFiniteNumber, assertOneOf, show } from '../utils/validate';
import { registerSerializable } from '../utils/serialization';

/**
 * Options shared by the transform-based augmentation layers.
 *
 * @category Preprocessing and augmentation
 */
export interface RandomTransformArgs extends ViTLayerArgs {
  /** How points outside the input are filled (Keras's names). Default `'reflect'`. */
  fillMode?: FillMode;
  /** `'bilinear'` (default) or `'nearest'`. */
  interpolation?: InterpolationMode;
  /** Value used outside the input when `fillMode` is `'constant'`. Default 0. */
  fillValue?: number;
  /** Seed of the layer's own generator; without it draws come from `globalRandom()`. */
  seed?: number;
}

/**
 * A `[lower, upper]` range parsed from a Keras-style factor (a number `f` means `[-|f|, |f|]`).
 *
 * @category Preprocessing and augmentation
 */
export function parseFactor(name: string, factor: unknown, lo: number, hi: number): [number, number] {
  let range: [number, number];
  if (typeof factor === 'number') {
    assertFiniteNumber(name, factor);
    range = [-Math.abs(factor), Math.abs(factor)];
  } else if (Array.isArray(factor) && factor.length === 2 && factor.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    range = [factor[0] as number, factor[1] as number];
  } else {
    throw new Error(`${name} must be a number or a [lower, upper] pair of finite numbers, got ${show(factor)}`);
  }
  if (range[0] > range[1]) throw new Error(`${name} has lower bound ${range[0]} above upper bound ${range[1]}`);
  if (range[0] < lo || range[1] > hi) {
    throw new Error(`${name} must lie within [${lo}, ${hi}], got ${show(factor)}`);
  }
  return range;
}

/**
 * The base of layers that draw one projective transform per image and apply them with `tf.image.transform`.
 *
 * @category Preprocessing and augmentation
 */
export abstract class RandomTransformLayer<P> extends tfl.layers.Layer {
  /** Fill mode (see {@link RandomTransformArgs}). */
  readonly fillMode: FillMode;
  /** Interpolation (see {@link RandomTransformArgs}). */
  readonly interpolation: InterpolationMode;
  /** Constant fill value. */
  readonly fillValue: number;
  /** The layer's seed, if it has its own generator. */
  readonly seed?: number;
  private readonly rng?: RandomGenerator;

  constructor(args: RandomTransformArgs) {
    super(args);
    this.fillMode = args.fillMode ?? 'reflect';
    this.interpolation = args.interpolation ?? 'bilinear';
    this.fillValue = args.fillValue ?? 0;
    assertOneOf(`${this.getClassName()}: fillMode`, this.fillMode, FILL_MODES);
    assertOneOf(`${this.getClassName()}: interpolation`, this.interpolation, INTERPOLATION_MODES);
    assertFiniteNumber(`${this.getClassName()}: fillValue`, this.fillValue);
    if (args.seed !== undefined) {
      assertFiniteNumber(`${this.getClassName()}: seed`, args.seed);
      this.seed = args.seed;
      this.rng = new RandomGenerator(args.seed);
    }
  }

  /** The generator draws come from: the layer's own (with a seed) or the global one. */
  get generator(): RandomGenerator {
    return layerRandom(this.rng);
  }

  /** Draws the parameters of one image (advances the generator). */
  protected abstract drawOne(rng: RandomGenerator): P;

  /** The transform for one image of `height`×`width` with parameters `p`. */
  abstract transformFor(p: P, height: number, width: number): ImageTransform;

  /**
   * Draws the per-image parameters for a batch of `batchSize` images, exactly as a training call does (advances the
   * generator by the same amount); exposed for inspection and testing.
   */
  sampleParameters(batchSize: number): P[] {
    const rng = this.generator;
    const out: P[] = [];
    for (let i = 0; i < batchSize; i++) out.push(this.drawOne(rng));
    return out;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape | tfl.Shape[] {
    return inputShape;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    const x = Array.isArray(inputs) ? inputs[0] : inputs;
    if (x.rank !== 3 && x.rank !== 4) {
      throw new Error(`${this.getClassName()}: input rank must be 3 [H, W, C] or 4 [B, H, W, C], got rank ${x.rank} (shape [${x.shape}])`);
    }
    if (!kwargs?.training) return x;
    return tf.tidy(() => {
      const batched = (x.rank === 3 ? tf.expandDims(x, 0) : x) as tf.Tensor4D;
      const [b, h, w] = batched.shape;
      const params = this.sampleParameters(b);
      const transforms = params.map((p) => this.transformFor(p, h, w));
      const images = batched.dtype === 'float32' ? batched : tf.cast(batched, 'float32');
      const out = transformImages(images, transforms, this.interpolation, this.fillMode, this.fillValue);
      return x.rank === 3 ? tf.squeeze(out, [0]) : out;
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = {
      fillMode: this.fillMode,
      interpolation: this.interpolation,
      fillValue: this.fillValue,
    };
    if (this.seed !== undefined) config.seed = this.seed;
    return { ...super.getConfig(), ...config };
  }
}

/**
 * Options of {@link RandomAffine}.
 *
 * @category Preprocessing and augmentation
 */
export interface RandomAffineArgs extends RandomTransformArgs {
  /** Rotation range as a fraction of 2π, as {@link RandomRotation}'s `factor`. Default 0 (no rotation). */
  rotationFactor?: number | [number, number];
  /** Vertical zoom range, as {@link RandomZoom}'s `heightFactor`. Default 0 (no zoom). */
  heightFactor?: number | [number, number];
  /** Horizontal zoom range; undefined keeps the aspect ratio (the same draw as the height). */
  widthFactor?: number | [number, number];
}

/**
 * Parameters drawn for one image by {@link RandomAffine}.
 *
 * @category Preprocessing and augmentation
 */
export interface AffineParameters {
  /** Rotation angle in radians. */
  angle: number;
  /** Vertical zoom (`1 + factor`; above 1 zooms out). */
  zoomHeight: number;
  /** Horizontal zoom. */
  zoomWidth: number;
}

/**
 * `RandomRotation` followed by `RandomZoom` in a single pass: per image, the rotation matrix `R` and the zoom matrix
 * `Z` (both exactly as Keras builds them) are composed into `R · Z` (the zoomed output samples the rotated image,
 * which samples the input) and the batch goes through one `tf.image.transform` call. Compared with the two layers in
 * sequence it interpolates once instead of twice (slightly sharper) and fills out-of-image points from the original
 * image; for the small angles and zooms of the reference recipe the results agree away from the borders.
 *
 * Draw order per image: angle, height zoom, width zoom (only when `widthFactor` is set).
 *
 * @example
 * const aug = randomAffine({ rotationFactor: 0.02, heightFactor: 0.2, widthFactor: 0.2, seed: 1 });
 *
 * @category Preprocessing and augmentation
 */
export class RandomAffine extends RandomTransformLayer<AffineParameters> {
  /** Serialization name (registered under the package `vit`). */
  static className = 'RandomAffine';
  /** Rotation range (fraction of 2π). */
  readonly rotationRange: [number, number];
  /** Height-zoom factor range. */
  readonly heightRange: [number, number];
  /** Width-zoom factor range, or undefined to keep the aspect ratio. */
  readonly widthRange?: [number, number];
  private readonly cfg: { rotationFactor: number | [number, number]; heightFactor: number | [number, number]; widthFactor?: number | [number, number] };

  constructor(args: RandomAffineArgs = {}) {
    super(args);
    this.cfg = { rotationFactor: args.rotationFactor ?? 0, heightFactor: args.heightFactor ?? 0, widthFactor: args.widthFactor };
    this.rotationRange = parseFactor('RandomAffine: rotationFactor', this.cfg.rotationFactor, -1, 1);
    this.heightRange = parseFactor('RandomAffine: heightFactor', this.cfg.heightFactor, -1, 1);
    if (args.widthFactor !== undefined) this.widthRange = parseFactor('RandomAffine: widthFactor', args.widthFactor, -1, 1);
  }

  protected drawOne(rng: RandomGenerator): AffineParameters {
    const angle = rng.uniform(this.rotationRange[0], this.rotationRange[1]) * 2 * Math.PI;
    const zoomHeight = 1 + rng.uniform(this.heightRange[0], this.heightRange[1]);
    const zoomWidth = this.widthRange ? 1 + rng.uniform(this.widthRange[0], this.widthRange[1]) : zoomHeight;
    return { angle, zoomHeight, zoomWidth };
  }

  transformFor(p: AffineParameters, height: number, width: number): ImageTransform {
    return composeTransforms(rotationTransform(p.angle, height, width), zoomTransform(p.zoomHeight, p.zoomWidth, height, width));
  }

  override getConfig(): tf.serialization.ConfigDict {
    const config: tf.serialization.ConfigDict = { rotationFactor: this.cfg.rotationFactor, heightFactor: this.cfg.heightFactor };
    if (this.cfg.widthFactor !== undefined) config.widthFactor = this.cfg.widthFactor;
    return { ...super.getConfig(), ...config };
  }
}
registerSerializable(RandomAffine);

/**
 * Creates a {@link RandomAffine} layer (fused random rotation + zoom).
 *
 * @category Preprocessing and augmentation
 */
export function randomAffine(args?: RandomAffineArgs): RandomAffine {
  return new RandomAffine(args);
}
