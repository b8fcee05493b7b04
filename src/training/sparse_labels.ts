import type * as tfl from '@tensorflow/tfjs-layers';

/** The fields of a compiled tfjs-layers 4.x `LayersModel` that `fit`/`evaluate` check targets against. */
interface CompiledInternals {
  feedOutputShapes?: unknown;
  feedLossFns?: unknown;
  /** A `Sequential` trains through the functional model it wraps. */
  model?: unknown;
}

/** Marks a loss that takes class-index labels; a global symbol, so that an ESM and a CJS copy agree. */
const SPARSE_LABELS_KEY = Symbol.for('vit-tfjs.sparseLabelLoss');

/**
 * Marks `loss` as taking class-index labels (see {@link acceptSparseLabels}).
 * @internal
 */
export function markSparseLabelLoss<F extends (yTrue: never, yPred: never) => unknown>(loss: F): F {
  Object.defineProperty(loss, SPARSE_LABELS_KEY, { value: true, configurable: true });
  return loss;
}

/**
 * Whether `loss` takes class-index labels (the library's {@link sparseCategoricalCrossentropyFromLogits}).
 * @internal
 */
export function isSparseLabelLoss(loss: unknown): boolean {
  return typeof loss === 'function' && (loss as unknown as Record<symbol, unknown>)[SPARSE_LABELS_KEY] === true;
}

/**
 * Lets `model.fit` and `model.evaluate` take class-index labels (`[batch]` or `[batch, 1]`) for the outputs whose
 * loss is {@link sparseCategoricalCrossentropyFromLogits}. Call it after `model.compile`.
 *
 * tfjs-layers checks every target tensor against the output's shape (`[batch, numClasses]` for logits) unless the
 * loss is its own `'sparseCategoricalCrossentropy'`, so without this `fit(x, labels)` throws "target expected a
 * batch of elements where each example has shape [10]". Models made by {@link createViTClassifier} (also once
 * loaded back) do this by themselves in `compile`; call it for models of your own. (`fitDataset` needs no help.)
 *
 * @returns How many outputs now accept sparse labels.
 *
 * @example
 * ```ts
 * const model = tf.model({ inputs, outputs: logits }); // a model of your own
 * model.compile({ optimizer: 'adam', loss: sparseCategoricalCrossentropyFromLogits, metrics: [sparseCategoricalAccuracy] });
 * acceptSparseLabels(model);
 * await model.fit(images, classIndices, { epochs: 5 });
 * ```
 *
 * @category Training
 */
export function acceptSparseLabels(model: tfl.LayersModel): number {
  let internals = model as unknown as CompiledInternals;
  if (internals.feedOutputShapes == null && internals.model != null && typeof internals.model === 'object') {
    internals = internals.model as CompiledInternals;
  }
  const shapes = internals.feedOutputShapes;
  const lossFns = internals.feedLossFns;
  if (!Array.isArray(shapes) || !Array.isArray(lossFns) || shapes.length !== lossFns.length) {
    throw new Error(
      'acceptSparseLabels: the model is not compiled (call model.compile first), or this tfjs-layers version keeps ' +
        'its training state differently',
    );
  }
  let count = 0;
  for (let i = 0; i < shapes.length; i++) {
    const shape = shapes[i] as (number | null)[];
    if (!isSparseLabelLoss(lossFns[i]) || !Array.isArray(shape) || shape.length < 2) continue;
    shapes[i] = [...shape.slice(0, -1), 1];
    count++;
  }
  return count;
}
