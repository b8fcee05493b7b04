import type { BatchTrainerFactory } from 'vit-tfjs';
import { DataParallelTrainer, defaultThreadCount } from '../parallel/data_parallel_trainer';

/**
 * Options of {@link dataParallelTrainer}.
 *
 * @category Training
 */
export interface DataParallelTrainerOptions {
  /** Threads that share each batch, or `'auto'` (default): {@link defaultThreadCount}. */
  threads?: number | 'auto';
  /** Modules each worker imports first (files registering custom layers); as `DataParallelTrainer.create`'s `imports`. */
  imports?: string[];
}

/**
 * A `fitViT` trainer (its `trainer` option) that splits each batch between threads with {@link DataParallelTrainer}:
 * the same update as one thread, each share in micro-batches of `fitViT`'s `microBatchSize`. The workers compute
 * the default loss (sparse categorical cross-entropy from logits); with `threads` 1 any loss works.
 *
 * @example
 * ```ts
 * import { dataParallelTrainer } from 'vit-tfjs/node';
 * await fitViT(model, data, { epochs: 5, trainer: dataParallelTrainer({ threads: 4 }) });
 * ```
 *
 * @category Training
 */
export function dataParallelTrainer(options: DataParallelTrainerOptions = {}): BatchTrainerFactory {
  const requested = options.threads ?? 'auto';
  if (requested !== 'auto' && (!Number.isInteger(requested) || requested < 1)) {
    throw new Error(`dataParallelTrainer: threads must be a positive integer or 'auto', got ${String(requested)}`);
  }
  return async (model, optimizer, { microBatchSize, loss, defaultLoss, skipNonFinite }) => {
    const threads = requested === 'auto' ? defaultThreadCount() : requested;
    return DataParallelTrainer.create(model, optimizer, {
      threads,
      microBatchSize,
      imports: options.imports,
      skipNonFinite,
      loss: defaultLoss ? undefined : loss,
    });
  };
}
