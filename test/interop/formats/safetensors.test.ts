import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import {
  SAFETENSORS_MAX_HEADER_BYTES,
  checkpointTensor,
  decodeCheckpointTensor,
  readSafetensors,
  readSafetensorsHeader,
  writeSafetensors,
} from '../../../src';

/**
 * A safetensors file built byte by byte, independent of the writer: the 8-byte little-endian length, the header
 * text exactly as given (padded with `pad` spaces), then the data bytes.
 */
function build(header: string, data: number[] | Uint8Array, pad = 0): Uint8Array {
  const json = Buffer.from(header + ' '.repeat(pad), 'utf8');
  const out = new Uint8Array(8 + json.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, json.length, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Little-endian bytes of float32 values, via DataView. */
function f32(values: number[]): number[] {
  const b = new Uint8Array(4 * values.length);
  const v = new DataView(b.buffer);
  values.forEach((x, i) => v.setFloat32(4 * i, x, true));
  return Array.from(b);
}

/** Little-endian bytes of 16-bit codes. */
function u16(codes: number[]): number[] {
  return codes.flatMap((c) => [c & 0xff, c >> 8]);
}

describe('readSafetensors', () => {
  it('decodes F32, F16 and BF16 tensors with metadata from hand-built bytes', () => {
    const header =
      '{"__metadata__":{"format":"pt","note":"hand-built"},' +
      '"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},' +
      '"h":{"dtype":"F16","shape":[3],"data_offsets":[16,22]},' +
      '"b":{"dtype":"BF16","shape":[2],"data_offsets":[22,26]}}';
    const bytes = build(header, [...f32([1, -2.5, 0.25, 3e38]), ...u16([0x3c00, 0xc000, 0x3555]), ...u16([0x3f80, 0xc0a0])], 3);
    const head = readSafetensorsHeader(bytes);
    expect(head.metadata).toEqual({ format: 'pt', note: 'hand-built' });
    expect(head.dataStart).toBe(8 + header.length + 3);
    expect(head.tensors.map((t) => [t.name, t.dtype, t.shape, t.dataOffsets])).toEqual([
      ['w', 'F32', [2, 2], [0, 16]],
      ['h', 'F16', [3], [16, 22]],
      ['b', 'BF16', [2], [22, 26]],
    ]);
    const t = readSafetensors(bytes);
    expect(Object.keys(t)).toEqual(['w', 'h', 'b']);
    expect(t.w).toEqual({ shape: [2, 2], data: new Float32Array([1, -2.5, 0.25, Math.fround(3e38)]), sourceDtype: 'F32' });
    // 0x3555 = 0 01101 0101010101: (1 + 341/1024) · 2^-2 = 0.333251953125
    expect(Array.from(t.h.data)).toEqual([1, -2, 0.333251953125]);
    expect(t.h.sourceDtype).toBe('F16');
    // 0xc0a0 → float32 bits 0xc0a00000 = -5
    expect(Array.from(t.b.data)).toEqual([1, -5]);
    expect(t.b.sourceDtype).toBe('BF16');
  });

  it('converts F16 special values exactly: subnormals, zero signs, infinities, NaN, the extremes', () => {
    const codes = [0x0001, 0x03ff, 0x0400, 0x8000, 0x7bff, 0xfbff, 0x7c00, 0xfc00, 0x7e00, 0x3bff];
    const t = decodeCheckpointTensor('F16', [codes.length], Uint8Array.from(u16(codes)));
    const want = [
      2 ** -24, // smallest subnormal
      1023 * 2 ** -24, // largest subnormal
      2 ** -14, // smallest normal
      -0,
      65504, // largest finite
      -65504,
      Infinity,
      -Infinity,
      NaN,
      1 - 2 ** -11, // largest below 1
    ];
    expect(Array.from(t.data)).toEqual(want);
    expect(Object.is(t.data[3], -0)).toBe(true);
  });

  it('converts BF16 exactly (the upper half of a float32), including NaN and infinities', () => {
    const codes = [0x3f80, 0x0001, 0x7f80, 0xff80, 0x7fc0, 0x4049, 0x8000];
    const t = decodeCheckpointTensor('BF16', [codes.length], Uint8Array.from(u16(codes)));
    const view = new DataView(new ArrayBuffer(4));
    const fromBits = (b: number): number => (view.setUint32(0, b), view.getFloat32(0));
    expect(Array.from(t.data)).toEqual([1, fromBits(0x00010000), Infinity, -Infinity, NaN, fromBits(0x40490000), -0]);
    expect(t.data[5]).toBe(3.140625);
  });

  it('decodes F64 rounded to float32 and data at an odd byte offset', () => {
    const b = new Uint8Array(17);
    new DataView(b.buffer).setFloat64(1, 0.1, true);
    new DataView(b.buffer).setFloat64(9, -1e300, true);
    const t = decodeCheckpointTensor('F64', [2], b.subarray(1));
    expect(Array.from(t.data)).toEqual([Math.fround(0.1), -Infinity]);
    const odd = new Uint8Array(9);
    odd.set(f32([1.5, -7]), 1);
    expect(Array.from(decodeCheckpointTensor('F32', [2], odd.subarray(1)).data)).toEqual([1.5, -7]);
  });

  it('reads scalars and empty tensors, and a file with no tensors', () => {
    const bytes = build(
      '{"s":{"dtype":"F32","shape":[],"data_offsets":[0,4]},"e":{"dtype":"F16","shape":[0,3],"data_offsets":[4,4]}}',
      f32([42]),
    );
    const t = readSafetensors(bytes);
    expect(t.s).toEqual({ shape: [], data: new Float32Array([42]), sourceDtype: 'F32' });
    expect(t.e).toEqual({ shape: [0, 3], data: new Float32Array(0), sourceDtype: 'F16' });
    expect(readSafetensors(build('{}', []))).toEqual({});
  });

  it('orders tensors by their data, whatever the header order, and keeps names such as __proto__ as own keys', () => {
    const bytes = build(
      '{"z":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"__proto__":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
      f32([1, 2]),
    );
    const t = readSafetensors(bytes);
    expect(Object.keys(t)).toEqual(['__proto__', 'z']);
    expect(Object.getPrototypeOf(t)).toBe(Object.prototype);
    expect(Array.from(t['__proto__'].data)).toEqual([1]);
  });

  it('select decodes only some tensors; unsupported dtypes are refused by name unless skipped', () => {
    const header =
      '{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"ids":{"dtype":"I64","shape":[2],"data_offsets":[4,20]}}';
    const bytes = build(header, [...f32([3]), ...new Array(16).fill(0)]);
    expect(() => readSafetensors(bytes, { name: 'm.safetensors' })).toThrow(
      "m.safetensors: tensor 'ids' has dtype I64, which is not supported (supported: F32, F16, BF16, F64",
    );
    expect(Object.keys(readSafetensors(bytes, { skipUnsupportedDtypes: true }))).toEqual(['w']);
    expect(Object.keys(readSafetensors(bytes, { select: (n) => n === 'w' }))).toEqual(['w']);
  });

  describe('refuses corrupt or hostile files, naming the problem', () => {
    const ok = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    const cases: [string, () => Uint8Array, string | RegExp][] = [
      ['a file shorter than 8 bytes', () => new Uint8Array(5), 'x: not a safetensors file: 5 bytes, too short'],
      [
        'a header length beyond the file',
        () => {
          const b = build(ok, f32([1, 2]));
          new DataView(b.buffer).setUint32(0, 1000, true);
          return b;
        },
        /x: not a safetensors file or truncated: header length 1000 at offset 0 exceeds the \d+ bytes after it/,
      ],
      [
        'a 64-bit header length (high word set)',
        () => {
          const b = build(ok, f32([1, 2]));
          new DataView(b.buffer).setUint32(4, 1, true);
          return b;
        },
        'header length 4294967350 at offset 0 exceeds',
      ],
      ['a header that is not JSON', () => build('{"a":', []), 'x: corrupt header: invalid JSON'],
      ['a header that is not an object', () => build('[1,2]', []), "does not start with '{' (byte 0x5b)"],
      ['a header that is not UTF-8', () => build('{"\xff"}', []).map((v, i) => (i === 10 ? 0xff : v)), 'not valid UTF-8'],
      [
        'a duplicate name',
        () => build('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', f32([1, 2])),
        "x: duplicate name 'a' in the header",
      ],
      [
        'an unknown dtype',
        () => build('{"a":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}', f32([1, 2])),
        "x: tensor 'a': unknown dtype 'Q7' (supported: F32, F16, BF16, F64)",
      ],
      [
        'offsets beyond the data',
        () => build('{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}', f32([1, 2])),
        "x: tensor 'a': data_offsets [0, 16] out of range: the data holds 8 bytes",
      ],
      [
        'a shape that does not match the offsets',
        () => build('{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', f32([1, 2])),
        "x: tensor 'a': data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12",
      ],
      [
        'overlapping tensors',
        () =>
          build(
            '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
            f32([1, 2]),
          ),
        "x: tensor 'b': data_offsets [4, 8] overlap the previous tensor, which ends at 8",
      ],
      [
        'a gap between tensors',
        () =>
          build(
            '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
            f32([1, 2, 3]),
          ),
        "x: tensor 'b': data_offsets [8, 12] leave a gap after offset 4",
      ],
      ['trailing bytes', () => build(ok, f32([1, 2, 3])), 'x: the tensors end at data offset 8, but the data holds 12 bytes'],
      [
        'negative or fractional dimensions',
        () => build('{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', f32([1, 2])),
        "x: tensor 'a': shape [-2] is not a list of integers ≥ 0",
      ],
      [
        'malformed offsets',
        () => build('{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', f32([1, 2])),
        "x: tensor 'a': data_offsets [0] is not [begin, end]",
      ],
      [
        'non-string metadata',
        () => build('{"__metadata__":{"n":1}}', []),
        "x: __metadata__ 'n' is a number, expected a string",
      ],
      [
        'a shape whose size overflows',
        () => build('{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}', f32([1, 2])),
        "x: tensor 'a': shape [4294967296, 4294967296] is too large",
      ],
    ];
    for (const [what, make, msg] of cases) {
      it(what, () => {
        expect(() => readSafetensors(make(), { name: 'x' })).toThrow(msg);
      });
    }

    it('a header over the size limit, before parsing it', () => {
      const b = build(`{"__metadata__":{"p":"${'x'.repeat(100)}"}}`, []);
      expect(() => readSafetensors(b, { name: 'x', maxHeaderBytes: 64 })).toThrow(
        'x: header of 125 bytes exceeds the limit of 64 bytes (options.maxHeaderBytes)',
      );
      expect(SAFETENSORS_MAX_HEADER_BYTES).toBe(100_000_000);
    });

    it('a header given only in part (readSafetensorsHeader with fileBytes)', () => {
      const b = build(ok, f32([1, 2]));
      const head = readSafetensorsHeader(b.subarray(0, b.length - 8), { fileBytes: b.length });
      expect(head.tensors[0].name).toBe('a');
      expect(() => readSafetensorsHeader(b.subarray(0, 20), { fileBytes: b.length, name: 'x' })).toThrow(
        `x: the first ${b.length - 8} bytes (the header) are needed, got 20`,
      );
    });
  });
});

describe('writeSafetensors', () => {
  it('writes the layout of the Python library: sorted names, __metadata__ first, header padded with spaces to 8', () => {
    const bytes = writeSafetensors(
      {
        'b.weight': checkpointTensor([2, 1], new Float32Array([1, 2])),
        'a.bias': checkpointTensor([1], new Float32Array([-0.5])),
      },
      { format: 'pt' },
    );
    const want =
      '{"__metadata__":{"format":"pt"},"a.bias":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},' +
      '"b.weight":{"dtype":"F32","shape":[2,1],"data_offsets":[4,12]}}';
    const n = Math.ceil(want.length / 8) * 8;
    const view = new DataView(bytes.buffer, bytes.byteOffset);
    expect(view.getBigUint64(0, true)).toBe(BigInt(n));
    expect(Buffer.from(bytes.subarray(8, 8 + n)).toString('utf8')).toBe(want + ' '.repeat(n - want.length));
    expect(Array.from(bytes.subarray(8 + n))).toEqual(f32([-0.5, 1, 2]));
    expect(bytes.length).toBe(8 + n + 12);
  });

  it('sorts names by code point as Rust does, and integer-like names in string order', () => {
    const one = (v: number): ReturnType<typeof checkpointTensor> => checkpointTensor([], new Float32Array([v]));
    const bytes = writeSafetensors({ '\u{1F600}': one(1), '\uFF21': one(2), '9': one(3), '10': one(4), B: one(5), a: one(6) });
    expect(readSafetensorsHeader(bytes).tensors.map((t) => t.name)).toEqual(['10', '9', 'B', 'a', '\uFF21', '\u{1F600}']);
  });

  it('round-trips CheckpointTensors and tf.Tensors through readSafetensors', () => {
    const w = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
    const bytes = writeSafetensors({ 'head.weight': w, 'head.bias': tf.tensor1d([0.1, -0.2]) });
    const back = readSafetensors(bytes);
    expect(back['head.weight']).toEqual({ shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]), sourceDtype: 'F32' });
    expect(Array.from(back['head.bias'].data)).toEqual([Math.fround(0.1), Math.fround(-0.2)]);
    w.dispose();
    const again = readSafetensors(writeSafetensors(back));
    expect(again).toEqual(back);
    expect(() => writeSafetensors({ i: tf.tensor1d([1], 'int32') })).toThrow("writeSafetensors: tensor 'i' is int32, expected float32");
    expect(() => writeSafetensors({ x: { shape: [3], data: new Float32Array(2), sourceDtype: 'F32' } })).toThrow(
      "writeSafetensors: tensor 'x' has 2 elements, shape [3] needs 3",
    );
  });

  it('checkpointTensor checks the element count', () => {
    expect(() => checkpointTensor([2, 2], new Float32Array(3))).toThrow('checkpointTensor: data has 3 elements, shape [2, 2] needs 4');
  });
});

describe('mutated safetensors', () => {
  it('every truncation and byte flip either reads or throws an error naming the file', () => {
    let s = 23;
    const rnd = (n: number): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) % n;
    };
    const good = writeSafetensors(
      { a: checkpointTensor([2, 3], new Float32Array(6).fill(1.5)), b: checkpointTensor([4], new Float32Array(4)) },
      { format: 'pt' },
    );
    for (let i = 0; i < 500; i++) {
      const bad = i % 3 === 0 ? good.subarray(0, rnd(good.length)) : good.slice();
      if (i % 3 !== 0) for (let k = 0; k <= rnd(3); k++) bad[rnd(bad.length)] = rnd(256);
      try {
        readSafetensors(bad, { name: 'm.st' });
      } catch (err) {
        if (!(err as Error).message.startsWith('m.st: ')) throw new Error(`mutation ${i}: ${(err as Error).stack}`);
      }
    }
  });
});
