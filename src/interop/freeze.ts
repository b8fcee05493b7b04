/**
 * Freezing part of a ViT for fine-tuning. Browser-safe.
 */
import type * as tfl from '@tensorflow/tfjs-layers';
import { assertNonNegativeInteger, show } from '../utils/validate';

/**
 * Which weights train after loading: `'none'` (nothing frozen: everything trains; the default), `'backbone'` (only the head
 * trains: linear probing), or `{ trainLastBlocks: n }` (the last `n` transformer blocks, the final norm and the head
 * train; `n = 0` is `'backbone'`). Set with tfjs-layers' `layer.trainable`, which `fitViT`, `model.fit` and
 * `model.trainableWeights` follow.
 *
 * @category Interop
 */
export type ViTFreeze = 'none' | 'backbone' | { trainLastBlocks: number };

/**
 * Sets `trainable` on the layers of a model that {@link createViTFromCheckpoint} (or `createViTClassifier` with
 * `representation: 'cls'`) built: see {@link ViTFreeze}. Returns the model.
 *
 * @example
 * ```ts
 * freezeViT(model, { trainLastBlocks: 2 }); // the last two blocks, the final norm and the head train
 * ```
 *
 * @category Interop
 */
export function freezeViT<M extends tfl.LayersModel>(model: M, freeze: ViTFreeze): M {
  const blocks = model.layers.filter((l) => /^block_\d+$/.test(l.name)).length;
  let trainLast: number;
  if (freeze === 'none') trainLast = -1;
  else if (freeze === 'backbone') trainLast = 0;
  else if (freeze != null && typeof freeze === 'object' && !Array.isArray(freeze)) {
    assertNonNegativeInteger('freeze.trainLastBlocks', freeze.trainLastBlocks);
    if (freeze.trainLastBlocks > blocks) throw new Error(`freeze.trainLastBlocks is ${freeze.trainLastBlocks} but the model has ${blocks} blocks`);
    trainLast = freeze.trainLastBlocks;
  } else throw new Error(`freeze must be 'none', 'backbone' or { trainLastBlocks: n }, got ${show(freeze)}`);
  for (const layer of model.layers) {
    if (trainLast < 0) {
      layer.trainable = true;
      continue;
    }
    const block = /^block_(\d+)$/.exec(layer.name);
    const trains =
      layer.name === 'logits' || layer.name === 'mlp_head' || (trainLast > 0 && layer.name === 'norm') || (block != null && Number(block[1]) > blocks - trainLast);
    layer.trainable = trains;
  }
  return model;
}
