/**
 * Fuzzing the tar, gzip and CIFAR readers (issue #16) with fast-check: mutations and truncations of valid tar
 * archives (including header fields rewritten with a valid checksum, so that they reach the size and type checks),
 * gzip streams, CIFAR archives in the official layout, and CIFAR binary batches. Every input must end in a result
 * or an Error naming the archive or file, within the per-input budget of harness.ts; the streaming tar parser, fed
 * in random chunk sizes, must agree with the in-memory reader. Budget: 2,000 inputs under `npm test` (about 10 s).
 */
import fc from 'fast-check';
import { gzipSync } from 'zlib';
import { TarParser, gunzip, parseCifarArchive, parseCifarBinaryBatch, readTar } from '../../src';
import { checker, mutate, mutations, params, reportTried, runs, timeoutFor } from './harness';

afterAll(() => reportTried('archives'));

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function header(name: string, size: number, type: string): Uint8Array {
  const h = new Uint8Array(512);
  const w = (s: string, off: number): void => {
    for (let i = 0; i < s.length; i++) h[off + i] = s.charCodeAt(i) & 0xff;
  };
  w(name.slice(0, 100), 0);
  w('0000644\0', 100);
  w('0001750\0', 108);
  w('0001750\0', 116);
  w(size.toString(8).padStart(11, '0') + '\0', 124);
  w('14000000000\0', 136);
  w(type, 156);
  w('ustar\0', 257);
  w('00', 263);
  fixChecksum(h, 0);
  return h;
}

/** Rewrites the checksum of the header at `off` (so that a mutated header passes it). */
function fixChecksum(b: Uint8Array, off: number): void {
  if (off + 512 > b.length) return;
  for (let i = 148; i < 156; i++) b[off + i] = 32;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[off + i];
  const s = sum.toString(8).padStart(6, '0') + '\0 ';
  for (let i = 0; i < 8; i++) b[off + 148 + i] = s.charCodeAt(i);
}

/** A tar archive of `entries` ([name, data, typeflag]) and the offsets of its headers. */
function buildTar(entries: [string, Uint8Array, string?][]): { bytes: Uint8Array; headers: number[] } {
  const parts: Uint8Array[] = [];
  const headers: number[] = [];
  let off = 0;
  for (const [name, data, type] of entries) {
    headers.push(off);
    const pad = new Uint8Array((512 - (data.length % 512)) % 512);
    parts.push(header(name, data.length, type ?? '0'), data, pad);
    off += 512 + data.length + pad.length;
  }
  parts.push(new Uint8Array(1024));
  return { bytes: new Uint8Array(Buffer.concat(parts)), headers };
}

const long = `long/${'d'.repeat(120)}/b.bin`;
const pax = (k: string, v: string): Uint8Array => {
  const rec = ` ${k}=${v}\n`;
  let n = rec.length + 2;
  if (String(n).length + rec.length !== n) n = String(n + 1).length + rec.length;
  return enc(`${n}${rec}`);
};
const BIN = new Uint8Array(1500).map((_, i) => (i * 7) % 256);
const TAR = buildTar([
  ['dir/', new Uint8Array(0), '5'],
  ['dir/a.txt', enc('hello')],
  ['././@LongLink', enc(`${long}\0`), 'L'],
  ['placeholder', BIN],
  ['PaxHeaders/x', pax('path', 'pax/named.txt'), 'x'],
  ['ignored', enc('via pax')],
  ['dir/link', new Uint8Array(0), '2'],
]);

