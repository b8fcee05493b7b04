/**
 * How the library registers its serializable classes (layers, models, optimizers, learning-rate schedules) with
 * tfjs, so that `tfl.loadLayersModel` and `tf.serialization` find them by name.
 *
 * @packageDocumentation
 * @internal
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * The package name every class of the library is registered under: `tf.serialization.registerClass(cls, 'vit')`,
 * i.e. the key `'vit>' + className`. Saved models name their classes by `className` alone; changing this or a class's
 * `className` would stop saved models from loading.
 * @internal
 */
export const SERIALIZATION_PACKAGE = 'vit';

/**
 * Registers a class of the library with `tf.serialization.registerClass` under {@link SERIALIZATION_PACKAGE} and
 * its static `className`; returns the class.
 * @internal
 */
export function registerSerializable<T extends tf.serialization.Serializable>(
  cls: tf.serialization.SerializableConstructor<T>,
): tf.serialization.SerializableConstructor<T> {
  return tf.serialization.registerClass(cls, SERIALIZATION_PACKAGE);
}
