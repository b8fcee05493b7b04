/**
 * The fixtures of test/fixtures/interop/models, written by scripts/interop/make_vit_fixtures.py with Debian's
 * python3-torch 1.13 / python3-torchvision 0.14 (see that script for what each file holds and how to regenerate it).
 */
import { readFileSync } from 'fs';
import * as path from 'path';
import * as tf from '@tensorflow/tfjs-core';
import type { CheckpointTensors } from '../../../src/interop/checkpoint_tensors';
import { readSafetensors } from '../../../src/interop/safetensors';
import { readTorchCheckpoint } from '../../../src/interop/torch_checkpoint';

export const FIXTURES = path.resolve(__dirname, '../../fixtures/interop/models');

/** One checkpoint of cases.json. */
export interface ModelCase {
  layout: 'torchvision' | 'timm' | 'hf' | 'hf-v5';
  files: string[];
  config: {
    image_size: number;
    patch_size: number;
    num_layers: number;
    num_heads: number;
    hidden_dim: number;
    mlp_dim: number;
    num_classes: number;
  };
  layerNormEpsilon: number;
  mean: number[];
  std: number[];
  keys: string[];
  shapes: Record<string, number[]>;
  /** [n][h][w][3] pixel values 0–255. */
  pixels: number[][][][];
  /** float64 forward pass of torchvision's VisionTransformer with these weights. */
  logits: number[][];
  logitsFloat32: number[][];
}

export function readJson<T>(name: string): T {
  return JSON.parse(readFileSync(path.join(FIXTURES, name), 'utf8')) as T;
}

export const CASES: Record<string, ModelCase> = readJson('cases.json');

/** The state dict of a fixture file (.pth through readTorchCheckpoint, .safetensors through readSafetensors). */
export function readCheckpoint(file: string): CheckpointTensors {
  const bytes = new Uint8Array(readFileSync(path.join(FIXTURES, file)));
  return file.endsWith('.pth') ? readTorchCheckpoint(bytes) : readSafetensors(bytes);
}

/** The case's images as a float32 NHWC tensor of raw pixel values. */
export function pixelsTensor(c: { pixels: number[][][][] }): tf.Tensor4D {
  return tf.tensor4d(c.pixels as unknown as number[][][][], undefined, 'float32');
}

/** max |a − b| over two nested arrays of the same shape. */
export function maxAbsDiff(a: ArrayLike<number> | number[][], b: number[][]): number {
  const flatA = Array.isArray(a) ? (a as number[][]).flat() : Array.from(a as ArrayLike<number>);
  const flatB = b.flat();
  if (flatA.length !== flatB.length) throw new Error(`sizes differ: ${flatA.length} vs ${flatB.length}`);
  let m = 0;
  for (let i = 0; i < flatA.length; i++) m = Math.max(m, Math.abs(flatA[i] - flatB[i]));
  return m;
}
