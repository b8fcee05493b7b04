/**
 * State shared by design between copies of the library in one process (its ESM and CommonJS builds, when a process
 * both imports and requires vit-tfjs): the global random generator and the ops mode live on `globalThis` under
 * `Symbol.for` keys. Two copies are simulated here by loading the modules twice in isolated module registries.
 */
type RandomModule = typeof import('../../src/utils/random');
type ModeModule = typeof import('../../src/ops/mode');

function loadCopy<T>(path: string): T {
  let mod: T | undefined;
  jest.isolateModules(() => {
    mod = require(path) as T;
  });
  return mod as T;
}

describe('state shared between copies of the library', () => {
  it('loads two distinct copies of the module (the premise)', () => {
    const a = loadCopy<RandomModule>('../../src/utils/random');
    const b = loadCopy<RandomModule>('../../src/utils/random');
    expect(a.RandomGenerator).not.toBe(b.RandomGenerator);
  });

  it('setGlobalSeed through one copy seeds the generator the other draws from', () => {
    const a = loadCopy<RandomModule>('../../src/utils/random');
    const b = loadCopy<RandomModule>('../../src/utils/random');
    expect(b.globalRandom()).toBe(a.globalRandom());
    a.setGlobalSeed(123);
    const fromB = [b.globalRandom().nextUint32(), b.globalRandom().nextUint32()];
    b.setGlobalSeed(123);
    const fromA = [a.globalRandom().nextUint32(), a.globalRandom().nextUint32()];
    expect(fromA).toEqual(fromB);
    const reference = new a.RandomGenerator(123);
    expect(fromA).toEqual([reference.nextUint32(), reference.nextUint32()]);
  });

  it('withRandomGenerator in one copy scopes the draws of the other', () => {
    const a = loadCopy<RandomModule>('../../src/utils/random');
    const b = loadCopy<RandomModule>('../../src/utils/random');
    const rng = new a.RandomGenerator(5);
    const inside = a.withRandomGenerator(rng, () => [b.globalRandom(), b.layerRandom(new b.RandomGenerator(1))]);
    expect(inside[0]).toBe(rng);
    expect(inside[1]).toBe(rng);
    expect(b.globalRandom()).not.toBe(rng);
  });

  it('setOpsMode through one copy is the mode of the other', () => {
    const a = loadCopy<ModeModule>('../../src/ops/mode');
    const b = loadCopy<ModeModule>('../../src/ops/mode');
    expect(a.setOpsMode).not.toBe(b.setOpsMode);
    try {
      a.setOpsMode('reference');
      expect(b.getOpsMode()).toBe('reference');
      b.setOpsMode('fast');
      expect(a.getOpsMode()).toBe('fast');
    } finally {
      a.setOpsMode('auto');
    }
  });

  it('keeps the state under a Symbol.for key, out of enumeration', () => {
    loadCopy<RandomModule>('../../src/utils/random');
    const key = Symbol.for('vit-tfjs.random.v1');
    expect((globalThis as unknown as Record<symbol, unknown>)[key]).toBeDefined();
    expect(Object.keys(globalThis)).not.toContain(String(key));
  });
});
