/**
 * vit-tfjs: Vision Transformer building blocks for TensorFlow.js.
 *
 * This entry is browser-safe: it imports no Node built-ins. Node-only helpers (disk IO, dataset files,
 * downloads, backend loading) live in `vit-tfjs/node`.
 *
 * Importing it registers every layer class with `tf.serialization.registerClass`, so that
 * tfjs-layers' `loadLayersModel` can rebuild saved models.
 *
 * Layers, models, optimizers, training, data and randomness are exported at the top level; the functional ops the
 * layers are made of are in the `ops` namespace (`ops.linear`, `ops.layerNorm`, `ops.setOpsMode`, ...), and
 * `opsInfo()` reports which implementation of them runs. State that must be one per process (the global random
 * generator, the ops mode) is shared by every copy of the library loaded in it, e.g. its ESM and CommonJS builds.
 *
 * @packageDocumentation
 * @module vit-tfjs
 */

// --- layers (serializable; registered for `tfl.loadLayersModel` when this entry is imported) ---
export type { ViTLayerArgs } from './layers/layer_args';
export type { CallKwargs } from './layers/layer_utils';
export { type PatchesArgs, Patches, patches } from './layers/patches';
export { type PatchEncoderArgs, PatchEncoder, patchEncoder } from './layers/patch_encoder';
export {
  type MultiHeadAttentionArgs,
  type MultiHeadAttentionKwargs,
  MultiHeadAttention,
  multiHeadAttention,
} from './layers/multi_head_attention';
export { type TransformerBlockArgs, TransformerBlock, transformerBlock } from './layers/transformer_block';
export { type MLPArgs, MLP, mlp } from './layers/mlp';
export { type LayerNormArgs, LayerNorm, layerNormLayer } from './layers/layer_norm';
export { type RandomMaskArgs, RandomMaskLayer } from './layers/random_mask_layer';
export { type SeededDropoutArgs, SeededDropout, seededDropout } from './layers/seeded_dropout';
export { type DropPathArgs, DropPath, dropPathLayer } from './layers/drop_path';

// --- preprocessing and augmentation layers ---
export {
  type AdaptBatch,
  type AdaptData,
  type ArrayBatch,
  type NormalizationArgs,
  NORMALIZATION_EPSILON,
  Normalization,
  normalization,
} from './layers/normalization';
export { type ResizingArgs, Resizing, resizing } from './layers/resizing';
export { type FlipMode, type FlipParameters, type RandomFlipArgs, RandomFlip, randomFlip } from './layers/random_flip';
export {
  type AffineParameters,
  type RandomAffineArgs,
  type RandomTransformArgs,
  RandomAffine,
  RandomTransformLayer,
  randomAffine,
} from './layers/random_affine';
export { type RandomRotationArgs, type RotationParameters, RandomRotation, randomRotation } from './layers/random_rotation';
export { type RandomZoomArgs, type ZoomParameters, RandomZoom, randomZoom } from './layers/random_zoom';
export { type RandomTranslationArgs, type TranslationParameters, RandomTranslation, randomTranslation } from './layers/random_translation';

// --- image transforms (what the augmentation layers apply; `tf.image.transform` semantics) ---
export {
  type FillMode,
  type ImageTransform,
  type InterpolationMode,
  composeTransforms,
  rotationTransform,
  zoomTransform,
} from './image/affine';
export { transformImages } from './image/transform';

// --- models ---
export {
  type AugmentationSpec,
  type NormalizationStatistics,
  type ResolvedViTOptions,
  type ViTClassifierOptions,
  type ViTRepresentation,
  VIT_REPRESENTATIONS,
  resolveViTOptions,
} from './models/options';
export { type ViTPreset, type ViTPresetName, VIT_PRESETS, VIT_PRESET_NAMES } from './models/presets';
export { type ViTFlops, type ViTParameterCount, countViTParameters, estimateViTFlops } from './models/flops';
export { type TokenPoolingArgs, type TokenPoolingMode, TokenPooling, tokenPooling } from './models/token_pooling';
export { ViTClassifier, adaptNormalization, createViTClassifier } from './models/vit_classifier';

