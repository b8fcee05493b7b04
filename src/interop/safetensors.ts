/**
 * safetensors (https://github.com/huggingface/safetensors) read and write, browser-safe. The format: an 8-byte
 * little-endian header length N, N bytes of JSON (`{"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {str: str}}`, padded with spaces), then the tensors' little-endian bytes, offsets relative to the
 * end of the header.
 *
 * Validated as strictly as the Python library does, for untrusted files: the header length is checked against the
 * data and a size limit before anything is decoded, the JSON must be an object of well-formed entries without
 * duplicate names, and the tensors must tile the data exactly (contiguous, in range, no gaps, no overlaps), each
 * exactly as long as its shape and dtype say.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type CheckpointTensor, type CheckpointTensors, CHECKPOINT_DTYPES, FLOAT_DTYPE_BYTES, decodeCheckpointTensor } from './checkpoint_tensors';

/**
 * Default cap on the JSON header of a safetensors file: 100,000,000 bytes, the Python library's own limit.
 *
 * @category Interop
 */
export const SAFETENSORS_MAX_HEADER_BYTES = 100_000_000;

/** Element sizes of every dtype the safetensors format defines (only the float ones are decoded). */
const DTYPE_BYTES: Readonly<Record<string, number>> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E4M3FN: 1, F8_E8M0: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, F64: 8, I64: 8, U64: 8, C64: 8,
};

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const SUPPORTED = CHECKPOINT_DTYPES.join(', ');

/**
 * One tensor as a safetensors header describes it.
 *
 * @category Interop
 */
export interface SafetensorsEntry {
  /** The tensor's name (a state-dict key). */
  name: string;
  /** The dtype in the file: 'F32', 'F16', 'BF16', 'I64', ... */
  dtype: string;
  /** Dimensions, outermost first. */
  shape: number[];
  /** `[begin, end)` byte offsets of the data, relative to the end of the header (the file's `data_offsets`). */
  dataOffsets: [number, number];
}

/**
 * A parsed safetensors header.
 *
 * @category Interop
 */
export interface SafetensorsHeader {
  /** Where the tensor data starts in the file: 8 + the JSON header's length. */
  dataStart: number;
  /** The `__metadata__` map (empty when the file has none). */
  metadata: Record<string, string>;
  /** The tensors, in the order of their data in the file. */
  tensors: SafetensorsEntry[];
}

/**
 * Options of {@link readSafetensorsHeader}.
 *
 * @category Interop
 */
export interface ReadSafetensorsHeaderOptions {
  /** Name used in error messages (e.g. the file name). Default 'safetensors'. */
  name?: string;
  /** Largest JSON header accepted, in bytes (default {@link SAFETENSORS_MAX_HEADER_BYTES}). */
  maxHeaderBytes?: number;
  /**
   * Size of the whole file when `bytes` holds only its beginning (at least the header): the tensors are checked to
   * end exactly there. Default: `bytes.length`.
   */
  fileBytes?: number;
}

/**
 * Options of {@link readSafetensors}.
 *
 * @category Interop
 */
export interface ReadSafetensorsOptions extends Omit<ReadSafetensorsHeaderOptions, 'fileBytes'> {
  /** Decode only the tensors for which this returns true (the others are validated, not decoded). */
  select?: (name: string) => boolean;
  /**
   * Leave out tensors of dtypes that are not decoded (integers, bool, 8-bit floats) instead of throwing. Default
   * false: such a tensor is an error naming it and its dtype.
   */
  skipUnsupportedDtypes?: boolean;
}

/** The error for a tensor whose dtype is not decoded. @internal */
export function unsupportedDtype(fileName: string, entry: SafetensorsEntry): Error {
  return new Error(
    `${fileName}: tensor '${entry.name}' has dtype ${entry.dtype}, which is not supported (supported: ${SUPPORTED}; ` +
      'options.skipUnsupportedDtypes leaves such tensors out)',
  );
}

