/**
 * The packed tarball, installed into a consumer project (see ./packed): what it holds, that publint and
 * arethetypeswrong find nothing wrong, and that `import` and `require` of it in one process share the library's
 * state. (Browser bundles of it: test/bundle.test.ts; types: ./types.test.ts; a real browser: ./browser.test.ts.)
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { packedPackage, ROOT, runNode, type PackedPackage } from './packed';

let pkg: PackedPackage;

beforeAll(() => {
  pkg = packedPackage();
}, 300_000);

describe('the tarball', () => {
  it('holds the built entries, the docs and the license, and nothing else', () => {
    console.log(
      `vit-tfjs tarball: ${path.basename(pkg.tarball)}, ${pkg.size} bytes packed, ${pkg.unpackedSize} unpacked, ` +
        `${pkg.files.length} files:\n  ${pkg.files.join('\n  ')}`,
    );
    for (const f of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE']) expect(pkg.files).toContain(f);
    for (const entry of ['index', 'node']) {
      for (const ext of ['mjs', 'cjs', 'd.ts', 'd.mts']) expect(pkg.files).toContain(`dist/${entry}.${ext}`);
    }
    // DataParallelTrainer starts its worker script from the file next to dist/node.*.
    for (const ext of ['mjs', 'cjs']) expect(pkg.files).toContain(`dist/parallel-worker.${ext}`);
    const unexpected = pkg.files.filter((f) => !/^(dist\/[\w.-]+|package\.json|README\.md|CHANGELOG\.md|LICENSE)$/.test(f));
    expect(unexpected).toEqual([]);
    expect(pkg.files.filter((f) => f.startsWith('dist/parallel-worker.d.'))).toEqual([]);
  });

  it('has no install script (consumers see no `npm warn install-scripts`) and says where the project lives', () => {
    const manifest = JSON.parse(fs.readFileSync(path.join(pkg.packageDir, 'package.json'), 'utf8'));
    const scripts = Object.keys(manifest.scripts ?? {});
    expect(scripts.filter((s) => ['preinstall', 'install', 'postinstall', 'prepare'].includes(s))).toEqual([]);
    expect(manifest.repository?.url).toMatch(/github\.com\/vit-tfjs\/vit-tfjs/);
    expect(manifest.homepage).toMatch(/^https:\/\//);
    expect(manifest.bugs?.url).toMatch(/^https:\/\//);
    // TypeScript's node10 resolution (no `exports`) finds the types of `vit-tfjs/node` through typesVersions.
    expect(fs.existsSync(path.join(pkg.packageDir, manifest.typesVersions['*'].node[0]))).toBe(true);
  });
});

describe('the README as npm shows it', () => {
  it('links only to absolute URLs or anchors (the linked files are not in the tarball)', () => {
    const readme = fs.readFileSync(path.join(pkg.packageDir, 'README.md'), 'utf8');
    const targets = [...readme.matchAll(/\]\(\s*([^)\s]+)[^)]*\)/g), ...readme.matchAll(/^\[[^\]]+\]:\s*(\S+)/gm)].map((m) => m[1]);
    expect(targets.filter((t) => !/^(https?:\/\/|#|mailto:)/.test(t))).toEqual([]);
  });
});

describe('package linters', () => {
  it('publint reports no error or warning for the unpacked tarball', () => {
    const publint = require.resolve('publint', { paths: [ROOT] });
    const utils = require.resolve('publint/utils', { paths: [ROOT] });
    const script = `
      const { publint } = await import(${JSON.stringify(publint)});
      const { formatMessage } = await import(${JSON.stringify(utils)});
      const fs = await import('fs');
      const pkgDir = ${JSON.stringify(pkg.packageDir)};
      const { messages } = await publint({ pkgDir, pack: false, level: 'suggestion' });
      const manifest = JSON.parse(fs.readFileSync(pkgDir + '/package.json', 'utf8'));
      console.log(JSON.stringify(messages.map((m) => ({ type: m.type, code: m.code, text: formatMessage(m, manifest) }))));`;
    const messages = JSON.parse(runNode(pkg.consumer, ['--input-type=module', '-e', script]).trim()) as {
      type: string;
      code: string;
      text: string;
    }[];
    if (messages.length > 0) console.log(`publint:\n${messages.map((m) => `  ${m.type} ${m.code}: ${m.text}`).join('\n')}`);
    expect(messages.filter((m) => m.type !== 'suggestion')).toEqual([]);
  });

  it('arethetypeswrong finds no problem in any resolution mode (node10, node16 CJS and ESM, bundler)', () => {
    const attw = path.join(path.dirname(require.resolve('@arethetypeswrong/cli/package.json', { paths: [ROOT] })), 'dist/index.js');
    let out: string;
    try {
      out = execFileSync(process.execPath, [attw, pkg.tarball, '--format', 'json'], { encoding: 'utf8', timeout: 120_000 });
    } catch (err) {
      out = (err as { stdout: string }).stdout; // exits 1 when it finds problems; the JSON says which
    }
    const report = JSON.parse(out) as { problems?: unknown; analysis: { entrypoints: Record<string, unknown> } };
    expect(Object.keys(report.analysis.entrypoints).sort()).toEqual(['.', './node', './package.json']);
    const problems = Array.isArray(report.problems) ? report.problems : Object.values(report.problems ?? {}).flat();
    expect(problems).toEqual([]);
  });
});

describe('ESM and CJS builds in one process', () => {
  it('share the global random generator: a seed set through `import` is what `require` sees, and back', () => {
    const script = `
      import * as esm from 'vit-tfjs';
      import { createRequire } from 'module';
      const cjs = createRequire(import.meta.url)('vit-tfjs');
      const differentCopies = esm.setGlobalSeed !== cjs.setGlobalSeed;
      esm.setGlobalSeed(7);
      const afterEsmSeed = { esm: esm.globalRandom().getState(), cjs: cjs.globalRandom().getState() };
      cjs.setGlobalSeed(8);
      const afterCjsSeed = { esm: esm.globalRandom().getState(), cjs: cjs.globalRandom().getState() };
      esm.setGlobalSeed(7);
      const seven = esm.globalRandom().getState();
      console.log(JSON.stringify({ differentCopies, afterEsmSeed, afterCjsSeed, seven }));`;
    const r = JSON.parse(runNode(pkg.consumer, ['--input-type=module', '-e', script]).trim().split('\n').pop() as string);
    // Two copies of the code are loaded (the test means something)...
    expect(r.differentCopies).toBe(true);
    // ...and they share one generator.
    expect(r.afterEsmSeed.cjs).toEqual(r.afterEsmSeed.esm);
    expect(r.afterEsmSeed.esm).toEqual(r.seven);
    expect(r.afterCjsSeed.esm).toEqual(r.afterCjsSeed.cjs);
    expect(r.afterCjsSeed.esm).not.toEqual(r.seven);
  });
});
