import { createHash, randomBytes } from 'crypto';
import { createWriteStream, promises as fs } from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import type { CifarFormat, CifarVariant } from 'vit-tfjs';

/** Official archive URLs and MD5 checksums (https://www.cs.toronto.edu/~kriz/cifar.html). */
export const CIFAR_ARCHIVES: Record<CifarVariant, Record<CifarFormat, { url: string; md5: string }>> = {
  cifar10: {
    binary: { url: 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz', md5: 'c32a1d4ab5d03f1284b67883e8d87530' },
    python: { url: 'https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz', md5: 'c58f30108f718f92721af3b95e74349a' },
  },
  cifar100: {
    binary: { url: 'https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz', md5: '03b5dce01913d631647c71ecec9e9cb8' },
    python: { url: 'https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz', md5: 'eb9058c3a382ffc7106e4002c42a8d85' },
  },
};

/** Download progress, reported as bytes arrive. */
export interface DownloadProgress {
  /** Bytes received so far in this attempt. */
  received: number;
  /** Total size from Content-Length, when the server sent one. */
  total?: number;
  /** Attempt number, starting at 1. */
  attempt: number;
}

/** Options of {@link downloadCifar}. */
export interface DownloadOptions {
  /** Which dataset (default 'cifar10'). */
  variant?: CifarVariant;
  /** Which official archive (default 'binary'). */
  format?: CifarFormat;
  /** Cache folder; default `$XDG_CACHE_HOME/vit-tfjs` or `~/.cache/vit-tfjs`. */
  cacheDir?: string;
  /** URL to fetch instead of the official one (a mirror, or a local server in tests). http: and https: only. */
  url?: string;
  /** Expected MD5 (hex) instead of the official one; `null` skips the check. */
  md5?: string | null;
  /** Attempts in all before giving up (default 3). */
  retries?: number;
  /** Wait before the second attempt in ms, doubled each time (default 1000). */
  retryDelayMs?: number;
  /** Called as data arrives. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Ignore a cached copy and download again. */
  force?: boolean;
}

/** The default cache folder: `$XDG_CACHE_HOME/vit-tfjs` or `~/.cache/vit-tfjs`. */
export function defaultCacheDir(): string {
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg != null && xdg !== '' ? xdg : path.join(os.homedir(), '.cache'), 'vit-tfjs');
}

async function md5File(file: string): Promise<string> {
  const hash = createHash('md5');
  const fh = await fs.open(file, 'r');
  try {
    for await (const chunk of fh.createReadStream({ highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  } finally {
    await fh.close().catch(() => undefined);
  }
  return hash.digest('hex');
}

function fetchToFile(
  url: string,
  dest: string,
  attempt: number,
  onProgress: DownloadOptions['onProgress'],
  redirects = 0,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (mod == null) {
      reject(new Error(`${url}: unsupported protocol ${u.protocol}`));
      return;
    }
    const req = mod.get(u, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400 && res.headers.location != null) {
        res.resume();
        if (redirects >= 5) {
          reject(new Error(`${url}: too many redirects`));
          return;
        }
        fetchToFile(new URL(res.headers.location, u).toString(), dest, attempt, onProgress, redirects + 1).then(
          resolve,
          reject,
        );
        return;
      }
      if (status !== 200) {
        res.resume();
        reject(new Error(`${url}: HTTP ${status}`));
        return;
      }
      const lenHeader = res.headers['content-length'];
      const total = lenHeader != null ? Number(lenHeader) : undefined;
      let received = 0;
      const out = createWriteStream(dest);
      let failed = false;
      const fail = (err: Error): void => {
        if (failed) return;
        failed = true;
        res.destroy();
        out.destroy();
        reject(err);
      };
      res.on('data', (chunk: Buffer) => {
        received += chunk.length;
        onProgress?.({ received, total, attempt });
      });
      res.on('aborted', () => fail(new Error(`${url}: connection closed after ${received} bytes`)));
      res.on('error', (e) => fail(new Error(`${url}: ${e.message} after ${received} bytes`)));
      out.on('error', (e) => fail(e));
      res.on('end', () => {
        if (failed) return;
        if (total != null && received !== total) {
          fail(new Error(`${url}: incomplete transfer: ${received} of ${total} bytes`));
          return;
        }
        out.end(() => {
          if (!failed) resolve();
        });
      });
      res.pipe(out, { end: false });
    });
    req.on('error', (e) => reject(new Error(`${url}: ${e.message}`)));
  });
}

/**
 * Downloads an official CIFAR archive into the cache folder (or returns the cached copy): streams into a temporary
 * file, verifies its MD5, then renames it into place, so the cache never holds a partial or corrupt file. Retries
 * failed transfers with a doubling delay.
 *
 * @returns The path of the verified archive.
 *
 * @example
 * ```ts
 * const file = await downloadCifar({ variant: 'cifar10', onProgress: (p) => console.log(p.received, p.total) });
 * ```
 */
export async function downloadCifar(options: DownloadOptions = {}): Promise<string> {
  const variant = options.variant ?? 'cifar10';
  const format = options.format ?? 'binary';
  const official = CIFAR_ARCHIVES[variant]?.[format];
  if (official == null) throw new Error(`downloadCifar: unknown variant/format '${variant}'/'${format}'`);
  const url = options.url ?? official.url;
  const md5 = options.md5 === undefined ? official.md5 : options.md5;
  const retries = options.retries ?? 3;
  if (!Number.isInteger(retries) || retries < 1) throw new Error(`options.retries must be an integer ≥ 1, got ${retries}`);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  await fs.mkdir(cacheDir, { recursive: true });
  const fileName = path.basename(new URL(url).pathname) || `${variant}-${format}.tar.gz`;
  const dest = path.join(cacheDir, fileName);
  if (!options.force) {
    const exists = await fs.stat(dest).then(
      (s) => s.isFile(),
      () => false,
    );
    if (exists) {
      if (md5 == null || (await md5File(dest)) === md5) return dest;
      await fs.rm(dest, { force: true });
    }
  }
  let delay = options.retryDelayMs ?? 1000;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= retries; attempt++) {
    const tmp = path.join(cacheDir, `.${fileName}.${process.pid}.${randomBytes(6).toString('hex')}.part`);
    try {
      await fetchToFile(url, tmp, attempt, options.onProgress);
      if (md5 != null) {
        const got = await md5File(tmp);
        if (got !== md5) {
          await fs.rm(tmp, { force: true });
          // A wrong checksum is not a transfer error: retrying the same URL would give the same bytes.
          throw Object.assign(new Error(`${url}: MD5 mismatch: got ${got}, expected ${md5}; nothing was cached`), {
            fatal: true,
          });
        }
      }
      await fs.rename(tmp, dest);
      return dest;
    } catch (err) {
      await fs.rm(tmp, { force: true }).catch(() => undefined);
      if ((err as { fatal?: boolean }).fatal) throw err;
      lastError = err as Error;
      if (attempt < retries) {
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }
  throw new Error(`${url}: download failed after ${retries} attempt(s): ${lastError?.message}`);
}
