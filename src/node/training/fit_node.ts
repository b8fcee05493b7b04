import { type CheckpointStore, type FitData, type FitHistory, type FitViTOptions, fitViT } from 'vit-tfjs';
import type * as tfl from '@tensorflow/tfjs-layers';
import { fileCheckpointStore } from './checkpoint_store';
import { progressBar } from './progress';
import { dataParallelTrainer } from './trainer';

/**
 * Options of {@link fitViTNode}: {@link FitViTOptions} with Node's defaults.
 *
 * @category Training
 */
export interface FitViTNodeOptions extends Omit<FitViTOptions, 'checkpoint' | 'progress'> {
  /** Threads that share each batch (`dataParallelTrainer`), or `'auto'` (default); ignored when `trainer` is given. */
  threads?: number | 'auto';
  /** A checkpoint folder (`fileCheckpointStore`) or any store. */
  checkpoint?: string | CheckpointStore;
  /** `true`/`false` force the progress bar on or off; default: on when stderr is a terminal. Or a display of your own. */
  progress?: boolean | FitViTOptions['progress'];
}

/**
 * `fitViT` with Node's defaults: each batch split between every core's thread (`dataParallelTrainer`), a progress
 * bar on a terminal (`progressBar`), and a checkpoint folder given by its path (`fileCheckpointStore`).
 *
 * @example
 * ```ts
 * import { fitViTNode } from 'vit-tfjs/node';
 * const history = await fitViTNode(model, cifar.train, {
 *   epochs: 10, batchSize: 256, validationSplit: 0.1, seed: 42, bestWeights: true,
 *   checkpoint: 'runs/a/checkpoint', resume: 'auto',
 * });
 * ```
 *
 * @category Training
 */
export function fitViTNode(model: tfl.LayersModel, data: FitData, options: FitViTNodeOptions = {}): Promise<FitHistory> {
  const { threads, checkpoint, progress, ...rest } = options;
  return fitViT(model, data, {
    ...rest,
    trainer: rest.trainer ?? dataParallelTrainer({ threads }),
    checkpoint: typeof checkpoint === 'string' ? fileCheckpointStore(checkpoint) : checkpoint,
    progress: progress === true || progress === false ? progressBar({ enabled: progress }) : (progress ?? progressBar()),
  });
}
