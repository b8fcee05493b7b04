import * as tf from '@tensorflow/tfjs-core';
import { customNode } from './fast_util';
import { prepareFastPath, useFastOps, useSimdKernels } from './mode';
import { sumLeadingAxes } from './transpose';
import { simdLayerNorm, simdLayerNormGrad, simdLayerNormSupports } from './wasm/layer_norm_kernels';

/**
 * Layer normalization over the last axis: `(x − mean) / √(var + epsilon) · gamma + beta`,
 * with the biased (population) variance, as Keras's `LayerNormalization`.
 *
 * On the fast path (see {@link OpsMode}) it is one node with the closed-form gradient
 * `dx = (g − mean(g) − x̂ · mean(g · x̂)) / √(var + epsilon)` with `g = dy · gamma`, instead of
 * differentiating through `tf.moments` op by op; on wasm (last axis a multiple of 4), one SIMD kernel each way.
 *
 * @category Ops
 */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, epsilon: number): tf.Tensor {
  return useFastOps() ? layerNormFast(x, gamma, beta, epsilon) : layerNormReference(x, gamma, beta, epsilon);
}

/** The plain formulation of {@link layerNorm} (tfjs's default gradients). @internal */
export function layerNormReference(
  x: tf.Tensor,
  gamma: tf.Tensor | null,
  beta: tf.Tensor | null,
  epsilon: number,
): tf.Tensor {
  return tf.tidy(() => {
    const axis = x.rank - 1;
    const { mean, variance } = tf.moments(x, axis, true);
    let y = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, epsilon)));
    if (gamma != null) y = tf.mul(y, gamma);
    if (beta != null) y = tf.add(y, beta);
    return y;
  });
}

/** Sums `t` over every axis but the last, keeping the shape of `like` (gamma/beta). */
function sumToParam(t: tf.Tensor, like: tf.Tensor): tf.Tensor {
  return tf.reshape(sumLeadingAxes(t), like.shape);
}

/** x̂ = (x − mean) / √(var + epsilon) over the last axis, and 1 / √(var + epsilon). */
function normalize(x: tf.Tensor, epsilon: number): [tf.Tensor, tf.Tensor] {
  const axis = x.rank - 1;
  const xc = tf.sub(x, tf.mean(x, axis, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), axis, true), epsilon));
  return [tf.mul(xc, rstd), rstd];
}

/** The inputs of a layer-norm node: x, then γ and β where present, then tfjs's `save`. */
function nodeArguments(args: unknown[], hasGamma: boolean, hasBeta: boolean) {
  return {
    x: args[0] as tf.Tensor,
    gamma: hasGamma ? (args[1] as tf.Tensor) : null,
    beta: hasBeta ? (args[hasGamma ? 2 : 1] as tf.Tensor) : null,
    save: args[1 + Number(hasGamma) + Number(hasBeta)] as tf.GradSaveFunc,
  };
}

/** The node on the SIMD kernels (wasm): one pass each way, dγ and dβ summed in the backward pass. */
function layerNormSimdNode(epsilon: number, hasGamma: boolean, hasBeta: boolean): (...args: tf.Tensor[]) => tf.Tensor {
  return customNode<tf.Tensor[]>((...args: unknown[]) => {
    const { x, gamma, beta, save } = nodeArguments(args, hasGamma, hasBeta);
    const [y, xhat, rstd] = simdLayerNorm(x, gamma, beta, epsilon);
    save(gamma != null ? [xhat, rstd, gamma] : [xhat, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [dx, dgamma, dbeta] = simdLayerNormGrad(dy, saved[0], saved[1], gamma != null ? saved[2] : null);
        const grads = [dx];
        if (gamma != null) grads.push(tf.reshape(dgamma, gamma.shape));
        if (beta != null) grads.push(tf.reshape(dbeta, beta.shape));
        return grads;
      },
    };
  });
}

function layerNormNode(epsilon: number, hasGamma: boolean, hasBeta: boolean): (...args: tf.Tensor[]) => tf.Tensor {
  return customNode<tf.Tensor[]>((...args: unknown[]) => {
    const { x, gamma, beta, save } = nodeArguments(args, hasGamma, hasBeta);
    const axis = x.rank - 1;
    const [xhat, rstd] = normalize(x, epsilon);
    let y = gamma != null ? tf.mul(xhat, gamma) : xhat;
    if (beta != null) y = tf.add(y, beta);
    // x̂ takes the place of x between the passes (same size; x itself is not needed by the gradient).
    save(gamma != null ? [xhat, rstd, gamma] : [xhat, rstd]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xh, rs] = saved;
        const g = gamma != null ? tf.mul(dy, saved[2]) : dy;
        const meanG = tf.mean(g, axis, true);
        const meanGX = tf.mean(tf.mul(g, xh), axis, true);
        const dx = tf.mul(tf.sub(tf.sub(g, meanG), tf.mul(xh, meanGX)), rs);
        const grads = [dx];
        if (gamma != null) grads.push(sumToParam(tf.mul(dy, xh), gamma));
        if (beta != null) grads.push(sumToParam(dy, beta));
        return grads;
      },
    };
  });
}

/** The fast formulation of {@link layerNorm} (see there); any backend. @internal */
export function layerNormFast(x: tf.Tensor, gamma: tf.Tensor | null, beta: tf.Tensor | null, epsilon: number): tf.Tensor {
  prepareFastPath();
  const inputs = [x];
  if (gamma != null) inputs.push(gamma);
  if (beta != null) inputs.push(beta);
  const node = useSimdKernels() && simdLayerNormSupports(x, gamma, beta) ? layerNormSimdNode : layerNormNode;
  return node(epsilon, gamma != null, beta != null)(...inputs);
}