/** Sets `obj[key]` as an own property, also for keys such as `__proto__`. @internal */
export function setOwn<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * The keys of the top-level object of a JSON text that `JSON.parse` accepted, in order, duplicates included (which
 * `JSON.parse` would silently merge).
 */
function topLevelKeys(text: string): string[] {
  const keys: string[] = [];
  let depth = 0;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      if (depth === 1) {
        let k = j + 1;
        while (k < text.length && /\s/.test(text[k])) k++;
        if (text[k] === ':') keys.push(JSON.parse(text.slice(i, j + 1)) as string);
      }
      i = j + 1;
      continue;
    }
    if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') depth--;
    i++;
  }
  return keys;
}

/**
 * Parses and validates the header of a safetensors file: its length field, the JSON, every entry (dtype, shape,
 * offsets) and the tiling of the data. `bytes` may be only the beginning of the file (at least `8 + N` bytes) when
 * `options.fileBytes` gives the file's size.
 *
 * @throws Error naming the problem (the tensor, its dtype, shape or offsets) for anything that is not a valid
 * safetensors header.
 *
 * @example
 * ```ts
 * const { tensors, metadata } = readSafetensorsHeader(bytes);
 * for (const t of tensors) console.log(t.name, t.dtype, t.shape);
 * ```
 *
 * @category Interop
 */
