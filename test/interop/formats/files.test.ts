import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { checkpointFormat, checkpointTensor, readCheckpoint, readSafetensors, readSafetensorsHeader, readTorchCheckpoint } from '../../../src';
import {
  readCheckpointFile,
  readSafetensorsFile,
  readSafetensorsFileHeader,
  readTorchCheckpointFile,
  writeSafetensorsFile,
} from '../../../src/node';

const DIR = path.join(__dirname, '../../fixtures/interop/formats');
const read = (f: string): Uint8Array => new Uint8Array(fs.readFileSync(path.join(DIR, f)));
type Expected = Record<string, { shape: number[]; dtype: string; values: (number | string)[] }>;
const FIXTURES = (JSON.parse(fs.readFileSync(path.join(DIR, 'expected.json'), 'utf8')) as { fixtures: Record<string, unknown> }).fixtures;

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vit-formats-'));
});
afterAll(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

describe('safetensors written by the Python script from the specification', () => {
  const want = FIXTURES['spec.safetensors'] as Expected;
  it('reads every float tensor exactly; the int64 one is refused by name or skipped', () => {
    expect(() => readSafetensors(read('spec.safetensors'), { name: 'spec' })).toThrow("spec: tensor 'position_ids' has dtype I64");
    const t = readSafetensors(read('spec.safetensors'), { skipUnsupportedDtypes: true });
    // In the file's data order: the Python library sorts by dtype (largest first), then by name.
    const order = (FIXTURES['spec.safetensors#order'] as string[]).filter((k) => k !== 'position_ids');
    expect(Object.keys(t)).toEqual(order);
    for (const k of order) {
      expect([k, t[k].shape, t[k].sourceDtype]).toEqual([k, want[k].shape, want[k].dtype]);
      expect(Array.from(t[k].data)).toEqual(want[k].values.map((v) => Math.fround(Number(v))));
    }
    expect(Array.from(t['c.bf16'].data)).toEqual([1, -3.140625, 2 ** -10]);
    expect(readSafetensorsHeader(read('spec.safetensors')).metadata).toEqual({ format: 'pt', source: 'make_format_fixtures.py' });
  });

  it('readSafetensorsFile gives what readSafetensors gives; the header alone too', async () => {
    const file = path.join(DIR, 'spec.safetensors');
    expect(await readSafetensorsFile(file, { skipUnsupportedDtypes: true })).toEqual(
      readSafetensors(read('spec.safetensors'), { skipUnsupportedDtypes: true }),
    );
    expect(Object.keys(await readSafetensorsFile(file, { select: (n) => n.startsWith('a.') }))).toEqual(['a.half']);
    await expect(readSafetensorsFile(file)).rejects.toThrow(`${file}: tensor 'position_ids' has dtype I64`);
    expect(await readSafetensorsFileHeader(file)).toEqual(readSafetensorsHeader(read('spec.safetensors')));
  });
});

describe('safetensors files', () => {
  it('writeSafetensorsFile writes atomically what readSafetensorsFile reads back', async () => {
    const file = path.join(tmp, 'out.safetensors');
    const tensors = {
      'w': checkpointTensor([2, 3], new Float32Array([1, 2, 3, 4, 5, 6])),
      'b': checkpointTensor([3], new Float32Array([-1, 0.5, 1e-8])),
    };
    await writeSafetensorsFile(file, tensors, { format: 'pt' });
    expect(fs.readdirSync(tmp)).toEqual(['out.safetensors']); // no temporary file left
    const back = await readSafetensorsFile(file);
    expect(Object.keys(back)).toEqual(['b', 'w']);
    expect(back.w).toEqual({ ...tensors.w, sourceDtype: 'F32' });
    expect(Array.from(back.b.data)).toEqual(Array.from(tensors.b.data));
    expect((await readSafetensorsFileHeader(file)).metadata).toEqual({ format: 'pt' });
  });

  it('refuses truncated files and lying header lengths, naming the file, before reading tensors', async () => {
    const good = path.join(tmp, 'good.safetensors');
    await writeSafetensorsFile(good, { w: checkpointTensor([4], new Float32Array([1, 2, 3, 4])) });
    const bytes = fs.readFileSync(good);
    const cut = path.join(tmp, 'cut.safetensors');
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 4));
    await expect(readSafetensorsFile(cut)).rejects.toThrow(`${cut}: tensor 'w': data_offsets [0, 16] out of range: the data holds 12 bytes`);
    const lying = Buffer.from(bytes);
    lying.writeUInt32LE(1 << 30, 0);
    const liar = path.join(tmp, 'liar.safetensors');
    fs.writeFileSync(liar, lying);
    await expect(readSafetensorsFile(liar)).rejects.toThrow(`${liar}: not a safetensors file or truncated: header length 1073741824`);
    const tiny = path.join(tmp, 'tiny.safetensors');
    fs.writeFileSync(tiny, Buffer.from([1, 2, 3]));
    await expect(readSafetensorsFileHeader(tiny)).rejects.toThrow(`${tiny}: not a safetensors file: 3 bytes`);
    const big = path.join(tmp, 'bighead.safetensors');
    fs.writeFileSync(big, bytes);
    await expect(readSafetensorsFile(big, { maxHeaderBytes: 16 })).rejects.toThrow('exceeds the limit of 16 bytes (options.maxHeaderBytes)');
  });
});

describe('readCheckpoint / readCheckpointFile', () => {
  it('tell the formats apart by their first bytes', async () => {
    expect(checkpointFormat(read('nested.pt'))).toBe('torch');
    expect(checkpointFormat(read('legacy.pt'))).toBe('torch');
    expect(checkpointFormat(read('spec.safetensors'))).toBe('safetensors');
    expect(checkpointFormat(new TextEncoder().encode('hello world, not a checkpoint'))).toBeNull();
    expect(readCheckpoint(read('nested.pt'))).toEqual(readTorchCheckpoint(read('nested.pt')));
    expect(readCheckpoint(read('spec.safetensors'), { skipUnsupportedDtypes: true })).toEqual(
      readSafetensors(read('spec.safetensors'), { skipUnsupportedDtypes: true }),
    );
    expect(() => readCheckpoint(new Uint8Array(4), { name: 'z' })).toThrow('z: not a checkpoint: neither a PyTorch file');
    expect(await readCheckpointFile(path.join(DIR, 'legacy.pt'))).toEqual(readTorchCheckpoint(read('legacy.pt')));
    expect(await readCheckpointFile(path.join(DIR, 'spec.safetensors'), { skipUnsupportedDtypes: true })).toEqual(
      readSafetensors(read('spec.safetensors'), { skipUnsupportedDtypes: true }),
    );
    const file = path.join(DIR, 'evil_system.pt');
    await expect(readTorchCheckpointFile(file)).rejects.toThrow(`${file}: archive/data.pkl: refusing global 'posix.system'`);
    const junk = path.join(tmp, 'junk.bin');
    fs.writeFileSync(junk, 'not a checkpoint at all');
    await expect(readCheckpointFile(junk)).rejects.toThrow(`${junk}: not a checkpoint`);
  });
});
