import { PickleNdArray, parseCifarPickleBatch, readPickle } from '../../src';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// Fixtures produced with Python 3 + numpy 2.4.6 on this machine:
//   small = {b'data': np.arange(6, dtype=np.uint8).reshape(2,3), 'name': 'héllo', 'labels': [1, 2, 300, -5, 2**40],
//            'f': 1.5, 'ok': True, 'none': None, 'i8': np.array([-1, 2**33], dtype=np.int64),
//            'f4': np.array([0.5, -2.25], dtype=np.float32), 'ba': bytearray(b'xy'), 't': (1, b'ab')}
//   pickle.dumps(small, protocol=p).hex() for p in 2, 3, 4, 5
// Protocol 2 stores bytes via _codecs.encode, protocol 3 via BINBYTES, 4 adds FRAME/MEMOIZE/SHORT_BINUNICODE/
// STACK_GLOBAL, 5 uses numpy._core.numeric._frombuffer with BYTEARRAY8 buffers; all use numpy 2's numpy._core path.
const SMALL: Record<number, string> = {
  2: '80027d710028635f636f646563730a656e636f64650a7101580400000064617461710258060000006c6174696e317103867104527105636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7106636e756d70790a6e6461727261790a71074b0085710868015801000000627109680386710a52710b87710c52710d284b014b024b0386710e636e756d70790a64747970650a710f5802000000753171108988877111527112284b0358010000007c71134e4e4e4affffffff4affffffff4b00747114628968015806000000000102030405711568038671165271177471186258040000006e616d657119580600000068c3a96c6c6f711a58060000006c6162656c73711b5d711c284b014b024d2c014afbffffff8a0600000000000165580100000066711d473ff800000000000058020000006f6b711e8858040000006e6f6e65711f4e580200000069387120680668074b00857121680b877122527123284b014b02857124680f5802000000693871258988877126527127284b0358010000003c71284e4e4e4affffffff4affffffff4b00747129628968015818000000c3bfc3bfc3bfc3bfc3bfc3bfc3bfc3bf0000000002000000712a680386712b52712c74712d6258020000006634712e680668074b0085712f680b877130527131284b014b02857132680f5802000000663471338988877134527135284b0368284e4e4e4affffffff4affffffff4b007471366289680158090000000000003f000010c3807137680386713852713974713a6258020000006261713b635f5f6275696c74696e5f5f0a6279746561727261790a713c680158020000007879713d680386713e52713f85714052714158010000007471424b0168015802000000616271436803867144527145867146752e',
  3: '80037d7100284304646174617101636e756d70792e5f636f72652e6d756c746961727261790a5f7265636f6e7374727563740a7102636e756d70790a6e6461727261790a71034b008571044301627105877106527107284b014b024b03867108636e756d70790a64747970650a710958020000007531710a898887710b52710c284b0358010000007c710d4e4e4e4affffffff4affffffff4b0074710e62894306000102030405710f7471106258040000006e616d657111580600000068c3a96c6c6f711258060000006c6162656c7371135d7114284b014b024d2c014afbffffff8a06000000000001655801000000667115473ff800000000000058020000006f6b71168858040000006e6f6e6571174e580200000069387118680268034b00857119680587711a52711b284b014b0285711c680958020000006938711d898887711e52711f284b0358010000003c71204e4e4e4affffffff4affffffff4b0074712162894310ffffffffffffffff0000000002000000712274712362580200000066347124680268034b008571256805877126527127284b014b028571286809580200000066347129898887712a52712b284b0368204e4e4e4affffffff4affffffff4b0074712c628943080000003f000010c0712d74712e6258020000006261712f636275696c74696e730a6279746561727261790a713043027879713185713252713358010000007471344b01430261627135867136752e',
  4: '800495c0010000000000007d9428430464617461948c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b024b03869468058c0564747970659493948c02753194898887945294284b038c017c944e4e4e4affffffff4affffffff4b00749462894306000102030405947494628c046e616d65948c0668c3a96c6c6f948c066c6162656c73945d94284b014b024d2c014afbffffff8a06000000000001658c016694473ff80000000000008c026f6b94888c046e6f6e65944e8c02693894680468074b008594680987945294284b014b028594680e8c02693894898887945294284b038c013c944e4e4e4affffffff4affffffff4b00749462894310ffffffffffffffff0000000002000000947494628c02663494680468074b008594680987945294284b014b028594680e8c02663494898887945294284b0368254e4e4e4affffffff4affffffff4b007494628943080000003f000010c0947494628c026261948c086275696c74696e73948c096279746561727261799493944302787994859452948c0174944b0143026162948694752e',
  5: '8005958b010000000000007d9428430464617461948c136e756d70792e5f636f72652e6e756d65726963948c0b5f66726f6d62756666657294939428960600000000000000000102030405948c056e756d7079948c0564747970659493948c02753194898887945294284b038c017c944e4e4e4affffffff4affffffff4b007494624b024b0386948c014394749452948c046e616d65948c0668c3a96c6c6f948c066c6162656c73945d94284b014b024d2c014afbffffff8a06000000000001658c016694473ff80000000000008c026f6b94888c046e6f6e65944e8c02693894680428961000000000000000ffffffffffffffff00000000020000009468088c02693894898887945294284b038c013c944e4e4e4affffffff4affffffff4b007494624b028594680f749452948c026634946804289608000000000000000000003f000010c09468088c02663494898887945294284b03681e4e4e4e4affffffff4affffffff4b007494624b028594680f749452948c026261949602000000000000007879948c0174944b0143026162948694752e',
};

