/**
 * PyTorch ViT checkpoints → vit-tfjs models give PyTorch's logits. The expected logits come from torchvision's
 * VisionTransformer (float64 forward pass) in scripts/interop/make_vit_fixtures.py, never from this library:
 * - tv-a/b/c: torchvision state dicts (keys of torchvision/models/vision_transformer.py), read from torch.save's .pth
 *   (readTorchCheckpoint) and from safetensors;
 * - timm-a: tv-a's weights under timm's VisionTransformer names (timm/models/vision_transformer.py: patch_embed.proj,
 *   cls_token, pos_embed, blocks.N.{norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2}, norm, head), inputs
 *   normalized with timm's vit_* mean = std = 0.5;
 * - hf-a: tv-a's weights under Hugging Face ViTForImageClassification's names (transformers/models/vit/modeling_vit.py:
 *   vit.embeddings.*, vit.encoder.layer.N.{layernorm_before, attention.attention.{query,key,value},
 *   attention.output.dense, layernorm_after, intermediate.dense, output.dense}, vit.layernorm, classifier), with
 *   HF's LayerNorm epsilon 1e-12 and mean = std = 0.5. These are the Hub checkpoints' (and transformers 4.x's) names;
 * - hf-v5-a: hf-a's tensors under transformers 5.x's names (vit.layers.N.{layernorm_before,
 *   attention.{q_proj,k_proj,v_proj,o_proj}, layernorm_after, mlp.fc1, mlp.fc2}), layout 'hf-v5', the same logits.
 * scripts/interop/verify_real_libraries.py loads timm-a, hf-a and hf-v5-a into the real timm and transformers classes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { createViTFromCheckpoint } from '../../../src/interop/create_from_checkpoint';
import { describeBackends } from '../../helpers/backends';
import { CASES, maxAbsDiff, pixelsTensor, readCheckpoint } from './fixtures';

const TOLERANCE = 1e-4;
const measured: string[] = [];
afterAll(() => console.log(`max |logits − torch float64| per checkpoint:\n${measured.join('\n')}`));

describeBackends('createViTFromCheckpoint logits', (backend) => {
  for (const [name, c] of Object.entries(CASES)) {
    for (const file of c.files) {
      it(`${file} (${c.layout}) gives torchvision's logits within ${TOLERANCE}`, () => {
        const before = tf.memory().numTensors;
        const tensors = readCheckpoint(file);
        const { model, layout, config, preprocessing, newHead } = createViTFromCheckpoint(tensors, { numHeads: c.config.num_heads });
        expect(layout).toBe(c.layout);
        expect(newHead).toBe(false);
        expect(config).toEqual({
          layout: c.layout,
          imageSize: [c.config.image_size, c.config.image_size],
          patchSize: c.config.patch_size,
          channels: 3,
          hiddenDim: c.config.hidden_dim,
          depth: c.config.num_layers,
          numHeads: c.config.num_heads,
          mlpDim: c.config.mlp_dim,
          numClasses: c.config.num_classes,
          layerNormEpsilon: c.layerNormEpsilon,
        });
        expect(preprocessing.imageSize).toEqual([c.config.image_size, c.config.image_size]);
        preprocessing.mean.forEach((m, i) => expect(m).toBeCloseTo(c.mean[i], 12));
        preprocessing.std.forEach((s, i) => expect(s).toBeCloseTo(c.std[i], 12));
        const x = pixelsTensor(c);
        const y = model.predict(x) as tf.Tensor;
        const diff = maxAbsDiff(y.dataSync(), c.logits);
        measured.push(`  ${backend} ${name} ${file}: ${diff.toExponential(2)}`);
        expect(diff).toBeLessThan(TOLERANCE);
        tf.dispose([x, y]);
        model.dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }
});
