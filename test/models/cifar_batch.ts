/**
 * Test helper: the first records of the first CIFAR-10 binary batch in ../shared/datasets/cifar-10-binary.tar.gz,
 * read by streaming the archive through zlib and walking the tar headers (stops as soon as it has enough bytes).
 */
import { createReadStream, existsSync } from 'fs';
import * as path from 'path';
import { createGunzip } from 'zlib';

export const CIFAR_ARCHIVE = path.resolve(__dirname, '../../../shared/datasets/cifar-10-binary.tar.gz');
const RECORD = 1 + 32 * 32 * 3;

export function cifarAvailable(): boolean {
  return existsSync(CIFAR_ARCHIVE);
}

/** `count` images as float32 HWC values in [0, 255] plus their labels, from the first `*_batch*.bin` in the archive. */
export async function readCifarBatch(count: number): Promise<{ images: Float32Array; labels: Int32Array; file: string }> {
  const stream = createReadStream(CIFAR_ARCHIVE).pipe(createGunzip());
  let buffered = Buffer.alloc(0);
  let file = '';
  let dataStart = -1;
  let offset = 0; // position of the next tar header within `buffered`
  const need = count * RECORD;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    buffered = Buffer.concat([buffered, chunk]);
    while (dataStart < 0 && buffered.length >= offset + 512) {
      const header = buffered.subarray(offset, offset + 512);
      const name = header.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
      if (name === '') throw new Error('end of the CIFAR archive before a batch file');
      const size = parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
      if (/_batch(_\d+)?\.bin$/.test(name)) {
        file = name;
        dataStart = offset + 512;
      } else {
        offset += 512 + Math.ceil(size / 512) * 512;
      }
    }
    if (dataStart >= 0 && buffered.length >= dataStart + need) break;
  }
  stream.destroy();
  if (dataStart < 0 || buffered.length < dataStart + need) throw new Error(`could not read ${count} CIFAR records`);
  const images = new Float32Array(count * 3072);
  const labels = new Int32Array(count);
  for (let n = 0; n < count; n++) {
    const rec = dataStart + n * RECORD;
    labels[n] = buffered[rec];
    // The record holds three 32×32 planes (R, G, B); the model takes HWC.
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) images[n * 3072 + p * 3 + c] = buffered[rec + 1 + c * 1024 + p];
    }
  }
  return { images, labels, file };
}