describe('readPickle', () => {
  for (const protocol of [2, 3, 4, 5]) {
    it(`decodes a Python 3 / numpy 2 pickle, protocol ${protocol}`, () => {
      const v = readPickle(hex(SMALL[protocol]), { name: `small-p${protocol}` }) as Map<string, unknown>;
      expect(v).toBeInstanceOf(Map);
      expect([...v.keys()]).toEqual(['data', 'name', 'labels', 'f', 'ok', 'none', 'i8', 'f4', 'ba', 't']);
      const data = v.get('data') as PickleNdArray;
      expect(data).toBeInstanceOf(PickleNdArray);
      expect(data.dtype).toBe('u1');
      expect(data.shape).toEqual([2, 3]);
      expect(Array.from(data.data as Uint8Array)).toEqual([0, 1, 2, 3, 4, 5]);
      expect(v.get('name')).toBe('héllo');
      expect(v.get('labels')).toEqual([1, 2, 300, -5, 2 ** 40]);
      expect(v.get('f')).toBe(1.5);
      expect(v.get('ok')).toBe(true);
      expect(v.get('none')).toBeNull();
      const i8 = v.get('i8') as PickleNdArray;
      expect(i8.dtype).toBe('<i8');
      expect(Array.from(i8.data as BigInt64Array)).toEqual([BigInt(-1), BigInt(2 ** 33)]);
      const f4 = v.get('f4') as PickleNdArray;
      expect(f4.dtype).toBe('<f4');
      expect(Array.from(f4.data as Float32Array)).toEqual([0.5, -2.25]);
      expect(Array.from(v.get('ba') as Uint8Array)).toEqual([0x78, 0x79]);
      const t = v.get('t') as unknown[];
      expect(t[0]).toBe(1);
      expect(Array.from(t[1] as Uint8Array)).toEqual([0x61, 0x62]);
    });
  }

  it('refuses globals outside the allow-list, naming them, without calling anything', () => {
    // pickle.dumps(os.system) style: GLOBAL 'posix system', then REDUCE with ('echo hi',).
    const evil = Uint8Array.from(Buffer.from("cposix\nsystem\n(S'echo hi'\ntR.", 'latin1'));
    expect(() => readPickle(evil, { name: 'evil.pkl' })).toThrow(/evil\.pkl: refusing global 'posix\.system'/);
    const builtins = Uint8Array.from(Buffer.from('\x80\x02cbuiltins\neval\nq\x00.', 'latin1'));
    expect(() => readPickle(builtins, { name: 'b.pkl' })).toThrow(/b\.pkl: refusing global 'builtins\.eval'/);
  });

  it('refuses unknown opcodes, naming them and their offset', () => {
    // 'S' (STRING, protocol 0 text) is outside the supported set.
    expect(() => readPickle(Uint8Array.from([0x80, 0x02, 0x53]), { name: 'p0.pkl' })).toThrow(
      /p0\.pkl: unsupported pickle opcode 0x53 'S' at offset 2/,
    );
    expect(() => readPickle(Uint8Array.from([0x80, 0x02, 0x97]), { name: 'oob.pkl' })).toThrow(
      /oob\.pkl: unsupported pickle opcode 0x97 at offset 2/,
    );
  });

  it('rejects truncated pickles and unsupported protocols', () => {
    const full = hex(SMALL[4]);
    expect(() => readPickle(full.subarray(0, 200), { name: 't.pkl' })).toThrow(/t\.pkl: truncated pickle/);
    expect(() => readPickle(Uint8Array.from([0x80, 0x06, 0x4e, 0x2e]), { name: 'p6' })).toThrow(
      /unsupported pickle protocol 6/,
    );
  });
});

