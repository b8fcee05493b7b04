/**
 * vit-tfjs/node: the Node-only part of vit-tfjs (disk IO, dataset files and downloads, backend selection).
 *
 * @packageDocumentation
 * @module vit-tfjs/node
 */

// --- backend selection ---
export { type BackendRequest, type SelectBackendOptions, type SelectedBackend, selectBackend } from './backend';

// --- model IO ---
export { MODEL_JSON_FILENAME, WEIGHTS_BIN_FILENAME, fileIO } from './file_io';
export { writeFileAtomic } from './atomic_write';

// --- Interop: PyTorch checkpoints (files) ---
export { readSafetensorsFile, readSafetensorsFileHeader, writeSafetensorsFile } from './interop/safetensors_file';
export { readCheckpointFile, readTorchCheckpointFile } from './interop/torch_checkpoint_file';

// --- data (files, archives, downloads, PNG) ---
export { type LoadCifarOptions, loadCifar10, loadCifar100, readCifarArchiveFile, readCifarDirectory } from './data/load_cifar';
export {
  type DownloadOptions,
  type DownloadProgress,
  CIFAR_ARCHIVES,
  DOWNLOAD_CONNECT_TIMEOUT_MS,
  DOWNLOAD_DEADLINE_MS,
  DOWNLOAD_IDLE_TIMEOUT_MS,
  DOWNLOAD_MAX_BYTES,
  defaultCacheDir,
  downloadCifar,
} from './data/download';
export { writeImageGridPng } from './data/png';

// --- training on several threads ---
export { type DataParallelOptions, DataParallelTrainer, defaultThreadCount } from './parallel/data_parallel_trainer';

// --- fitViT in Node: threads, progress bar, checkpoint folder ---
export { type DataParallelTrainerOptions, dataParallelTrainer } from './training/trainer';
export { type ProgressBarOptions, progressBar } from './training/progress';
export { CHECKPOINT_FILES, FileCheckpointStore, fileCheckpointStore } from './training/checkpoint_store';
export { type FitViTNodeOptions, fitViTNode } from './training/fit_node';
export { type EvaluateNodeOptions, evaluateNode } from './training/evaluate_node';