/** A header-field rewrite that keeps the checksum valid. */
type FieldEdit = { header: number; field: 'size' | 'type' | 'name' | 'sizeB256'; value: number };
const fieldEdit: fc.Arbitrary<FieldEdit> = fc.record({
  header: fc.nat(),
  field: fc.constantFrom('size' as const, 'type' as const, 'name' as const, 'sizeB256' as const),
  value: fc.oneof(
    fc.constantFrom(0, 1, 511, 512, 513, 1500, 3073, 30730000, 1 << 30, 2 ** 33, 8 ** 11 - 1),
    fc.nat(),
  ),
});
function applyEdits(base: Uint8Array, headers: number[], edits: FieldEdit[]): Uint8Array {
  const b = base.slice();
  for (const e of edits) {
    const off = headers[e.header % headers.length];
    if (e.field === 'size') {
      const s = e.value.toString(8).slice(-11).padStart(11, '0') + '\0';
      for (let i = 0; i < 12; i++) b[off + 124 + i] = s.charCodeAt(i);
    } else if (e.field === 'sizeB256') {
      b[off + 124] = 0x80;
      let v = e.value;
      for (let i = 11; i >= 1; i--) {
        b[off + 124 + i] = v % 256;
        v = Math.floor(v / 256);
      }
    } else if (e.field === 'type') {
      b[off + 156] = '0125LxgK7'.charCodeAt(e.value % 9);
    } else {
      // Make this entry's name equal to another entry's (duplicates) or empty.
      const other = headers[e.value % headers.length];
      b.copyWithin(off, other, other + 100);
    }
    fixChecksum(b, off);
  }
  return b;
}

/** Same outcome from readTar and from the streaming parser fed in chunks of `chunk` bytes. */
function streamed(bytes: Uint8Array, chunk: number): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const p = new TarParser(() => true, (h, d) => files.set(h.name, d), 'fuzz.tar');
  for (let i = 0; i < bytes.length && !p.finished; i += chunk) p.push(bytes.subarray(i, i + chunk));
  p.end();
  return files;
}

describe('fuzz: tar', () => {
  it('the base archive reads as expected', () => {
    const files = readTar(TAR.bytes, () => true, 'fuzz.tar');
    expect([...files.keys()]).toEqual(['dir/a.txt', long, 'pax/named.txt']);
    expect(Array.from(files.get(long) as Uint8Array)).toEqual(Array.from(BIN));
    expect(streamed(TAR.bytes, 333)).toEqual(files);
  });

  const N = runs(500);
  it(
    `mutated archives (bytes and checksum-valid header fields), in memory and streamed: ${N} inputs`,
    () => {
      const c = checker('readTar (mutated)', /^fuzz\.tar: /);
      const cs = checker('TarParser streamed in random chunks (same inputs)', /^fuzz\.tar: /);
      fc.assert(
        fc.property(
          fc.option(mutations(4), { nil: undefined }),
          fc.array(fieldEdit, { maxLength: 3 }),
          fc.integer({ min: 1, max: 2048 }),
          (ms, edits, chunk) => {
            let bytes = applyEdits(TAR.bytes, TAR.headers, edits);
            if (ms != null) bytes = mutate(bytes, ms);
            let mem: Map<string, Uint8Array> | null = null;
            c.check(
              () => readTar(bytes, () => true, 'fuzz.tar'),
              (files) => (mem = files),
            );
            let str: Map<string, Uint8Array> | null = null;
            cs.check(
              () => streamed(bytes, chunk),
              (files) => (str = files),
            );
            // In memory and streamed agree: both read the same files, or both fail.
            expect(str).toEqual(mem);
          },
        ),
        params(N),
      );
    },
    timeoutFor(N),
  );
});

describe('fuzz: gzip', () => {
  const plain = TAR.bytes;
  const gz = new Uint8Array(gzipSync(plain));
  const N = runs(400);
  it(
    `mutated and truncated gzip streams: ${N} inputs`,
    () => {
      const c = checker('gunzip (mutated)', /^fuzz\.gz: /);
      expect(Buffer.compare(gunzip(gz, 'fuzz.gz'), plain)).toBe(0);
      fc.assert(
        fc.property(mutations(4), (ms) => {
          const bytes = mutate(gz, ms);
          c.check(
            () => gunzip(bytes, 'fuzz.gz'),
            // Whatever decodes passed the CRC-32 and length check: it is the original.
            (out) => expect(Buffer.compare(out, plain)).toBe(0),
          );
        }),
        params(N),
      );
    },
    timeoutFor(N),
  );
});