export function readSafetensorsHeader(bytes: Uint8Array, options: ReadSafetensorsHeaderOptions = {}): SafetensorsHeader {
  const name = options.name ?? 'safetensors';
  const maxHeader = options.maxHeaderBytes ?? SAFETENSORS_MAX_HEADER_BYTES;
  const fileBytes = options.fileBytes ?? bytes.length;
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}`);
  };
  if (!(Number.isSafeInteger(fileBytes) && fileBytes >= bytes.length)) {
    fail(`options.fileBytes must be an integer ≥ the ${bytes.length} bytes given, got ${String(fileBytes)}`);
  }
  if (fileBytes < 8) fail(`not a safetensors file: ${fileBytes} bytes, too short for the 8-byte header length`);
  if (bytes.length < 8) fail(`the first 8 bytes (the header length) are needed, got ${bytes.length}`);
  const n64 = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (n64 > BigInt(fileBytes - 8)) {
    fail(`not a safetensors file or truncated: header length ${n64} at offset 0 exceeds the ${fileBytes - 8} bytes after it`);
  }
  const n = Number(n64);
  if (n > maxHeader) fail(`header of ${n} bytes exceeds the limit of ${maxHeader} bytes (options.maxHeaderBytes)`);
  if (n < 2) fail(`not a safetensors file: header length ${n} is too short for a JSON object`);
  if (bytes.length < 8 + n) fail(`the first ${8 + n} bytes (the header) are needed, got ${bytes.length}`);
  const headerBytes = bytes.subarray(8, 8 + n);
  if (headerBytes[0] !== 0x7b) {
    fail(`not a safetensors file: the header (offset 8, ${n} bytes) does not start with '{' (byte 0x${headerBytes[0].toString(16).padStart(2, '0')})`);
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('corrupt header: not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return fail(`corrupt header: invalid JSON (${(err as Error).message})`);
  }
  if (typeof json !== 'object' || json == null || Array.isArray(json)) return fail('corrupt header: the JSON is not an object');
  const obj = json as Record<string, unknown>;
  const keys = topLevelKeys(text);
  if (keys.length !== Object.keys(obj).length) {
    const seen = new Set<string>();
    for (const k of keys) {
      if (seen.has(k)) fail(`duplicate name '${k}' in the header`);
      seen.add(k);
    }
  }
  const metadata: Record<string, string> = {};
  const tensors: SafetensorsEntry[] = [];
  for (const key of keys) {
    const v = obj[key];
    if (key === '__metadata__') {
      if (typeof v !== 'object' || v == null || Array.isArray(v)) fail('__metadata__ is not an object of strings');
      for (const [mk, mv] of Object.entries(v as Record<string, unknown>)) {
        if (typeof mv !== 'string') fail(`__metadata__ '${mk}' is a ${mv === null ? 'null' : typeof mv}, expected a string`);
        setOwn(metadata, mk, mv as string);
      }
      continue;
    }
    const where = `tensor '${key}'`;
    if (typeof v !== 'object' || v == null || Array.isArray(v)) return fail(`${where}: entry is not an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string') return fail(`${where}: dtype is missing or not a string`);
    const itemBytes = DTYPE_BYTES[e.dtype];
    if (itemBytes == null) return fail(`${where}: unknown dtype '${e.dtype}' (supported: ${SUPPORTED})`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 0)) {
      return fail(`${where}: shape ${JSON.stringify(e.shape)} is not a list of integers ≥ 0`);
    }
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
      return fail(`${where}: data_offsets ${JSON.stringify(off)} is not [begin, end] with integers ≥ 0`);
    }
    const [begin, end] = off as [number, number];
    if (end < begin) fail(`${where}: data_offsets [${begin}, ${end}] end before they begin`);
    let count = 1;
    for (const d of shape) {
      count *= d;
      if (count * itemBytes > Number.MAX_SAFE_INTEGER) fail(`${where}: shape [${shape.join(', ')}] is too large`);
    }
    if (count * itemBytes !== end - begin) {
      fail(
        `${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${shape.join(', ')}] of ` +
          `${e.dtype} needs ${count * itemBytes}`,
      );
    }
    tensors.push({ name: key, dtype: e.dtype, shape: [...shape], dataOffsets: [begin, end] });
  }
  // The tensors must tile the data exactly, as the Python library requires: sorted by offset, each starting where the
  // previous one ends, the last ending at the end of the file.
  tensors.sort((a, b) => a.dataOffsets[0] - b.dataOffsets[0] || a.dataOffsets[1] - b.dataOffsets[1]);
  const dataBytes = fileBytes - 8 - n;
  let at = 0;
  for (const t of tensors) {
    const [begin, end] = t.dataOffsets;
    if (end > dataBytes) {
      fail(`tensor '${t.name}': data_offsets [${begin}, ${end}] out of range: the data holds ${dataBytes} bytes (truncated file?)`);
    }
    if (begin < at) fail(`tensor '${t.name}': data_offsets [${begin}, ${end}] overlap the previous tensor, which ends at ${at}`);
    if (begin > at) fail(`tensor '${t.name}': data_offsets [${begin}, ${end}] leave a gap after offset ${at} (tensors must be contiguous)`);
    at = end;
  }
  if (at !== dataBytes) fail(`the tensors end at data offset ${at}, but the data holds ${dataBytes} bytes (trailing bytes)`);
  return { dataStart: 8 + n, metadata, tensors };
}

/**
 * Reads a safetensors file held in memory: every tensor as float32 (F32 as is, F16 and BF16 exactly, F64 rounded),
 * in the order of the data in the file.
 *
 * @throws Error naming the problem for an invalid file (see {@link readSafetensorsHeader}), and for a tensor of
 * another dtype (I64, BOOL, F8_*, ...) unless `options.skipUnsupportedDtypes`.
 *
 * @example
 * ```ts
 * const tensors = readSafetensors(new Uint8Array(await (await fetch('model.safetensors')).arrayBuffer()));
 * console.log(tensors['head.weight'].shape);
 * ```
 *
 * @category Interop
 */
export function readSafetensors(bytes: Uint8Array, options: ReadSafetensorsOptions = {}): CheckpointTensors {
  const name = options.name ?? 'safetensors';
  const header = readSafetensorsHeader(bytes, { name, maxHeaderBytes: options.maxHeaderBytes });
  const out: CheckpointTensors = {};
  for (const e of header.tensors) {
    if (options.select != null && !options.select(e.name)) continue;
    const raw = bytes.subarray(header.dataStart + e.dataOffsets[0], header.dataStart + e.dataOffsets[1]);
    if (FLOAT_DTYPE_BYTES[e.dtype] == null) {
      if (options.skipUnsupportedDtypes === true) continue;
      throw unsupportedDtype(name, e);
    }
    setOwn(out, e.name, decodeCheckpointTensor(e.dtype, e.shape, raw));
  }
  return out;
}

