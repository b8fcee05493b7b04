import { countViTParameters, estimateViTFlops } from '../../src/models/flops';
import { resolveViTOptions } from '../../src/models/options';
import { VIT_PRESET_NAMES, VIT_PRESETS } from '../../src/models/presets';

const TINY = {
  preset: 'vit-cifar-tiny' as const,
  inputShape: [16, 16, 3] as [number, number, number],
  numClasses: 4,
  patchSize: 4,
  projectionDim: 32,
  numHeads: 2,
  transformerLayers: 2,
};

describe('resolveViTOptions', () => {
  it('defaults to the reference recipe', () => {
    const o = resolveViTOptions();
    expect(o).toMatchObject({
      preset: 'keras-cifar10',
      inputShape: [32, 32, 3],
      numClasses: 10,
      imageSize: [72, 72],
      patchSize: 6,
      numPatches: 144,
      projectionDim: 64,
      numHeads: 4,
      keyDim: 64,
      transformerLayers: 8,
      transformerUnits: [128, 64],
      mlpHeadUnits: [2048, 1024],
      attentionDropout: 0.1,
      mlpDropout: 0.1,
      representationDropout: 0.5,
      headDropout: 0.5,
      dropPathRate: 0,
      layerNormEpsilon: 1e-6,
      representation: 'flatten',
      augmentation: { flip: 'horizontal', rotation: 0.02, zoom: 0.2 },
      normalization: 'adapt',
      name: 'vit_classifier',
    });
  });

  it('applies a preset, then the overrides, and derives keyDim and transformerUnits', () => {
    const o = resolveViTOptions({ preset: 'vit-cifar-tiny', projectionDim: 96, numHeads: 3, numClasses: 100 });
    expect(o).toMatchObject({ imageSize: [32, 32], numPatches: 64, keyDim: 32, transformerUnits: [192, 96], numClasses: 100, representation: 'gap' });
    expect(resolveViTOptions({ augmentation: false }).augmentation).toBeNull();
    expect(resolveViTOptions({ augmentation: { flip: 'vertical' } }).augmentation).toEqual({ flip: 'vertical' });
    expect(resolveViTOptions({ augmentation: { flip: 'horizontal', translation: 0.125, zoom: 0 } }).augmentation).toEqual({ flip: 'horizontal', translation: 0.125 });
    expect(() => resolveViTOptions({ augmentation: { translation: 1.5 } })).toThrow('augmentation.translation must be in (0, 1], got 1.5');
    expect(resolveViTOptions({ normalization: { mean: 0.5, variance: [1, 2, 3] } }).normalization).toEqual({ mean: [0.5, 0.5, 0.5], variance: [1, 2, 3] });
    expect(resolveViTOptions({ imageSize: [48, 60] }).numPatches).toBe(80);
    expect(resolveViTOptions({ transformerUnits: [32, 16, 64] }).transformerUnits).toEqual([32, 16, 64]);
  });

  it.each([
    [{ preset: 'vit-huge' }, /preset must be one of 'keras-cifar10', 'vit-cifar-tiny', 'vit-cifar-small', 'vit-cifar-cpu-hour', got 'vit-huge'/],
    [{ patchSize: 7 }, /imageSize 72×72 is not divisible by patchSize 7/],
    [{ preset: 'vit-cifar-tiny', patchSize: 5 }, /imageSize 32×32 is not divisible by patchSize 5 \(imageSize defaults to the input size/],
    [{ representation: 'max' }, /representation must be one of 'flatten', 'gap', 'cls', got 'max'/],
    [{ projectionDim: 0 }, /projectionDim must be a positive integer, got 0/],
    [{ numHeads: -2 }, /numHeads must be a positive integer, got -2/],
    [{ transformerLayers: 1.5 }, /transformerLayers must be a positive integer, got 1.5/],
    [{ numClasses: 0 }, /numClasses must be a positive integer, got 0/],
    [{ inputShape: [32, 32] }, /inputShape must be \[height, width, channels\]/],
    [{ inputShape: [32, 0, 3] }, /inputShape\[1\] must be a positive integer, got 0/],
    [{ imageSize: -72 }, /imageSize must be a positive integer, got -72/],
    [{ transformerUnits: [128, 32] }, /transformerUnits must end with projectionDim \(64\)/],
    [{ transformerUnits: [] }, /transformerUnits must be a non-empty array/],
    [{ mlpHeadUnits: [2048, 0] }, /mlpHeadUnits\[1\] must be a positive integer, got 0/],
    [{ preset: 'vit-cifar-tiny', projectionDim: 100, numHeads: 3 }, /projectionDim 100 is not divisible by numHeads 3; give keyDim/],
    [{ attentionDropout: 1 }, /attentionDropout must be in \[0, 1\), got 1/],
    [{ dropPathRate: -0.1 }, /dropPathRate must be in \[0, 1\)/],
    [{ layerNormEpsilon: 0 }, /layerNormEpsilon must be a positive number/],
    [{ augmentation: { flip: 'diagonal' } }, /augmentation.flip must be one of/],
    [{ augmentation: { shear: 0.1 } }, /unknown augmentation option 'shear'/],
    [{ augmentation: 'yes' }, /augmentation must be true, false/],
    [{ normalization: { mean: [0, 0], variance: 1 } }, /normalization.mean must be a number or an array of 3 numbers/],
    [{ normalization: { mean: 0, variance: -1 } }, /normalization.variance\[0\] must be ≥ 0, got -1/],
    [{ normalization: 'zscore' }, /normalization must be 'adapt', \{ mean, variance \} or false/],
    [{ projectionDims: 64 }, /unknown option 'projectionDims'/],
    [{ name: 'my model' }, /name must be/],
  ])('rejects %j', (options, message) => {
    expect(() => resolveViTOptions(options as never)).toThrow(message);
  });
});

describe('countViTParameters / estimateViTFlops', () => {
  it('give the reference model 21,666,762 trainable parameters plus 7 normalization statistics', () => {
    const c = countViTParameters();
    expect(c.trainable).toBe(21_666_762);
    expect(c.nonTrainable).toBe(7);
    // The Keras summary of the reference model, layer by layer.
    const patchEncoder = 108 * 64 + 64 + 144 * 64; // Dense(64) + Embedding(144, 64)
    const attention = 3 * (64 * 4 * 64 + 4 * 64) + (4 * 64 * 64 + 64); // query, key, value [64, 4, 64] + output
    const block = 128 + attention + 128 + (64 * 128 + 128) + (128 * 64 + 64);
    const head = 9216 * 2048 + 2048 + (2048 * 1024 + 1024) + (1024 * 10 + 10);
    expect(c.breakdown).toEqual({ patchEncoder, transformer: 8 * block, finalNorm: 128, head });
    expect(patchEncoder + 8 * block + 128 + head).toBe(21_666_762);
    expect(countViTParameters({ normalization: false }).nonTrainable).toBe(0);
  });

  it('match a hand count for a tiny config (16×16, patch 4, dim 32, 2 blocks, 2 heads)', () => {
    // patch encoder 48·32 + 32 + 16·32; block: LN 64 + LN 64, q/k/v 3·(32·32 + 32), out 32·32 + 32, MLP 32·64 + 64 + 64·32 + 32.
    expect(countViTParameters(TINY)).toEqual({
      trainable: 19_364,
      nonTrainable: 7,
      total: 19_371,
      breakdown: { patchEncoder: 2_080, transformer: 17_088, finalNorm: 64, head: 132 },
    });
    // 16 tokens: patch 16·48·32; per block projections 16·4·32·32, products 2·16·16·32, MLP 16·2·32·64; head 32·4.
    expect(estimateViTFlops(TINY)).toEqual({
      macs: 319_616,
      flops: 639_232,
      breakdown: { patchEmbedding: 24_576, attentionProjections: 131_072, attentionProducts: 32_768, mlp: 131_072, head: 128 },
    });
    // With a class token: 17 tokens, one more [1, 1, 32] weight.
    const cls = { ...TINY, representation: 'cls' as const };
    expect(countViTParameters(cls).trainable).toBe(19_364 + 32 + 32);
    expect(estimateViTFlops(cls).macs).toBe(24_576 + 2 * 17 * 4_096 + 2 * 2 * 17 * 17 * 32 + 2 * 17 * 4_096 + 128);
    // Flattened tokens: the head sees 16·32 = 512 values.
    expect(countViTParameters({ ...TINY, representation: 'flatten', mlpHeadUnits: [8] }).breakdown.head).toBe(512 * 8 + 8 + 8 * 4 + 4);
  });

  it('the reference model costs 0.40 GFLOPs per image, most of it in attention at 144 tokens', () => {
    const f = estimateViTFlops();
    expect(f.breakdown.patchEmbedding).toBe(144 * 108 * 64);
    expect(f.breakdown.attentionProjections).toBe(8 * 144 * 4 * 64 * 256);
    expect(f.breakdown.attentionProducts).toBe(8 * 2 * 144 * 144 * 256);
    expect(f.breakdown.mlp).toBe(8 * 144 * 2 * 64 * 128);
    expect(f.breakdown.head).toBe(9216 * 2048 + 2048 * 1024 + 1024 * 10);
    expect(f.flops).toBe(402_567_168);
  });

  it('the preset table in the docs is what the formulas give', () => {
    const table: Record<string, [number, number]> = {
      'keras-cifar10': [21_666_762, 402_567_168],
      'vit-cifar-tiny': [810_890, 114_035_200],
      'vit-cifar-small': [2_103_562, 292_267_008],
      // 48·96+96 + 64·96 + 4·(2·96 + 3·(96·96+96) + 96·96+96 + 2·96 + 96·192+192 + 192·96+96) + 2·96 + 96·10+10;
      // 2·(64·48·96 + 4·(64·96·288 + 2·3·64·64·32 + 64·96·96 + 2·64·96·192) + 96·10).
      'vit-cifar-cpu-hour': [311_146, 44_631_936],
    };
    expect(Object.keys(table)).toEqual([...VIT_PRESET_NAMES]);
    for (const preset of VIT_PRESET_NAMES) {
      expect([countViTParameters({ preset }).trainable, estimateViTFlops({ preset }).flops]).toEqual(table[preset]);
      expect(VIT_PRESETS[preset].description.length).toBeGreaterThan(10);
    }
  });
});
