/**
 * vit-tfjs: Vision Transformer building blocks for TensorFlow.js.
 *
 * This entry is browser-safe: it imports no Node built-ins. Node-only helpers (disk IO, dataset files,
 * downloads, backend loading) live in `vit-tfjs/node`.
 *
 * Importing it registers every layer class with `tf.serialization.registerClass`, so that
 * `tf.loadLayersModel` can rebuild saved models.
 *
 * @packageDocumentation
 */

// --- ops (functional building blocks) ---
export * from './ops/activations';
export * from './ops/linear';
export * from './ops/layer_norm';
export * from './ops/attention';

// --- core layers ---

// --- preprocessing and augmentation layers ---

// --- models ---

// --- training (losses, metrics, callbacks) ---

// --- optimizers ---

// --- data (browser-safe parsing) ---

// --- utilities ---
export * from './utils/random';