/** Orders strings by their UTF-8 bytes (code points), as Rust compares strings. */
function compareUtf8(a: string, b: string): number {
  const ca = Array.from(a);
  const cb = Array.from(b);
  for (let i = 0; i < Math.min(ca.length, cb.length); i++) {
    const d = (ca[i].codePointAt(0) as number) - (cb[i].codePointAt(0) as number);
    if (d !== 0) return d;
  }
  return ca.length - cb.length;
}

/**
 * Encodes tensors as a safetensors file, all as F32, laid out as the Python library lays them out: tensors sorted by
 * name, `__metadata__` first in the header, the header padded with spaces to a multiple of 8 bytes. Accepts
 * {@link CheckpointTensors} or float32 tf.Tensors (read with `dataSync`).
 *
 * @param metadata The `__metadata__` map (string values), e.g. `{ format: 'pt' }`, which `transformers` expects.
 *
 * @example
 * ```ts
 * const bytes = writeSafetensors({ 'head.bias': checkpointTensor([2], new Float32Array([0.5, -1])) }, { format: 'pt' });
 * ```
 *
 * @category Interop
 */
export function writeSafetensors(
  tensors: CheckpointTensors | Record<string, tf.Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries: { name: string; shape: number[]; data: Float32Array }[] = [];
  for (const key of Object.keys(tensors)) {
    const v = tensors[key] as CheckpointTensor | tf.Tensor;
    if (key === '__metadata__') throw new Error(`writeSafetensors: '__metadata__' cannot be a tensor name`);
    if (typeof (v as tf.Tensor).dataSync === 'function') {
      const t = v as tf.Tensor;
      if (t.dtype !== 'float32') throw new Error(`writeSafetensors: tensor '${key}' is ${t.dtype}, expected float32`);
      entries.push({ name: key, shape: [...t.shape], data: t.dataSync() as Float32Array });
    } else {
      const c = v as CheckpointTensor;
      if (!(c.data instanceof Float32Array) || !Array.isArray(c.shape)) {
        throw new Error(`writeSafetensors: '${key}' is neither a CheckpointTensor nor a tf.Tensor`);
      }
      const count = c.shape.reduce((a, b) => a * b, 1);
      if (!c.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || count !== c.data.length) {
        throw new Error(`writeSafetensors: tensor '${key}' has ${c.data.length} elements, shape [${c.shape.join(', ')}] needs ${count}`);
      }
      entries.push({ name: key, shape: [...c.shape], data: c.data });
    }
  }
  entries.sort((a, b) => compareUtf8(a.name, b.name));
  // Built by hand, not with JSON.stringify of an object, which would move integer-like names ('0', '12') first.
  const parts: string[] = [];
  if (metadata != null) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`writeSafetensors: metadata '${k}' is a ${typeof v}, expected a string`);
    }
    parts.push(`"__metadata__":${JSON.stringify(metadata)}`);
  }
  let at = 0;
  for (const e of entries) {
    const end = at + 4 * e.data.length;
    parts.push(`${JSON.stringify(e.name)}:${JSON.stringify({ dtype: 'F32', shape: e.shape, data_offsets: [at, end] })}`);
    at = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const n = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + n + at);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(n), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let pos = 8 + n;
  for (const e of entries) {
    if (LITTLE_ENDIAN_HOST) out.set(new Uint8Array(e.data.buffer, e.data.byteOffset, e.data.byteLength), pos);
    else for (let i = 0; i < e.data.length; i++) view.setFloat32(pos + 4 * i, e.data[i], true);
    pos += 4 * e.data.length;
  }
  return out;
}
