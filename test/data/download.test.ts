import { createHash } from 'crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { execFileSync } from 'child_process';
import { writeFileSync, mkdirSync } from 'fs';
import { defaultCacheDir, downloadCifar, loadCifar10, type DownloadProgress } from '../../src/node';

describe('downloadCifar against a local HTTP server', () => {
  let tmp: string;
  let server: http.Server;
  let base: string;
  let archive: Buffer;
  let md5: string;
  let requests = 0;
  /** Per-path behaviour: 'ok', or 'cut' (destroy the socket mid-body) for the first N requests. */
  const cutsLeft = new Map<string, number>();

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-dl-'));
    // A small archive in the official binary layout: 2 records per batch file.
    const src = path.join(tmp, 'src', 'cifar-10-batches-bin');
    mkdirSync(src, { recursive: true });
    writeFileSync(path.join(src, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');
    const rec = new Uint8Array(2 * 3073);
    rec[0] = 4;
    rec[3073] = 7;
    for (let k = 0; k < 3072; k++) rec[1 + k] = k % 256;
    for (const f of ['data_batch_1', 'data_batch_2', 'data_batch_3', 'data_batch_4', 'data_batch_5', 'test_batch']) {
      writeFileSync(path.join(src, `${f}.bin`), rec);
    }
    execFileSync('tar', ['-czf', path.join(tmp, 'small.tar.gz'), '-C', path.join(tmp, 'src'), 'cifar-10-batches-bin']);
    archive = readFileSync(path.join(tmp, 'small.tar.gz'));
    md5 = createHash('md5').update(archive).digest('hex');
    server = http.createServer((req, res) => {
      requests++;
      const cuts = cutsLeft.get(req.url ?? '') ?? 0;
      if (req.url?.startsWith('/missing')) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'Content-Length': String(archive.length) });
      if (cuts > 0) {
        cutsLeft.set(req.url ?? '', cuts - 1);
        res.write(archive.subarray(0, archive.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      res.end(archive);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    rmSync(tmp, { recursive: true, force: true });
  });

  const cacheFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

  it('downloads with progress, verifies MD5, then reuses the cache without a request', async () => {
    const cacheDir = path.join(tmp, 'cache1');
    const progress: DownloadProgress[] = [];
    requests = 0;
    const file = await downloadCifar({ url: `${base}/a/cifar-10-binary.tar.gz`, md5, cacheDir, onProgress: (p) => progress.push(p) });
    expect(file).toBe(path.join(cacheDir, 'cifar-10-binary.tar.gz'));
    expect(Buffer.compare(readFileSync(file), archive)).toBe(0);
    expect(requests).toBe(1);
    expect(progress.length).toBeGreaterThan(0);
    expect(progress[progress.length - 1]).toEqual({ received: archive.length, total: archive.length, attempt: 1 });
    const d = await loadCifar10({
      source: 'download',
      url: `${base}/a/cifar-10-binary.tar.gz`,
      md5,
      cacheDir,
      checkRecordCounts: false,
    });
    expect(requests).toBe(1);
    expect(d.train.shape).toEqual([10, 32, 32, 3]);
    expect(Array.from(d.test.labels)).toEqual([4, 7]);
    expect(Array.from(d.train.images.subarray(0, 6))).toEqual([0, 0, 0, 1, 1, 1]);
    expect(cacheFiles(cacheDir)).toEqual(['cifar-10-binary.tar.gz']);
  });

  it('checksum mismatch → clear error and nothing left in the cache', async () => {
    const cacheDir = path.join(tmp, 'cache2');
    const wrong = '0'.repeat(32);
    await expect(
      downloadCifar({ url: `${base}/b/cifar-10-binary.tar.gz`, md5: wrong, cacheDir, retryDelayMs: 1 }),
    ).rejects.toThrow(new RegExp(`MD5 mismatch: got ${md5}, expected ${wrong}`));
    expect(cacheFiles(cacheDir)).toEqual([]);
  });

  it('interrupted transfer → no partial file; a retry succeeds', async () => {
    const cacheDir = path.join(tmp, 'cache3');
    const url = '/c/cifar-10-binary.tar.gz';
    cutsLeft.set(url, 1);
    requests = 0;
    const attempts: number[] = [];
    const file = await downloadCifar({
      url: `${base}${url}`,
      md5,
      cacheDir,
      retryDelayMs: 1,
      onProgress: (p) => attempts.push(p.attempt),
    });
    expect(requests).toBe(2);
    expect(new Set(attempts)).toEqual(new Set([1, 2]));
    expect(Buffer.compare(readFileSync(file), archive)).toBe(0);
    expect(cacheFiles(cacheDir)).toEqual(['cifar-10-binary.tar.gz']);

    // Every attempt cut: the error names the URL and the cache stays empty.
    const cacheDir4 = path.join(tmp, 'cache4');
    cutsLeft.set('/d/cifar-10-binary.tar.gz', 5);
    await expect(
      downloadCifar({ url: `${base}/d/cifar-10-binary.tar.gz`, md5, cacheDir: cacheDir4, retries: 2, retryDelayMs: 1 }),
    ).rejects.toThrow(/\/d\/cifar-10-binary\.tar\.gz: download failed after 2 attempt\(s\)/);
    expect(cacheFiles(cacheDir4)).toEqual([]);
    await expect(
      downloadCifar({ url: `${base}/missing/x.tar.gz`, md5, cacheDir: cacheDir4, retries: 1 }),
    ).rejects.toThrow(/HTTP 404/);
  });

  it('default cache folder follows XDG_CACHE_HOME', () => {
    const old = process.env.XDG_CACHE_HOME;
    process.env.XDG_CACHE_HOME = '/x/cache';
    expect(defaultCacheDir()).toBe(path.join('/x/cache', 'vit-tfjs'));
    delete process.env.XDG_CACHE_HOME;
    expect(defaultCacheDir()).toMatch(/\.cache[\\/]vit-tfjs$/);
    if (old != null) process.env.XDG_CACHE_HOME = old;
  });
});
