import * as tf from '@tensorflow/tfjs-core';

/**
 * Wraps `f` with `tf.customGrad`, typed for a fixed number of tensor inputs.
 * `f` receives the inputs followed by tfjs's `save` function and returns `{ value, gradFunc }`.
 * @internal
 */
export function customNode<A extends tf.Tensor[]>(
  f: (...args: [...A, tf.GradSaveFunc]) => { value: tf.Tensor; gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[] },
): (...inputs: A) => tf.Tensor {
  type CustomGradArg = Parameters<typeof tf.customGrad>[0];
  return tf.customGrad(f as unknown as CustomGradArg) as unknown as (...inputs: A) => tf.Tensor;
}

