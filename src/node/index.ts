/**
 * vit-tfjs/node: the Node-only part of vit-tfjs (disk IO, dataset files and downloads, backend selection).
 *
 * @packageDocumentation
 */

// --- backend selection ---
export * from './backend';

// --- model IO ---
export * from './file_io';
export * from './atomic_write';

// --- data (files, archives, downloads, PNG) ---
export * from './data/load_cifar';
export * from './data/download';
export * from './data/png';

// --- training on several threads ---
export * from './parallel/data_parallel_trainer';
