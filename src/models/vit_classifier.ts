import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import { acceptSparseLabels } from '../training/sparse_labels';
import { RandomGenerator } from '../utils/random';
import { AugmentationSpec, ResolvedViTOptions, resolveViTOptions, ViTClassifierOptions } from './options';
import { tokenPooling } from './token_pooling';
import { layerNormLayer } from '../layers/layer_norm';
import { mlp } from '../layers/mlp';
import { Normalization, normalization } from '../layers/normalization';
import { patchEncoder } from '../layers/patch_encoder';
import { patches } from '../layers/patches';
import { randomFlip } from '../layers/random_flip';
import { randomRotation } from '../layers/random_rotation';
import { randomZoom } from '../layers/random_zoom';
import { randomTranslation } from '../layers/random_translation';
import { resizing } from '../layers/resizing';
import { seededDropout } from '../layers/seeded_dropout';
import { transformerBlock } from '../layers/transformer_block';
import { registerSerializable } from '../utils/serialization';

/**
 * The model {@link createViTClassifier} returns: a functional `tf.LayersModel` (image in, logits out) whose
 * `compile` also lets `fit`/`evaluate` take class-index labels with {@link sparseCategoricalCrossentropyFromLogits}
 * (see {@link acceptSparseLabels}). It saves and loads as any `LayersModel` (`model.save(...)`,
 * `tf.loadLayersModel(...)`, with this library imported) and comes back as a `ViTClassifier`.
 *
 * @category Models
 */
export class ViTClassifier extends tfl.LayersModel {
  /** Class name used in serialized models. */
  static override className = 'ViTClassifier';

  /** Compiles as `LayersModel.compile`, then lets the sparse loss's outputs take class-index labels. */
  override compile(args: tfl.ModelCompileArgs): void {
    super.compile(args);
    acceptSparseLabels(this);
  }
}
registerSerializable(ViTClassifier);

function augmentationLayers(spec: AugmentationSpec, nextSeed: () => number | undefined): tfl.layers.Layer[] {
  const layers: tfl.layers.Layer[] = [];
  if (spec.flip) layers.push(randomFlip({ mode: spec.flip, seed: nextSeed(), name: 'flip' }));
  if (spec.rotation) layers.push(randomRotation({ factor: spec.rotation, seed: nextSeed(), name: 'rotation' }));
  if (spec.zoom) {
    layers.push(randomZoom({ heightFactor: spec.zoom, widthFactor: spec.zoom, seed: nextSeed(), name: 'zoom' }));
  }
  if (spec.translation) {
    layers.push(randomTranslation({ heightFactor: spec.translation, widthFactor: spec.translation, seed: nextSeed(), name: 'translation' }));
  }
  return layers;
}

function apply(layer: tfl.layers.Layer, x: tfl.SymbolicTensor): tfl.SymbolicTensor {
  return layer.apply(x) as tfl.SymbolicTensor;
}

/**
 * Builds a Vision Transformer image classifier: a functional model from images `[batch, height, width, channels]`
 * to logits `[batch, numClasses]`.
 *
 * Without options it is the reference Keras "ViT on CIFAR-10" model (21,666,762 trainable parameters):
 * `Normalization` → resize 72×72 → random flip (horizontal), rotation 0.02, zoom 0.2 (training only) → 6×6 patches →
 * `PatchEncoder` (144 tokens × 64) → 8 `TransformerBlock`s (4 heads, keyDim 64, MLP [128, 64], dropout 0.1) →
 * LayerNorm → flatten → dropout 0.5 → MLP head [2048, 1024] (GELU, dropout 0.5) → logits. `preset` picks another
 * starting point (see {@link VIT_PRESETS}) and every other option overrides one of its values (see
 * {@link ViTClassifierOptions}; invalid values throw an error naming the option).
 *
 * Layer names (a test checks them): `image` (input), `input_norm` (unless `normalization: false`), `resizing` (when
 * the image size differs from the input's), `flip`, `rotation`, `zoom`, `translation` (the built-in augmentation; layers you pass
 * keep their names), `patches`, `patch_embed`, `block_1` … `block_N`, `norm`, `flatten` (representation `'flatten'`)
 * or `pool` (`'gap'`, `'cls'`), `dropout` (when `representationDropout` > 0), `mlp_head` (when `mlpHeadUnits` is not
 * empty), `logits`.
 *
 * The `Normalization` layer starts as the identity unless `normalization: { mean, variance }` is given; adapt it to
 * the training images with {@link adaptNormalization} before training. Train with
 * {@link sparseCategoricalCrossentropyFromLogits} (the model outputs logits) and class-index labels.
 *
 * @example
 * ```ts
 * const model = createViTClassifier({ preset: 'vit-cifar-tiny', seed: 42 });
 * await adaptNormalization(model, trainImages);            // [n, 32, 32, 3] raw pixels
 * const history = await fitViT(model, { images, labels }, { epochs: 10, batchSize: 256, validationSplit: 0.1 });
 * // history.history: loss, accuracy, top-5-accuracy, val_loss, val_accuracy, val_top-5-accuracy
 * ```
 *
 * @category Models
 */
