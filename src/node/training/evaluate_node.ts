import { type EvaluateOptions, type EvaluateResult, type FitData, evaluate } from 'vit-tfjs';
import type * as tfl from '@tensorflow/tfjs-layers';
import { DataParallelTrainer, defaultThreadCount } from '../parallel/data_parallel_trainer';

/**
 * Options of {@link evaluateNode}: {@link EvaluateOptions} and the thread count.
 *
 * @category Training
 */
export interface EvaluateNodeOptions extends Omit<EvaluateOptions, 'predict'> {
  /** Threads that share each batch, or `'auto'` (default): {@link defaultThreadCount}. */
  threads?: number | 'auto';
  /** Modules each worker imports first (files registering custom layers), as `DataParallelTrainer.create`'s `imports`. */
  imports?: string[];
}

/**
 * `evaluate` with each batch split between every core's thread (a predict-only {@link DataParallelTrainer}): the same
 * results as `evaluate` (up to float summation order), in about `1 / threads` of the time on the wasm and cpu
 * backends. Use a batch size of at least `threads` images.
 *
 * @example
 * ```ts
 * import { evaluateNode } from 'vit-tfjs/node';
 * const test = await evaluateNode(model, cifar.test, { batchSize: 256, topK: 5 });
 * ```
 *
 * @category Training
 */
export async function evaluateNode(model: tfl.LayersModel, data: FitData, options: EvaluateNodeOptions = {}): Promise<EvaluateResult> {
  const { threads: requested, imports, ...rest } = options;
  const threads = requested == null || requested === 'auto' ? defaultThreadCount() : requested;
  if (threads === 1) return evaluate(model, data, rest);
  const trainer = await DataParallelTrainer.create(model, null, { threads, imports });
  try {
    return await evaluate(model, data, { ...rest, predict: (x) => trainer.predict(x) });
  } finally {
    await trainer.dispose();
  }
}
