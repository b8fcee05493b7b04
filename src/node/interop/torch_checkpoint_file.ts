import { promises as fs } from 'fs';
import {
  type CheckpointTensors,
  type ReadCheckpointOptions,
  type ReadTorchCheckpointOptions,
  checkpointFormat,
  readTorchCheckpoint,
} from 'vit-tfjs';
import { readSafetensorsFile } from './safetensors_file';

/**
 * Reads a PyTorch checkpoint file written by `torch.save` (`.pth`, `.pt`, `.bin`), as `readTorchCheckpoint` does
 * from bytes; error messages name the file.
 *
 * @example
 * ```ts
 * const tensors = await readTorchCheckpointFile('vit_b_16-c867db91.pth');
 * ```
 *
 * @category Interop
 */
export async function readTorchCheckpointFile(file: string, options: ReadTorchCheckpointOptions = {}): Promise<CheckpointTensors> {
  const bytes = new Uint8Array(await fs.readFile(file));
  return readTorchCheckpoint(bytes, { ...options, name: options.name ?? file });
}

/**
 * Reads a checkpoint file of either format, told apart by its first bytes (`checkpointFormat`): safetensors through
 * {@link readSafetensorsFile} (header first, then each tensor), PyTorch files through {@link readTorchCheckpointFile}.
 *
 * @example
 * ```ts
 * const tensors = await readCheckpointFile(process.argv[2]); // .pth, .pt, .bin or .safetensors
 * ```
 *
 * @category Interop
 */
export async function readCheckpointFile(file: string, options: ReadCheckpointOptions = {}): Promise<CheckpointTensors> {
  const name = options.name ?? file;
  const head = new Uint8Array(16);
  const handle = await fs.open(file, 'r');
  let n: number;
  try {
    n = (await handle.read(head, 0, 16, 0)).bytesRead;
  } finally {
    await handle.close();
  }
  const format = checkpointFormat(head.subarray(0, n));
  if (format === 'safetensors') {
    return readSafetensorsFile(file, { name, maxHeaderBytes: options.maxHeaderBytes, skipUnsupportedDtypes: options.skipUnsupportedDtypes });
  }
  if (format === 'torch') return readTorchCheckpointFile(file, { ...options, name });
  throw new Error(
    `${name}: not a checkpoint: neither a PyTorch file (a zip archive starting with 'PK', or a pickle starting with ` +
      "byte 0x80) nor a safetensors file (an 8-byte header length, then '{')",
  );
}
