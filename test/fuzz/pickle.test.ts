/**
 * Fuzzing the safe pickle reader (issue #16) with fast-check: byte mutations and truncations of valid pickles
 * (plain data and numpy arrays, protocols 2–5; a CIFAR python batch and meta file), and random opcode programs
 * (memo references, nesting, marks, globals). Every input must end in a value or an Error naming the file, within
 * the per-input budget of harness.ts. Budget: 1,600 inputs under `npm test` (about 5 s).
 */
import fc from 'fast-check';
import { PickleNdArray, parseCifarPickleBatch, parseCifarPickleMeta, readPickle } from '../../src';
import { BATCH_PICKLES, META_PICKLE, SMALL_PICKLES } from './fixtures';
import { checker, hexBytes, mutate, mutations, params, reportTried, runs, timeoutFor } from './harness';

afterAll(() => reportTried('pickle'));

/** Byte ranges of a batch pickle outside its pixel payload (a BINBYTES or BINUNICODE of 6,144+ bytes). */
function structureRanges(bytes: Uint8Array): [number, number][] {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 0; p + 5 < bytes.length; p++) {
    if (bytes[p] !== 0x42 && bytes[p] !== 0x58) continue;
    const len = v.getUint32(p + 1, true);
    if (len >= 6144 && p + 5 + len <= bytes.length) {
      return [
        [0, p + 5],
        [p + 5 + len, bytes.length],
      ];
    }
  }
  throw new Error('no pixel payload found');
}

describe('fuzz: readPickle', () => {
  const N = runs(500);
  it(
    `mutated plain-data pickles (protocols 2–5): ${N} inputs`,
    () => {
      const c = checker('readPickle (mutated plain data)', /^fuzz\.pkl: /);
      const bases = [2, 3, 4, 5].map((p) => hexBytes(SMALL_PICKLES[p]));
      // The unmutated inputs decode.
      for (const b of bases) {
        const v = readPickle(b, { name: 'fuzz.pkl' }) as Map<string, unknown>;
        expect(v.get('s')).toEqual(new Set([1, 2])); // protocol 2: set([1, 2]); 4 and 5: EMPTY_SET ADDITEMS
        expect(v.get('nest')).toEqual([[[1], [2]], new Map([['k', [3, 4]]])]);
      }
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 3 }), mutations(), (which, ms) => {
          c.check(() => readPickle(mutate(bases[which], ms), { name: 'fuzz.pkl' }));
        }),
        params(N),
      );
    },
    timeoutFor(N),
  );

  const P = runs(500);
  it(
    `random opcode programs (memo, nesting, marks, globals): ${P} inputs`,
    () => {
      const c = checker('readPickle (opcode programs)', /^prog\.pkl: /);
      const k = fc.integer({ min: 0, max: 7 });
      const token: fc.Arbitrary<number[]> = fc.oneof(
        fc.constantFrom<number[]>(
          [0x4e], // NONE
          [0x29], // EMPTY_TUPLE
          [0x85], // TUPLE1
          [0x86], // TUPLE2
          [0x87], // TUPLE3
          [0x28], // MARK
          [0x74], // TUPLE
          [0x5d], // EMPTY_LIST
          [0x61], // APPEND
          [0x65], // APPENDS
          [0x7d], // EMPTY_DICT
          [0x73], // SETITEM
          [0x75], // SETITEMS
          [0x8f], // EMPTY_SET
          [0x90], // ADDITEMS
          [0x94], // MEMOIZE
          [0x32], // DUP
          [0x30], // POP
          [0x31], // POP_MARK
          [0x88], // NEWTRUE
          [0x52], // REDUCE
          [0x62], // BUILD
          [0x8c, 1, 0x78], // SHORT_BINUNICODE 'x'
          [0x43, 2, 0x75, 0x31], // SHORT_BINBYTES b'u1'
          [0x63, ...Buffer.from('numpy\ndtype\n')], // GLOBAL numpy.dtype
          [0x63, ...Buffer.from('numpy.core.multiarray\n_reconstruct\n')],
          [0x63, ...Buffer.from('numpy\nndarray\n')],
          [0x63, ...Buffer.from('_codecs\nencode\n')],
          [0x63, ...Buffer.from('builtins\nbytearray\n')],
          [0x63, ...Buffer.from('os\nsystem\n')],
        ),
        k.map((i) => [0x4b, i]), // BININT1 i
        k.map((i) => [0x68, i]), // BINGET i
        k.map((i) => [0x71, i]), // BINPUT i
        fc.integer({ min: 0, max: 12 }).map((n) => [0x8a, n, ...new Array(n).fill(0xff)]), // LONG1 of n bytes
        fc.integer({ min: 0, max: 255 }).map((op) => [op]), // any byte
      );
      fc.assert(
        fc.property(fc.array(token, { maxLength: 300 }), fc.boolean(), (tokens, proto) => {
          const bytes = Uint8Array.from([...(proto ? [0x80, 4] : []), ...tokens.flat(), 0x2e]);
          c.check(() => readPickle(bytes, { name: 'prog.pkl' }));
        }),
        params(P),
      );
    },
    timeoutFor(P),
  );

  it('memo-bomb programs of any depth decode in time linear in their size', () => {
    const c = checker('readPickle (memo bombs)', /^bomb\.pkl: /);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 250 }), fc.integer({ min: 2, max: 3 }), (levels, width) => {
        const b: number[] = [0x80, 4, 0x4e, 0x94];
        for (let i = 0; i < levels; i++) {
          for (let j = 0; j < width; j++) b.push(0x6a, i & 0xff, (i >> 8) & 0xff, 0, 0); // LONG_BINGET i
          b.push(0x84 + width, 0x94);
        }
        b.push(0x2e);
        c.check(
          () => readPickle(Uint8Array.from(b), { name: 'bomb.pkl' }),
          (v) => expect(Array.isArray(v) && v.length === width).toBe(true),
        );
      }),
      params(runs(100)),
    );
  });
});

describe('fuzz: CIFAR python batches and meta files', () => {
  const N = runs(400);
  it(
    `mutated batch pickles (protocols 2 and 4): ${N} inputs`,
    () => {
      const c = checker('parseCifarPickleBatch (mutated)', /^data_batch_1: /);
      const bases = [2, 4].map((p) => hexBytes(BATCH_PICKLES[p]));
      const hot = bases.map(structureRanges);
      for (const b of bases) expect(parseCifarPickleBatch(b, { name: 'data_batch_1' }).labels).toEqual(Uint8Array.from([3, 9]));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: 1 }), mutations(), fc.boolean(), (which, ms, focus) => {
          const bytes = mutate(bases[which], ms, focus ? hot[which] : undefined);
          c.check(
            () => parseCifarPickleBatch(bytes, { name: 'data_batch_1' }),
            (s) => {
              expect(s.images.length).toBe(s.shape[0] * 3072);
              expect(s.labels.length).toBe(s.shape[0]);
              for (const l of s.labels) expect(l).toBeLessThan(10);
            },
          );
        }),
        params(N),
      );
    },
    timeoutFor(N),
  );

  it(`mutated meta pickles: ${runs(200)} inputs`, () => {
    const c = checker('parseCifarPickleMeta (mutated)', /^batches\.meta: /);
    const base = hexBytes(META_PICKLE);
    expect(parseCifarPickleMeta(base, { name: 'batches.meta' }).classNames).toHaveLength(10);
    fc.assert(
      fc.property(mutations(), (ms) => {
        c.check(() => parseCifarPickleMeta(mutate(base, ms), { name: 'batches.meta' }));
      }),
      params(runs(200)),
    );
  });
});

void PickleNdArray;
