/**
 * Process-wide state shared by every copy of the library loaded in one JavaScript realm.
 *
 * A Node process that both `import`s and `require`s vit-tfjs loads two copies of it (`dist/index.mjs` and
 * `dist/index.cjs`), and a bundle can end up with two copies too. The state that must be one per process (the global
 * random generator, the ops mode, the wasm kernels' caches) is therefore kept on `globalThis` under a
 * `Symbol.for('vit-tfjs.<name>')` key, which every copy finds, rather than in module-level variables, which each copy
 * has its own of. The name carries a version (`random.v1`): a change to a state's shape gets a new name, so that
 * copies of different releases never read each other's state wrongly.
 *
 * @packageDocumentation
 * @internal
 */

/**
 * The state object registered under `Symbol.for('vit-tfjs.' + name)` on `globalThis`, created with `create` by the
 * first copy of the library that asks for it.
 * @internal
 */
export function sharedState<T extends object>(name: string, create: () => T): T {
  const key = Symbol.for(`vit-tfjs.${name}`);
  const holder = globalThis as unknown as Record<symbol, T | undefined>;
  let state = holder[key];
  if (state === undefined) {
    state = create();
    Object.defineProperty(globalThis, key, { value: state, writable: false, enumerable: false, configurable: true });
  }
  return state;
}
