import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { ActivationName, applyActivation } from '../ops/activations';
import { dropout } from '../ops/dropout';
import { linear } from '../ops/linear';
import { layerRandom, RandomGenerator } from '../utils/random';
import { assertInRange, assertOneOf, assertPositiveInteger, show } from '../utils/validate';
import { CallKwargs, generatorFor, glorotUniform, singleInput, singleShape, WeightAdder, zeros } from './layer_utils';
import { registerSerializable } from '../utils/serialization';
import type { ViTLayerArgs } from './layer_args';

const ACTIVATIONS: ActivationName[] = ['linear', 'relu', 'gelu', 'gelu_tanh'];

/** The weights of one dense layer of an MLP. @internal */
export interface DenseWeights {
  kernel: tfl.LayerVariable;
  bias: tfl.LayerVariable;
}

/** Validates MLP options (shared by {@link MLP} and {@link TransformerBlock}). @internal */
export function validateMlpOptions(layer: string, units: unknown, activation: unknown, rate: unknown, unitsName = 'units'): void {
  if (!Array.isArray(units) || units.length === 0) {
    throw new Error(`${layer}: ${unitsName} must be a non-empty array of positive integers, got ${show(units)}`);
  }
  units.forEach((u, i) => assertPositiveInteger(`${layer}: ${unitsName}[${i}]`, u));
  assertOneOf(`${layer}: activation`, activation, ACTIVATIONS);
  assertInRange(`${layer}: dropout`, rate, 0, 1, { openHigh: true });
}

/**
 * Adds the kernels [in, out] and biases [out] of a stack of dense layers (through the owning layer's `addWeight`), named
 * `${prefix}dense_${i}/kernel` and `${prefix}dense_${i}/bias`. @internal
 */
export function addMlpWeights(
  addWeight: WeightAdder,
  inputDim: number,
  units: number[],
  rng: RandomGenerator,
  prefix = '',
): DenseWeights[] {
  let inDim = inputDim;
  return units.map((u, i) => {
    const kernel = addWeight(`${prefix}dense_${i}/kernel`, [inDim, u], glorotUniform(rng));
    const bias = addWeight(`${prefix}dense_${i}/bias`, [u], zeros());
    inDim = u;
    return { kernel, bias };
  });
}

/**
 * Dense → activation → dropout for each entry of `weights` (dropout only when `training`); with `activateLast` false
 * the last dense layer has no activation (dropout still follows it), the standard ViT MLP. @internal
 */
export function mlpForward(
  x: tf.Tensor,
  weights: DenseWeights[],
  activation: ActivationName,
  rate: number,
  training: boolean,
  rng: RandomGenerator,
  activateLast = true,
): tf.Tensor {
  let y = x;
  for (let i = 0; i < weights.length; i++) {
    const { kernel, bias } = weights[i];
    const dense = linear(y, kernel.read(), bias.read());
    y = activateLast || i < weights.length - 1 ? applyActivation(dense, activation) : dense;
    if (training && rate > 0) y = dropout(y, rate, rng.nextSeed());
  }
  return y;
}

/**
 * Options of {@link MLP}.
 *
 * @category Layers
 */
export interface MLPArgs extends ViTLayerArgs {
  /** Width of each dense layer, in order; the last one is the output width. */
  units: number[];
  /** Activation after every dense layer. Default `'gelu'` (exact, erf-based, as `tf.nn.gelu`). */
  activation?: ActivationName;
  /** Dropout rate after every activation, active only in training. Default 0. */
  dropout?: number;
  /** Seed of the layer's own random generator (initializers and dropout); default: the global generator. */
  seed?: number;
}

/**
 * A multilayer perceptron over the last axis: for each entry of `units`, a dense layer, the activation and
 * dropout — the `mlp()` helper of the Keras ViT tutorial (transformer MLP and classification head), as a
 * single layer (timm's `Mlp`). Dense products go through {@link linear}.
 *
 * @example
 * ```ts
 * const head = new MLP({ units: [2048, 1024], activation: 'gelu', dropout: 0.5 });
 * head.apply(features); // [B, 9216] → [B, 1024]
 * ```
 *
 * @category Layers
 */
export class MLP extends tfl.layers.Layer {
  static className = 'MLP';
  /** Widths of the dense layers. */
  readonly units: number[];
  /** Activation after every dense layer. */
  readonly activation: ActivationName;
  /** Dropout rate after every activation (training only). */
  readonly rate: number;
  /** Seed of the layer's own generator, if any. */
  readonly seed?: number;
  private readonly rng: RandomGenerator;
  private dense: DenseWeights[] = [];
  private inputDim = -1;

  constructor(args: MLPArgs) {
    super(args);
    const { units, activation = 'gelu', dropout: rate = 0, seed } = args ?? ({} as MLPArgs);
    validateMlpOptions('MLP', units, activation, rate);
    this.units = [...units];
    this.activation = activation;
    this.rate = rate;
    this.seed = seed ?? undefined;
    this.rng = generatorFor(this.seed);
  }

  override build(inputShape: tfl.Shape | tfl.Shape[]): void {
    const shape = singleShape(inputShape, 'MLP');
    const inDim = shape[shape.length - 1];
    if (shape.length < 2 || inDim == null) throw new Error(`MLP: input must have rank ≥ 2 and a known last axis, got [${shape}]`);
    this.inputDim = inDim;
    this.dense = addMlpWeights((n, s, init) => this.addWeight(n, s, 'float32', init), inDim, this.units, this.rng);
    this.built = true;
  }

  override computeOutputShape(inputShape: tfl.Shape | tfl.Shape[]): tfl.Shape {
    const shape = singleShape(inputShape, 'MLP');
    return [...shape.slice(0, -1), this.units[this.units.length - 1]];
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: CallKwargs): tf.Tensor {
    return tf.tidy(() => {
      const x = singleInput(inputs, 'MLP');
      const last = x.shape[x.rank - 1];
      if (last !== this.inputDim) {
        throw new Error(`MLP: input has ${last} features on its last axis but layer '${this.name}' was built for ${this.inputDim}`);
      }
      return mlpForward(x, this.dense, this.activation, this.rate, kwargs?.training === true, layerRandom(this.rng));
    });
  }

  override getConfig(): tf.serialization.ConfigDict {
    return { ...super.getConfig(), units: this.units, activation: this.activation, dropout: this.rate, seed: this.seed ?? null };
  }
}
registerSerializable(MLP);

/**
 * Creates an {@link MLP} layer.
 *
 * @example
 * ```ts
 * const y = mlp({ units: [128, 64], dropout: 0.1 }).apply(tokens);
 * ```
 *
 * @category Layers
 */
export function mlp(args: MLPArgs): MLP {
  return new MLP(args);
}

