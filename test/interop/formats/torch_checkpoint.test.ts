import { readFileSync } from 'fs';
import * as path from 'path';
import { type CheckpointTensors, readTorchCheckpoint } from '../../../src';

// Fixtures written by scripts/interop/make_format_fixtures.py with Debian's python3-torch (1.13); expected.json holds
// the values PyTorch itself reports for each tensor (as float32, row-major).
const DIR = path.join(__dirname, '../../fixtures/interop/formats');
const read = (f: string): Uint8Array => new Uint8Array(readFileSync(path.join(DIR, f)));
type Expected = Record<string, { shape: number[]; dtype: string; values: (number | string)[] }>;
const EXPECTED = (JSON.parse(readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as { fixtures: Record<string, Expected> }).fixtures;

/** Compares decoded tensors with PyTorch's values exactly (every F16/BF16/F64 value is checked after rounding to float32). */
function expectTensors(got: CheckpointTensors, want: Expected, names = Object.keys(want)): void {
  expect(Object.keys(got)).toEqual(names);
  for (const k of names) {
    expect([k, got[k].shape, got[k].sourceDtype]).toEqual([k, want[k].shape, want[k].dtype]);
    // Non-finite values are the strings 'Infinity', '-Infinity', 'NaN' in the JSON.
    expect(Array.from(got[k].data)).toEqual(want[k].values.map((v) => Math.fround(Number(v))));
  }
}

describe('readTorchCheckpoint', () => {
  it("reads torch.save({'model': state_dict, 'optimizer': ..., ...}): finds the model, decodes views, dtypes", () => {
    const t = readTorchCheckpoint(read('nested.pt'), { name: 'nested.pt' });
    expectTensors(t, EXPECTED['nested.pt']);
    // Spot checks against hand-derived values, independent of the expected file:
    // arange(12).reshape(3, 4).t() has rows [0, 4, 8], [1, 5, 9], ...
    expect(t.transposed.shape).toEqual([4, 3]);
    expect(Array.from(t.transposed.data)).toEqual([0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
    expect(Array.from(t.half.data)).toEqual([1, -2, 0.333251953125, 65504, 2 ** -24, Infinity]);
    expect(t.scalar).toEqual({ shape: [], data: new Float32Array([2.5]), sourceDtype: 'F32' });
  });

  it('reads a deflated archive like a stored one', () => {
    expect(readTorchCheckpoint(read('deflated.pt'))).toEqual(readTorchCheckpoint(read('nested.pt')));
  });

  it('options.key picks another dict; dotted names reach nested dicts, integer keys included', () => {
    const t = readTorchCheckpoint(read('nested.pt'), { key: 'optimizer.state.0', skipUnsupportedDtypes: true });
    expectTensors(t, EXPECTED['nested.pt#optimizer.state.0'], ['exp_avg']);
    expect(() => readTorchCheckpoint(read('nested.pt'), { key: 'optimizer', name: 'n' })).toThrow(
      "n: tensor 'state.0.step' has dtype I64, which is not supported",
    );
    expect(() => readTorchCheckpoint(read('nested.pt'), { key: 'ema', name: 'n' })).toThrow("n: options.key 'ema': no key 'ema' in a dict");
    expect(() => readTorchCheckpoint(read('nested.pt'), { key: 'epoch', name: 'n' })).toThrow("n: no tensors under 'epoch' (found number)");
  });

  it("strips 'module.' when every name has it; int64 tensors are refused by name unless skipped", () => {
    const file = read('module_prefix.pt');
    expect(() => readTorchCheckpoint(file, { name: 'dp.pt' })).toThrow(
      "dp.pt: tensor '1.num_batches_tracked' has dtype I64, which is not supported (supported: F32, F16, BF16, F64",
    );
    const t = readTorchCheckpoint(file, { skipUnsupportedDtypes: true });
    const want = EXPECTED['module_prefix.pt'];
    expectTensors(
      t,
      { '0.weight': want['module.0.weight'], '0.bias': want['module.0.bias'] },
      ['0.weight', '0.bias'],
    );
    expect(Object.keys(readTorchCheckpoint(file, { skipUnsupportedDtypes: true, stripModulePrefix: false }))).toEqual([
      'module.0.weight',
      'module.0.bias',
    ]);
  });

  it('reads the legacy (PyTorch < 1.6) format: views, offsets, shared storage', () => {
    expectTensors(readTorchCheckpoint(read('legacy.pt'), { name: 'legacy.pt' }), EXPECTED['legacy.pt']);
  });

  it('refuses pickles that call os.system or eval, naming the global', () => {
    expect(() => readTorchCheckpoint(read('evil_system.pt'), { name: 'evil.pt' })).toThrow(
      /evil\.pt: archive\/data\.pkl: refusing global 'posix\.system' at offset \d+: only tensors, storages and plain data \(a state dict\) are allowed/,
    );
    // Protocol 2 (torch.save's) names builtins by their Python 2 module.
    expect(() => readTorchCheckpoint(read('evil_eval.pt'), { name: 'evil.pt' })).toThrow("refusing global '__builtin__.eval'");
  });

  describe('refuses corrupt files, naming the problem', () => {
    const nested = read('nested.pt');
    it('a truncated archive', () => {
      expect(() => readTorchCheckpoint(nested.subarray(0, nested.length - 30), { name: 'cut.pt' })).toThrow(
        'cut.pt: truncated or corrupt zip archive: no end-of-central-directory record at its end',
      );
      expect(() => readTorchCheckpoint(nested.subarray(0, 10), { name: 'cut.pt' })).toThrow('cut.pt: truncated or corrupt zip archive');
    });
    it('a storage record whose bytes are corrupt (CRC-32)', () => {
      const bad = nested.slice();
      // The first tensor bytes of archive/data/0 follow its local header; flip a byte there.
      const at = Buffer.from(bad).indexOf('archive/data/0') + 'archive/data/0'.length + 70;
      bad[at] ^= 0xff;
      expect(() => readTorchCheckpoint(bad, { name: 'bad.pt' })).toThrow(/bad\.pt: entry 'archive\/data\/\d+': CRC-32 check failed/);
    });
    it('something that is neither a zip nor a pickle', () => {
      expect(() => readTorchCheckpoint(new TextEncoder().encode('<html>404</html>'), { name: 'x.pt' })).toThrow(
        "x.pt: not a PyTorch checkpoint (expected a zip archive written by torch.save, starting with 'PK'",
      );
    });
    it('a zip without data.pkl', () => {
      // An empty zip: just the end-of-central-directory record.
      const empty = new Uint8Array(22);
      new DataView(empty.buffer).setUint32(0, 0x06054b50, true);
      expect(() => readTorchCheckpoint(empty, { name: 'e.zip' })).toThrow(
        "e.zip: not a PyTorch checkpoint: expected one '<archive>/data.pkl' in the zip, found 0",
      );
    });
    it('a plain pickle without the magic number', () => {
      // pickle.dumps({'a': 1}, protocol=2)
      const p = Uint8Array.from(Buffer.from('80027d710058010000006171014b01732e', 'hex'));
      expect(() => readTorchCheckpoint(p, { name: 'p.pkl' })).toThrow("p.pkl: not a PyTorch checkpoint: a pickle without the magic number");
    });
  });
});

describe('mutated checkpoints', () => {
  it('every truncation and byte flip of a real checkpoint either reads or throws an error naming the file', () => {
    // A small deterministic generator (xorshift32), so that a failure reproduces.
    let s = 17;
    const rnd = (n: number): number => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) % n;
    };
    for (const f of ['nested.pt', 'deflated.pt', 'legacy.pt']) {
      const good = read(f);
      for (let i = 0; i < 300; i++) {
        const bad = i % 3 === 0 ? good.subarray(0, rnd(good.length)) : good.slice();
        if (i % 3 !== 0) for (let k = 0; k <= rnd(4); k++) bad[rnd(bad.length)] = rnd(256);
        try {
          readTorchCheckpoint(bad, { name: 'm.pt', skipUnsupportedDtypes: true });
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          if (!(err as Error).message.startsWith('m.pt')) throw new Error(`${f} mutation ${i}: ${(err as Error).stack}`);
        }
      }
    }
  });
});
