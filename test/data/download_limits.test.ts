/**
 * downloadCifar against misbehaving local servers on 127.0.0.1 (issue #16): a server that accepts and never
 * answers, one that stalls after 1,000 bytes, one that trickles, one that resets the connection, one that sends more
 * bytes than it announced, and one that never stops. Timeouts are tens of ms; every server loop is bounded and stops
 * by itself when the client goes away.
 */
import { createHash, randomBytes } from 'crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'fs';
import * as http from 'http';
import * as net from 'net';
import type { AddressInfo } from 'net';
import { tmpdir } from 'os';
import * as path from 'path';
import { downloadCifar, type DownloadProgress } from '../../src/node';

const PAYLOAD = randomBytes(5000);
const MD5 = createHash('md5').update(PAYLOAD).digest('hex');
const FAST = { retryDelayMs: 5, connectTimeoutMs: 60, idleTimeoutMs: 60 };

let tmp: string;
let n = 0;
const cacheDir = (): string => path.join(tmp, `cache${++n}`);
const files = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

/** Starts a server on 127.0.0.1; `handle` gets each socket and the request count (1-based). */
async function rawServer(handle: (socket: net.Socket, count: number) => void): Promise<{
  url: string;
  count: () => number;
  close: () => Promise<void>;
}> {
  let count = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    // Wait for the request head before answering, like an HTTP server.
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        s.off('data', onData);
        handle(s, ++count);
      }
    };
    s.on('data', onData);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/x/cifar-10-binary.tar.gz`,
    count: () => count,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

const head = (len: number | null): string =>
  'HTTP/1.1 200 OK\r\n' + (len != null ? `Content-Length: ${len}\r\n` : 'Transfer-Encoding: chunked\r\n') + 'Connection: close\r\n\r\n';
const serveAll = (s: net.Socket): void => {
  s.end(Buffer.concat([Buffer.from(head(PAYLOAD.length), 'latin1'), PAYLOAD]));
};

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-dl-limits-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('downloadCifar: timeouts, retries, deadline and size limits', () => {
  it('a server that accepts and never answers: connect timeout, each attempt retried, nothing left', async () => {
    const srv = await rawServer(() => undefined); // reads the request, never answers
    const dir = cacheDir();
    try {
      await expect(downloadCifar({ url: srv.url, md5: MD5, cacheDir: dir, retries: 3, ...FAST })).rejects.toThrow(
        /download failed after 3 attempt\(s\): .*no response within 60 ms \(options\.connectTimeoutMs\)/,
      );
      // The message counts the attempts; the server may not have seen the last one's request yet on a loaded machine.
      expect([2, 3]).toContain(srv.count());
      expect(files(dir)).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('stalls after 1,000 bytes: the stall counts as a failed attempt, the retry succeeds, no .part left', async () => {
    const srv = await rawServer((s, count) => {
      if (count === 1) {
        s.write(Buffer.concat([Buffer.from(head(PAYLOAD.length), 'latin1'), PAYLOAD.subarray(0, 1000)]));
        return; // and then nothing
      }
      serveAll(s);
    });
    const dir = cacheDir();
    const progress: DownloadProgress[] = [];
    try {
      const file = await downloadCifar({ url: srv.url, md5: MD5, cacheDir: dir, ...FAST, onProgress: (p) => progress.push(p) });
      expect(srv.count()).toBe(2);
      expect(Buffer.compare(readFileSync(file), PAYLOAD)).toBe(0);
      expect(progress.filter((p) => p.attempt === 1).pop()?.received).toBe(1000);
      expect(progress[progress.length - 1]).toEqual({ received: 5000, total: 5000, attempt: 2 });
      expect(files(dir)).toEqual(['cifar-10-binary.tar.gz']);
    } finally {
      await srv.close();
    }
  });

  it('always stalls: error names the URL, the stall and the attempts; the .part file is removed', async () => {
    const srv = await rawServer((s) => {
      s.write(Buffer.concat([Buffer.from(head(PAYLOAD.length), 'latin1'), PAYLOAD.subarray(0, 1000)]));
    });
    const dir = cacheDir();
    try {
      await expect(downloadCifar({ url: srv.url, md5: MD5, cacheDir: dir, retries: 2, ...FAST })).rejects.toThrow(
        /cifar-10-binary\.tar\.gz: download failed after 2 attempt\(s\): .*transfer stalled: no data for 60 ms after 1000 bytes/,
      );
      expect(srv.count()).toBe(2);
      expect(files(dir)).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a trickling server (1 byte every 5 ms) ends at the overall deadline, without a retry', async () => {
    const srv = await rawServer((s) => {
      s.write(head(PAYLOAD.length), 'latin1');
      let i = 0;
      const tick = (): void => {
        // Bounded: at most the payload, and stops when the client has gone.
        if (s.destroyed || i >= PAYLOAD.length) return;
        s.write(PAYLOAD.subarray(i, ++i));
        setTimeout(tick, 5);
      };
      tick();
    });
    const dir = cacheDir();
    try {
      await expect(
        downloadCifar({ url: srv.url, md5: MD5, cacheDir: dir, ...FAST, idleTimeoutMs: 1000, deadlineMs: 150 }),
      ).rejects.toThrow(/overall deadline of 150 ms exceeded after \d+ bytes \(options\.deadlineMs\)/);
      expect(srv.count()).toBe(1);
      expect(files(dir)).toEqual([]);
    } finally {
      await srv.close();
    }
  });

  it('a connection reset mid-body is retried; every attempt reset → error, nothing cached', async () => {
    const reset = (s: net.Socket): void => {
      s.write(Buffer.concat([Buffer.from(head(PAYLOAD.length), 'latin1'), PAYLOAD.subarray(0, 1000)]), () =>
        setTimeout(() => s.resetAndDestroy(), 5),
      );
    };
    const srv = await rawServer((s, count) => (count === 1 ? reset(s) : serveAll(s)));
    const dir = cacheDir();
    const srv2 = await rawServer(reset);
    const dir2 = cacheDir();
    try {
      const file = await downloadCifar({ url: srv.url, md5: MD5, cacheDir: dir, ...FAST });
      expect(srv.count()).toBe(2);
      expect(Buffer.compare(readFileSync(file), PAYLOAD)).toBe(0);
      await expect(downloadCifar({ url: srv2.url, md5: MD5, cacheDir: dir2, retries: 2, ...FAST })).rejects.toThrow(
        /download failed after 2 attempt\(s\): .*(ECONNRESET|connection closed after 1000 bytes|aborted)/,
      );
      expect(srv2.count()).toBe(2);
      expect(files(dir2)).toEqual([]);
    } finally {
      await srv.close();
      await srv2.close();
    }
  });

  it('more bytes than the Content-Length announced: never more than announced reaches the disk', async () => {
    // Announces 1,000 bytes and sends 5,000.
    const srv = await rawServer((s) => s.end(Buffer.concat([Buffer.from(head(1000), 'latin1'), PAYLOAD])));
    const dir = cacheDir();
    try {
      // The checksum of what was sent cannot match the announced 1,000 bytes: refused, nothing cached.
      await expect(downloadCifar({ url: srv.url, md5: MD5, cacheDir: dir, ...FAST })).rejects.toThrow(
        /MD5 mismatch|invalid HTTP response after \d+ bytes \(Parse Error: Data after `Connection: close`/,
      );
      expect(files(dir)).toEqual([]);
      const file = await downloadCifar({ url: srv.url, md5: null, cacheDir: dir, ...FAST, retries: 1 }).catch(
        (e: Error) => e,
      );
      if (typeof file === 'string') {
        expect(readFileSync(file).length).toBe(1000);
        expect(Buffer.compare(readFileSync(file), PAYLOAD.subarray(0, 1000))).toBe(0);
      } else {
        expect(file.message).toMatch(/invalid HTTP response after \d+ bytes .*more bytes than its Content-Length/);
        expect(files(dir)).toEqual([]);
      }
    } finally {
      await srv.close();
    }
  });

  it('a server that never stops (chunked, no length) is cut at maxBytes; a Content-Length above it is refused', async () => {
    const endless = await rawServer((s) => {
      s.write(head(null), 'latin1');
      let sent = 0;
      const chunk = Buffer.concat([Buffer.from('1000\r\n', 'latin1'), Buffer.alloc(0x1000, 7), Buffer.from('\r\n')]);
      const more = (): void => {
        // Bounded: 4 MiB at most, and stops when the client has gone.
        if (s.destroyed || sent > 4 << 20) return;
        sent += 0x1000;
        if (s.write(chunk)) setImmediate(more);
        else s.once('drain', more);
      };
      more();
    });
    const announced = await rawServer((s) => s.end(head(1 << 30), 'latin1'));
    const dir = cacheDir();
    try {
      await expect(
        downloadCifar({ url: endless.url, md5: null, cacheDir: dir, ...FAST, maxBytes: 100_000 }),
      ).rejects.toThrow(/more than the 100000 bytes allowed \(options\.maxBytes\)/);
      expect(endless.count()).toBe(1); // too large is not retried
      await expect(
        downloadCifar({ url: announced.url, md5: null, cacheDir: dir, ...FAST, maxBytes: 100_000 }),
      ).rejects.toThrow(/Content-Length 1073741824 is more than the 100000 bytes allowed/);
      expect(announced.count()).toBe(1);
      expect(files(dir)).toEqual([]);
    } finally {
      await endless.close();
      await announced.close();
    }
  });

  it('validates the new options, naming them', async () => {
    const dir = cacheDir();
    for (const [key, v] of [
      ['connectTimeoutMs', 0],
      ['idleTimeoutMs', Number.NaN],
      ['deadlineMs', -1],
      ['maxBytes', Infinity],
    ] as const) {
      await expect(downloadCifar({ url: 'http://127.0.0.1:9/x.tar.gz', cacheDir: dir, [key]: v })).rejects.toThrow(
        new RegExp(`options\\.${key} must be a finite number > 0, got ${String(v)}`),
      );
    }
    await expect(downloadCifar({ url: 'http://127.0.0.1:9/x.tar.gz', cacheDir: dir, deadlineMs: 2 ** 31 })).rejects.toThrow(
      /options\.deadlineMs must be at most 2147483647 ms \(about 24\.8 days\), got 2147483648/,
    );
  });
});

void http;
