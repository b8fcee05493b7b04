import { createHash, randomBytes } from 'crypto';
import { createWriteStream, promises as fs } from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import type { CifarFormat, CifarVariant } from 'vit-tfjs';

/**
 * Official archive URLs and MD5 checksums (https://www.cs.toronto.edu/~kriz/cifar.html).
 *
 * @category Data
 */
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

/**
 * Download progress, reported as bytes arrive.
 *
 * @category Data
 */
export interface DownloadProgress {
  /** Bytes received so far in this attempt. */
  received: number;
  /** Total size from Content-Length, when the server sent one. */
  total?: number;
  /** Attempt number, starting at 1. */
  attempt: number;
}

/**
 * Default {@link DownloadOptions.connectTimeoutMs}: 30 s.
 *
 * @category Data
 */
export const DOWNLOAD_CONNECT_TIMEOUT_MS = 30_000;
/**
 * Default {@link DownloadOptions.idleTimeoutMs}: 60 s.
 *
 * @category Data
 */
export const DOWNLOAD_IDLE_TIMEOUT_MS = 60_000;
/**
 * Default {@link DownloadOptions.deadlineMs}: 1 hour.
 *
 * @category Data
 */
export const DOWNLOAD_DEADLINE_MS = 3_600_000;
/**
 * Default {@link DownloadOptions.maxBytes}: 1 GiB (the official archives are 161–178 MB).
 *
 * @category Data
 */
export const DOWNLOAD_MAX_BYTES = 1 << 30;

/**
 * Options of {@link downloadCifar}.
 *
 * @category Data
 */
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
  /** Attempts in all before giving up (default 3). A stall (idle timeout) or a connect timeout counts as one. */
  retries?: number;
  /** Wait before the second attempt in ms, doubled each time (default 1000). */
  retryDelayMs?: number;
  /**
   * Connect timeout in ms: how long one attempt waits for the server's response headers (DNS, TCP, TLS and the
   * server's answer) before it fails and the next attempt starts (default {@link DOWNLOAD_CONNECT_TIMEOUT_MS}).
   */
  connectTimeoutMs?: number;
  /**
   * Idle timeout in ms: how long one attempt waits for the next bytes of the body; a stalled transfer then fails and
   * the next attempt starts (default {@link DOWNLOAD_IDLE_TIMEOUT_MS}).
   */
  idleTimeoutMs?: number;
  /**
   * Overall deadline in ms for the whole download, all attempts and waits included; a trickling server that never
   * stalls long enough for the idle timeout ends here. No retry follows (default {@link DOWNLOAD_DEADLINE_MS}).
   */
  deadlineMs?: number;
  /**
   * Largest download accepted in bytes: a larger `Content-Length` is refused before anything is written, and a
   * transfer is stopped as soon as it passes this size (default {@link DOWNLOAD_MAX_BYTES}).
   */
  maxBytes?: number;
  /** Called as data arrives. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Ignore a cached copy and download again. */
  force?: boolean;
}
/**
 * The default cache folder: `$XDG_CACHE_HOME/vit-tfjs` or `~/.cache/vit-tfjs`.
 *
 * @category Data
 */
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

interface AttemptLimits {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** Absolute time (Date.now()) by which the whole download must be done. */
  deadline: number;
  deadlineMs: number;
  maxBytes: number;
}

/** An error that retrying cannot fix (wrong checksum, deadline passed, too large): no further attempt. */
function fatal(err: Error): Error {
  return Object.assign(err, { fatal: true });
}

/**
 * One attempt: GET `url` (following up to 5 redirects) into `dest`. Settles only once the destination file is
 * closed, so that the caller can remove it on failure without racing the write stream.
 */
