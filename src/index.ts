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
export * from './ops/dropout';
export * from './ops/mode';

// --- core layers ---
export * from './layers/patches';
export * from './layers/patch_encoder';
export * from './layers/multi_head_attention';
export * from './layers/transformer_block';
export * from './layers/mlp';
export * from './layers/seeded_dropout';
export * from './layers/random_mask_layer';
export * from './layers/drop_path';
export * from './layers/layer_norm';
export type { CallKwargs } from './layers/layer_utils';

// --- preprocessing and augmentation layers ---
export * from './image/affine';
export * from './image/transform';
export * from './layers/normalization';
export * from './layers/resizing';
export * from './layers/random_flip';
export * from './layers/random_affine';
export * from './layers/random_rotation';
export * from './layers/random_zoom';

// --- models ---
export * from './models/options';
export * from './models/presets';
export * from './models/flops';
export * from './models/token_pooling';
export * from './models/vit_classifier';

// --- training (losses, metrics, callbacks) ---
export * from './training/losses';
export * from './training/metrics';
export * from './training/sparse_labels';
export * from './training/best_checkpoint';
export * from './training/train_step';

// --- optimizers ---
export * from './optimizers/schedules';
export * from './optimizers/adamw';

// --- data (browser-safe parsing) ---
export * from './data/types';
export * from './data/cifar_binary';
export * from './data/pickle';
export * from './data/cifar_pickle';
export * from './data/tar';
export * from './data/gzip';
export * from './data/layout';
export * from './data/dataset';
export * from './data/png';

// --- utilities ---
export * from './utils/random';