// --- attention maps: per-block attention, rollout, gradient-weighted rollout, overlays ---
export {
  type AttentionMapsOptions,
  type AttentionRolloutOptions,
  type GradientRolloutOptions,
  type HeadFusion,
  type PatchLayout,
  type RolloutMatrixOptions,
  type RolloutSource,
  attentionRollout,
  attentionRolloutMatrix,
  getAttentionMaps,
  gradientAttentionRollout,
  patchLayout,
} from './models/attention_maps';
export {
  type AttentionColormap,
  type AttentionGridOptions,
  type AttentionOverlayOptions,
  type RgbaImage,
  attentionOverlay,
  attentionOverlayGrid,
  colormapColor,
  upsampleMap,
} from './models/attention_overlay';

// --- optimizers and learning-rate schedules ---
export {
  type AdamWConfig,
  type NamedTensor,
  type WeightDecayExcludeRule,
  type WeightDecayMode,
  AdamW,
  NO_DECAY_COMMON,
  adamw,
} from './optimizers/adamw';
export {
  type CosineDecayConfig,
  type ExponentialDecayConfig,
  type LinearWarmupConfig,
  type PiecewiseConstantDecayConfig,
  CosineDecay,
  ExponentialDecay,
  LearningRateSchedule,
  LinearWarmup,
  PiecewiseConstantDecay,
  cosineDecay,
  deserializeSchedule,
  exponentialDecay,
  linearWarmup,
  piecewiseConstantDecay,
  serializeSchedule,
} from './optimizers/schedules';

// --- training: losses, metrics, callbacks, custom training steps ---
export { sparseCategoricalCrossentropyFromLogits, sparseCategoricalCrossentropyWithLabelSmoothing } from './training/losses';
export { resolveTrainingFunction, trainingFunctionName } from './training/serialization';
export { type MetricFunction, sparseCategoricalAccuracy, sparseTopKAccuracy } from './training/metrics';
export { acceptSparseLabels } from './training/sparse_labels';
export { type SparseLabelValues, checkSparseLabels } from './training/labels';
export {
  type BestWeightsSaveTarget,
  type KeepBestWeightsOptions,
  BestWeightsCallback,
  keepBestWeights,
} from './training/best_checkpoint';
export {
  type AccumulateGradientsOptions,
  type AccumulatedGradients,
  type TrainStepOptions,
  type ApplyGradientsOptions,
  type TrainStepResult,
  WasmOutOfMemoryError,
  accumulateGradients,
  applyAccumulatedGradients,
  namedGradients,
  trainStep,
} from './training/train_step';
export {
  type ArrayData,
  type BatchStream,
  type BatchTrainer,
  type BatchTrainerFactory,
  type BatchTrainerOptions,
  type BestWeightsOptions,
  type EarlyStoppingOptions,
  type EpochInfo,
  type FitBatch,
  type FitBatchXsYs,
  type FitCallbacks,
  type FitData,
  type FitHistory,
  type FitLoss,
  type FitProgress,
  type FitViTOptions,
  type MonitorMode,
  CheckpointSettingsError,
  defaultMicroBatchSize,
  fitViT,
} from './training/fit';
export { type EvaluateOptions, type EvaluateResult, evaluate } from './training/evaluate';
export {
  type CheckpointState,
  type CheckpointStore,
  type EncodedWeights,
  type TrainingCheckpoint,
  MemoryCheckpointStore,
} from './training/fit_checkpoint';

