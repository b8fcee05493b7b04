import * as tf from '@tensorflow/tfjs-core';
import { customNode } from './fast_util';
import { prepareFastPath, useFastOps, useSimdKernels } from './mode';
import { simdGelu, simdGeluGrad } from './wasm/gelu_kernels';

/**
 * Activation names accepted by the library's dense computations.
 *
 * @category Ops
 */
export type ActivationName = 'linear' | 'relu' | 'gelu' | 'gelu_tanh';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

/**
 * Exact GELU, `x · Φ(x) = 0.5 · x · (1 + erf(x / √2))`, as Keras's `gelu(approximate=False)`
 * and `tf.nn.gelu` (the reference recipe's activation).
 *
 * On the fast path (see {@link OpsMode}) it is `x · Φ(x)` with Φ a node whose gradient is the closed form
 * `φ(x) = exp(−x²/2) / √(2π)`, instead of differentiating through `erf` and four scalings op by op; on wasm, one
 * SIMD kernel each way (erfc and exp by polynomials: within 4e-7 absolute of float64, see the tests).
 *
 * @category Ops
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return useFastOps() ? geluFast(x) : geluReference(x);
}

/** The plain formulation of {@link gelu} (tfjs's default gradients). @internal */
export function geluReference(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.mul(x, Math.SQRT1_2)))));
}

/**
 * `exp(−t)` for `t ≥ 0`. The wasm backend's `Exp` is a scalar loop (9 ms per million elements) where its
 * `Sigmoid` runs XNNPACK's vectorized kernel (1 ms); with `s = σ(−t) = e^{−t} / (1 + e^{−t})`,
 * `e^{−t} = s / (1 − s)`, within 3e-7 relative of the exact value (measured over t ∈ [0, 98]; `tf.exp` is within
 * 6e-8). Other backends take `tf.exp`.
 */
function expNegative(t: tf.Tensor): tf.Tensor {
  if (tf.getBackend() !== 'wasm') return tf.exp(tf.neg(t));
  const s = tf.sigmoid(tf.neg(t));
  return tf.div(s, tf.sub(1, s));
}

/** Φ(x), the standard normal CDF, with dΦ/dx = φ(x) = exp(−x²/2) / √(2π). */
const normalCdf = customNode<[tf.Tensor]>((x, save) => {
  save([x]);
  return {
    value: tf.add(tf.mul(tf.erf(tf.mul(x, Math.SQRT1_2)), 0.5), 0.5),
    gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => tf.mul(dy, tf.mul(expNegative(tf.mul(tf.square(xs), 0.5)), INV_SQRT_2PI)),
  };
});

/** GELU as one node of the SIMD kernels (wasm): one pass forward, one backward, each recomputing Φ from x. */
const geluSimd = customNode<[tf.Tensor]>((x, save) => {
  save([x]);
  return { value: simdGelu(x), gradFunc: (dy: tf.Tensor, [xs]: tf.Tensor[]) => simdGeluGrad(xs, dy) };
});

function geluFast(x: tf.Tensor): tf.Tensor {
  prepareFastPath();
  if (useSimdKernels() && x.dtype === 'float32') return geluSimd(x);
  return tf.tidy(() => tf.mul(x, normalCdf(x)));
}

/**
 * GELU with the tanh approximation, `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 · x³)))`.
 *
 * @category Ops
 */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = tf.mul(SQRT_2_OVER_PI, tf.add(x, tf.mul(0.044715, tf.pow(x, 3))));
    return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
  });
}

/**
 * Applies the named activation.
 *
 * @category Ops
 */
export function applyActivation(x: tf.Tensor, activation: ActivationName): tf.Tensor {
  return activate(x, activation, useFastOps());
}

/** {@link applyActivation} with the formulation chosen by the caller. @internal */
export function activate(x: tf.Tensor, activation: ActivationName, fast: boolean): tf.Tensor {
  switch (activation) {
    case 'linear':
      return x;
    case 'relu':
      return tf.relu(x);
    case 'gelu':
      return fast ? geluFast(x) : geluReference(x);
    case 'gelu_tanh':
      return geluTanh(x);
    default:
      throw new Error(`unknown activation '${String(activation)}' (expected linear, relu, gelu or gelu_tanh)`);
  }
}
