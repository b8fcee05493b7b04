/**
 * A minimal, bounded zip reader for archives held in memory (what `torch.save` writes): the central directory,
 * zip64 sizes and offsets, stored and deflated entries, CRC-32 checked. Browser-safe. Internal: the checkpoint
 * reader's building block.
 *
 * Limits, for untrusted input: every offset and size is checked against the archive before use; the central
 * directory must lie inside the archive, so the number of entries is bounded by its size; a deflated entry is
 * inflated into exactly its declared size, which must be possible from its compressed size (1032:1 at most).
 */
import { inflateSync } from 'fflate';
import { crc32 } from '../data/crc32';

/** One file of a zip archive. @internal */
export interface ZipEntry {
  /** Path inside the archive. */
  name: string;
  /** 0 (stored) or 8 (deflate); others are refused when read. */
  method: number;
  /** General-purpose flags (bit 0: encrypted). */
  flags: number;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Offset of the entry's local header. */
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const EOCD64_LOCATOR_SIG = 0x07064b50;
const EOCD64_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;
const DEFLATE_MAX_RATIO = 1032;

/** True when `bytes` starts like a zip archive ('PK\x03\x04', or 'PK\x05\x06' for an empty one). @internal */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

function u64(view: DataView, at: number, fail: (m: string) => never, what: string): number {
  const v = view.getBigUint64(at, true);
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`${what} ${v} at offset ${at} is too large`);
  return Number(v);
}

/**
 * Lists the entries of a zip archive from its central directory (zip64 included).
 *
 * @throws Error naming `name` and the offset for a truncated or corrupt archive. @internal
 */
export function readZipDirectory(bytes: Uint8Array, name: string): ZipEntry[] {
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = bytes.length;
  // The end-of-central-directory record: 22 bytes plus a comment of up to 65,535 bytes, at the end.
  let eocd = -1;
  for (let i = len - 22; i >= Math.max(0, len - 22 - 65535); i--) {
    if (view.getUint32(i, true) === EOCD_SIG && i + 22 + view.getUint16(i + 20, true) === len) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) fail('truncated or corrupt zip archive: no end-of-central-directory record at its end');
  let count = view.getUint16(eocd + 10, true);
  let cdSize = view.getUint32(eocd + 12, true);
  let cdOffset = view.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || view.getUint32(loc, true) !== EOCD64_LOCATOR_SIG) fail(`corrupt zip64 archive: no zip64 locator before offset ${eocd}`);
    const at = u64(view, loc + 8, fail, 'zip64 end record offset');
    if (at + 56 > loc || view.getUint32(at, true) !== EOCD64_SIG) fail(`corrupt zip64 archive: no zip64 end record at offset ${at}`);
    count = u64(view, at + 32, fail, 'entry count');
    cdSize = u64(view, at + 40, fail, 'central directory size');
    cdOffset = u64(view, at + 48, fail, 'central directory offset');
  }
  if (cdOffset + cdSize > eocd) {
    fail(`truncated or corrupt zip archive: central directory at offset ${cdOffset} (${cdSize} bytes) runs past offset ${eocd}`);
  }
  if (count * 46 > cdSize) fail(`corrupt zip archive: ${count} entries cannot fit in a central directory of ${cdSize} bytes`);
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  const end = cdOffset + cdSize;
  for (let k = 0; k < count; k++) {
    if (p + 46 > end || view.getUint32(p, true) !== CENTRAL_SIG) fail(`corrupt zip archive: bad central directory entry at offset ${p}`);
    const flags = view.getUint16(p + 8, true);
    const method = view.getUint16(p + 10, true);
    const crc = view.getUint32(p + 16, true);
    let compressedSize = view.getUint32(p + 20, true);
    let size = view.getUint32(p + 24, true);
    const nameLen = view.getUint16(p + 28, true);
    const extraLen = view.getUint16(p + 30, true);
    const commentLen = view.getUint16(p + 32, true);
    let localHeaderOffset = view.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > end) fail(`corrupt zip archive: central directory entry at offset ${p} runs past the directory`);
    const entryName = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64 extended information: the 64-bit values of the fields set to 0xffffffff, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = view.getUint16(x, true);
      const sz = view.getUint16(x + 2, true);
      if (x + 4 + sz > xEnd) fail(`corrupt zip archive: extra field of '${entryName}' runs past its end (offset ${x})`);
      if (id === 0x0001) {
        let q = x + 4;
        const next = (what: string): number => {
          if (q + 8 > x + 4 + sz) fail(`corrupt zip64 extra field of '${entryName}' at offset ${x}: no ${what}`);
          const v = u64(view, q, fail, what);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = next('size');
        if (compressedSize === 0xffffffff) compressedSize = next('compressed size');
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next('local header offset');
      }
      x += 4 + sz;
    }
    entries.push({ name: entryName, method, flags, crc32: crc, compressedSize, size, localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/**
 * The bytes of one entry: a view into `bytes` when stored, a new array when deflated; CRC-32 checked.
 *
 * @throws Error naming the archive and the entry when it is encrypted, compressed otherwise than by deflate,
 * truncated or corrupt. @internal
 */
export function readZipEntry(bytes: Uint8Array, entry: ZipEntry, name: string): Uint8Array {
  const fail = (msg: string): never => {
    throw new Error(`${name}: entry '${entry.name}': ${msg}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  if (entry.flags & 1) fail('encrypted zip entries are not supported');
  if (at + 30 > bytes.length || view.getUint32(at, true) !== LOCAL_SIG) fail(`truncated or corrupt zip archive: no local header at offset ${at}`);
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  if (start + entry.compressedSize > bytes.length) {
    fail(`truncated zip archive: ${entry.compressedSize} bytes at offset ${start} run past its end (${bytes.length} bytes)`);
  }
  const raw = bytes.subarray(start, start + entry.compressedSize);
  let out: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) fail(`stored entry declares ${entry.compressedSize} bytes and ${entry.size} uncompressed`);
    out = raw;
  } else if (entry.method === 8) {
    if (entry.size > Math.max(raw.length, 1) * DEFLATE_MAX_RATIO) {
      fail(`declares ${entry.size} bytes uncompressed, more than ${raw.length} deflated bytes can hold`);
    }
    try {
      out = inflateSync(raw, { out: new Uint8Array(entry.size) });
    } catch (err) {
      return fail(`corrupt deflate data: ${(err as Error).message}`);
    }
    if (out.length !== entry.size) fail(`corrupt deflate data: ${out.length} bytes, expected ${entry.size}`);
  } else {
    return fail(`compression method ${entry.method} is not supported (expected 0, stored, or 8, deflate)`);
  }
  if (crc32(out) !== entry.crc32) fail('CRC-32 check failed (corrupt archive)');
  return out;
}
