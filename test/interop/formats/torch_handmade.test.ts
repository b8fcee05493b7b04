/**
 * readTorchCheckpoint on archives and pickles built byte by byte here (independent of the reader): zip64, and the
 * hostile or inconsistent tensor descriptions a real torch.save never writes.
 */
import { crc32 } from 'zlib';
import { readPickle, readTorchCheckpoint } from '../../../src';

// --- a protocol-2 pickle writer, opcode by opcode ---
const enc = new TextEncoder();
const op = (...parts: (number | string | Uint8Array)[]): number[] =>
  parts.flatMap((p) => (typeof p === 'number' ? [p] : typeof p === 'string' ? Array.from(enc.encode(p)) : Array.from(p)));
const u32 = (n: number): number[] => [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >>> 24) & 0xff];
const str = (s: string): number[] => [0x58, ...u32(enc.encode(s).length), ...enc.encode(s)]; // BINUNICODE
const int = (k: number): number[] => (k < 256 ? [0x4b, k] : [0x4a, ...u32(k)]); // BININT1 / BININT
const glob = (mod: string, name: string): number[] => op(0x63, `${mod}\n${name}\n`); // GLOBAL
const tuple = (items: number[][]): number[] => [0x28, ...items.flat(), 0x74]; // MARK ... TUPLE

interface TensorSpec {
  storageType?: string;
  storageModule?: string;
  key?: string;
  numel: number;
  offset?: number;
  size: number[];
  stride: number[];
}
/** The pickle torch.save writes for `_rebuild_tensor_v2(storage, offset, size, stride, False, OrderedDict())`. */
function tensor(t: TensorSpec): number[] {
  const pid = tuple([str('storage'), glob(t.storageModule ?? 'torch', t.storageType ?? 'FloatStorage'), str(t.key ?? '0'), str('cpu'), int(t.numel)]);
  return [
    ...glob('torch._utils', '_rebuild_tensor_v2'),
    ...tuple([
      [...pid, 0x51], // BINPERSID
      int(t.offset ?? 0),
      tuple(t.size.map(int)),
      tuple(t.stride.map(int)),
      [0x89], // False
      [...glob('collections', 'OrderedDict'), 0x29, 0x52], // OrderedDict()
    ]),
    0x52, // REDUCE
  ];
}
/** `{name: tensor, ...}` as a protocol-2 pickle. */
function stateDict(entries: [string, number[]][]): Uint8Array {
  return Uint8Array.from([0x80, 0x02, 0x7d, 0x28, ...entries.flatMap(([k, v]) => [...str(k), ...v]), 0x75, 0x2e]);
}

// --- a zip writer (stored entries), optionally with zip64 records for every size and offset ---
function zip(files: Record<string, Uint8Array>, zip64 = false): Uint8Array {
  const chunks: number[] = [];
  const central: number[] = [];
  const le16 = (n: number): number[] => [n & 0xff, n >> 8];
  const le64 = (n: number): number[] => [...u32(n % 2 ** 32), ...u32(Math.floor(n / 2 ** 32))];
  let count = 0;
  for (const [name, data] of Object.entries(files)) {
    const offset = chunks.length;
    const crc = crc32(data);
    const nameBytes = Array.from(enc.encode(name));
    chunks.push(...u32(0x04034b50), ...le16(45), ...le16(0), ...le16(0), ...le16(0), ...le16(0), ...u32(crc));
    chunks.push(...u32(data.length), ...u32(data.length), ...le16(nameBytes.length), ...le16(0), ...nameBytes, ...data);
    const extra = zip64 ? [...le16(1), ...le16(24), ...le64(data.length), ...le64(data.length), ...le64(offset)] : [];
    const big = (n: number): number[] => (zip64 ? u32(0xffffffff) : u32(n));
    central.push(...u32(0x02014b50), ...le16(45), ...le16(45), ...le16(0), ...le16(0), ...le16(0), ...le16(0), ...u32(crc));
    central.push(...big(data.length), ...big(data.length), ...le16(nameBytes.length), ...le16(extra.length), ...le16(0));
    central.push(...le16(0), ...le16(0), ...u32(0), ...big(offset), ...nameBytes, ...extra);
    count++;
  }
  const cdOffset = chunks.length;
  chunks.push(...central);
  if (zip64) {
    const eocd64 = chunks.length;
    chunks.push(...u32(0x06064b50), ...le64(44), ...le16(45), ...le16(45), ...u32(0), ...u32(0));
    chunks.push(...le64(count), ...le64(count), ...le64(central.length), ...le64(cdOffset));
    chunks.push(...u32(0x07064b50), ...u32(0), ...le64(eocd64), ...u32(1));
    chunks.push(...u32(0x06054b50), ...le16(0), ...le16(0), ...le16(0xffff), ...le16(0xffff), ...u32(0xffffffff), ...u32(0xffffffff), ...le16(0));
  } else {
    chunks.push(...u32(0x06054b50), ...le16(0), ...le16(0), ...le16(count), ...le16(count), ...u32(central.length), ...u32(cdOffset), ...le16(0));
  }
  return Uint8Array.from(chunks);
}

const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);

