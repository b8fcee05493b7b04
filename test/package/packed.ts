/**
 * The package as users get it: `npm pack` of the built package, unpacked into a consumer project in the system's
 * temporary folder (outside this repository, so that nothing resolves from the repository's own node_modules by
 * accident). The consumer's node_modules holds the unpacked tarball as `vit-tfjs` and links to this repository's
 * installed peers (tfjs) and dependencies, as `npm install vit-tfjs` would place them; nothing is downloaded.
 *
 * Packed once per content of the package: the folder is named by a hash of the files that go into the tarball, and
 * the test files of one jest run (several workers) share it (a lock folder; the first one packs).
 */
import { execFileSync } from 'child_process';
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export const ROOT = path.resolve(__dirname, '../..');

/** What {@link packedPackage} returns. */
export interface PackedPackage {
  /** The .tgz file. */
  tarball: string;
  /** Bytes of the .tgz, and of its files unpacked. */
  size: number;
  unpackedSize: number;
  /** Paths of the files in the tarball (relative to the package folder). */
  files: string[];
  /** The consumer project: `node_modules/vit-tfjs` is the unpacked tarball. */
  consumer: string;
  /** The unpacked package: `<consumer>/node_modules/vit-tfjs`. */
  packageDir: string;
}

/** Installed packages the consumer links to: the peers a user installs, and the package's dependencies. */
const PEERS = ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm'];
/** Type packages a TypeScript consumer on Node has. */
const TYPES = ['@types/node'];

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Hash of every file `npm pack` takes (package.json, README, CHANGELOG, LICENSE and dist/), and of this file. */
function contentHash(): string {
  const hash = createHash('sha256');
  const add = (rel: string): void => {
    const abs = path.join(ROOT, rel);
    if (!fs.existsSync(abs)) return;
    if (fs.statSync(abs).isDirectory()) {
      for (const entry of fs.readdirSync(abs).sort()) add(path.join(rel, entry));
      return;
    }
    hash.update(rel).update('\0').update(fs.readFileSync(abs)).update('\0');
  };
  for (const rel of ['package.json', 'README.md', 'CHANGELOG.md', 'LICENSE', 'dist']) add(rel);
  hash.update(fs.readFileSync(__filename)); // how the consumer is made
  return hash.digest('hex').slice(0, 16);
}

function link(consumer: string, name: string): void {
  const target = path.join(ROOT, 'node_modules', name);
  if (!fs.existsSync(target)) throw new Error(`packed: ${name} is not installed in ${ROOT}/node_modules (run npm ci)`);
  const at = path.join(consumer, 'node_modules', name);
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.symlinkSync(target, at, 'dir');
}

/** Packs into `dir` and builds the consumer there. */
function packInto(dir: string): PackedPackage {
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', dir], {
    cwd: ROOT,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [info] = JSON.parse(out) as { filename: string; size: number; unpackedSize: number; files: { path: string }[] }[];
  const tarball = path.join(dir, info.filename);
  const consumer = path.join(dir, 'consumer');
  const packageDir = path.join(consumer, 'node_modules', 'vit-tfjs');
  fs.mkdirSync(packageDir, { recursive: true });
  fs.writeFileSync(
    path.join(consumer, 'package.json'),
    JSON.stringify({ name: 'vit-tfjs-consumer', version: '1.0.0', private: true }, null, 2),
  );
  execFileSync('tar', ['-xzf', tarball, '-C', packageDir, '--strip-components=1']);
  const manifest = JSON.parse(fs.readFileSync(path.join(packageDir, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  const direct = [...PEERS, ...Object.keys(manifest.dependencies ?? {}), ...TYPES];
  // npm hoists the type packages the peers depend on (e.g. @types/long of tfjs-core) to node_modules/@types, where
  // TypeScript includes them.
  const hoistedTypes = direct.flatMap((name) => {
    const deps = (JSON.parse(fs.readFileSync(path.join(ROOT, 'node_modules', name, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    }).dependencies;
    return Object.keys(deps ?? {}).filter((d) => d.startsWith('@types/'));
  });
  for (const name of new Set([...direct, ...hoistedTypes])) link(consumer, name);
  return {
    tarball,
    size: info.size,
    unpackedSize: info.unpackedSize,
    files: info.files.map((f) => f.path).sort(),
    consumer,
    packageDir,
  };
}

let cached: PackedPackage | undefined;

/**
 * The packed package and its consumer project (built first if dist/ is missing or stale, then packed if this
 * content was not packed before).
 */
export function packedPackage(): PackedPackage {
  if (cached) return cached;
  execFileSync(process.execPath, [path.join(__dirname, 'ensure-dist.cjs')], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  const base = path.join(os.tmpdir(), 'vit-tfjs-package');
  const dir = path.join(base, contentHash());
  const ready = path.join(dir, 'packed.json');
  const lock = `${dir}.lock`;
  const deadline = Date.now() + 5 * 60_000;
  fs.mkdirSync(base, { recursive: true });
  while (!fs.existsSync(ready)) {
    try {
      fs.mkdirSync(lock);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (Date.now() - fs.statSync(lock).mtimeMs > 5 * 60_000) fs.rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error(`packed: ${lock} held for 5 minutes`);
      sleep(200);
      continue;
    }
    try {
      if (fs.existsSync(ready)) break;
      // Earlier contents' folders go (each holds a tarball and a consumer).
      for (const entry of fs.readdirSync(base)) {
        if (!entry.endsWith('.lock')) fs.rmSync(path.join(base, entry), { recursive: true, force: true });
      }
      fs.mkdirSync(dir, { recursive: true });
      const packed = packInto(dir);
      fs.writeFileSync(ready, JSON.stringify(packed, null, 2));
    } finally {
      fs.rmSync(lock, { recursive: true, force: true });
    }
  }
  cached = JSON.parse(fs.readFileSync(ready, 'utf8')) as PackedPackage;
  return cached;
}

/** Runs `node` with `args` in the consumer project; returns stdout (throws with stderr on a non-zero exit). */
export function runNode(cwd: string, args: string[], timeout = 120_000): string {
  try {
    return execFileSync(process.execPath, args, { cwd, encoding: 'utf8', timeout, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`node ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}
