/** One file of a tar archive, as reported by {@link TarParser}. */
export interface TarEntryHeader {
  /** Full path inside the archive (ustar prefix, GNU long names and pax `path` applied). */
  name: string;
  /** Size in bytes of the file's data. */
  size: number;
  /** Entry type: 'file', 'directory' or 'other' (links, devices...). */
  type: 'file' | 'directory' | 'other';
}

/**
 * What {@link TarParser} does with a file entry: return true to receive its bytes in `onFile`, false to skip them
 * (skipped data is never buffered).
 */
export type TarEntryFilter = (header: TarEntryHeader) => boolean;

const BLOCK = 512;

function readString(block: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && block[end] !== 0) end++;
  let s = '';
  for (let i = off; i < end; i++) s += String.fromCharCode(block[i]);
  return s;
}

function readOctal(block: Uint8Array, off: number, len: number, archive: string, field: string): number {
  if (block[off] & 0x80) {
    // GNU base-256 encoding for large sizes.
    let v = 0;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + block[i];
    return v;
  }
  const s = readString(block, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`${archive}: not a tar archive or corrupt tar header: ${field} field '${s}' is not octal`);
  return parseInt(s, 8);
}

function utf8(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/**
 * A streaming (push) tar reader: feed it the archive in chunks of any size with {@link TarParser.push}, and it
 * reports each file. Only the files that `filter` accepts are buffered, so memory stays near their size. Handles
 * ustar (with prefix), GNU long names (`L`), pax extended headers (`x`, `g`), and verifies header checksums.
 * Browser-safe (works on Uint8Array chunks).
 *
 * @example
 * ```ts
 * const files = new Map<string, Uint8Array>();
 * const parser = new TarParser((h) => h.name.endsWith('.bin'), (h, data) => files.set(h.name, data));
 * parser.push(tarBytes);
 * parser.end();
 * ```
 */
export class TarParser {
  private header = new Uint8Array(BLOCK);
  private headerFill = 0;
  /** Bytes still to consume for the current entry's data (+ padding). */
  private remaining = 0;
  private padding = 0;
  private current: TarEntryHeader | null = null;
  private buffer: Uint8Array | null = null;
  private bufferFill = 0;
  private meta: Uint8Array | null = null;
  private metaKind: 'L' | 'x' | 'g' | null = null;
  private pendingName: string | null = null;
  private ended = false;
  private sawEnd = false;
  private entries = 0;

  /**
   * @param filter Which file entries to collect.
   * @param onFile Receives each collected file with its complete bytes.
   * @param archiveName Name used in error messages.
   */
  constructor(
    private readonly filter: TarEntryFilter,
    private readonly onFile: (header: TarEntryHeader, data: Uint8Array) => void,
    private readonly archiveName = 'tar archive',
  ) {}

  /** Feeds the next chunk of the archive. */
  push(chunk: Uint8Array): void {
    if (this.ended) throw new Error(`${this.archiveName}: push() after end()`);
    let pos = 0;
    while (pos < chunk.length && !this.sawEnd) {
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, chunk.length - pos);
        const dataLeft = this.remaining - this.padding;
        const dataTake = Math.max(0, Math.min(take, dataLeft));
        if (dataTake > 0) {
          const target = this.metaKind != null ? this.meta : this.buffer;
          if (target != null) target.set(chunk.subarray(pos, pos + dataTake), this.bufferFill);
          this.bufferFill += dataTake;
        }
        this.remaining -= take;
        pos += take;
        if (this.remaining === 0) this.finishEntry();
        continue;
      }
      const take = Math.min(BLOCK - this.headerFill, chunk.length - pos);
      this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
      this.headerFill += take;
      pos += take;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.readHeader();
      }
    }
  }

  /** Signals the end of the archive; throws if it stopped in the middle of an entry. */
  end(): void {
    this.ended = true;
    if (this.remaining > 0 || this.headerFill > 0) {
      throw new Error(
        `${this.archiveName}: truncated tar archive` + (this.current != null ? ` (inside '${this.current.name}')` : ''),
      );
    }
    if (this.entries === 0 && !this.sawEnd) throw new Error(`${this.archiveName}: not a tar archive (empty)`);
  }

  private readHeader(): void {
    const h = this.header;
    let allZero = true;
    for (let i = 0; i < BLOCK; i++) {
      if (h[i] !== 0) {
        allZero = false;
        break;
      }
    }
    if (allZero) {
      this.sawEnd = true;
      return;
    }
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    const stored = readOctal(h, 148, 8, this.archiveName, 'checksum');
    if (stored !== sum) {
      throw new Error(
        `${this.archiveName}: not a tar archive or corrupt tar header (checksum ${stored} != computed ${sum})`,
      );
    }
    this.entries++;
    const size = readOctal(h, 124, 12, this.archiveName, 'size');
    const typeflag = String.fromCharCode(h[156] || 48);
    let name = readString(h, 0, 100);
    const magic = readString(h, 257, 6);
    if (magic.startsWith('ustar')) {
      const prefix = readString(h, 345, 155);
      if (prefix && magic === 'ustar') name = `${prefix}/${name}`;
    }
    if (this.pendingName != null) {
      name = this.pendingName;
      this.pendingName = null;
    }
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.remaining = size + this.padding;
    this.bufferFill = 0;
    if (typeflag === 'L' || typeflag === 'x' || typeflag === 'g') {
      this.metaKind = typeflag;
      this.meta = new Uint8Array(size);
      this.current = { name, size, type: 'other' };
    } else {
      const type = typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : 'other';
      this.current = { name, size, type };
      this.metaKind = null;
      this.buffer = type === 'file' && this.filter(this.current) ? new Uint8Array(size) : null;
    }
    if (this.remaining === 0) this.finishEntry();
  }

  private finishEntry(): void {
    const cur = this.current;
    if (this.metaKind != null) {
      const meta = this.meta as Uint8Array;
      if (this.metaKind === 'L') {
        this.pendingName = readString(meta, 0, meta.length);
      } else if (this.metaKind === 'x') {
        const path = parsePaxPath(meta);
        if (path != null) this.pendingName = path;
      }
      this.meta = null;
      this.metaKind = null;
    } else if (this.buffer != null && cur != null) {
      const data = this.buffer;
      this.buffer = null;
      this.onFile(cur, data);
    }
    this.current = null;
    this.padding = 0;
  }
}

function parsePaxPath(meta: Uint8Array): string | null {
  // Records: "<len> <key>=<value>\n".
  let pos = 0;
  let path: string | null = null;
  while (pos < meta.length) {
    let sp = pos;
    while (sp < meta.length && meta[sp] !== 0x20) sp++;
    const len = parseInt(utf8(meta.subarray(pos, sp)), 10);
    if (!Number.isFinite(len) || len <= 0) break;
    const rec = utf8(meta.subarray(sp + 1, pos + len - 1));
    const eq = rec.indexOf('=');
    if (eq > 0 && rec.slice(0, eq) === 'path') path = rec.slice(eq + 1);
    pos += len;
  }
  return path;
}

/**
 * Reads the files of an in-memory tar archive whose names `filter` accepts.
 *
 * @returns A map from each accepted file's path to its bytes.
 */
export function readTar(
  bytes: Uint8Array,
  filter: TarEntryFilter = () => true,
  archiveName = 'tar archive',
): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const parser = new TarParser(filter, (h, d) => files.set(h.name, d), archiveName);
  parser.push(bytes);
  parser.end();
  return files;
}
