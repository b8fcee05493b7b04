import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { inflateSync, gzipSync } from 'zlib';
import {
  encodeImageGridPng,
  gunzip,
  parseCifarArchive,
  parseCifarBinaryBatch,
  parseCifarLabelNames,
  readTar,
  renderImageGrid,
  TarParser,
} from '../../src';

/** Builds CIFAR-10/100 binary records whose pixel values follow a formula (independent reference). */
function records(n: number, variant: 'cifar10' | 'cifar100'): Uint8Array {
  const lb = variant === 'cifar10' ? 1 : 2;
  const rec = 3072 + lb;
  const out = new Uint8Array(n * rec);
  for (let i = 0; i < n; i++) {
    if (variant === 'cifar100') out[i * rec] = (i * 3) % 20;
    out[i * rec + lb - 1] = variant === 'cifar10' ? (i * 7) % 10 : (i * 13) % 100;
    for (let k = 0; k < 3072; k++) out[i * rec + lb + k] = (i * 5 + k * 3) % 251;
  }
  return out;
}

describe('parseCifarBinaryBatch', () => {
  it('CIFAR-10: planar records → NHWC uint8 and labels', () => {
    const s = parseCifarBinaryBatch(records(3, 'cifar10'), { name: 'x.bin' });
    expect(s.shape).toEqual([3, 32, 32, 3]);
    expect(Array.from(s.labels)).toEqual([0, 7, 4]);
    expect(s.coarseLabels).toBeUndefined();
    for (let i = 0; i < 3; i++) {
      for (let y = 0; y < 32; y += 7) {
        for (let x = 0; x < 32; x += 5) {
          for (let c = 0; c < 3; c++) {
            const k = c * 1024 + y * 32 + x;
            expect(s.images[((i * 32 + y) * 32 + x) * 3 + c]).toBe((i * 5 + k * 3) % 251);
          }
        }
      }
    }
  });

  it('CIFAR-100: coarse and fine labels', () => {
    const s = parseCifarBinaryBatch(records(4, 'cifar100'), { variant: 'cifar100', name: 'train.bin' });
    expect(Array.from(s.labels)).toEqual([0, 13, 26, 39]);
    expect(Array.from(s.coarseLabels as Uint8Array)).toEqual([0, 3, 6, 9]);
    expect(s.images[((3 * 32 + 31) * 32 + 31) * 3 + 2]).toBe((3 * 5 + (2048 + 31 * 32 + 31) * 3) % 251);
  });

  it('truncated batch → error naming the file', () => {
    const r = records(3, 'cifar10');
    expect(() => parseCifarBinaryBatch(r.subarray(0, 3073 * 2 + 100), { name: 'data_batch_9.bin' })).toThrow(
      /data_batch_9\.bin: truncated batch/,
    );
    expect(() =>
      parseCifarBinaryBatch(r.subarray(0, 3073 * 2), { name: 'data_batch_9.bin', expectedRecords: 3 }),
    ).toThrow(/data_batch_9\.bin: .*expected 9219 \(3 records of 3073 bytes\)/);
  });

  it('record size 3074 given as CIFAR-10 (and 3073 as CIFAR-100) → error naming the size', () => {
    expect(() => parseCifarBinaryBatch(records(2, 'cifar100'), { name: 'a.bin' })).toThrow(
      /a\.bin: record size is 3074 bytes, not 3073/,
    );
    expect(() => parseCifarBinaryBatch(records(2, 'cifar10'), { name: 'b.bin', variant: 'cifar100' })).toThrow(
      /b\.bin: record size is 3073 bytes, not 3074/,
    );
  });

  it('labels out of range → error naming the file and record', () => {
    const r = records(3, 'cifar10');
    r[3073 * 2] = 10;
    expect(() => parseCifarBinaryBatch(r, { name: 'c.bin' })).toThrow(/c\.bin: label out of range in record 2: 10/);
    const q = records(2, 'cifar100');
    q[3074] = 20;
    expect(() => parseCifarBinaryBatch(q, { name: 'd.bin', variant: 'cifar100' })).toThrow(
      /d\.bin: coarse label out of range in record 1: 20/,
    );
  });

  it('parses class-name files', () => {
    expect(parseCifarLabelNames('airplane\nautomobile\r\n\n')).toEqual(['airplane', 'automobile']);
    expect(() => parseCifarLabelNames('\n\n', 'batches.meta.txt')).toThrow(/batches\.meta\.txt: no class names/);
  });
});

