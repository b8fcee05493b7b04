import { gunzipSync } from 'fflate';
import { crc32 } from './crc32';

/**
 * True when `bytes` starts with the gzip magic number (1f 8b).
 *
 * @category Data
 */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Default cap on the decompressed size in {@link gunzip}: 1 GiB.
 *
 * @category Data
 */
export const GUNZIP_MAX_OUTPUT_BYTES = 1 << 30;

/** Most bytes DEFLATE can expand one compressed byte into (its maximal ratio is 1032:1). */
const DEFLATE_MAX_RATIO = 1032;

/**
 * Options of {@link gunzip}.
 *
 * @category Data
 */
export interface GunzipOptions {
  /** Largest decompressed size accepted (default {@link GUNZIP_MAX_OUTPUT_BYTES}). */
  maxOutputBytes?: number;
}

/**
 * Decompresses gzip bytes (browser-safe, via fflate) and verifies the gzip trailer (CRC-32 and size of the single
 * member). Throws an error naming `name` when the data is not gzip, or is corrupt or truncated.
 *
 * Limits, for untrusted data: the size the trailer declares is checked before anything is allocated, against
 * `options.maxOutputBytes` and against what DEFLATE can produce from the input (1032 bytes per compressed byte);
 * output is written into exactly that many bytes, never more, so memory is the output size plus a constant and
 * time is linear in the input size.
 *
 * @category Data
 */
export function gunzip(bytes: Uint8Array, name = 'gzip data', options: GunzipOptions = {}): Uint8Array {
  const max = options.maxOutputBytes ?? GUNZIP_MAX_OUTPUT_BYTES;
  if (!isGzip(bytes)) throw new Error(`${name}: not gzip data (bad magic number; expected bytes 1f 8b)`);
  if (bytes.length < 18) throw new Error(`${name}: corrupt gzip data: truncated (${bytes.length} bytes, expected at least 18)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const wantCrc = view.getUint32(bytes.length - 8, true);
  const wantSize = view.getUint32(bytes.length - 4, true);
  if (wantSize > max) {
    throw new Error(
      `${name}: gzip trailer declares ${wantSize} bytes uncompressed, more than the limit of ${max} bytes ` +
        `(options.maxOutputBytes)`,
    );
  }
  if (wantSize > bytes.length * DEFLATE_MAX_RATIO) {
    throw new Error(
      `${name}: corrupt gzip data: trailer declares ${wantSize} bytes, more than ${bytes.length} compressed bytes ` +
        `can hold (truncated or not a single gzip member)`,
    );
  }
  let out: Uint8Array;
  try {
    // Into a buffer of exactly the declared size: fflate never grows a buffer it was given, so a lying trailer
    // cannot make it allocate more; the CRC-32 and length check below catch the mismatch.
    out = gunzipSync(bytes, { out: new Uint8Array(wantSize) });
  } catch (err) {
    throw new Error(`${name}: corrupt gzip data: ${(err as Error).message}`);
  }
  if (out.length !== wantSize || crc32(out) !== wantCrc) {
    throw new Error(`${name}: corrupt gzip data: CRC-32 or length check failed (truncated or corrupt)`);
  }
  return out;
}
