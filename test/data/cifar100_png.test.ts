import { execFileSync } from 'child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { encodeImageGridPng } from '../../src';
import { loadCifar100, writeImageGridPng } from '../../src/node';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'hex'));

/** A protocol-2 pickle of {key: [str, ...], ...} built from opcodes by hand (EMPTY_DICT MARK BINUNICODE ...). */
function pickleDictOfStringLists(d: Record<string, string[]>): Uint8Array {
  const out: number[] = [0x80, 0x02, 0x7d, 0x28];
  const str = (s: string): void => {
    const b = Buffer.from(s, 'utf8');
    out.push(0x58, b.length & 0xff, (b.length >> 8) & 0xff, 0, 0, ...b);
  };
  for (const [k, list] of Object.entries(d)) {
    str(k);
    out.push(0x5d, 0x28);
    list.forEach(str);
    out.push(0x65);
  }
  out.push(0x75, 0x2e);
  return Uint8Array.from(out);
}

describe('loadCifar100 (small files in the official layouts)', () => {
  let tmp: string;
  const fine = Array.from({ length: 100 }, (_, i) => `f${i}`);
  const coarse = Array.from({ length: 20 }, (_, i) => `c${i}`);
  beforeAll(() => {
    tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-c100-'));
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('binary layout: 3074-byte records with coarse and fine labels, from a folder and from a .tar.gz', async () => {
    const dir = path.join(tmp, 'bin', 'cifar-100-binary');
    mkdirSync(dir, { recursive: true });
    const rec = (labels: [number, number][]): Uint8Array => {
      const b = new Uint8Array(labels.length * 3074);
      labels.forEach(([c, f], i) => {
        b[i * 3074] = c;
        b[i * 3074 + 1] = f;
        for (let k = 0; k < 3072; k++) b[i * 3074 + 2 + k] = (i + k) % 256;
      });
      return b;
    };
    writeFileSync(path.join(dir, 'train.bin'), rec([[19, 99], [0, 5], [7, 42]]));
    writeFileSync(path.join(dir, 'test.bin'), rec([[3, 1]]));
    writeFileSync(path.join(dir, 'fine_label_names.txt'), fine.join('\n') + '\n');
    writeFileSync(path.join(dir, 'coarse_label_names.txt'), coarse.join('\n') + '\n');
    execFileSync('tar', ['-czf', path.join(tmp, 'c100.tar.gz'), '-C', path.join(tmp, 'bin'), 'cifar-100-binary']);
    for (const source of [path.join(tmp, 'bin'), path.join(tmp, 'c100.tar.gz')]) {
      const d = await loadCifar100({ source, checkRecordCounts: false });
      expect(d.train.shape).toEqual([3, 32, 32, 3]);
      expect(Array.from(d.train.labels)).toEqual([99, 5, 42]);
      expect(Array.from(d.train.coarseLabels as Uint8Array)).toEqual([19, 0, 7]);
      expect(Array.from(d.test.coarseLabels as Uint8Array)).toEqual([3]);
      expect(d.classNames).toEqual(fine);
      expect(d.coarseClassNames).toEqual(coarse);
      // image 2, pixel (0, 1), green: planar byte 1024 + 1
      expect(d.train.images[(2 * 1024 + 1) * 3 + 1]).toBe((2 + 1025) % 256);
    }
    // With the official record counts (default), the small train.bin is reported.
    await expect(loadCifar100({ source: path.join(tmp, 'bin') })).rejects.toThrow(/train\.bin: truncated batch: 9222 bytes/);
  });

  it('python layout: fine_labels / coarse_labels / meta names', async () => {
    // Made with Python 3 + numpy 2.4.6: data = ((np.arange(2*3072)*13 + 1) % 256).astype(np.uint8).reshape(2, 3072);
    // pickle.dumps({'filenames': ['a.png', 'b.png'], 'batch_label': 'training batch 1 of 1', 'fine_labels': [99, 42],
    //   'coarse_labels': [19, 7], 'data': data}, protocol=3), split around data.tobytes().
    const pre =
      '80037d710028580900000066696c656e616d657371015d7102285805000000612e706e6771035805000000622e706e67710465580b00000062617463685f6c6162656c71055815000000747261696e696e672062617463682031206f6620317106580b00000066696e655f6c6162656c7371075d7108284b634b2a65580d000000636f617273655f6c6162656c7371095d710a284b134b0765580400000064617461710b636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a710c636e756d70790a6e6461727261790a710d4b0085710e430162710f877110527111284b014b024d000c867112636e756d70790a64747970650a71135802000000753171148988877115527116284b0358010000007c71174e4e4e4affffffff4affffffff4b0074711862894200180000';
    const post = '711974711a62752e';
    const raw = Uint8Array.from({ length: 2 * 3072 }, (_, i) => (i * 13 + 1) % 256);
    const batch = new Uint8Array([...hex(pre), ...raw, ...hex(post)]);
    const dir = path.join(tmp, 'py', 'cifar-100-python');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'train'), batch);
    writeFileSync(path.join(dir, 'test'), batch);
    writeFileSync(path.join(dir, 'meta'), pickleDictOfStringLists({ fine_label_names: fine, coarse_label_names: coarse }));
    const d = await loadCifar100({ source: dir });
    expect(Array.from(d.train.labels)).toEqual([99, 42]);
    expect(Array.from(d.train.coarseLabels as Uint8Array)).toEqual([19, 7]);
    expect(d.classNames).toEqual(fine);
    expect(d.coarseClassNames).toEqual(coarse);
    // image 1, pixel (31, 31), blue: row 1, planar byte 2048 + 1023
    const k = 3072 + 2048 + 1023;
    expect(d.train.images[3072 + 1023 * 3 + 2]).toBe((k * 13 + 1) % 256);
  });
});

describe('writeImageGridPng', () => {
  it('writes the encoded grid atomically (no temp file left)', async () => {
    const tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-png-'));
    try {
      const imgs = Uint8Array.from({ length: 4 * 8 * 8 * 3 }, (_, i) => (i * 5) % 256);
      const file = path.join(tmp, 'grid.png');
      await writeImageGridPng(file, imgs, [4, 8, 8, 3], { scale: 2 });
      const bytes = readFileSync(file);
      expect(Buffer.compare(bytes, Buffer.from(encodeImageGridPng(imgs, [4, 8, 8, 3], { scale: 2 })))).toBe(0);
      // 2 columns of 16 px + 3 × 2 px padding = 38
      expect(bytes.readUInt32BE(16)).toBe(38);
      expect(bytes.readUInt32BE(20)).toBe(38);
      expect(readdirSync(tmp)).toEqual(['grid.png']);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  });
});
