/**
 * `npm run bench [-- --quick] [--section name[,name]] [--backend name[,name]] [--wasm-threads n] [--out file] [--no-write]`
 *
 * Loads the tfjs backends available in Node (tfjs-node if it can be imported, then wasm and cpu), runs the default
 * export of every `bench/sections/*.ts` (in name order) with a {@link BenchContext}, prints a table and writes
 * `bench/results.json` (atomically). A full run replaces the rows it measured and keeps the others; `--quick` (a
 * smoke run with few repeats and small sizes) writes nothing unless `--out` is given.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { pathToFileURL } from 'url';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-layers'; // registers tfjs-core's gradients
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import type { BenchContext, BenchRow, BenchSection } from './context';
import { opsInfo } from '../src/ops/info';
import { initWasmBackendWithThreads } from '../src/ops/wasm/node_threads';

interface Args {
  quick: boolean;
  sections: string[] | null;
  backends: string[] | null;
  out: string | null;
  write: boolean;
  wasmThreads: number | null;
}

const HERE = __dirname;
const DEFAULT_OUT = path.join(HERE, 'results.json');

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, sections: null, backends: null, out: null, write: true, wasmThreads: null };
  const list = (v: string | undefined, flag: string): string[] => {
    if (v == null || v.startsWith('--')) throw new Error(`${flag} needs a value`);
    return v.split(',').map((s) => s.trim()).filter(Boolean);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') args.quick = true;
    else if (a === '--section') args.sections = [...(args.sections ?? []), ...list(argv[++i], a)];
    else if (a === '--backend') args.backends = [...(args.backends ?? []), ...list(argv[++i], a)];
    else if (a === '--out') args.out = list(argv[++i], a)[0];
    else if (a === '--no-write') args.write = false;
    else if (a === '--wasm-threads') {
      const n = Number(list(argv[++i], a)[0]);
      if (!Number.isInteger(n) || n < 1) throw new Error(`--wasm-threads must be a positive integer, got '${argv[i]}'`);
      args.wasmThreads = n;
    }
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [--quick] [--section a,b] [--backend wasm,cpu] [--wasm-threads n] [--out file] [--no-write]');
      process.exit(0);
    } else throw new Error(`unknown argument '${a}' (try --help)`);
  }
  return args;
}

/** Imports tfjs-node if it is installed and loads (it registers the 'tensorflow' backend). */
async function tryTfjsNode(): Promise<string | null> {
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return pkg;
    } catch {
      // not installed, or libtensorflow missing
    }
  }
  return null;
}

async function loadBackends(wanted: string[] | null): Promise<{ names: string[]; descriptions: Record<string, string> }> {
  const descriptions: Record<string, string> = {};
  const nodePkg = wanted == null || wanted.includes('tensorflow') ? await tryTfjsNode() : null;
  const candidates = ['tensorflow', 'wasm', 'cpu'].filter((b) => wanted == null || wanted.includes(b));
  for (const w of wanted ?? []) {
    if (!['tensorflow', 'wasm', 'cpu'].includes(w)) throw new Error(`--backend: unknown backend '${w}' (tensorflow, wasm, cpu)`);
  }
  const names: string[] = [];
  for (const name of candidates) {
    if (tf.findBackendFactory(name) == null) continue;
    try {
      if (!(await tf.setBackend(name))) continue;
      await tf.ready();
    } catch {
      continue;
    }
    names.push(name);
    if (name === 'tensorflow') descriptions[name] = `${nodePkg} (libtensorflow)`;
    else if (name === 'wasm') {
      const simd = tf.env().getBool('WASM_HAS_SIMD_SUPPORT');
      const info = opsInfo();
      const threads = info.wasmThreads ?? 1;
      const build = info.wasmThreaded ? 'threaded build' : 'unthreaded build';
      const kernels = info.simdKernels ? 'vit-tfjs SIMD kernels' : 'no vit-tfjs SIMD kernels';
      descriptions[name] = `@tensorflow/tfjs-backend-wasm (XNNPACK, ${simd ? 'SIMD' : 'no SIMD'}, ${build}, ${threads} thread${threads === 1 ? '' : 's'}; ${kernels})`;
    } else descriptions[name] = '@tensorflow/tfjs-backend-cpu (plain JavaScript)';
  }
  if (names.length === 0) throw new Error('no tfjs backend could be initialised');
  return { names, descriptions };
}

function sectionFiles(wanted: string[] | null): string[] {
  const dir = path.join(HERE, 'sections');
  const all = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .sort();
  const names = all.map((f) => f.replace(/\.ts$/, ''));
  for (const w of wanted ?? []) {
    if (!names.includes(w)) throw new Error(`--section: no bench/sections/${w}.ts (have: ${names.join(', ')})`);
  }
  return all.filter((f) => wanted == null || wanted.includes(f.replace(/\.ts$/, ''))).map((f) => path.join(dir, f));
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a >= 1000) return v.toFixed(0);
  if (a >= 100) return v.toFixed(1);
  if (a >= 10) return v.toFixed(2);
  return v.toPrecision(3);
}

