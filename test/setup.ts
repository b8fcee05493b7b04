import * as tf from '@tensorflow/tfjs-core';

// Production mode, as users run: silences tfjs's "install tfjs-node" banner. (IS_TEST would instead switch on
// tfjs's per-kernel data-id check, which reports false leaks for wasm's own fused matMul.)
tf.enableProdMode();