describe('tar and gzip (bytes)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-tar-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads files written by the system tar, including long names', () => {
    const long = 'd'.repeat(120);
    mkdirSync(path.join(dir, 'src', long), { recursive: true });
    writeFileSync(path.join(dir, 'src', 'a.txt'), 'hello');
    const big = new Uint8Array(1500).map((_, i) => (i * 7) % 256);
    writeFileSync(path.join(dir, 'src', long, 'b.bin'), big);
    execFileSync('tar', ['-cf', path.join(dir, 'x.tar'), '-C', path.join(dir, 'src'), '.']);
    const files = readTar(new Uint8Array(readFileSync(path.join(dir, 'x.tar'))));
    expect(Buffer.from(files.get('./a.txt') as Uint8Array).toString()).toBe('hello');
    expect(Array.from(files.get(`./${long}/b.bin`) as Uint8Array)).toEqual(Array.from(big));
    // Pushed in odd-sized chunks, the streaming parser gives the same files.
    const tarBytes = new Uint8Array(readFileSync(path.join(dir, 'x.tar')));
    const got = new Map<string, Uint8Array>();
    const parser = new TarParser((h) => h.name.endsWith('.bin'), (h, d) => got.set(h.name, d));
    for (let i = 0; i < tarBytes.length; i += 333) parser.push(tarBytes.subarray(i, i + 333));
    parser.end();
    expect([...got.keys()]).toEqual([`./${long}/b.bin`]);
    expect(Array.from(got.get(`./${long}/b.bin`) as Uint8Array)).toEqual(Array.from(big));
    expect(() => readTar(new Uint8Array(readFileSync(path.join(dir, 'x.tar'))).subarray(0, 700), () => true, 'cut.tar')).toThrow(
      /cut\.tar: truncated tar archive/,
    );
  });

  it('rejects non-tar data and corrupt gzip with the name', () => {
    expect(() => readTar(new Uint8Array(1024).fill(65), () => true, 'junk.tar')).toThrow(/junk\.tar: not a tar archive/);
    const gz = new Uint8Array(gzipSync(Buffer.from('some text to compress, some text to compress')));
    gz[12] ^= 0xff;
    gz[14] ^= 0xff;
    expect(() => gunzip(gz, 'broken.tar.gz')).toThrow(/broken\.tar\.gz: (corrupt gzip data|not gzip)/);
    expect(() => gunzip(new Uint8Array([1, 2, 3]), 'plain.bin')).toThrow(/plain\.bin: not gzip data/);
  });

  it('parseCifarArchive: a tar without the expected folder → clear error', () => {
    writeFileSync(path.join(dir, 'other.txt'), 'x');
    execFileSync('tar', ['-czf', path.join(dir, 'other.tar.gz'), '-C', dir, 'other.txt']);
    expect(() =>
      parseCifarArchive(new Uint8Array(readFileSync(path.join(dir, 'other.tar.gz'))), { name: 'other.tar.gz' }),
    ).toThrow(/other\.tar\.gz: the archive holds neither cifar-10-batches-bin\/ nor cifar-10-batches-py\//);
  });

  it('parseCifarArchive: in-memory binary archive with a missing batch → names it', () => {
    const d = path.join(dir, 'cifar-10-batches-bin');
    mkdirSync(d);
    writeFileSync(path.join(d, 'batches.meta.txt'), 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');
    writeFileSync(path.join(d, 'test_batch.bin'), records(2, 'cifar10'));
    execFileSync('tar', ['-czf', path.join(dir, 'c.tar.gz'), '-C', dir, 'cifar-10-batches-bin']);
    expect(() => parseCifarArchive(new Uint8Array(readFileSync(path.join(dir, 'c.tar.gz'))), { name: 'c.tar.gz' })).toThrow(
      /c\.tar\.gz: .*test_batch\.bin: .*expected 30730000/,
    );
  });
});

