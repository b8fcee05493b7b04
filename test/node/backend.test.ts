import * as tf from '@tensorflow/tfjs-core';
import { selectBackend } from '../../src/node/backend';

describe('selectBackend', () => {
  it('activates the backend asked for and describes it', async () => {
    const cpu = await selectBackend({ backend: 'cpu' });
    expect(cpu.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const wasm = await selectBackend({ backend: 'wasm' });
    expect(wasm.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(wasm.description).toMatch(/^wasm \(@tensorflow\/tfjs-backend-wasm/);
  });

  it('auto picks tfjs-node when it loads, else wasm, and reports what it skipped', async () => {
    const skipped: string[] = [];
    const chosen = await selectBackend({ onSkip: (name) => skipped.push(name) });
    let nodeLoads = true;
    try {
      require('@tensorflow/tfjs-node');
    } catch {
      nodeLoads = false;
    }
    if (nodeLoads) {
      expect(chosen.name).toBe('tensorflow');
    } else {
      expect(chosen.name).toBe('wasm');
      expect(skipped).toEqual(['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']);
      expect(chosen.skipped.map((s) => s.candidate)).toEqual(skipped);
    }
  });

  it('fails with a clear message when the requested backend cannot load', async () => {
    let nodeLoads = true;
    try {
      require('@tensorflow/tfjs-node');
    } catch {
      nodeLoads = false;
    }
    if (!nodeLoads) {
      await expect(selectBackend({ backend: 'tensorflow' })).rejects.toThrow(
        /no usable backend for 'tensorflow' \(@tensorflow\/tfjs-node-gpu: cannot be loaded/,
      );
    }
    await expect(selectBackend({ backend: 'gpu' as never })).rejects.toThrow(/backend must be one of auto, tensorflow, wasm, cpu, got 'gpu'/);
  });
});