describe('parseCifarPickleBatch on Python 3 re-saves', () => {
  // Made with numpy 2.4.6: data = ((np.arange(2*3072)*31 + 7) % 256).astype(np.uint8).reshape(2, 3072);
  // pickle.dumps({'data': data, 'labels': [3, 9], 'batch_label': 'x'}, protocol=p), split around data.tobytes().
  const parts: Record<number, [string, string]> = {
    4: [
      '800495bd180000000000007d94288c0464617461948c166e756d70792e5f636f72652e6d756c74696172726179948c0c5f7265636f6e7374727563749493948c056e756d7079948c076e6461727261799493944b0085944301629487945294284b014b024d000c869468058c0564747970659493948c02753194898887945294284b038c017c944e4e4e4affffffff4affffffff4b00749462894200180000',
      '947494628c066c6162656c73945d94284b034b09658c0b62617463685f6c6162656c948c017894752e',
    ],
    5: [
      '800595a5180000000000007d94288c0464617461948c136e756d70792e5f636f72652e6e756d65726963948c0b5f66726f6d62756666657294939428960018000000000000',
      '948c056e756d7079948c0564747970659493948c02753194898887945294284b038c017c944e4e4e4affffffff4affffffff4b007494624b024d000c86948c014394749452948c066c6162656c73945d94284b034b09658c0b62617463685f6c6162656c948c017894752e',
    ],
  };
  const raw = new Uint8Array(2 * 3072);
  for (let i = 0; i < raw.length; i++) raw[i] = (i * 31 + 7) % 256;
  for (const p of [4, 5]) {
    it(`protocol ${p}: planar rows become NHWC`, () => {
      const bytes = new Uint8Array([...hex(parts[p][0]), ...raw, ...hex(parts[p][1])]);
      const s = parseCifarPickleBatch(bytes, { name: `re-save-p${p}` });
      expect(s.shape).toEqual([2, 32, 32, 3]);
      expect(Array.from(s.labels)).toEqual([3, 9]);
      // NHWC[i, y, x, c] = row_i[c * 1024 + y * 32 + x]
      for (const [i, y, x, c] of [
        [0, 0, 0, 0],
        [0, 0, 0, 2],
        [1, 5, 7, 1],
        [1, 31, 31, 2],
      ]) {
        const want = ((i * 3072 + c * 1024 + y * 32 + x) * 31 + 7) % 256;
        expect(s.images[((i * 32 + y) * 32 + x) * 3 + c]).toBe(want);
      }
    });
  }

  it('labels out of range → error naming the file and the entry', () => {
    const bytes = new Uint8Array([...hex(parts[4][0]), ...raw, ...hex(parts[4][1])]);
    // Change label 9 (BININT1 0x4b 0x09) into 10.
    const at = bytes.length - hex(parts[4][1]).length + hex(parts[4][1]).indexOf(0x09, 10);
    expect(bytes[at]).toBe(9);
    bytes[at] = 10;
    expect(() => parseCifarPickleBatch(bytes, { name: 'bad_labels' })).toThrow(
      /bad_labels: label out of range in 'labels'\[1\]: 10 \(expected 0\.\.9\)/,
    );
  });
});
