import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { linear } from '../ops/linear';
import { RandomGenerator } from '../utils/random';
import { assertPositiveInteger } from '../utils/validate';
import { assertRank, generatorFor, glorotUniform, singleInput, singleShape, zeros } from './layer_utils';
import { registerSerializable } from '../utils/serialization';
import type { ViTLayerArgs } from './layer_args';

/**
 * Options of {@link PatchEncoder}.
 *
 * @category Layers
 */
export interface PatchEncoderArgs extends ViTLayerArgs {
  /** Number of patches per image (tokens in). */
  numPatches: number;
  /** Width of the token embeddings. */
  projectionDim: number;
  /** Prepend a learnable class token (the ViT paper's `[class]` token). Default false. */
  classToken?: boolean;
  /** Seed of the layer's own random generator (initializers); default: the library's global generator. */
  seed?: number;
}

/**
 * Embeds flattened patches: a dense projection to `projectionDim` plus a learned position embedding, and
 * optionally a learnable class token in front — [batch, numPatches, patchValues] → [batch, numPatches(+1), projectionDim].
 *
 * The position embedding is one weight [numPatches(+1), projectionDim] added by broadcasting, initialised like
 * Keras's `Embedding` (uniform in ±0.05). It is not an embedding lookup: the gradient of `gather` needs the
 * `UnsortedSegmentSum` kernel, which the wasm backend lacks. Without a class token the parameter count equals
 * the Keras tutorial's `PatchEncoder` (Dense + Embedding): P·D + D + N·D.
 *
 * Weights: `projection/kernel` [P, D], `projection/bias` [D], `position_embedding` [N(+1), D], and
 * `class_token` [1, 1, D] (zeros) when enabled.
 *
 * @example
 * ```ts
 * const encoder = new PatchEncoder({ numPatches: 144, projectionDim: 64 });
 * encoder.apply(patchTensor); // [B, 144, 108] → [B, 144, 64]
 * ```
 *
 * @category Layers
 */
export class PatchEncoder extends tfl.layers.Layer {
  static className = 'PatchEncoder';
  /** Number of patches per image. */
  readonly numPatches: number;
  /** Width of the token embeddings. */
  readonly projectionDim: number;
  /** Whether a class token is prepended. */
  readonly classToken: boolean;
  /** Seed of the layer's own generator, if any. */
  readonly seed?: number;
  private readonly rng: RandomGenerator;
  private kernel!: tfl.LayerVariable;
  private bias!: tfl.LayerVariable;
  private positionEmbedding!: tfl.LayerVariable;
  private token: tfl.LayerVariable | null = null;
  private patchValues = -1;

  constructor(args: PatchEncoderArgs) {
    super(args);
    assertPositiveInteger('PatchEncoder: numPatches', args?.numPatches);
    assertPositiveInteger('PatchEncoder: projectionDim', args.projectionDim);
    this.numPatches = args.numPatches;
    this.projectionDim = args.projectionDim;
    this.classToken = args.classToken ?? false;
    this.seed = args.seed ?? undefined;
    this.rng = generatorFor(this.seed);
  }

  /** Number of output tokens: `numPatches`, plus one with a class token. */
  get numTokens(): number {
    return this.numPatches + (this.classToken ? 1 : 0);
  }

  private checkShape(shape: readonly (number | null)[]): void {
    assertRank('PatchEncoder', shape, 3, 'input [batch, numPatches, patchValues]');
    if (shape[1] != null && shape[1] !== this.numPatches) {
      throw new Error(`PatchEncoder: input has ${shape[1]} patches but numPatches is ${this.numPatches}`);
    }
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape, 'PatchEncoder');
    this.checkShape(shape);
    const p = shape[2];
    if (p == null) throw new Error('PatchEncoder: the number of values per patch (last axis) must be known');
    this.patchValues = p;
    const d = this.projectionDim;
    this.kernel = this.addWeight('projection/kernel', [p, d], 'float32', glorotUniform(this.rng));
    this.bias = this.addWeight('projection/bias', [d], 'float32', zeros());
    this.positionEmbedding = this.addWeight(
      'position_embedding',
      [this.numTokens, d],
      'float32',
      tfl.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: this.rng.nextSeed() }),
    );
    if (this.classToken) this.token = this.addWeight('class_token', [1, 1, d], 'float32', zeros());
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape, 'PatchEncoder');
    this.checkShape(shape);
    return [shape[0], this.numTokens, this.projectionDim];
  }

  override call(inputs: tf.Tensor | tf.Tensor[]): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs, 'PatchEncoder');
      this.checkShape(x.shape);
      if (x.shape[2] !== this.patchValues) {
        throw new Error(`PatchEncoder: patches have ${x.shape[2]} values but layer '${this.name}' was built for ${this.patchValues}`);
      }
      let tokens = linear(x, this.kernel.read(), this.bias.read());
      if (this.token != null) {
        const batch = x.shape[0];
        const cls = tf.broadcastTo(this.token.read(), [batch, 1, this.projectionDim]);
        tokens = tf.concat([cls, tokens], 1);
      }
      return tf.add(tokens, this.positionEmbedding.read());
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return {
      ...super.getConfig(),
      numPatches: this.numPatches,
      projectionDim: this.projectionDim,
      classToken: this.classToken,
      seed: this.seed ?? null,
    };
  }
}
registerSerializable(PatchEncoder);

/**
 * Creates a {@link PatchEncoder} layer.
 *
 * @example
 * ```ts
 * const tokens = patchEncoder({ numPatches: 64, projectionDim: 192, classToken: true }).apply(patches);
 * ```
 *
 * @category Layers
 */
export function patchEncoder(args: PatchEncoderArgs): PatchEncoder {
  return new PatchEncoder(args);
}
