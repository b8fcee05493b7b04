import * as tf from '@tensorflow/tfjs-core';

/** Below this many elements a matrix transpose is left to the backend as is. */
const TWO_PASS_MIN_SIZE = 1 << 16;

/** Row-block heights tried for the two-pass transpose, best first (measured on wasm: 32 rows of 128–256 floats stay in L1/L2). */
const BLOCK_ROWS = [32, 16, 64, 8];

function blockRows(rows: number, cols: number): number | null {
  if (tf.getBackend() !== 'wasm' || rows * cols < TWO_PASS_MIN_SIZE) return null;
  return BLOCK_ROWS.find((b) => rows % b === 0 && rows / b >= 2) ?? null;
}

/**
 * The transpose of a matrix, `x` [rows, cols] → [cols, rows], on the wasm backend in two cache-friendly passes.
 *
 * tfjs-backend-wasm 4.x transposes a large matrix element by element with a stride of a whole row on the output
 * side: 3.5–6.5 ns per element for the [tokens, channels] matrices of a training step (a tall [4096, 256]
 * matrix takes 6.3 ms). Seen as [rows / r, r, cols], the same transpose is two permutations the kernel runs at
 * memory speed, `[0, 2, 1]` (each [r, cols] block transposed in cache) then `[1, 0, 2]` (moving runs of r
 * contiguous floats): 0.9 ms for the same matrix. Other backends, small matrices and row counts without a
 * suitable block height take the plain `tf.transpose` (on the cpu backend the two passes are slower).
 * Exact: it only moves values.
 * @internal
 */
export function transposeMatrix(x: tf.Tensor): tf.Tensor {
  if (x.rank !== 2) throw new Error(`transposeMatrix: expected a matrix, got shape [${x.shape}]`);
  const [rows, cols] = x.shape as [number, number];
  const r = blockRows(rows, cols);
  if (r == null) return tf.transpose(x);
  return tf.tidy(() => {
    const blocks = tf.transpose(tf.reshape(x, [rows / r, r, cols]), [0, 2, 1]); // [rows/r, cols, r]
    return tf.reshape(tf.transpose(blocks, [1, 0, 2]), [cols, rows]);
  });
}

/**
 * Sums `x` [..., channels] over every axis but the last → [channels] (a bias or a LayerNorm scale's gradient).
 *
 * The wasm backend's `Sum` over leading axes first transposes them to the end with its slow strided kernel
 * (3.5 ms for [4096, 128]); on wasm this transposes with {@link transposeMatrix} and sums the contiguous rows
 * instead (0.8 ms). Other backends take `tf.sum` over the leading axes. Same float32 sums up to the order of
 * the additions.
 * @internal
 */
export function sumLeadingAxes(x: tf.Tensor): tf.Tensor {
  if (x.rank < 1) throw new Error('sumLeadingAxes: expected a tensor of rank ≥ 1, got a scalar');
  const channels = x.shape[x.rank - 1];
  const rows = x.size / channels;
  return tf.tidy(() => {
    const x2 = tf.reshape(x, [rows, channels]);
    return blockRows(rows, channels) == null ? tf.sum(x2, 0) : tf.sum(transposeMatrix(x2), 1);
  });
}