describe('readTorchCheckpoint on hand-built archives', () => {
  const storage = f32([0, 1, 2, 3, 4, 5, 6, 7]);
  it('reads a stored archive and a zip64 one alike, with offsets and strides', () => {
    const pkl = stateDict([
      ['a', tensor({ numel: 8, offset: 1, size: [2, 3], stride: [3, 1] })],
      ['at', tensor({ numel: 8, offset: 0, size: [2, 2], stride: [1, 4] })], // a transposed [2, 4] view's corner
      ['step', tensor({ numel: 8, offset: 7, size: [], stride: [] })],
    ]);
    for (const z64 of [false, true]) {
      const t = readTorchCheckpoint(zip({ 'ckpt/data.pkl': pkl, 'ckpt/data/0': storage }, z64));
      expect(Array.from(t.a.data)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(t.a.shape).toEqual([2, 3]);
      expect(Array.from(t.at.data)).toEqual([0, 4, 1, 5]);
      expect(t.step).toEqual({ shape: [], data: new Float32Array([7]), sourceDtype: 'F32' });
    }
  });

  it('keeps the safe unpickler closed: plain readPickle still refuses the torch globals', () => {
    const pkl = stateDict([['a', tensor({ numel: 8, size: [8], stride: [1] })]]);
    expect(() => readPickle(pkl, { name: 'p' })).toThrow(
      "p: refusing global 'torch._utils._rebuild_tensor_v2' at offset 10: only numpy arrays and plain data are allowed",
    );
  });

  const cases: [string, Uint8Array, string | RegExp][] = [
    [
      'a view reaching past its storage',
      stateDict([['a', tensor({ numel: 8, offset: 4, size: [2, 3], stride: [3, 1] })]]),
      "x: tensor of size [2, 3], stride [3, 1], offset 4 reaches element 9 of storage '0', which holds 8",
    ],
    [
      'a storage record shorter than its declared size',
      stateDict([['a', tensor({ numel: 9, size: [9], stride: [1] })]]),
      "x: storage '0' (torch.FloatStorage) holds 32 bytes, expected 9 × 4 = 36",
    ],
    [
      'a missing storage record',
      stateDict([['a', tensor({ key: '7', numel: 8, size: [8], stride: [1] })]]),
      "x: storage '7' has no record 'ckpt/data/7' in the archive",
    ],
    [
      'size and stride of different lengths',
      stateDict([['a', tensor({ numel: 8, size: [2, 4], stride: [1] })]]),
      'x: torch._utils._rebuild_tensor_v2: size (2 dims) and stride (1 dims) differ',
    ],
    [
      'a CUDA storage class (not in the allow-list)',
      stateDict([['a', tensor({ storageModule: 'torch.cuda', numel: 8, size: [8], stride: [1] })]]),
      "refusing global 'torch.cuda.FloatStorage'",
    ],
    [
      'an untyped storage (no dtype)',
      stateDict([['a', tensor({ storageType: 'UntypedStorage', numel: 8, size: [8], stride: [1] })]]),
      "x: storage '0': untyped storages (torch.UntypedStorage) carry no dtype",
    ],
    [
      'one storage declared with two dtypes',
      stateDict([
        ['a', tensor({ numel: 8, size: [8], stride: [1] })],
        ['b', tensor({ storageType: 'HalfStorage', numel: 16, size: [16], stride: [1] })],
      ]),
      "x: storage '0' is declared as 8 × F32 and as 16 × F16",
    ],
    [
      'a persistent id that is not a storage',
      Uint8Array.from([0x80, 0x02, ...tuple([str('module'), int(1)]), 0x51, 0x2e]),
      "x: unsupported persistent id a tuple of 2 (expected ('storage', type, key, location, numel))",
    ],
    ['a dict without tensors', Uint8Array.from([0x80, 0x02, 0x7d, ...str('epoch'), ...int(3), 0x73, 0x2e]), 'x: no tensors found (the saved object is a dict)'],
  ];
  for (const [what, pkl, msg] of cases) {
    it(`refuses ${what}`, () => {
      expect(() => readTorchCheckpoint(zip({ 'ckpt/data.pkl': pkl, 'ckpt/data/0': storage }), { name: 'x' })).toThrow(msg);
    });
  }

  it('refuses a big-endian archive, an unsupported compression method and an encrypted entry by name', () => {
    const pkl = stateDict([['a', tensor({ numel: 8, size: [8], stride: [1] })]]);
    expect(() => readTorchCheckpoint(zip({ 'c/data.pkl': pkl, 'c/byteorder': enc.encode('big'), 'c/data/0': storage }), { name: 'x' })).toThrow(
      "x: byteorder 'big' is not supported (expected 'little')",
    );
    const z = zip({ 'c/data.pkl': pkl, 'c/data/0': storage });
    const cd = Buffer.from(z).lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02])); // the last central entry: c/data/0
    const lzma = z.slice();
    lzma[cd + 10] = 14;
    expect(() => readTorchCheckpoint(lzma, { name: 'x' })).toThrow(
      "x: entry 'c/data/0': compression method 14 is not supported (expected 0, stored, or 8, deflate)",
    );
    const locked = z.slice();
    locked[cd + 8] = 1;
    expect(() => readTorchCheckpoint(locked, { name: 'x' })).toThrow("x: entry 'c/data/0': encrypted zip entries are not supported");
  });

  it('refuses several dicts of tensors without a conventional name, listing them', () => {
    const pkl = Uint8Array.from([
      0x80, 0x02, 0x7d, 0x28,
      ...str('ema'), ...[0x7d, 0x28, ...str('w'), ...tensor({ numel: 8, size: [8], stride: [1] }), 0x75],
      ...str('student'), ...[0x7d, 0x28, ...str('w'), ...tensor({ numel: 8, size: [8], stride: [1] }), 0x75],
      0x75, 0x2e,
    ]);
    const z = zip({ 'c/data.pkl': pkl, 'c/data/0': storage });
    expect(() => readTorchCheckpoint(z, { name: 'x' })).toThrow("x: several dicts hold tensors ('ema', 'student'); choose one with options.key");
    expect(Object.keys(readTorchCheckpoint(z, { key: 'student' }))).toEqual(['w']);
    expect(Object.keys(readTorchCheckpoint(z, { key: '' }))).toEqual(['ema.w', 'student.w']);
  });
});
