/**
 * Untrusted input (issue #16): each reader refuses hostile or wrong inputs with an error naming the file (and the
 * entry inside an archive) and saying what was expected, within time linear in the input and memory bounded by
 * the output. Work is bounded by construction here (shared references, sizes checked before allocation), so these
 * tests assert values and allocation sizes, not times.
 */
import { execFileSync } from 'child_process';
import { mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { gzipSync } from 'zlib';
import { type PickleValue, TarParser, gunzip, parseCifarArchive, readPickle, readTar } from '../../src';
import { loadCifar10, readCifarArchiveFile } from '../../src/node';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** `None MEMOIZE` then, per level, `BINGET i BINGET i TUPLE2 MEMOIZE`: each tuple holds the previous one twice. */
function memoBomb(levels: number): Uint8Array {
  const b: number[] = [0x80, 4, 0x4e, 0x94];
  for (let i = 0; i < levels; i++) b.push(0x68, i, 0x68, i, 0x86, 0x94);
  b.push(0x2e);
  return Uint8Array.from(b);
}

/** A ustar header for `name` declaring `size` bytes (typeflag '0' unless given). */
function tarHeader(name: string, size: number, type = '0'): Uint8Array {
  const h = new Uint8Array(512);
  const w = (s: string, off: number): void => {
    for (let i = 0; i < s.length; i++) h[off + i] = s.charCodeAt(i);
  };
  w(name, 0);
  w('0000644\0', 100);
  w('0000000\0', 108);
  w('0000000\0', 116);
  w(size.toString(8).padStart(11, '0') + '\0', 124);
  w('00000000000\0', 136);
  w('        ', 148);
  w(type, 156);
  w('ustar\0', 257);
  w('00', 263);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  w(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return h;
}

/** A tar of `[name, data]` entries (data padded to 512) and the end marker. */
function tar(entries: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const [name, data] of entries) {
    parts.push(tarHeader(name, data.length), data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  parts.push(new Uint8Array(1024));
  return new Uint8Array(Buffer.concat(parts));
}

const arrayBuffers = (): number => process.memoryUsage().arrayBuffers;

describe('readPickle on hostile pickles', () => {
  it('memo bomb: a tuple memoised and referenced again at every level is decoded once and shared', () => {
    // 18 levels: before the fix each level copied the shared tuple again (2^18 leaves, 0.5 s; 26 levels: OOM).
    const r = readPickle(memoBomb(18), { name: 'bomb.pkl' }) as PickleValue[];
    expect(r).toHaveLength(2);
    expect(r[0]).toBe(r[1]); // the same array, not a copy
    // 64 levels (365 bytes) would be 2^64 leaves if copied: now 64 arrays.
    let v = readPickle(memoBomb(64), { name: 'bomb64.pkl' }) as PickleValue;
    let depth = 0;
    while (Array.isArray(v)) {
      expect(v[0]).toBe(v[1]);
      v = v[0];
      depth++;
    }
    expect(depth).toBe(64);
    expect(v).toBeNull();
  });

  it('nesting deeper than the cap → error naming the file, not a stack overflow', () => {
    // 200,000 nested 1-tuples: None TUPLE1 TUPLE1 ... STOP.
    const tuples = new Uint8Array(200_004).fill(0x85);
    tuples.set([0x80, 4, 0x4e]);
    tuples[tuples.length - 1] = 0x2e;
    expect(() => readPickle(tuples, { name: 'nested.pkl' })).toThrow(
      /^nested\.pkl: tuples nested deeper than 1000 levels at offset 1003 \(expected plain data a few levels deep\)$/,
    );
    // 200,000 nested lists: EMPTY_LIST × n, then APPEND × (n - 1) puts each into the one below.
    const n = 200_000;
    const lists = new Uint8Array(2 * n + 2);
    lists.set([0x80, 4]);
    lists.fill(0x5d, 2, 2 + n);
    lists.fill(0x61, 2 + n, 1 + 2 * n);
    lists[lists.length - 1] = 0x2e;
    expect(() => readPickle(lists, { name: 'lists.pkl' })).toThrow(/^lists\.pkl: nesting deeper than 1000 levels/);
    // A list that contains itself: EMPTY_LIST MEMOIZE BINGET 0 APPEND STOP.
    expect(() => readPickle(Uint8Array.from([0x80, 4, 0x5d, 0x94, 0x68, 0, 0x61, 0x2e]), { name: 'self.pkl' })).toThrow(
      /^self\.pkl: a list contains itself/,
    );
    // The cap is an option: 3 nested tuples with maxDepth 2.
    const three = Uint8Array.from([0x80, 4, 0x4e, 0x85, 0x85, 0x85, 0x2e]);
    expect(readPickle(three, { name: 't.pkl' })).toEqual([[[null]]]);
    expect(() => readPickle(three, { name: 't.pkl', maxDepth: 2 })).toThrow(/t\.pkl: tuples nested deeper than 2 levels/);
  });

  it('LONG1/LONG4 integers longer than 8 bytes are refused by their declared size', () => {
    const n = 2 << 20; // 2 MiB LONG4: before the fix still converting after 60 s
    const big = new Uint8Array(n + 8);
    big.set([0x80, 4, 0x8b]);
    new DataView(big.buffer).setUint32(3, n, true);
    big[big.length - 1] = 0x2e;
    expect(() => readPickle(big, { name: 'long4.pkl' })).toThrow(
      /^long4\.pkl: LONG4 integer of 2097152 bytes at offset 2: at most 8 bytes are supported \(CIFAR pickles never need more\)$/,
    );
    // Refused before reading: a LONG4 declaring 4 GiB - 1 in a 10-byte pickle says so, not "truncated".
    expect(() => readPickle(Uint8Array.from([0x80, 4, 0x8b, 0xff, 0xff, 0xff, 0xff, 0x2e]), { name: 'l.pkl' })).toThrow(
      /l\.pkl: LONG4 integer of 4294967295 bytes/,
    );
    // pickle.dumps(2**64) uses LONG1 with 9 bytes; pickle.dumps(-2**63) LONG1 with 8 bytes (accepted).
    expect(() => readPickle(hex('80028a090000000000000000012e'), { name: 'l1.pkl' })).toThrow(
      /l1\.pkl: LONG1 integer of 9 bytes at offset 2/,
    );
    expect(readPickle(hex('80028a0800000000000000802e'))).toBe(-(BigInt(2) ** BigInt(63)));
  });

  it('a text file given as a pickle → says it is text and what was expected', () => {
    expect(() => readPickle(new TextEncoder().encode('hello world, this is text\n'), { name: 'notes.txt' })).toThrow(
      /^notes\.txt: not a Python pickle: the data starts with text "hello world, this is text " \(expected a binary pickle, protocol 2–5, starting with byte 0x80/,
    );
    expect(() => readPickle(new TextEncoder().encode('<!DOCTYPE html><html>'), { name: 'page.html' })).toThrow(
      /page\.html: not a Python pickle: the data starts with text "<!DOCTYPE html><html>"/,
    );
  });

  it('a structured numpy dtype → says structured dtypes are not supported and what is expected', () => {
    // pickle.dumps({'data': np.zeros(2, dtype=[('a', 'u1'), ('b', '<f4')])}, protocol=2), numpy 2.4.6.
    const rec = hex(
      '80027d71005804000000646174617101636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7102636e756d70790a6e6461727261790a71034b00857104635f636f646563730a656e636f64650a7105580100000062710658060000006c6174696e31710786710852710987710a52710b284b014b0285710c636e756d70790a64747970650a710d58020000005635710e898887710f527110284b0358010000007c71114e580100000061711258010000006271138671147d7115286812680d5802000000753171168988877117527118284b0368114e4e4e4affffffff4affffffff4b00747119624b0086711a6813680d58020000006634711b898887711c52711d284b0358010000003c711e4e4e4e4affffffff4affffffff4b0074711f624b01867120754b054b014b1074712162896805580a000000000000000000000000007122680786712352712474712562732e',
    );
    expect(() => readPickle(rec, { name: 'rec.pkl' })).toThrow(
      /^rec\.pkl: structured numpy dtype 'V5' \(record array\) is not supported: expected a plain numeric dtype such as 'u1'/,
    );
  });
});

describe('tar, gzip and CIFAR archives: declared sizes checked before allocation', () => {
  const GiB = 1 << 30;
  const meta = new TextEncoder().encode('a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');

  it('a tar header declaring a 1 GiB batch is refused by the CIFAR reader before anything is allocated', () => {
    // 1 GiB declared, 64 KiB present (what the 4.7 MB .tar.gz did: 1.17–2.2 GB peak before the fix).
    const bytes = new Uint8Array(Buffer.concat([tarHeader('cifar-10-batches-bin/data_batch_1.bin', GiB), new Uint8Array(65536)]));
    const gz = new Uint8Array(gzipSync(bytes));
    for (const [input, checkRecordCounts, want] of [
      [bytes, true, /^big\.tar: cifar-10-batches-bin\/data_batch_1\.bin: 1073741824 bytes, expected 30730000 \(10000 records of 3073 bytes\)$/],
      [gz, true, /^big\.tar: cifar-10-batches-bin\/data_batch_1\.bin: 1073741824 bytes, expected 30730000/],
      [bytes, false, /^big\.tar: cifar-10-batches-bin\/data_batch_1\.bin: 1073741824 bytes, more than the official 10000 records of 3073 bytes/],
    ] as const) {
      const before = arrayBuffers();
      expect(() => parseCifarArchive(input, { name: 'big.tar', checkRecordCounts })).toThrow(want);
      expect(arrayBuffers() - before).toBeLessThan(64 << 20);
    }
    // Python layout: a pickled batch declaring 1 GiB is more than 10,000 images can need.
    const py = new Uint8Array(Buffer.concat([tarHeader('cifar-10-batches-py/data_batch_1', GiB), new Uint8Array(1024)]));
    expect(() => parseCifarArchive(py, { name: 'py.tar' })).toThrow(
      /^py\.tar: cifar-10-batches-py\/data_batch_1: 1073741824 bytes, expected a pickled batch of at most 34328576 bytes/,
    );
  });

  it('generic tar reader: in-memory sizes checked against the archive, streamed entries grow only as bytes arrive', () => {
    const bytes = new Uint8Array(Buffer.concat([tarHeader('huge.bin', GiB), new Uint8Array(4096)]));
    const before = arrayBuffers();
    expect(() => readTar(bytes, () => true, 'h.tar')).toThrow(
      /^h\.tar: entry 'huge\.bin' declares 1073741824 bytes but the archive ends 4096 bytes later \(truncated or corrupt tar archive\)$/,
    );
    expect(() => readTar(bytes, () => true, 'h.tar', { maxEntryBytes: 1000, totalBytes: Infinity })).toThrow(
      /^h\.tar: entry 'huge\.bin' declares 1073741824 bytes, more than the 1000 bytes expected at most$/,
    );
    // Streaming without limits: the buffer follows what arrived (≤ 1 MiB ahead), not the declared 1 GiB.
    const parser = new TarParser(() => true, () => undefined, 's.tar');
    parser.push(bytes);
    expect(arrayBuffers() - before).toBeLessThan(64 << 20);
    expect(() => parser.end()).toThrow(/^s\.tar: truncated tar archive \(inside 'huge\.bin': 4096 of its 1073741824 bytes arrived\)$/);
    // GNU long-name / pax entries are capped at 1 MiB.
    const pax = new Uint8Array(Buffer.concat([tarHeader('././@PaxHeader', 8 << 20, 'x'), new Uint8Array(512)]));
    expect(() => new TarParser(() => true, () => undefined, 'p.tar').push(pax)).toThrow(
      /^p\.tar: entry '\.\/\.\/@PaxHeader': pax header of 8388608 bytes \(expected at most 1048576; corrupt tar archive\?\)$/,
    );
  });

  it('duplicated entries are refused, naming the entry (the second copy used to win silently)', () => {
    const a = new TextEncoder().encode('first');
    const b = new TextEncoder().encode('second');
    expect(() => readTar(tar([['dir/a.txt', a], ['dir/b.txt', b], ['dir/a.txt', b]]), () => true, 'dup.tar')).toThrow(
      /^dup\.tar: entry 'dir\/a\.txt' occurs twice in the archive \(expected each file once; refusing to pick one\)$/,
    );
    // The same batch under two folders of the layout.
    const rec = new Uint8Array(2 * 3073);
    const twice = tar([
      ['cifar-10-batches-bin/batches.meta.txt', meta],
      ['cifar-10-batches-bin/test_batch.bin', rec],
      ['copy/cifar-10-batches-bin/test_batch.bin', rec],
    ]);
    expect(() => parseCifarArchive(twice, { name: 'twice.tar', checkRecordCounts: false })).toThrow(
      /^twice\.tar: copy\/cifar-10-batches-bin\/test_batch\.bin: test_batch\.bin occurs twice in twice\.tar/,
    );
  });

  it('corrupt headers name the archive, the offset and the entry before', () => {
    const t = tar([['a.txt', new TextEncoder().encode('x')]]);
    const bad = t.slice();
    bad.set(new TextEncoder().encode('not a tar header'), 1024);
    expect(() => readTar(bad, () => true, 'c.tar')).toThrow(
      /^c\.tar: not a tar archive or corrupt tar header at offset 1024, after entry 'a\.txt' \(checksum/,
    );
  });

  it('gzip: a trailer declaring more than the limit, or than the input can hold, is refused before allocating', () => {
    const gz = new Uint8Array(gzipSync(Buffer.from('hello')));
    const lie = gz.slice();
    new DataView(lie.buffer).setUint32(lie.length - 4, 0xffffffff, true);
    const before = arrayBuffers();
    expect(() => gunzip(lie, 'lie.gz')).toThrow(
      /^lie\.gz: gzip trailer declares 4294967295 bytes uncompressed, more than the limit of 1073741824 bytes/,
    );
    new DataView(lie.buffer).setUint32(lie.length - 4, 100 << 20, true);
    expect(() => gunzip(lie, 'lie.gz')).toThrow(
      /^lie\.gz: corrupt gzip data: trailer declares 104857600 bytes, more than 25 compressed bytes can hold/,
    );
    expect(arrayBuffers() - before).toBeLessThan(64 << 20);
    expect(() => gunzip(gz, 'small.gz', { maxOutputBytes: 4 })).toThrow(/small\.gz: .*declares 5 bytes uncompressed, more than the limit of 4/);
    expect(new TextDecoder().decode(gunzip(gz, 'ok.gz'))).toBe('hello');
    // A trailer that understates the size: output is cut at the declared size, and the check says so.
    new DataView(lie.buffer).setUint32(lie.length - 4, 2, true);
    expect(() => gunzip(lie, 'short.gz')).toThrow(/^short\.gz: corrupt gzip data: CRC-32 or length check failed/);
  });
});

describe('Node loaders: non-regular files refused by type, sizes checked before reading', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-untrusted-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  const folder = (name: string): string => {
    const d = path.join(tmp, name, 'cifar-10-batches-bin');
    mkdirSync(d, { recursive: true });
    writeFileSync(path.join(d, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');
    return d;
  };

  it('a directory where a batch file should be → error with the path', async () => {
    const d = folder('dir');
    mkdirSync(path.join(d, 'data_batch_1.bin'));
    await expect(loadCifar10({ source: path.join(tmp, 'dir'), checkRecordCounts: false })).rejects.toThrow(
      `${path.join(d, 'data_batch_1.bin')}: is a directory, expected CIFAR batch file (a regular file)`,
    );
  });

  it('a FIFO where a batch file (or the archive) should be → refused without blocking', async () => {
    const d = folder('fifo');
    execFileSync('mkfifo', [path.join(d, 'data_batch_1.bin')]);
    await expect(loadCifar10({ source: path.join(tmp, 'fifo'), checkRecordCounts: false })).rejects.toThrow(
      `${path.join(d, 'data_batch_1.bin')}: is a FIFO (named pipe), expected CIFAR batch file (a regular file)`,
    );
    const fifo = path.join(tmp, 'archive.fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(readCifarArchiveFile(fifo, 'cifar10')).rejects.toThrow(
      `${fifo}: is a FIFO (named pipe), expected CIFAR source (a regular file)`,
    );
  }, 10_000);

  it('a 1 GiB (sparse) batch file is refused by its size before it is read', async () => {
    const d = folder('huge');
    const f = path.join(d, 'data_batch_1.bin');
    writeFileSync(f, '');
    truncateSync(f, 1 << 30);
    // Peak external memory while the loader runs (it is async: the sampler runs between its steps).
    const before = arrayBuffers();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, arrayBuffers())), 1);
    try {
      await expect(loadCifar10({ source: path.join(tmp, 'huge') })).rejects.toThrow(
        `${f}: 1073741824 bytes, expected 30730000 (10000 records of 3073 bytes)`,
      );
    } finally {
      clearInterval(sampler);
    }
    expect(Math.max(peak, arrayBuffers()) - before).toBeLessThan(64 << 20);
  });
});
