import { createHash } from 'crypto';
import { execFileSync } from 'child_process';
import { existsSync, mkdtempSync, rmSync, truncateSync, unlinkSync, writeFileSync, readFileSync, mkdirSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import type { CifarDataset } from '../../src';
import { loadCifar10 } from '../../src/node';

const DATASETS = path.resolve(__dirname, '../../../shared/datasets');
const BINARY = path.join(DATASETS, 'cifar-10-binary.tar.gz');
const PYMINI = path.join(DATASETS, 'cifar-10-python-mini.tar.gz');
const CLASSES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

const sha256 = (a: Uint8Array): string => createHash('sha256').update(a).digest('hex');
const counts = (labels: Uint8Array): number[] => {
  const c = new Array(10).fill(0);
  for (const l of labels) c[l]++;
  return c;
};

const haveBinary = existsSync(BINARY);
const havePyMini = existsSync(PYMINI);
if (!haveBinary) console.warn(`SKIPPED: CIFAR-10 binary archive tests: ${BINARY} not found`);
if (!havePyMini) console.warn(`SKIPPED: CIFAR-10 python-mini tests: ${PYMINI} not found`);

(haveBinary ? describe : describe.skip)('loadCifar10: official binary archive (full)', () => {
  let tmp: string;
  let fromArchive: CifarDataset;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-cifar-'));
    fromArchive = await loadCifar10({ source: BINARY });
    execFileSync('tar', ['-xzf', BINARY, '-C', tmp]);
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('streams 50,000 train and 10,000 test images, 5,000 / 1,000 per class, with class names', () => {
    const { train, test, classNames } = fromArchive;
    expect(train.shape).toEqual([50000, 32, 32, 3]);
    expect(test.shape).toEqual([10000, 32, 32, 3]);
    expect(train.images).toBeInstanceOf(Uint8Array);
    expect(train.images.length).toBe(50000 * 3072);
    expect(test.images.length).toBe(10000 * 3072);
    expect(counts(train.labels)).toEqual(new Array(10).fill(5000));
    expect(counts(test.labels)).toEqual(new Array(10).fill(1000));
    expect(classNames).toEqual(CLASSES);
  });

  it('matches numpy: reference checksums and pixels', () => {
    // Computed on this machine with numpy 2.4.6 from the unpacked archive:
    //   a = np.fromfile(f, np.uint8).reshape(-1, 3073); x = a[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    //   concatenated over data_batch_1..5; hashlib.sha256(np.ascontiguousarray(x).tobytes()), same for labels a[:, 0].
    const { train, test } = fromArchive;
    expect(sha256(train.images)).toBe('2f395bce4b96079f256a5cc462f36da14ce04f347d69fcba152ede52d8e32e1c');
    expect(sha256(train.labels)).toBe('fa77be605bae189fa606ce2ee284a669f08e6d5db2d6177f26e29c988fce94ce');
    expect(sha256(test.images)).toBe('31f48efa5bf312f5759505a4fc5308fd72292b7223284c53914af464b28433e8');
    expect(sha256(test.labels)).toBe('69b81368f2e399cdf0074ad1b0dc43f239201d498982c5d0e5f0ee9b51e45383');
    expect(Array.from(train.images.subarray(0, 3))).toEqual([241, 242, 228]);
    const last = ((49999 * 32 + 31) * 32 + 31) * 3;
    expect(Array.from(train.images.subarray(last, last + 3))).toEqual([193, 190, 207]);
    expect(Array.from(test.labels.subarray(0, 10))).toEqual([3, 1, 2, 2, 0, 8, 4, 0, 3, 0]);
  });

  it('the unpacked directory (and its parent folder) gives identical arrays', async () => {
    for (const source of [tmp, path.join(tmp, 'cifar-10-batches-bin')]) {
      const d = await loadCifar10({ source });
      expect(d.classNames).toEqual(fromArchive.classNames);
      expect(d.train.shape).toEqual(fromArchive.train.shape);
      expect(Buffer.compare(d.train.images, fromArchive.train.images)).toBe(0);
      expect(Buffer.compare(d.train.labels, fromArchive.train.labels)).toBe(0);
      expect(Buffer.compare(d.test.images, fromArchive.test.images)).toBe(0);
      expect(Buffer.compare(d.test.labels, fromArchive.test.labels)).toBe(0);
    }
  });

  it('bad directories: missing batch file, truncated batch, wrong record size, labels out of range', async () => {
    const bad = path.join(tmp, 'bad', 'cifar-10-batches-bin');
    mkdirSync(bad, { recursive: true });
    const src = path.join(tmp, 'cifar-10-batches-bin');
    for (const f of ['batches.meta.txt', 'data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin', 'test_batch.bin']) {
      execFileSync('cp', [path.join(src, f), path.join(bad, f)]);
    }
    unlinkSync(path.join(bad, 'data_batch_3.bin'));
    await expect(loadCifar10({ source: bad })).rejects.toThrow(/data_batch_3\.bin: missing batch file/);
    execFileSync('cp', [path.join(src, 'data_batch_3.bin'), path.join(bad, 'data_batch_3.bin')]);

    truncateSync(path.join(bad, 'data_batch_2.bin'), 30730000 - 1000);
    await expect(loadCifar10({ source: bad })).rejects.toThrow(/data_batch_2\.bin: truncated batch: 30729000 bytes/);
    // 10,000 records of 3074 bytes: a CIFAR-100 file under a CIFAR-10 name.
    writeFileSync(path.join(bad, 'data_batch_2.bin'), new Uint8Array(10000 * 3074));
    await expect(loadCifar10({ source: bad })).rejects.toThrow(/data_batch_2\.bin: record size is 3074 bytes, not 3073/);
    const b2 = new Uint8Array(readFileSync(path.join(src, 'data_batch_2.bin')));
    b2[3073 * 17] = 12;
    writeFileSync(path.join(bad, 'data_batch_2.bin'), b2);
    await expect(loadCifar10({ source: bad })).rejects.toThrow(/data_batch_2\.bin: label out of range in record 17: 12/);
  });

  it('bad archives: corrupt gzip, tar without the expected folder, missing source', async () => {
    const corrupt = path.join(tmp, 'corrupt.tar.gz');
    const bytes = new Uint8Array(readFileSync(BINARY).subarray(0, 4 << 20));
    for (let i = 100000; i < 100400; i++) bytes[i] ^= 0x5a;
    writeFileSync(corrupt, bytes);
    await expect(loadCifar10({ source: corrupt })).rejects.toThrow(/corrupt\.tar\.gz: corrupt gzip data/);
    const other = path.join(tmp, 'other.tar.gz');
    execFileSync('tar', ['-czf', other, '-C', path.join(tmp, 'cifar-10-batches-bin'), 'batches.meta.txt']);
    await expect(loadCifar10({ source: other })).rejects.toThrow(
      /other\.tar\.gz: the archive holds neither cifar-10-batches-bin\/ nor cifar-10-batches-py\//,
    );
    await expect(loadCifar10({ source: path.join(tmp, 'nope.tar.gz') })).rejects.toThrow(/nope\.tar\.gz: CIFAR source not found/);
  });
});

(havePyMini ? describe : describe.skip)('loadCifar10: python layout (mini archive, 500 images per batch)', () => {
  // Reference values computed on this machine with Python 3 + numpy 2.4.6 from the unpacked mini archive:
  //   d = pickle.load(open(f, 'rb'), encoding='bytes'); x = d[b'data'].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
  //   (train: concatenated data_batch_1..5); sha256 of np.ascontiguousarray(x).tobytes() and of
  //   np.array(d[b'labels'], np.uint8).tobytes(); np.bincount(labels); x.sum().
  let tmp: string;
  let d: CifarDataset;
  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'vit-tfjs-cifar-py-'));
    d = await loadCifar10({ source: PYMINI });
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('decodes the pickles to what Python gives', () => {
    expect(d.classNames).toEqual(CLASSES);
    expect(d.train.shape).toEqual([2500, 32, 32, 3]);
    expect(d.test.shape).toEqual([500, 32, 32, 3]);
    expect(sha256(d.train.images)).toBe('2b7712010c8a1af7b04731072bc1b0c50c0e302c8eb29033494d2c97401bb2f7');
    expect(sha256(d.train.labels)).toBe('8d04643c35d1a9a94ebb5ece0b4f06f7c882b4a48f523ff2e255fcf1c82eb6c4');
    expect(sha256(d.test.images)).toBe('f19dd658f4156e1ae53fd7c59555bd812b4fb2fa342fab8bd457bbca630a3d6f');
    expect(sha256(d.test.labels)).toBe('55554a2898103d39f433acc18d8adc3cc8deb3ce13c75ac11112a931644220bf');
    expect(counts(d.train.labels)).toEqual([236, 279, 254, 242, 252, 278, 237, 261, 226, 235]);
    expect(counts(d.test.labels)).toEqual([46, 44, 53, 53, 48, 51, 53, 47, 51, 54]);
    let sum = 0;
    for (const v of d.test.images) sum += v;
    expect(sum).toBe(190123177);
    const at = ((1234 * 32 + 5) * 32 + 7) * 3;
    expect(Array.from(d.train.images.subarray(at, at + 3))).toEqual([0, 0, 2]);
    expect(d.train.labels[1234]).toBe(1);
  });

  it('the unpacked python directory gives the same arrays; bad pickles are named', async () => {
    execFileSync('tar', ['-xzf', PYMINI, '-C', tmp]);
    const dir = await loadCifar10({ source: path.join(tmp, 'cifar-10-batches-py') });
    expect(Buffer.compare(dir.train.images, d.train.images)).toBe(0);
    expect(Buffer.compare(dir.test.labels, d.test.labels)).toBe(0);
    const f = path.join(tmp, 'cifar-10-batches-py', 'data_batch_4');
    const bytes = new Uint8Array(readFileSync(f));
    // Replace the first GLOBAL ('numpy.core.multiarray _reconstruct') module name with another one of equal length.
    const s = Buffer.from(bytes).toString('latin1').replace('numpy.core.multiarray', 'subprocess.xxxxxxxxxx');
    writeFileSync(f, Buffer.from(s, 'latin1'));
    await expect(loadCifar10({ source: tmp })).rejects.toThrow(
      /data_batch_4: refusing global 'subprocess\.xxxxxxxxxx\._reconstruct'/,
    );
    bytes[2] = 0xf0; // an opcode outside the supported set right after PROTO 2
    writeFileSync(f, bytes);
    await expect(loadCifar10({ source: tmp })).rejects.toThrow(/data_batch_4: unsupported pickle opcode 0xf0 at offset 2/);
  });
});