function fetchToFile(
  url: string,
  dest: string,
  attempt: number,
  onProgress: DownloadOptions['onProgress'],
  limits: AttemptLimits,
  redirects = 0,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const mod = u.protocol === 'https:' ? https : u.protocol === 'http:' ? http : null;
    if (mod == null) {
      reject(fatal(new Error(`${url}: unsupported protocol ${u.protocol} (expected http: or https:)`)));
      return;
    }
    const left = limits.deadline - Date.now();
    if (left <= 0) {
      reject(fatal(new Error(`${url}: overall deadline of ${limits.deadlineMs} ms exceeded (options.deadlineMs)`)));
      return;
    }
    let settled = false;
    let out: ReturnType<typeof createWriteStream> | null = null;
    let received = 0;
    let req: http.ClientRequest | null = null;
    let res: http.IncomingMessage | null = null;
    let idleTimer: ReturnType<typeof setTimeout> | undefined;
    const clearTimers = (): void => {
      clearTimeout(connectTimer);
      clearTimeout(deadlineTimer);
      clearTimeout(idleTimer);
    };
    const finish = (err: Error | null): void => {
      if (settled) return;
      settled = true;
      clearTimers();
      if (err == null) {
        resolve();
        return;
      }
      res?.destroy();
      req?.destroy();
      const o = out;
      if (o == null || o.closed) {
        reject(err);
        return;
      }
      o.once('close', () => reject(err));
      o.destroy();
    };
    const connectTimer = setTimeout(
      () =>
        finish(new Error(`${url}: no response within ${limits.connectTimeoutMs} ms (options.connectTimeoutMs)`)),
      Math.min(limits.connectTimeoutMs, left),
    );
    const deadlineTimer = setTimeout(
      () =>
        finish(
          fatal(
            new Error(
              `${url}: overall deadline of ${limits.deadlineMs} ms exceeded after ${received} bytes (options.deadlineMs)`,
            ),
          ),
        ),
      left,
    );
    const armIdle = (): void => {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(
        () =>
          finish(
            new Error(
              `${url}: transfer stalled: no data for ${limits.idleTimeoutMs} ms after ${received} bytes ` +
                `(options.idleTimeoutMs)`,
            ),
          ),
        limits.idleTimeoutMs,
      );
    };
    req = mod.get(u, { agent: false }, (r) => {
      res = r;
      if (settled) {
        r.destroy();
        return;
      }
      clearTimeout(connectTimer);
      const status = r.statusCode ?? 0;
      if (status >= 300 && status < 400 && r.headers.location != null) {
        r.resume();
        if (redirects >= 5) {
          finish(new Error(`${url}: too many redirects`));
          return;
        }
        settled = true;
        clearTimers();
        fetchToFile(new URL(r.headers.location, u).toString(), dest, attempt, onProgress, limits, redirects + 1).then(
          resolve,
          reject,
        );
        return;
      }
      if (status !== 200) {
        r.resume();
        finish(new Error(`${url}: HTTP ${status} (expected 200)`));
        return;
      }
      const lenHeader = r.headers['content-length'];
      const total = lenHeader != null && /^\d+$/.test(lenHeader) ? Number(lenHeader) : undefined;
      if (total != null && total > limits.maxBytes) {
        finish(
          fatal(new Error(`${url}: Content-Length ${total} is more than the ${limits.maxBytes} bytes allowed (options.maxBytes)`)),
        );
        return;
      }
      const o = createWriteStream(dest);
      out = o;
      armIdle();
      r.on('data', (chunk: Buffer) => {
        if (settled) return;
        received += chunk.length;
        if (received > limits.maxBytes) {
          finish(fatal(new Error(`${url}: more than the ${limits.maxBytes} bytes allowed (options.maxBytes)`)));
          return;
        }
        if (total != null && received > total) {
          finish(new Error(`${url}: the server sent more than the ${total} bytes it announced (Content-Length)`));
          return;
        }
        armIdle();
        onProgress?.({ received, total, attempt });
      });
      r.on('error', (e) => finish(new Error(`${url}: ${e.message} after ${received} bytes`)));
      r.on('close', () => {
        if (!r.complete) finish(new Error(`${url}: connection closed after ${received} bytes`));
      });
      o.on('error', (e) => finish(new Error(`${dest}: cannot write the download: ${e.message}`)));
      r.on('end', () => {
        if (settled) return;
        if (total != null && received !== total) {
          finish(new Error(`${url}: incomplete transfer: ${received} of ${total} bytes`));
          return;
        }
        clearTimeout(idleTimer);
        o.end(() => finish(null));
      });
      r.pipe(o, { end: false });
    });
    req.on('error', (e) => {
      const code = (e as NodeJS.ErrnoException).code;
      finish(
        new Error(
          typeof code === 'string' && code.startsWith('HPE_')
            ? `${url}: invalid HTTP response after ${received} bytes (${e.message}; ` +
                `e.g. more bytes than its Content-Length announced)`
            : `${url}: ${e.message}`,
        ),
      );
    });
  });
}

