import type * as tf from '@tensorflow/tfjs-core';

/**
 * Model artifacts of version `v` (1, 2, …): a topology naming the version and `100·v + 1` float32 weights whose
 * values encode the version, so that two versions differ in every file and in the files' sizes.
 */
export function artifactsFor(v: number): tf.io.ModelArtifacts {
  const n = 100 * v + 1;
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = v * 1000 + i / 8;
  return {
    modelTopology: { class_name: 'Model', config: { name: `version_${v}`, layers: [] }, keras_version: 'tfjs-layers', backend: 'tensor_flow.js' },
    weightSpecs: [{ name: `w_${v}`, shape: [n], dtype: 'float32' }],
    weightData: values.buffer,
    format: 'layers-model',
    generatedBy: 'vit-tfjs test',
    convertedBy: null,
  };
}
