/**
 * The main entry must stay browser-safe: no Node built-in may be imported by `vit-tfjs` (only by `vit-tfjs/node`).
 */
import { existsSync, readFileSync } from 'fs';
import { builtinModules } from 'module';
import * as path from 'path';
import { build } from 'esbuild';

const ROOT = path.resolve(__dirname, '..');
const NODE_BUILTINS = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** Module specifiers a bundle imports or requires (static and dynamic). */
function importedSpecifiers(code: string): string[] {
  const found = new Set<string>();
  const patterns = [
    /\bfrom\s*["']([^"']+)["']/g,
    /\bimport\s*["']([^"']+)["']/g,
    /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g,
    /\brequire\s*\(\s*["']([^"']+)["']\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of code.matchAll(pattern)) found.add(match[1]);
  return [...found];
}

describe('browser safety of the main entry', () => {
  it('bundles src/index.ts for the browser without any Node built-in', async () => {
    const result = await build({
      entryPoints: [path.join(ROOT, 'src/index.ts')],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['@tensorflow/*'],
    });
    const inputs = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
    expect(inputs.filter((p) => NODE_BUILTINS.has(p))).toEqual([]);
    const code = result.outputFiles[0].text;
    expect(importedSpecifiers(code).filter((s) => NODE_BUILTINS.has(s))).toEqual([]);
  });

  it('a bundle that imports fs is caught by the same check (the check can fail)', () => {
    expect(importedSpecifiers('import { readFile } from "fs"; const z = require("node:zlib");')).toEqual(['fs', 'node:zlib']);
  });

  const built = ['dist/index.mjs', 'dist/index.cjs'].map((f) => path.join(ROOT, f));
  (built.every((f) => existsSync(f)) ? it : it.skip)('the built dist/index.{mjs,cjs} import no Node built-in', () => {
    for (const file of built) {
      const specifiers = importedSpecifiers(readFileSync(file, 'utf8'));
      expect({ file, builtins: specifiers.filter((s) => NODE_BUILTINS.has(s)) }).toEqual({ file, builtins: [] });
    }
  });

  it('the node entry is allowed to use Node built-ins and the main entry does not re-export it', () => {
    const index = readFileSync(path.join(ROOT, 'src/index.ts'), 'utf8');
    expect(index).not.toMatch(/from '\.\/node/);
  });
});
