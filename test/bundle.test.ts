/**
 * The main entry must stay browser-safe: nothing `vit-tfjs` reaches may import a Node built-in (only `vit-tfjs/node`
 * may). Checked on the sources (quick, no build) and on what users install: the packed tarball (see
 * test/package/packed.ts), bundled by esbuild for the browser, which follows every chunk the entry imports.
 */
import * as fs from 'fs';
import { builtinModules } from 'module';
import * as path from 'path';
import { build } from 'esbuild';
import { packedPackage } from './package/packed';

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

/** Bundles for the browser (tfjs left out: the question is what vit-tfjs pulls in); fails on any esbuild error. */
async function browserBundle(entry: string, absWorkingDir?: string) {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir,
    bundle: true,
    platform: 'browser',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['@tensorflow/*'],
  }).catch((err: { errors?: { text: string }[] }) => {
    throw new Error(`esbuild failed: ${(err.errors ?? []).map((e) => e.text).join('; ') || String(err)}`);
  });
  expect(result.errors).toEqual([]);
  const imported = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.path));
  expect(imported.filter((p) => NODE_BUILTINS.has(p))).toEqual([]);
  expect(importedSpecifiers(result.outputFiles[0].text).filter((s) => NODE_BUILTINS.has(s))).toEqual([]);
  return result;
}

describe('browser safety of the main entry', () => {
  it('bundles src/index.ts for the browser without any Node built-in', async () => {
    await browserBundle(path.join(ROOT, 'src/index.ts'));
  });

  it('the specifier check finds Node built-ins (it can fail)', () => {
    const found = importedSpecifiers('import { readFile } from "fs"; import "./chunk.mjs"; const z = require("node:zlib");');
    expect(found.filter((s) => NODE_BUILTINS.has(s))).toEqual(['fs', 'node:zlib']);
  });

  it('the node entry is allowed to use Node built-ins and the main entry does not re-export it', () => {
    const index = fs.readFileSync(path.join(ROOT, 'src/index.ts'), 'utf8');
    expect(index).not.toMatch(/from '\.\/node/);
  });

  const cases = [
    { name: 'import (the ESM build and its chunks)', file: 'entry.mjs', code: "import * as vit from 'vit-tfjs';\nconsole.log(Object.keys(vit).length);\n" },
    { name: 'require (the CJS build)', file: 'entry.cjs', code: "const vit = require('vit-tfjs');\nconsole.log(Object.keys(vit).length);\n" },
  ];
  for (const c of cases) {
    it(`the packed tarball, installed, bundles for the browser through ${c.name} without any Node built-in`, async () => {
      const { consumer } = packedPackage();
      const dir = path.join(consumer, 'bundle-check');
      fs.mkdirSync(dir, { recursive: true });
      const entry = path.join(dir, c.file);
      fs.writeFileSync(entry, c.code);
      const result = await browserBundle(entry, consumer);
      const inputs = Object.keys(result.metafile.inputs);
      // Made of the published files (the tarball's dist/), not of the sources.
      expect(inputs.some((i) => i.includes('node_modules/vit-tfjs/dist/index.'))).toBe(true);
      expect(inputs.filter((i) => i.includes('/src/'))).toEqual([]);
    }, 300_000);
  }
});
