/**
 * Every TypeScript code block of README.md and docs/guide/*.md type-checks and runs as written (see
 * extract_snippets.ts for what "as written" means: the block's own imports, top-level await, the sources for
 * `vit-tfjs`, a small data sample for `loadCifar10`). Blocks fenced ```ts browser only type-check here; the Chromium
 * test of the packed tarball runs them.
 */
import { execFileSync } from 'child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'fs';
import * as os from 'os';
import * as path from 'path';
import { docFiles, snippetModule, snippetsOf, type Snippet } from './extract_snippets';

const REPO = path.resolve(__dirname, '../..');
const GEN = path.join(REPO, '.tmp/docs-snippets');

const snippets = docFiles().flatMap(snippetsOf);

function fileOf(s: Snippet): string {
  return path.join(GEN, `${s.id.replace(/[^A-Za-z0-9]+/g, '_')}.ts`);
}

function resolveSpecifier(spec: string): string {
  if (spec === 'vit-tfjs') return '../../src/index';
  if (spec === 'vit-tfjs/node') return '../../test/docs/node_stub';
  return spec;
}

beforeAll(() => {
  rmSync(GEN, { recursive: true, force: true });
  mkdirSync(GEN, { recursive: true });
  for (const s of snippets) writeFileSync(fileOf(s), snippetModule(s, resolveSpecifier));
  writeFileSync(
    path.join(GEN, 'tsconfig.json'),
    JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noEmit: true, noUnusedLocals: false }, include: ['*.ts'] }, null, 2),
  );
});

describe('docs code blocks', () => {
  it('finds the blocks of README.md and the guides', () => {
    expect(snippets.filter((s) => s.id.startsWith('README.md')).length).toBeGreaterThanOrEqual(3);
    expect(snippets.filter((s) => s.id.startsWith('docs/guide/')).length).toBeGreaterThanOrEqual(3);
  });

  it('every block type-checks (strict, as a module of its own)', () => {
    try {
      execFileSync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', path.join(GEN, 'tsconfig.json')], {
        cwd: REPO,
        encoding: 'utf8',
        stdio: 'pipe',
      });
    } catch (err) {
      const out = `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}`;
      throw new Error(`type errors in docs code blocks (files in .tmp/docs-snippets, named after the block):\n${out}`);
    }
  });

  // The blocks of one file run in order in one working folder, as a reader following the page would run them
  // (a later block may load what an earlier one saved).
  const byFile = new Map<string, Snippet[]>();
  for (const s of snippets.filter((x) => !x.browser)) {
    const file = s.id.slice(0, s.id.lastIndexOf(':'));
    byFile.set(file, [...(byFile.get(file) ?? []), s]);
  }
  describe.each([...byFile.entries()])('%s', (_file, blocks) => {
    let cwd: string;
    let work: string;
    beforeAll(() => {
      cwd = process.cwd();
      work = mkdtempSync(path.join(os.tmpdir(), 'vit-docs-'));
      process.chdir(work); // files the blocks write (./vit-cifar10, ./model) land in a temporary folder
    });
    afterAll(() => {
      process.chdir(cwd);
      rmSync(work, { recursive: true, force: true });
    });

    it.each(blocks.map((b) => [b.id, b] as const))('%s runs as written', async (_id, snippet) => {
      const mod = require(fileOf(snippet)) as { default: () => Promise<void> };
      await expect(mod.default()).resolves.toBeUndefined();
    });
  });
});