// --- data: CIFAR parsing from bytes, archives, batching (browser-safe) ---
export {
  type CifarDataset,
  type CifarSplit,
  type CifarVariant,
  CIFAR100_NUM_COARSE_CLASSES,
  CIFAR_CHANNELS,
  CIFAR_IMAGE_BYTES,
  CIFAR_IMAGE_SIZE,
  cifarNumClasses,
  concatSplits,
  planarToNhwc,
} from './data/types';
export { type ParseCifarBinaryOptions, parseCifarBinaryBatch, parseCifarLabelNames } from './data/cifar_binary';
export {
  type PickleKey,
  type PickleValue,
  type ReadPickleOptions,
  PICKLE_MAX_DEPTH,
  PICKLE_MAX_LONG_BYTES,
  PickleNdArray,
  readPickle,
} from './data/pickle';
export {
  type CifarPickleMeta,
  type ParseCifarPickleOptions,
  parseCifarPickleBatch,
  parseCifarPickleMeta,
} from './data/cifar_pickle';
export { type TarEntryFilter, type TarEntryHeader, type TarParserOptions, TAR_MAX_META_BYTES, TarParser, readTar } from './data/tar';
export { type GunzipOptions, GUNZIP_MAX_OUTPUT_BYTES, gunzip, isGzip } from './data/gzip';
export {
  type CifarFormat,
  type CifarLayout,
  type ParseCifarArchiveOptions,
  CIFAR_ARCHIVE_MAX_BYTES,
  CifarAssembler,
  CifarTarReader,
  cifarLayout,
  parseCifarArchive,
} from './data/layout';
export {
  type BatchOptions,
  type CifarBatch,
  type CifarTfDataset,
  type PixelNormalization,
  type ValidationSplitOptions,
  batchTensors,
  cifarDataset,
  randomPermutation,
  shuffleSplit,
  splitValidation,
  takeSplit,
} from './data/dataset';
export { type ImageGrid, type ImageGridOptions, encodeImageGridPng, encodePng, renderImageGrid } from './data/png';

// --- Interop: PyTorch checkpoints ---
export {
  type CheckpointTensor,
  type CheckpointTensors,
  CHECKPOINT_DTYPES,
  checkpointTensor,
  decodeCheckpointTensor,
} from './interop/checkpoint_tensors';
export {
  type ReadSafetensorsHeaderOptions,
  type ReadSafetensorsOptions,
  type SafetensorsEntry,
  type SafetensorsHeader,
  SAFETENSORS_MAX_HEADER_BYTES,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
} from './interop/safetensors';
export {
  type ReadCheckpointOptions,
  type ReadTorchCheckpointOptions,
  checkpointFormat,
  readCheckpoint,
  readTorchCheckpoint,
} from './interop/torch_checkpoint';
export { type ViTCheckpointLayout, VIT_CHECKPOINT_LAYOUTS } from './interop/layouts/vit_layouts';
export {
  type ViTCheckpointConfig,
  type ViTFromCheckpoint,
  type ViTFromCheckpointOptions,
  type ViTPreprocessing,
  createViTFromCheckpoint,
  vitOptionsForCheckpointConfig,
} from './interop/create_from_checkpoint';
export { type ViTFreeze, freezeViT } from './interop/freeze';
export { type PyTorchViTArchitecture, PYTORCH_VIT_ARCHITECTURES, pytorchViTConfig } from './interop/pytorch_architectures';
export { exportViTCheckpoint } from './interop/export_checkpoint';
export {
  type ResamplePositionEmbeddingOptions,
  type ResizeViTImageSizeOptions,
  resamplePositionEmbedding,
  resizeViTImageSize,
} from './interop/resample_position_embedding';

// --- randomness: one seedable generator behind everything random ---
export {
  type RandomState,
  RandomGenerator,
  globalRandom,
  layerRandom,
  setGlobalSeed,
  withRandomGenerator,
} from './utils/random';

// --- ops: the functional building blocks, as a namespace (`ops.linear`, `ops.layerNorm`, `ops.setOpsMode`, ...) ---
export * as ops from './ops/index';
export { type OpsInfo, opsInfo } from './ops/info';
