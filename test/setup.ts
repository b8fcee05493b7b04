import * as tf from '@tensorflow/tfjs-core';

// Silences tfjs's "install tfjs-node" banner and other dev-only warnings in test output.
tf.env().set('IS_TEST', true);