/**
 * Downloads an official CIFAR archive into the cache folder (or returns the cached copy): streams into a temporary
 * file, verifies its MD5, then renames it into place, so the cache never holds a partial or corrupt file. Retries
 * failed transfers with a doubling delay.
 *
 * Limits: each attempt fails after `connectTimeoutMs` without response headers or `idleTimeoutMs` without data (a
 * stall counts as a failed attempt and is retried); the whole download, waits included, ends at `deadlineMs`; more
 * than `maxBytes` (or more than the announced `Content-Length`) is refused. The temporary `.part` file is removed on
 * every failure path, after its write stream is closed.
 *
 * @returns The path of the verified archive.
 *
 * @example
 * ```ts
 * const file = await downloadCifar({ variant: 'cifar10', onProgress: (p) => console.log(p.received, p.total) });
 * ```
 *
 * @category Data
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
  const positive = (key: keyof DownloadOptions, def: number): number => {
    const v = options[key] ?? def;
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) {
      throw new Error(`options.${key} must be a finite number > 0, got ${String(v)}`);
    }
    // Timers cannot wait longer than 2^31 - 1 ms (about 24.8 days): Node would fire them at once.
    if (key !== 'maxBytes' && v > 0x7fffffff) {
      throw new Error(`options.${key} must be at most ${0x7fffffff} ms (about 24.8 days), got ${v}`);
    }
    return v;
  };
  const deadlineMs = positive('deadlineMs', DOWNLOAD_DEADLINE_MS);
  const limits: AttemptLimits = {
    connectTimeoutMs: positive('connectTimeoutMs', DOWNLOAD_CONNECT_TIMEOUT_MS),
    idleTimeoutMs: positive('idleTimeoutMs', DOWNLOAD_IDLE_TIMEOUT_MS),
    deadlineMs,
    deadline: Date.now() + deadlineMs,
    maxBytes: positive('maxBytes', DOWNLOAD_MAX_BYTES),
  };
  const retryDelay = options.retryDelayMs ?? 1000;
  if (typeof retryDelay !== 'number' || !Number.isFinite(retryDelay) || retryDelay < 0) {
    throw new Error(`options.retryDelayMs must be a finite number ≥ 0, got ${String(retryDelay)}`);
  }
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
  let delay = retryDelay;
  let lastError: Error | undefined;
  for (let attempt = 1; attempt <= retries; attempt++) {
    const tmp = path.join(cacheDir, `.${fileName}.${process.pid}.${randomBytes(6).toString('hex')}.part`);
    try {
      await fetchToFile(url, tmp, attempt, options.onProgress, limits);
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
        if (Date.now() + delay >= limits.deadline) {
          throw new Error(
            `${url}: download failed after ${attempt} attempt(s), no time left for another before the deadline of ` +
              `${deadlineMs} ms (options.deadlineMs): ${lastError.message}`,
          );
        }
        await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }
  throw new Error(`${url}: download failed after ${retries} attempt(s): ${lastError?.message}`);
}
