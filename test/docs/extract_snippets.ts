/**
 * Extracts the TypeScript code blocks of the docs (README.md, docs/guide/*.md) as runnable modules.
 *
 * Every ```ts block is a whole program as a user would paste it: its `import` lines are kept at the top and the rest
 * becomes the body of `export default async function run()`, so top-level `await` works under CommonJS jest. Only
 * the module specifiers change: `vit-tfjs` and `vit-tfjs/node` point at the sources (the latter at a stub whose
 * `loadCifar10` returns a small slice of the bundled sample instead of downloading). A block fenced as
 * ```ts browser is type-checked here and executed by the Chromium test of the packed tarball.
 */
import { readFileSync, readdirSync } from 'fs';
import * as path from 'path';

/** One code block of a Markdown file. */
export interface Snippet {
  /** `README.md:42` (file relative to the repository and the line of the opening fence). */
  id: string;
  /** Whether the fence says `ts browser` (runs in the browser test, not in Node). */
  browser: boolean;
  /** The block's text. */
  code: string;
}

const REPO = path.resolve(__dirname, '../..');

/** The Markdown files whose blocks must run. */
export function docFiles(): string[] {
  const guide = path.join(REPO, 'docs/guide');
  return [
    path.join(REPO, 'README.md'),
    ...readdirSync(guide)
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => path.join(guide, f)),
  ];
}

/** The ```ts / ```typescript blocks of a Markdown file. */
export function snippetsOf(file: string): Snippet[] {
  const lines = readFileSync(file, 'utf8').split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(ts|typescript)(\s+browser)?\s*$/.exec(lines[i]);
    if (open == null) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`${path.relative(REPO, file)}:${start + 1}: code block is not closed`);
    out.push({ id: `${path.relative(REPO, file)}:${start + 1}`, browser: open[2] != null, code: body.join('\n') });
  }
  return out;
}

/**
 * Splits a block into its import declarations and the rest. Imports are recognised at the start of a line and end
 * at the line holding their module specifier (`from '...'` or a bare `import '...'`).
 */
export function splitImports(code: string): { imports: string[]; body: string } {
  const lines = code.split('\n');
  const imports: string[] = [];
  const body: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^import\b/.test(lines[i])) {
      body.push(lines[i]);
      continue;
    }
    const decl = [lines[i]];
    while (!/(\bfrom\s*|^import\s*)['"][^'"]+['"];?\s*(\/\/.*)?$/.test(decl[decl.length - 1]) && i + 1 < lines.length) {
      decl.push(lines[++i]);
    }
    imports.push(decl.join('\n'));
  }
  return { imports, body: body.join('\n') };
}

/**
 * The module a snippet becomes: imports (specifiers redirected by `resolve`) and the body in an async function.
 *
 * @param resolve Maps a module specifier to the one the generated file imports.
 */
export function snippetModule(snippet: Snippet, resolve: (specifier: string) => string): string {
  const { imports, body } = splitImports(snippet.code);
  const redirected = imports.map((d) => d.replace(/(['"])([^'"]+)\1(;?\s*(\/\/.*)?)$/, (_m, q: string, spec: string, rest: string) => `${q}${resolve(spec)}${q}${rest}`));
  return [
    `// Generated from ${snippet.id} by test/docs/extract_snippets.ts.`,
    ...redirected,
    '',
    'export default async function run(): Promise<void> {',
    body,
    '}',
    '',
  ].join('\n');
}