function printTable(rows: BenchRow[]): void {
  const cells = rows.map((r) => [r.section, r.name, r.backend ?? '', formatValue(r.value), r.unit]);
  const head = ['section', 'measurement', 'backend', 'value', 'unit'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 3 ? x.padStart(widths[i]) : x.padEnd(widths[i]))).join('  ');
  console.log('');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
  console.log('');
}

interface ResultsFile {
  generatedAt: string;
  machine: { platform: string; arch: string; cpus: string; cpuCount: number; memoryGiB: number; node: string };
  tfjs: { core: string; backends: Record<string, string> };
  quick: boolean;
  rows: (BenchRow & { measuredAt: string })[];
}

function rowKey(r: BenchRow): string {
  return `${r.section}\u0000${r.name}\u0000${r.backend ?? ''}`;
}

function writeAtomically(file: string, text: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  tf.env().set('IS_TEST', false);
  const files = sectionFiles(args.sections);
  if (args.wasmThreads != null && (args.backends == null || args.backends.includes('wasm'))) {
    // Experimental: the threaded wasm build (see src/ops/wasm/node_threads.ts); must initialise before anything else.
    await initWasmBackendWithThreads(args.wasmThreads);
    process.env.VIT_BENCH_WASM_THREADS = String(args.wasmThreads); // for sections that measure in child processes
  }
  const { names: backends, descriptions } = await loadBackends(args.backends);
  console.log(`backends: ${backends.map((b) => `${b} = ${descriptions[b]}`).join('; ')}`);
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}${args.quick ? ' (quick run)' : ''}`);

  const rows: (BenchRow & { measuredAt: string })[] = [];
  const ctx: BenchContext = {
    quick: args.quick,
    backends,
    async useBackend(name: string) {
      if (!(await tf.setBackend(name))) throw new Error(`backend '${name}' failed to initialise`);
      await tf.ready();
    },
    report(row: BenchRow) {
      rows.push({ ...row, measuredAt: new Date().toISOString() });
      const where = row.backend != null ? ` [${row.backend}]` : '';
      console.log(`  ${row.section}: ${row.name}${where} = ${formatValue(row.value)} ${row.unit}`);
    },
    log(message: string) {
      console.log(`  ${message}`);
    },
  };

  const failures: string[] = [];
  for (const file of files) {
    const name = path.basename(file, '.ts');
    console.log(`\n== ${name}`);
    const t0 = performance.now();
    try {
      const mod = (await import(pathToFileURL(file).href)) as { default?: BenchSection | { default?: BenchSection } };
      // tsx may wrap a CommonJS-compiled module's default export once more.
      const run = typeof mod.default === 'function' ? mod.default : mod.default?.default;
      if (typeof run !== 'function') throw new Error(`bench/sections/${name}.ts has no default export function`);
      await run(ctx);
    } catch (err) {
      const message = err instanceof Error ? (err.stack ?? err.message) : String(err);
      failures.push(`${name}: ${message.split('\n')[0]}`);
      console.error(`  section ${name} failed: ${message}`);
    }
    console.log(`  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }

  printTable(rows);

  const out = args.out != null ? path.resolve(args.out) : args.quick || !args.write ? null : DEFAULT_OUT;
  if (out != null && args.write) {
    let previous: ResultsFile['rows'] = [];
    if (fs.existsSync(out)) {
      try {
        previous = (JSON.parse(fs.readFileSync(out, 'utf8')) as ResultsFile).rows ?? [];
      } catch {
        previous = [];
      }
    }
    const measured = new Set(rows.map(rowKey));
    const cpus = os.cpus();
    const result: ResultsFile = {
      generatedAt: new Date().toISOString(),
      machine: {
        platform: `${os.type()} ${os.release()}`,
        arch: os.arch(),
        cpus: cpus[0]?.model ?? 'unknown',
        cpuCount: cpus.length,
        memoryGiB: Math.round(os.totalmem() / 2 ** 30),
        node: process.version,
      },
      tfjs: { core: tf.version_core, backends: descriptions },
      quick: args.quick,
      rows: [...previous.filter((r) => !measured.has(rowKey(r))), ...rows],
    };
    writeAtomically(out, `${JSON.stringify(result, null, 2)}\n`);
    console.log(`wrote ${path.relative(process.cwd(), out)} (${result.rows.length} rows)`);
  }
  if (failures.length > 0) {
    console.error(`\n${failures.length} section(s) failed:\n  ${failures.join('\n  ')}`);
    process.exitCode = 1;
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