describe('PNG grid', () => {
  function decodePng(png: Uint8Array): { width: number; height: number; colorType: number; rows: Uint8Array[] } {
    const b = Buffer.from(png);
    expect(Array.from(b.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    let pos = 8;
    let width = 0;
    let height = 0;
    let colorType = -1;
    const idat: Buffer[] = [];
    // Independent CRC-32 (bitwise, no table).
    const crc = (buf: Buffer): number => {
      let c = 0xffffffff;
      for (const byte of buf) {
        c ^= byte;
        for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
      }
      return (c ^ 0xffffffff) >>> 0;
    };
    while (pos < b.length) {
      const len = b.readUInt32BE(pos);
      const type = b.toString('latin1', pos + 4, pos + 8);
      const data = b.subarray(pos + 8, pos + 8 + len);
      expect(b.readUInt32BE(pos + 8 + len)).toBe(crc(b.subarray(pos + 4, pos + 8 + len)));
      if (type === 'IHDR') {
        width = data.readUInt32BE(0);
        height = data.readUInt32BE(4);
        expect(data[8]).toBe(8);
        colorType = data[9];
      } else if (type === 'IDAT') idat.push(data);
      pos += 12 + len;
    }
    const raw = inflateSync(Buffer.concat(idat));
    const ch = colorType === 2 ? 3 : 1;
    const rows: Uint8Array[] = [];
    for (let y = 0; y < height; y++) {
      expect(raw[y * (width * ch + 1)]).toBe(0);
      rows.push(raw.subarray(y * (width * ch + 1) + 1, (y + 1) * (width * ch + 1)));
    }
    return { width, height, colorType, rows };
  }

  it('lays out images with upscale and padding, decodable by zlib', () => {
    // Two 2×2 RGB images: image i pixel (y, x) = [10i + y, 20 + x, 200].
    const imgs = new Uint8Array(2 * 2 * 2 * 3);
    for (let i = 0; i < 2; i++)
      for (let y = 0; y < 2; y++)
        for (let x = 0; x < 2; x++) imgs.set([10 * i + y, 20 + x, 200], ((i * 2 + y) * 2 + x) * 3);
    const png = encodeImageGridPng(imgs, [2, 2, 2, 3], { columns: 2, scale: 3, padding: 1, background: [1, 2, 3] });
    const d = decodePng(png);
    // width = 2 * (2*3) + 3 * 1 = 15, height = 6 + 2 = 8
    expect([d.width, d.height, d.colorType]).toEqual([15, 8, 2]);
    const px = (x: number, y: number): number[] => Array.from(d.rows[y].subarray(x * 3, x * 3 + 3));
    expect(px(0, 0)).toEqual([1, 2, 3]);
    expect(px(1, 1)).toEqual([0, 20, 200]); // image 0, (0,0)
    expect(px(6, 6)).toEqual([1, 21, 200]); // image 0, source (1,1): rows/cols 4..6
    expect(px(7, 3)).toEqual([1, 2, 3]); // gap column
    expect(px(8, 1)).toEqual([10, 20, 200]); // image 1, (0,0)
    expect(px(13, 6)).toEqual([11, 21, 200]);
    expect(px(14, 7)).toEqual([1, 2, 3]);
  });

  it('validates its input', () => {
    expect(() => renderImageGrid(new Uint8Array(10), [1, 2, 2, 3])).toThrow(/images has 10 bytes, expected 12/);
    expect(() => renderImageGrid(new Uint8Array(12), [1, 2, 2, 3], { indices: [1] })).toThrow(/index 1 out of range/);
    expect(() => renderImageGrid(new Uint8Array(12), [1, 2, 2, 3], { scale: 0 })).toThrow(/options\.scale/);
  });
});
