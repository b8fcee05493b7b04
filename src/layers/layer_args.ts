/**
 * The options every layer of the library accepts, whatever its own.
 */
import type * as tf from '@tensorflow/tfjs-core';

/**
 * The base of every layer's options ({@link PatchesArgs}, {@link NormalizationArgs}, ...): the options of a
 * tfjs-layers `Layer` that users pass, declared here so that the library's type declarations do not depend on
 * tfjs-layers' internal module paths. An object of this type is accepted wherever tfjs-layers expects its own
 * `LayerArgs`.
 *
 * @example
 * ```ts
 * const norm = normalization({ axis: -1, name: 'input_norm', inputShape: [32, 32, 3] });
 * ```
 *
 * @category Layers
 */
export interface ViTLayerArgs {
  /** Layer name, unique in a model; default: derived from the class name (`patches_1`, ...). */
  name?: string;
  /** Whether the layer's weights are updated by training. Default true. */
  trainable?: boolean;
  /** Input shape without the batch axis, when this is the first layer of a model (creates its input). */
  inputShape?: (number | null)[];
  /** Input shape with the batch axis (`null` for any batch size), instead of `inputShape`. */
  batchInputShape?: (number | null)[];
  /** Fixed batch size, with `inputShape`. */
  batchSize?: number;
  /** The layer's data type. Default `'float32'`. */
  dtype?: tf.DataType;
  /** Data type of the model input this layer creates (with `inputShape`). */
  inputDType?: tf.DataType;
  /** Initial values of the layer's weights, in the order of `layer.getWeights()`. */
  weights?: tf.Tensor[];
}
