/**
 * One file of a tar archive, as reported by {@link TarParser}.
 *
 * @category Data
 */
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
 *
 * @category Data
 */
export type TarEntryFilter = (header: TarEntryHeader) => boolean;

const BLOCK = 512;

/**
 * Largest GNU long-name or pax header entry {@link TarParser} reads (1 MiB); real ones are a few hundred bytes.
 *
 * @category Data
 */
export const TAR_MAX_META_BYTES = 1 << 20;

/**
 * Options of {@link TarParser} and {@link readTar}.
 *
 * @category Data
 */
export interface TarParserOptions {
  /**
   * Largest file entry (its size as declared in its header) that may be collected; a larger one is refused, naming
   * it, before anything is allocated. Default: no limit beyond what arrives (see {@link TarParser}).
   */
  maxEntryBytes?: number;
  /**
   * Total archive size, when known (an archive held in memory): an entry whose header declares more data than the
   * archive holds is refused as truncated before anything is allocated.
   */
  totalBytes?: number;
}

function readString(block: Uint8Array, off: number, len: number): string {
  let end = off;
  while (end < off + len && block[end] !== 0) end++;
  let s = '';
  for (let i = off; i < end; i++) s += String.fromCharCode(block[i]);
  return s;
}

function readOctal(block: Uint8Array, off: number, len: number, archive: string, at: string, field: string): number {
  const bad = `${archive}: not a tar archive or corrupt tar header${at}`;
  if (block[off] & 0x80) {
    // GNU base-256 encoding for large sizes (0xff first: negative, never valid for a size).
    if (block[off] === 0xff) throw new Error(`${bad}: negative ${field} field (expected a size ≥ 0)`);
    let v = block[off] & 0x7f;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + block[i];
    if (!Number.isSafeInteger(v)) throw new Error(`${bad}: ${field} field too large`);
    return v;
  }
  const s = readString(block, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) {
    throw new Error(`${bad}: ${field} field '${s}' is not octal`);
  }
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
 * Limits, for untrusted archives: time linear in the bytes pushed; memory bounded by the collected files plus a
 * constant. A size declared in a header is never trusted for allocation: `filter` sees it first (and may throw),
 * `options.maxEntryBytes` and `options.totalBytes` refuse it before anything is allocated, and a collected file's
 * buffer grows as its bytes arrive (at most 1 MiB ahead of them). Long-name and pax entries are capped at
 * {@link TAR_MAX_META_BYTES}. A file path that occurs twice is refused (tar would silently let the last one win).
 * Errors name the archive and the entry.
 *
 * @example
 * ```ts
 * const files = new Map<string, Uint8Array>();
 * const parser = new TarParser((h) => h.name.endsWith('.bin'), (h, data) => files.set(h.name, data));
 * parser.push(tarBytes);
 * parser.end();
 * ```
 *
 * @category Data
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
  /** Bytes consumed so far (the offset of the next header). */
  private offset = 0;
  private readonly seen = new Set<string>();
  private lastName: string | null = null;

  /**
   * @param filter Which file entries to collect.
   * @param onFile Receives each collected file with its complete bytes.
   * @param archiveName Name used in error messages.
   */
  constructor(
    private readonly filter: TarEntryFilter,
    private readonly onFile: (header: TarEntryHeader, data: Uint8Array) => void,
    private readonly archiveName = 'tar archive',
    private readonly options: TarParserOptions = {},
  ) {}

  /** True once the end-of-archive marker was read: later bytes are ignored, so a reader may stop feeding. */
  get finished(): boolean {
    return this.sawEnd;
  }

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
          if (this.metaKind != null) {
            (this.meta as Uint8Array).set(chunk.subarray(pos, pos + dataTake), this.bufferFill);
          } else if (this.buffer != null) {
            this.grow(this.bufferFill + dataTake);
            this.buffer.set(chunk.subarray(pos, pos + dataTake), this.bufferFill);
          }
          this.bufferFill += dataTake;
        }
        this.remaining -= take;
        this.offset += take;
        pos += take;
        if (this.remaining === 0) this.finishEntry();
        continue;
      }
      const take = Math.min(BLOCK - this.headerFill, chunk.length - pos);
      this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
      this.headerFill += take;
      this.offset += take;
      pos += take;
      if (this.headerFill === BLOCK) {
        this.headerFill = 0;
        this.readHeader();
      }
    }
  }

  /** Grows the buffer of the collected file to hold `n` bytes: by doubling, never beyond the declared size. */
  private grow(n: number): void {
    const buf = this.buffer as Uint8Array;
    if (n <= buf.length) return;
    const size = (this.current as TarEntryHeader).size;
    const next = new Uint8Array(Math.min(size, Math.max(n, buf.length * 2)));
    next.set(buf.subarray(0, this.bufferFill));
    this.buffer = next;
  }

  /** Signals the end of the archive; throws if it stopped in the middle of an entry. */
  end(): void {
    this.ended = true;
    if (this.remaining > 0 || this.headerFill > 0) {
      const cur = this.current;
      throw new Error(
        `${this.archiveName}: truncated tar archive` +
          (cur != null
            ? ` (inside '${cur.name}': ${this.bufferFill} of its ${cur.size} bytes arrived)`
            : ` (${this.headerFill} bytes of a 512-byte header at offset ${this.offset - this.headerFill})`),
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
    const headerAt = this.offset - BLOCK;
    const after = this.lastName != null ? `, after entry '${this.lastName}'` : '';
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
    const stored = readOctal(h, 148, 8, this.archiveName, ` at offset ${headerAt}${after}`, 'checksum');
    if (stored !== sum) {
      throw new Error(
        `${this.archiveName}: not a tar archive or corrupt tar header at offset ${headerAt}${after} ` +
          `(checksum ${stored} != computed ${sum})`,
      );
    }
    this.entries++;
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
    const entry = `${this.archiveName}: entry '${name}'`;
    const size = readOctal(h, 124, 12, this.archiveName, ` of entry '${name}' at offset ${headerAt}`, 'size');
    const total = this.options.totalBytes;
    if (total != null && this.offset + size > total) {
      // Refused before allocating: the header promises more than the archive holds.
      throw new Error(
        `${entry} declares ${size} bytes but the archive ends ${Math.max(0, total - this.offset)} bytes later ` +
          `(truncated or corrupt tar archive)`,
      );
    }
    this.padding = (BLOCK - (size % BLOCK)) % BLOCK;
    this.remaining = size + this.padding;
    this.bufferFill = 0;
    this.lastName = name;
    if (typeflag === 'L' || typeflag === 'x' || typeflag === 'g') {
      if (size > TAR_MAX_META_BYTES) {
        throw new Error(
          `${entry}: ${typeflag === 'L' ? 'GNU long-name' : 'pax'} header of ${size} bytes ` +
            `(expected at most ${TAR_MAX_META_BYTES}; corrupt tar archive?)`,
        );
      }
      this.metaKind = typeflag;
      this.meta = new Uint8Array(size);
      this.current = { name, size, type: 'other' };
    } else {
      const type = typeflag === '0' || typeflag === '7' ? 'file' : typeflag === '5' ? 'directory' : 'other';
      this.current = { name, size, type };
      this.metaKind = null;
      if (type === 'file') {
        const key = name.replace(/^(\.\/)+/, '');
        if (this.seen.has(key)) {
          throw new Error(`${entry} occurs twice in the archive (expected each file once; refusing to pick one)`);
        }
        this.seen.add(key);
      }
      const want = type === 'file' && this.filter(this.current);
      const max = this.options.maxEntryBytes;
      if (want && max != null && size > max) {
        throw new Error(`${entry} declares ${size} bytes, more than the ${max} bytes expected at most`);
      }
      // Grown as the data arrives (see grow()), never allocated from the declared size alone.
      this.buffer = want ? new Uint8Array(Math.min(size, 1 << 20)) : null;
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
 * Reads the files of an in-memory tar archive whose names `filter` accepts. Limits as {@link TarParser}; entries
 * declaring more bytes than the archive holds are refused before anything is allocated.
 *
 * @returns A map from each accepted file's path to its bytes.
 *
 * @category Data
 */
export function readTar(
  bytes: Uint8Array,
  filter: TarEntryFilter = () => true,
  archiveName = 'tar archive',
  options: TarParserOptions = {},
): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>();
  const parser = new TarParser(filter, (h, d) => files.set(h.name, d), archiveName, {
    totalBytes: bytes.length,
    ...options,
  });
  parser.push(bytes);
  parser.end();
  return files;
}