describe('fuzz: CIFAR archives and binary batches', () => {
  const records = (n: number, variant: 'cifar10' | 'cifar100', seed: number): Uint8Array => {
    const rec = variant === 'cifar10' ? 3073 : 3074;
    const b = new Uint8Array(n * rec);
    for (let i = 0; i < n; i++) {
      if (variant === 'cifar100') b[i * rec] = (i + seed) % 20;
      b[i * rec + rec - 3073] = (i + seed) % (variant === 'cifar10' ? 10 : 100);
      for (let k = 1; k < 3073; k++) b[i * rec + rec - 3073 + k] = (k * 13 + i + seed) % 256;
    }
    return b;
  };
  const folder = 'cifar-10-batches-bin';
  const files: [string, Uint8Array][] = [
    [`${folder}/batches.meta.txt`, enc('a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n')],
    ...[1, 2, 3, 4, 5].map((i): [string, Uint8Array] => [`${folder}/data_batch_${i}.bin`, records(2, 'cifar10', i)]),
    [`${folder}/test_batch.bin`, records(2, 'cifar10', 9)],
  ];
  const CIFAR = buildTar(files);
  const CIFAR_GZ = new Uint8Array(gzipSync(CIFAR.bytes));
  const check = (d: ReturnType<typeof parseCifarArchive>): void => {
    expect(d.train.images.length).toBe(d.train.shape[0] * 3072);
    expect(d.test.images.length).toBe(d.test.shape[0] * 3072);
    for (const l of d.train.labels) expect(l).toBeLessThan(10);
    expect(d.classNames.length).toBeGreaterThanOrEqual(10);
  };

  it('the base archive reads as expected', () => {
    const d = parseCifarArchive(CIFAR_GZ, { name: 'fuzz.tar.gz', checkRecordCounts: false });
    expect(d.train.shape).toEqual([10, 32, 32, 3]);
    expect(Array.from(d.test.labels)).toEqual([9, 0]);
  });

  const N = runs(400);
  it(
    `mutated CIFAR archives (tar header fields and bytes; gzip bytes): ${N} inputs`,
    () => {
      const c = checker('parseCifarArchive (mutated)', /^fuzz\.tar(\.gz)?: /);
      fc.assert(
        fc.property(
          fc.boolean(),
          fc.option(mutations(4), { nil: undefined }),
          fc.array(fieldEdit, { maxLength: 3 }),
          fc.boolean(),
          (gzipped, ms, edits, checkRecordCounts) => {
            let bytes: Uint8Array;
            if (gzipped) {
              bytes = mutate(new Uint8Array(gzipSync(applyEdits(CIFAR.bytes, CIFAR.headers, edits))), ms ?? []);
            } else {
              const hot: [number, number][] = CIFAR.headers.map((h) => [h, h + 512]);
              bytes = mutate(applyEdits(CIFAR.bytes, CIFAR.headers, edits), ms ?? [], hot);
            }
            const name = gzipped ? 'fuzz.tar.gz' : 'fuzz.tar';
            c.check(() => parseCifarArchive(bytes, { name, checkRecordCounts }), check);
          },
        ),
        params(N),
      );
    },
    timeoutFor(N),
  );

  const B = runs(400);
  it(
    `mutated CIFAR-10 and CIFAR-100 binary batches: ${B} inputs`,
    () => {
      const c = checker('parseCifarBinaryBatch (mutated)', /^test_batch\.bin: /);
      const bases = { cifar10: records(3, 'cifar10', 1), cifar100: records(3, 'cifar100', 1) };
      fc.assert(
        fc.property(
          fc.constantFrom('cifar10' as const, 'cifar100' as const),
          fc.constantFrom('cifar10' as const, 'cifar100' as const),
          mutations(4),
          fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined }),
          (made, readAs, ms, expectedRecords) => {
            const rec = made === 'cifar10' ? 3073 : 3074;
            // Mutations aimed at the label bytes and the ends of records.
            const hot: [number, number][] = [0, 1, 2].map((i) => [i * rec, i * rec + 3]);
            const bytes = mutate(bases[made], ms, ms.length % 2 === 0 ? hot : undefined);
            c.check(
              () => parseCifarBinaryBatch(bytes, { variant: readAs, name: 'test_batch.bin', expectedRecords }),
              (s) => {
                const r = readAs === 'cifar10' ? 3073 : 3074;
                expect(s.shape[0] * r).toBe(bytes.length);
                for (const l of s.labels) expect(l).toBeLessThan(readAs === 'cifar10' ? 10 : 100);
                for (const l of s.coarseLabels ?? []) expect(l).toBeLessThan(20);
              },
            );
          },
        ),
        params(B),
      );
    },
    timeoutFor(B),
  );
});
