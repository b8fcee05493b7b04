import { promises as fs } from 'fs';
import type * as tf from '@tensorflow/tfjs-core';
import {
  type CheckpointTensors,
  type ReadSafetensorsOptions,
  type SafetensorsHeader,
  CHECKPOINT_DTYPES,
  SAFETENSORS_MAX_HEADER_BYTES,
  decodeCheckpointTensor,
  readSafetensorsHeader,
  writeSafetensors,
} from 'vit-tfjs';
import { writeFileAtomic } from '../atomic_write';

/** Reads exactly `length` bytes at `position` of an open file, or throws naming the file. */
async function readExactly(handle: fs.FileHandle, into: Uint8Array, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, into.length - done, position + done);
    if (bytesRead === 0) throw new Error(`${file}: truncated: ended at offset ${position + done}, expected ${position + into.length} bytes`);
    done += bytesRead;
  }
}

async function readHeaderOf(handle: fs.FileHandle, file: string, maxHeaderBytes: number | undefined): Promise<SafetensorsHeader> {
  const size = (await handle.stat()).size;
  const prefix = new Uint8Array(Math.min(8, size));
  await readExactly(handle, prefix, 0, file);
  // Validates the length field against the file size and the limit before the header is read.
  if (size >= 8) {
    const n = new DataView(prefix.buffer).getBigUint64(0, true);
    const max = BigInt(maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES);
    if (n <= BigInt(size - 8) && n <= max) {
      const head = new Uint8Array(8 + Number(n));
      head.set(prefix);
      await readExactly(handle, head.subarray(8), 8, file);
      return readSafetensorsHeader(head, { name: file, maxHeaderBytes, fileBytes: size });
    }
  }
  return readSafetensorsHeader(prefix, { name: file, maxHeaderBytes, fileBytes: size }); // throws the reason
}

/**
 * Reads the header of a safetensors file (names, dtypes, shapes, metadata) without reading its tensors.
 *
 * @example
 * ```ts
 * const { tensors } = await readSafetensorsFileHeader('model.safetensors');
 * console.log(tensors.length, tensors[0].name, tensors[0].shape);
 * ```
 *
 * @category Interop
 */
export async function readSafetensorsFileHeader(
  file: string,
  options: Pick<ReadSafetensorsOptions, 'maxHeaderBytes'> = {},
): Promise<SafetensorsHeader> {
  const handle = await fs.open(file, 'r');
  try {
    return await readHeaderOf(handle, file, options.maxHeaderBytes);
  } finally {
    await handle.close();
  }
}

/**
 * Reads a safetensors file from disk, as `readSafetensors` does from bytes: the header first (validated before any
 * tensor is read), then each selected tensor straight from its offset, so the file is read once and memory holds the
 * float32 results plus one tensor's raw bytes.
 *
 * @throws Error naming the file and the problem (see `readSafetensorsHeader`), or the tensor and its dtype.
 *
 * @example
 * ```ts
 * const tensors = await readSafetensorsFile('vit_b_16.safetensors');
 * ```
 *
 * @category Interop
 */
export async function readSafetensorsFile(file: string, options: ReadSafetensorsOptions = {}): Promise<CheckpointTensors> {
  const handle = await fs.open(file, 'r');
  try {
    const header = await readHeaderOf(handle, file, options.maxHeaderBytes);
    const name = options.name ?? file;
    const out: CheckpointTensors = {};
    let scratch = new Uint8Array(0);
    for (const e of header.tensors) {
      if (options.select != null && !options.select(e.name)) continue;
      if (!CHECKPOINT_DTYPES.includes(e.dtype)) {
        if (options.skipUnsupportedDtypes === true) continue;
        throw new Error(
          `${name}: tensor '${e.name}' has dtype ${e.dtype}, which is not supported (supported: ` +
            `${CHECKPOINT_DTYPES.join(', ')}; options.skipUnsupportedDtypes leaves such tensors out)`,
        );
      }
      const [begin, end] = e.dataOffsets;
      if (scratch.length < end - begin) scratch = new Uint8Array(end - begin);
      const raw = scratch.subarray(0, end - begin);
      await readExactly(handle, raw, header.dataStart + begin, name);
      Object.defineProperty(out, e.name, {
        value: decodeCheckpointTensor(e.dtype, e.shape, raw),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  } finally {
    await handle.close();
  }
}

/**
 * Writes tensors as a safetensors file (F32, laid out as the Python library does; see `writeSafetensors`),
 * atomically: readers see the old file or the whole new one.
 *
 * @example
 * ```ts
 * await writeSafetensorsFile('out/model.safetensors', tensors, { format: 'pt' });
 * ```
 *
 * @category Interop
 */
export async function writeSafetensorsFile(
  file: string,
  tensors: CheckpointTensors | Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
): Promise<void> {
  await writeFileAtomic(file, writeSafetensors(tensors, metadata));
}
