import { gunzipSync } from 'fflate';
import { crc32 } from './crc32';

/** True when `bytes` starts with the gzip magic number (1f 8b). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decompresses gzip bytes (browser-safe, via fflate) and verifies the gzip trailer (CRC-32 and size of the single
 * member). Throws an error naming `name` when the data is not gzip, or is corrupt or truncated.
 */
export function gunzip(bytes: Uint8Array, name = 'gzip data'): Uint8Array {
  if (!isGzip(bytes)) throw new Error(`${name}: not gzip data (bad magic number)`);
  if (bytes.length < 18) throw new Error(`${name}: corrupt gzip data: truncated`);
  let out: Uint8Array;
  try {
    out = gunzipSync(bytes);
  } catch (err) {
    throw new Error(`${name}: corrupt gzip data: ${(err as Error).message}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const wantCrc = view.getUint32(bytes.length - 8, true);
  const wantSize = view.getUint32(bytes.length - 4, true);
  if ((out.length >>> 0) !== wantSize || crc32(out) !== wantCrc) {
    throw new Error(`${name}: corrupt gzip data: CRC-32 or length check failed`);
  }
  return out;
}