export function createViTClassifier(options: ViTClassifierOptions = {}): ViTClassifier {
  const o: ResolvedViTOptions = resolveViTOptions(options);
  const rng = o.seed != null ? new RandomGenerator(o.seed) : null;
  // Every random layer gets a seed of its own from the model's seed; without one, layers use the global generator.
  const nextSeed = (): number | undefined => (rng == null ? undefined : rng.nextSeed());

  const input = tfl.input({ shape: o.inputShape, name: 'image' });
  let x: tfl.SymbolicTensor = input;

  if (o.normalization !== false) {
    const stats = o.normalization === 'adapt' ? {} : { mean: o.normalization.mean, variance: o.normalization.variance };
    x = apply(normalization({ axis: -1, ...stats, name: 'input_norm' }), x);
  }
  if (o.imageSize[0] !== o.inputShape[0] || o.imageSize[1] !== o.inputShape[1]) {
    x = apply(resizing({ height: o.imageSize[0], width: o.imageSize[1], name: 'resizing' }), x);
  }
  if (o.augmentation != null) {
    const layers = Array.isArray(o.augmentation) ? o.augmentation : augmentationLayers(o.augmentation, nextSeed);
    for (const layer of layers) x = apply(layer, x);
  }

  x = apply(patches({ patchSize: o.patchSize, name: 'patches' }), x);
  x = apply(
    patchEncoder({
      numPatches: o.numPatches,
      projectionDim: o.projectionDim,
      classToken: o.representation === 'cls',
      seed: nextSeed(),
      name: 'patch_embed',
    }),
    x,
  );
  for (let i = 0; i < o.transformerLayers; i++) {
    // Stochastic depth rises linearly over the blocks, from 0 to dropPathRate (timm's schedule).
    const dropPath = o.transformerLayers > 1 ? (o.dropPathRate * i) / (o.transformerLayers - 1) : 0;
    x = apply(
      transformerBlock({
        numHeads: o.numHeads,
        keyDim: o.keyDim,
        mlpUnits: o.transformerUnits,
        dropout: o.mlpDropout,
        attentionDropout: o.attentionDropout,
        epsilon: o.layerNormEpsilon,
        activation: 'gelu',
        ...(o.mlpOutputActivation ? {} : { mlpOutputActivation: false }),
        dropPath,
        seed: nextSeed(),
        name: `block_${i + 1}`,
      }),
      x,
    );
  }
  x = apply(layerNormLayer({ epsilon: o.layerNormEpsilon, name: 'norm' }), x);
  x =
    o.representation === 'flatten'
      ? apply(tfl.layers.flatten({ name: 'flatten' }), x)
      : apply(tokenPooling({ mode: o.representation === 'cls' ? 'first' : 'mean', name: 'pool' }), x);
  if (o.representationDropout > 0) {
    x = apply(seededDropout({ rate: o.representationDropout, seed: nextSeed(), name: 'dropout' }), x);
  }
  if (o.mlpHeadUnits.length > 0) {
    x = apply(mlp({ units: o.mlpHeadUnits, activation: 'gelu', dropout: o.headDropout, seed: nextSeed(), name: 'mlp_head' }), x);
  }
  const logits = apply(mlp({ units: [o.numClasses], activation: 'linear', seed: nextSeed(), name: 'logits' }), x);
  return new ViTClassifier({ inputs: input, outputs: logits, name: o.name });
}

/**
 * Sets the statistics of the model's `Normalization` layer from training images (Keras's `layer.adapt(x_train)`),
 * so that the model sees inputs with zero mean and unit variance per channel. The statistics are weights of the
 * model: they are saved and loaded with it.
 *
 * @param model A model with a `Normalization` layer (as {@link createViTClassifier} builds by default).
 * @param data Images `[n, height, width, channels]`, or an (async) iterable of such batches.
 *
 * @example
 * ```ts
 * const model = createViTClassifier();
 * await adaptNormalization(model, trainImages); // e.g. the 50,000 CIFAR-10 training images
 * ```
 *
 * @category Models
 */
export async function adaptNormalization(
  model: tfl.LayersModel,
  data: tf.Tensor | Iterable<tf.Tensor> | AsyncIterable<tf.Tensor>,
): Promise<void> {
  // By class name, not `instanceof`: a model built by another copy of the library (its ESM build where this is the
  // CommonJS one) has a Normalization layer of that copy's class.
  const layer = model.layers.find((l) => l.getClassName() === Normalization.className) as Normalization | undefined;
  if (layer == null) {
    throw new Error(`adaptNormalization: model '${model.name}' has no Normalization layer (was it built with normalization: false?)`);
  }
  await layer.adapt(data);
}
