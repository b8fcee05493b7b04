/**
 * A safe, minimal reader for Python pickles of plain data and numpy arrays (what the CIFAR "python version" files
 * hold). It interprets the pickle opcodes itself and only knows a fixed list of globals (numpy's array and dtype
 * reconstructors, `_codecs.encode`, `bytearray`); anything else is refused with an error naming it. Nothing is ever
 * executed. Browser-safe. The PyTorch checkpoint reader extends the list with the few globals a state dict needs
 * (tensor rebuilders, storage classes, `collections.OrderedDict`) and storages as persistent ids, through an
 * internal {@link PickleExtension}; `readPickle` itself allows none of them.
 *
 * Limits (for untrusted files): time linear in the input size, memory bounded by the input plus the decoded value
 * (objects the pickle memoises and references again are shared, never copied), nesting depth capped
 * ({@link PICKLE_MAX_DEPTH}), integers at most 8 bytes long.
 */

/**
 * Default cap on the nesting depth of tuples, lists and dicts in {@link readPickle} (CIFAR files need 3).
 *
 * @category Data
 */
export const PICKLE_MAX_DEPTH = 1000;
/**
 * Largest `LONG1`/`LONG4` integer {@link readPickle} accepts, in bytes (CIFAR files never need more than 8).
 *
 * @category Data
 */
export const PICKLE_MAX_LONG_BYTES = 8;

/**
 * A numpy array decoded from a pickle.
 *
 * @category Data
 */
export class PickleNdArray {
  /**
   * @param dtype numpy dtype string, e.g. 'u1', '<i8', '<f4'.
   * @param shape Array shape.
   * @param data Elements in C (row-major) order, or Fortran order when `fortranOrder`.
   * @param fortranOrder Whether `data` is in column-major order.
   */
  constructor(
    readonly dtype: string,
    readonly shape: number[],
    readonly data: Uint8Array | Int8Array | Uint16Array | Int16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array,
    readonly fortranOrder: boolean,
  ) {}
}

/** A numpy dtype decoded from a pickle (before its array is built). */
class PickleDtype {
  byteOrder = '|';
  constructor(readonly kind: string) {}
}

/**
 * A value decoded by {@link readPickle}. Python byte strings are Uint8Array; dicts are Map.
 *
 * @category Data
 */
export type PickleValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PickleValue[]
  | Map<PickleKey, PickleValue>
  | Set<PickleKey>
  | PickleNdArray;

/**
 * Keys of decoded dicts: Python str and bytes keys both become JS strings (bytes decoded as latin-1).
 *
 * @category Data
 */
export type PickleKey = string | number | bigint | boolean | null;

const MARK = Symbol('mark');
type Global = { kind: 'global'; name: string };
type Pending = { kind: 'ndarray-pending'; arr?: PickleNdArray };
/** A pickled tuple: `depth` is its tuple nesting depth; `value` caches its decoded array so that shared tuples stay shared. */
type Tuple = { kind: 'tuple'; items: Item[]; depth: number; value?: PickleValue[] };
/** An object built by a {@link PickleExtension} (a tensor, a storage), carried through as is. */
type Opaque = { kind: 'opaque'; value: unknown };
type Item = PickleValue | Global | Pending | Tuple | PickleDtype | Opaque | typeof MARK;

/** A global passed to a {@link PickleExtension} hook (e.g. a storage class inside a persistent id). @internal */
export class PickleGlobalRef {
  constructor(readonly name: string) {}
}

/**
 * Hooks that let a reader built on the safe unpickler (the PyTorch checkpoint reader) accept a few more globals and
 * persistent ids. Hook arguments are decoded values; tuples arrive as arrays, globals as {@link PickleGlobalRef},
 * extension-built objects as what the hooks returned. Whatever a hook returns travels through the decoded value as
 * is (typed `PickleValue` only nominally). Nothing is executed beyond the hooks. @internal
 */
export interface PickleExtension {
  /** Further globals allowed, as 'module.name'. */
  globals: ReadonlySet<string>;
  /** What the refusal of any other global says is allowed (default: "numpy arrays and plain data"). */
  allowedDescription?: string;
  /** Builds the result of calling one of `globals` (REDUCE). Maps and arrays it returns stay mutable containers. */
  reduce(name: string, args: unknown[]): unknown;
  /** Resolves a persistent id (BINPERSID); without it, BINPERSID is refused. */
  persistentLoad?(pid: unknown): unknown;
  /** Applies BUILD state to a dict (e.g. an OrderedDict's `_metadata`); without it, BUILD on a dict is refused. */
  buildDict?(dict: Map<PickleKey, PickleValue>, state: unknown): void;
  /** The value of one of `globals` used as a value, not called (e.g. `torch.float16` in a dict). */
  globalValue?(name: string): unknown;
  /** Largest LONG1/LONG4 integer in bytes (default {@link PICKLE_MAX_LONG_BYTES}). */
  maxLongBytes?: number;
}

const ALLOWED_GLOBALS = new Set([
  'numpy.core.multiarray._reconstruct',
  'numpy._core.multiarray._reconstruct',
  'numpy.core.numeric._frombuffer',
  'numpy._core.numeric._frombuffer',
  'numpy.ndarray',
  'numpy.dtype',
  '_codecs.encode',
  '__builtin__.bytearray',
  'builtins.bytearray',
  '__builtin__.set',
  'builtins.set',
  '__builtin__.frozenset',
  'builtins.frozenset',
]);

const OPCODE_NAMES: Record<number, string> = {
  0x80: 'PROTO', 0x95: 'FRAME', 0x2e: 'STOP', 0x28: 'MARK', 0x7d: 'EMPTY_DICT', 0x5d: 'EMPTY_LIST',
  0x29: 'EMPTY_TUPLE', 0x74: 'TUPLE', 0x85: 'TUPLE1', 0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x61: 'APPEND', 0x65: 'APPENDS',
  0x73: 'SETITEM', 0x75: 'SETITEMS', 0x4a: 'BININT', 0x4b: 'BININT1', 0x4d: 'BININT2', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x4e: 'NONE', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x47: 'BINFLOAT', 0x55: 'SHORT_BINSTRING', 0x54: 'BINSTRING',
  0x43: 'SHORT_BINBYTES', 0x42: 'BINBYTES', 0x8e: 'BINBYTES8', 0x58: 'BINUNICODE', 0x8c: 'SHORT_BINUNICODE',
  0x8d: 'BINUNICODE8', 0x96: 'BYTEARRAY8', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT', 0x68: 'BINGET', 0x6a: 'LONG_BINGET',
  0x94: 'MEMOIZE', 0x63: 'GLOBAL', 0x93: 'STACK_GLOBAL', 0x52: 'REDUCE', 0x62: 'BUILD', 0x81: 'NEWOBJ',
  0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP',
  0x51: 'BINPERSID', 0x50: 'PERSID',
};

function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 8192)));
  }
  return s;
}

function describe(v: Item): string {
  if (v === MARK) return 'MARK';
  if (v === null) return 'None';
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PickleNdArray) return 'ndarray';
  if (v instanceof PickleDtype) return 'dtype';
  if (typeof v === 'object' && v != null && 'kind' in v) return (v as { kind: string }).kind;
  return typeof v;
}

/**
 * Options of {@link readPickle}.
 *
 * @category Data
 */
export interface ReadPickleOptions {
  /** Name used in error messages (e.g. the file name). */
  name?: string;
  /** Deepest nesting of tuples, lists and dicts accepted (default {@link PICKLE_MAX_DEPTH}). */
  maxDepth?: number;
}

const isTuple = (v: unknown): v is Tuple =>
  typeof v === 'object' && v != null && 'kind' in v && (v as Tuple).kind === 'tuple';

/** The first bytes as text when they are printable (a text file, HTML page or CSV); null otherwise. */
function textPrefix(bytes: Uint8Array): string | null {
  const n = Math.min(bytes.length, 40);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if (!((b >= 0x20 && b < 0x7f) || b === 0x09 || b === 0x0a || b === 0x0d)) return null;
  }
  return latin1(bytes.subarray(0, n)).replace(/[\r\n\t]/g, ' ');
}

/**
 * Checks that the decoded value holds no cycle (a list or dict that contains itself) and is at most `maxDepth`
 * levels deep, without recursion. Linear in the number of containers and references: shared containers are visited
 * once.
 */
function checkNesting(root: PickleValue, maxDepth: number, fail: (msg: string) => never): void {
  type Container = PickleValue[] | Map<PickleKey, PickleValue>;
  const isContainer = (v: PickleValue): v is Container => Array.isArray(v) || v instanceof Map;
  if (!isContainer(root)) return;
  const height = new Map<Container, number>();
  const onPath = new Set<Container>();
  const children = (c: Container): Iterator<PickleValue> => (Array.isArray(c) ? c.values() : c.values());
  const stack: { node: Container; it: Iterator<PickleValue>; h: number }[] = [];
  const enter = (c: Container): void => {
    if (stack.length >= maxDepth) fail(`nesting deeper than ${maxDepth} levels (expected plain data a few levels deep)`);
    onPath.add(c);
    stack.push({ node: c, it: children(c), h: 1 });
  };
  enter(root);
  while (stack.length > 0) {
    const f = stack[stack.length - 1];
    const next = f.it.next();
    if (next.done) {
      stack.pop();
      onPath.delete(f.node);
      height.set(f.node, f.h);
      if (stack.length > 0) {
        const p = stack[stack.length - 1];
        p.h = Math.max(p.h, f.h + 1);
      }
      continue;
    }
    const c = next.value;
    if (!isContainer(c)) continue;
    if (onPath.has(c)) fail(`a ${Array.isArray(c) ? 'list' : 'dict'} contains itself (recursive data is not supported)`);
    const h = height.get(c);
    if (h != null) {
      if (stack.length + h > maxDepth) fail(`nesting deeper than ${maxDepth} levels (expected plain data a few levels deep)`);
      f.h = Math.max(f.h, h + 1);
      continue;
    }
    enter(c);
  }
}

/**
 * Decodes a pickle (protocols 2–5) of plain data (dicts, lists, tuples, ints, floats, str, bytes, bytearray, sets)
 * and numpy arrays. Python 2 `str` and Python 3 `bytes` decode to Uint8Array (views into `bytes` where possible);
 * dicts decode to Map with string keys; tuples to arrays; numpy arrays to {@link PickleNdArray}.
 *
 * Limits, for untrusted input: time linear in `bytes.length`; memory bounded by the input plus the decoded value (a
 * tuple the pickle memoises and references again is decoded once and shared, so `memo` bombs cannot multiply work);
 * nesting depth at most `options.maxDepth` (default {@link PICKLE_MAX_DEPTH}); integers at most
 * {@link PICKLE_MAX_LONG_BYTES} bytes; recursive (self-containing) lists and dicts refused.
 *
 * @throws Error naming the file and the opcode or global, for anything outside that set; for text or other data that
 * is not a pickle, an error saying so.
 *
 * @example
 * ```ts
 * const batch = readPickle(bytes, { name: 'data_batch_1' }) as Map<string, PickleValue>;
 * const data = batch.get('data') as PickleNdArray; // uint8 [10000, 3072]
 * ```
 *
 * @category Data
 */
export function readPickle(bytes: Uint8Array, options: ReadPickleOptions = {}): PickleValue {
  return readPickleWith(bytes, options).value;
}

/**
 * {@link readPickle} with a {@link PickleExtension}, starting at byte `start`; also returns where the pickle ended
 * (one past its STOP opcode), for files that hold several pickles in a row. @internal
 */
export function readPickleWith(
  bytes: Uint8Array,
  options: ReadPickleOptions = {},
  ext?: PickleExtension,
  start = 0,
): { value: PickleValue; end: number } {
  const name = options.name ?? 'pickle';
  const maxDepth = options.maxDepth ?? PICKLE_MAX_DEPTH;
  if (!(Number.isInteger(maxDepth) && maxDepth >= 1)) {
    throw new Error(`${name}: options.maxDepth must be an integer ≥ 1, got ${String(maxDepth)}`);
  }
  try {
    return readPickleUnchecked(bytes, name, maxDepth, ext, start);
  } catch (err) {
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      throw new Error(`${name}: data nested too deeply for the JavaScript stack (lower options.maxDepth)`);
    }
    const msg = (err as Error).message;
    // A text file (notes, an HTML error page, CSV) read as a pickle fails on its first bytes with an opcode error
    // that says little: say what the data looks like and what was expected instead.
    const text = bytes[start] !== 0x80 ? textPrefix(bytes.subarray(start)) : null;
    if (
      text != null &&
      typeof msg === 'string' &&
      /memo key|stack underflow|MARK expected|unsupported pickle opcode|truncated pickle|unexpected MARK|expected a (tuple|string|integer)|used as a value/.test(
        msg,
      )
    ) {
      throw new Error(
        `${name}: not a Python pickle: the data starts with text "${text}" (expected a binary pickle, protocol 2–5, ` +
          `starting with byte 0x80; reading it as a pickle failed with: ${msg.slice(name.length + 2)})`,
      );
    }
    throw err;
  }
}

function readPickleUnchecked(
  bytes: Uint8Array,
  name: string,
  maxDepth: number,
  ext: PickleExtension | undefined,
  start: number,
): { value: PickleValue; end: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let pos = start;
  const maxLongBytes = ext?.maxLongBytes ?? PICKLE_MAX_LONG_BYTES;
  const stack: Item[] = [];
  const marks: number[] = [];
  const memo = new Map<number, Item>();
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}`);
  };
  const need = (n: number): void => {
    if (pos + n > bytes.length) fail(`truncated pickle (needs ${n} more bytes at offset ${pos})`);
  };
  const u8 = (): number => {
    need(1);
    return bytes[pos++];
  };
  const u16 = (): number => {
    need(2);
    const v = view.getUint16(pos, true);
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = view.getUint32(pos, true);
    pos += 4;
    return v;
  };
  const u64 = (): number => {
    need(8);
    const v = view.getBigUint64(pos, true);
    pos += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) fail(`length ${v} too large`);
    return Number(v);
  };
  const take = (n: number): Uint8Array => {
    need(n);
    const out = bytes.subarray(pos, pos + n);
    pos += n;
    return out;
  };
  const line = (): string => {
    const start = pos;
    while (pos < bytes.length && bytes[pos] !== 0x0a) pos++;
    if (pos >= bytes.length) fail('truncated pickle (unterminated line)');
    return latin1(bytes.subarray(start, pos++));
  };
  const pop = (): Item => {
    if (stack.length === 0) fail(`stack underflow at offset ${pos}`);
    return stack.pop() as Item;
  };
  const top = (): Item => {
    if (stack.length === 0) fail(`stack underflow at offset ${pos}`);
    return stack[stack.length - 1];
  };
  const popMark = (): Item[] => {
    if (marks.length === 0) fail(`MARK expected at offset ${pos}`);
    const m = marks.pop() as number;
    return stack.splice(m);
  };
  const toKey = (k: Item): PickleKey => {
    if (k instanceof Uint8Array) return latin1(k);
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') {
      return k;
    }
    if (typeof k === 'object' && k != null && 'kind' in k && (k as Tuple).kind === 'tuple') {
      return fail('tuple dict keys are not supported');
    }
    return fail(`unsupported dict key type ${describe(k)}`);
  };
  const value = (v: Item, ctx: string): PickleValue => {
    if (v === MARK) return fail(`unexpected MARK in ${ctx}`);
    if (v instanceof PickleDtype) {
      return fail(
        `a numpy dtype object ('${v.kind}') where plain data was expected in ${ctx} ` +
          `(structured numpy dtypes are not supported; expected numeric arrays such as uint8 'data')`,
      );
    }
    if (typeof v === 'object' && v != null && 'kind' in v) {
      const k = (v as { kind: string }).kind;
      if (k === 'tuple') {
        // Decoded once and shared: a tuple memoised and referenced again at every level costs its size once.
        // Recursion depth is bounded by the tuple depth, capped when the tuple was built.
        const t = v as Tuple;
        if (t.value == null) t.value = t.items.map((x) => value(x, ctx));
        return t.value;
      }
      if (k === 'ndarray-pending') {
        const arr = (v as Pending).arr;
        if (arr == null) return fail('numpy array without state (BUILD missing)');
        return arr;
      }
      if (k === 'opaque') return (v as Opaque).value as PickleValue;
      if (k === 'global' && ext?.globalValue != null && ext.globals.has((v as Global).name)) {
        return ext.globalValue((v as Global).name) as PickleValue;
      }
      return fail(`${k} '${(v as Global).name}' used as a value in ${ctx}`);
    }
    return v as PickleValue;
  };
  const makeTuple = (items: Item[], at: number): Tuple => {
    let depth = 1;
    for (const it of items) if (isTuple(it) && it.depth + 1 > depth) depth = it.depth + 1;
    if (depth > maxDepth) {
      fail(`tuples nested deeper than ${maxDepth} levels at offset ${at} (expected plain data a few levels deep)`);
    }
    return { kind: 'tuple', items, depth };
  };
  const tupleItems = (v: Item, ctx: string): Item[] => {
    if (isTuple(v)) return v.items;
    return fail(`${ctx}: expected a tuple, got ${describe(v)}`);
  };
  const intOf = (v: Item, ctx: string): number => {
    if (typeof v === 'number' && Number.isInteger(v)) return v;
    if (typeof v === 'bigint') return Number(v);
    return fail(`${ctx}: expected an integer, got ${describe(v)}`);
  };
  const strOf = (v: Item, ctx: string): string => {
    if (typeof v === 'string') return v;
    if (v instanceof Uint8Array) return latin1(v);
    return fail(`${ctx}: expected a string, got ${describe(v)}`);
  };
  const makeArray = (dtype: PickleDtype, shape: number[], raw: Uint8Array, fortran: boolean): PickleNdArray => {
    for (const d of shape) {
      if (!Number.isSafeInteger(d) || d < 0) fail(`numpy array shape [${shape}] has an invalid dimension ${d} (expected integers ≥ 0)`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    const kind = dtype.kind;
    const m = /^([iufb])(\d)$/.exec(kind);
    if (m == null) return fail(`unsupported numpy dtype '${kind}'`);
    const size = Number(m[2]);
    if (size > 1 && dtype.byteOrder === '>') fail(`big-endian numpy dtype '>${kind}' is not supported`);
    if (raw.length !== count * size) {
      fail(`numpy array data has ${raw.length} bytes, expected ${count * size} for shape [${shape}] dtype ${kind}`);
    }
    const aligned = (raw.byteOffset % size === 0 ? raw : raw.slice()) as Uint8Array;
    const buf = aligned.buffer;
    const off = aligned.byteOffset;
    let data: PickleNdArray['data'];
    switch (kind) {
      case 'u1':
      case 'b1':
        data = aligned;
        break;
      case 'i1':
        data = new Int8Array(buf, off, count);
        break;
      case 'u2':
        data = new Uint16Array(buf, off, count);
        break;
      case 'i2':
        data = new Int16Array(buf, off, count);
        break;
      case 'u4':
        data = new Uint32Array(buf, off, count);
        break;
      case 'i4':
        data = new Int32Array(buf, off, count);
        break;
      case 'i8':
        data = new BigInt64Array(buf, off, count);
        break;
      case 'u8':
        data = new BigUint64Array(buf, off, count);
        break;
      case 'f4':
        data = new Float32Array(buf, off, count);
        break;
      case 'f8':
        data = new Float64Array(buf, off, count);
        break;
      default:
        return fail(`unsupported numpy dtype '${kind}'`);
    }
    return new PickleNdArray((size > 1 ? '<' : '') + kind, shape, data, fortran);
  };
  /** A stack item as a hook argument: tuples as arrays, globals as PickleGlobalRef, the rest as decoded values. */
  const extArg = (v: Item, ctx: string): unknown => {
    if (isTuple(v)) return v.items.map((x) => extArg(x, ctx));
    if (typeof v === 'object' && v != null && 'kind' in v && (v as Global).kind === 'global') {
      return new PickleGlobalRef((v as Global).name);
    }
    return value(v, ctx);
  };
  const extItem = (r: unknown): Item =>
    r instanceof Map || Array.isArray(r) ? (r as PickleValue) : { kind: 'opaque', value: r };
  const reduce = (fn: Item, args: Item[]): Item => {
    if (!(typeof fn === 'object' && fn != null && 'kind' in fn && (fn as Global).kind === 'global')) {
      return fail(`REDUCE on ${describe(fn)}`);
    }
    const g = (fn as Global).name;
    if (ext != null && ext.globals.has(g)) return extItem(ext.reduce(g, args.map((a) => extArg(a, g))));
    if (g.endsWith('multiarray._reconstruct')) {
      // _reconstruct(ndarray, (0,), b'b'): an empty array whose state BUILD sets.
      const cls = args[0];
      if (!(typeof cls === 'object' && cls != null && 'kind' in cls && (cls as Global).name === 'numpy.ndarray')) {
        fail(`${g} called with ${describe(cls)} instead of numpy.ndarray`);
      }
      return { kind: 'ndarray-pending' };
    }
    if (g === 'numpy.dtype') {
      const kind = strOf(args[0], 'numpy.dtype');
      if (/^V/.test(kind)) {
        fail(
          `structured numpy dtype '${kind}' (record array) is not supported: expected a plain numeric dtype ` +
            `such as 'u1' (CIFAR 'data' is a uint8 array)`,
        );
      }
      return new PickleDtype(kind);
    }
    if (g === '_codecs.encode') {
      const s = strOf(args[0], '_codecs.encode');
      const enc = args.length > 1 ? strOf(args[1], '_codecs.encode') : 'utf-8';
      if (enc !== 'latin1' && enc !== 'latin-1') fail(`_codecs.encode with encoding '${enc}' is not supported`);
      const out = new Uint8Array(s.length);
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c > 255) fail(`_codecs.encode: character U+${c.toString(16)} cannot be encoded as latin-1`);
        out[i] = c;
      }
      return out;
    }
    if (g.endsWith('bytearray')) {
      if (args.length === 0) return new Uint8Array(0);
      const a = args[0];
      if (a instanceof Uint8Array) return a;
      if (typeof a === 'string' && args.length > 1) {
        const out = new Uint8Array(a.length);
        for (let i = 0; i < a.length; i++) out[i] = a.charCodeAt(i);
        return out;
      }
      return fail(`bytearray called with ${describe(a)}`);
    }
    if (g.endsWith('.set') || g.endsWith('.frozenset')) {
      // Protocol 2 pickles sets as set([items]).
      if (args.length === 0) return new Set<PickleKey>();
      const items = args[0];
      if (!Array.isArray(items)) return fail(`${g} called with ${describe(items)} (expected a list)`);
      return new Set((items as PickleValue[]).map((x) => toKey(x)));
    }
    if (g.endsWith('numeric._frombuffer')) {
      // _frombuffer(buffer, dtype, shape, order)
      const [buf, dt, shape, order] = args;
      if (!(buf instanceof Uint8Array)) return fail(`${g}: buffer is ${describe(buf)}`);
      if (!(dt instanceof PickleDtype)) return fail(`${g}: dtype is ${describe(dt)}`);
      const shp = tupleItems(shape, g).map((x) => intOf(x, g));
      return { kind: 'ndarray-pending', arr: makeArray(dt, shp, buf, strOf(order, g) === 'F') } as Pending;
    }
    return fail(`global '${g}' cannot be called`);
  };
  const build = (obj: Item, state: Item): void => {
    if (obj instanceof PickleDtype) {
      // (version, byteorder, subdescr, names, fields, elsize, alignment, flags[, metadata])
      const st = tupleItems(state, 'numpy.dtype state');
      obj.byteOrder = strOf(st[1], 'numpy.dtype byte order');
      if (st[2] != null || st[3] != null || st[4] != null) {
        fail(`structured numpy dtype '${obj.kind}' (record array) is not supported: expected a plain numeric dtype such as 'u1'`);
      }
      return;
    }
    if (typeof obj === 'object' && obj != null && 'kind' in obj && (obj as Pending).kind === 'ndarray-pending') {
      // (version, shape, dtype, is_fortran, rawdata)
      const st = tupleItems(state, 'numpy.ndarray state');
      if (st.length !== 5) fail(`numpy.ndarray state has ${st.length} items, expected 5`);
      const shape = tupleItems(st[1], 'numpy.ndarray shape').map((x) => intOf(x, 'numpy.ndarray shape'));
      const dt = st[2];
      if (!(dt instanceof PickleDtype)) return fail(`numpy.ndarray dtype is ${describe(dt)}`);
      let raw = st[4];
      if (typeof raw === 'string') {
        const out = new Uint8Array(raw.length);
        for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
        raw = out;
      }
      if (!(raw instanceof Uint8Array)) fail(`numpy.ndarray of object dtype or data ${describe(raw)} is not supported`);
      (obj as Pending).arr = makeArray(dt, shape, raw as Uint8Array, st[3] === true || st[3] === 1);
      return;
    }
    if (obj instanceof Map && ext?.buildDict != null) {
      ext.buildDict(obj, extArg(state, 'BUILD state'));
      return;
    }
    fail(`BUILD on ${describe(obj)} is not supported`);
  };

  if (bytes.length <= start) fail('empty pickle');
  for (;;) {
    if (pos >= bytes.length) fail('truncated pickle (no STOP opcode)');
    const opPos = pos;
    const op = bytes[pos++];
    switch (op) {
      case 0x80: {
        const proto = u8();
        if (proto > 5) fail(`unsupported pickle protocol ${proto}`);
        break;
      }
      case 0x95:
        u64(); // FRAME length: frames are only a buffering hint.
        break;
      case 0x2e: {
        const v = pop();
        const result = value(v, 'result');
        checkNesting(result, maxDepth, fail);
        return { value: result, end: pos };
      }
      case 0x28:
        marks.push(stack.length);
        break;
      case 0x7d:
        stack.push(new Map());
        break;
      case 0x5d:
        stack.push([]);
        break;
      case 0x29:
        stack.push(makeTuple([], opPos));
        break;
      case 0x74:
        stack.push(makeTuple(popMark(), opPos));
        break;
      case 0x85:
      case 0x86:
      case 0x87: {
        const n = op - 0x84;
        if (stack.length < n) fail(`stack underflow at offset ${opPos}`);
        stack.push(makeTuple(stack.splice(stack.length - n), opPos));
        break;
      }
      case 0x61: {
        const v = pop();
        const list = top();
        if (!Array.isArray(list)) fail(`APPEND to ${describe(list)}`);
        (list as PickleValue[]).push(value(v, 'list'));
        break;
      }
      case 0x65: {
        const items = popMark();
        const list = top();
        if (!Array.isArray(list)) fail(`APPENDS to ${describe(list)}`);
        for (const it of items) (list as PickleValue[]).push(value(it, 'list'));
        break;
      }
      case 0x73: {
        const v = pop();
        const k = pop();
        const d = top();
        if (!(d instanceof Map)) fail(`SETITEM on ${describe(d)}`);
        (d as Map<PickleKey, PickleValue>).set(toKey(k), value(v, 'dict'));
        break;
      }
      case 0x75: {
        const items = popMark();
        const d = top();
        if (!(d instanceof Map)) fail(`SETITEMS on ${describe(d)}`);
        if (items.length % 2 !== 0) fail('SETITEMS with an odd number of items');
        for (let i = 0; i < items.length; i += 2) {
          (d as Map<PickleKey, PickleValue>).set(toKey(items[i]), value(items[i + 1], 'dict'));
        }
        break;
      }
      case 0x8f:
        stack.push(new Set());
        break;
      case 0x90: {
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) fail(`ADDITEMS on ${describe(s)}`);
        for (const it of items) (s as Set<PickleKey>).add(toKey(it));
        break;
      }
      case 0x91:
        stack.push(new Set(popMark().map(toKey)));
        break;
      case 0x4a:
        need(4);
        stack.push(view.getInt32(pos, true));
        pos += 4;
        break;
      case 0x4b:
        stack.push(u8());
        break;
      case 0x4d:
        stack.push(u16());
        break;
      case 0x8a:
      case 0x8b: {
        const n = op === 0x8a ? u8() : u32();
        if (n > maxLongBytes) {
          // Refused by its declared size, before reading or converting anything (a huge LONG4 would take minutes).
          fail(
            `${op === 0x8a ? 'LONG1' : 'LONG4'} integer of ${n} bytes at offset ${opPos}: at most ` +
              `${maxLongBytes} bytes are supported (CIFAR pickles never need more)`,
          );
        }
        const b = take(n);
        let v = BigInt(0);
        for (let i = n - 1; i >= 0; i--) v = (v << BigInt(8)) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= BigInt(1) << BigInt(8 * n);
        stack.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
        break;
      }
      case 0x4e:
        stack.push(null);
        break;
      case 0x88:
        stack.push(true);
        break;
      case 0x89:
        stack.push(false);
        break;
      case 0x47:
        need(8);
        stack.push(view.getFloat64(pos, false));
        pos += 8;
        break;
      case 0x55:
      case 0x43:
        stack.push(take(u8()));
        break;
      case 0x54:
      case 0x42:
        stack.push(take(u32()));
        break;
      case 0x8e:
        stack.push(take(u64()));
        break;
      case 0x96:
        stack.push(take(u64()).slice());
        break;
      case 0x58:
        stack.push(new TextDecoder().decode(take(u32())));
        break;
      case 0x8c:
        stack.push(new TextDecoder().decode(take(u8())));
        break;
      case 0x8d:
        stack.push(new TextDecoder().decode(take(u64())));
        break;
      case 0x71:
        memo.set(u8(), top());
        break;
      case 0x72:
        memo.set(u32(), top());
        break;
      case 0x94:
        memo.set(memo.size, top());
        break;
      case 0x68:
      case 0x6a: {
        const idx = op === 0x68 ? u8() : u32();
        if (!memo.has(idx)) fail(`memo key ${idx} not found at offset ${opPos}`);
        stack.push(memo.get(idx) as Item);
        break;
      }
      case 0x63:
      case 0x93: {
        let mod: string;
        let nm: string;
        if (op === 0x63) {
          mod = line();
          nm = line();
        } else {
          nm = strOf(pop(), 'STACK_GLOBAL');
          mod = strOf(pop(), 'STACK_GLOBAL');
        }
        const full = `${mod}.${nm}`;
        if (!ALLOWED_GLOBALS.has(full) && !(ext?.globals.has(full) ?? false)) {
          fail(
            `refusing global '${full}' at offset ${opPos}: only ` +
              `${ext?.allowedDescription ?? 'numpy arrays and plain data'} are allowed`,
          );
        }
        stack.push({ kind: 'global', name: full });
        break;
      }
      case 0x52: {
        const args = pop();
        const fn = pop();
        stack.push(reduce(fn, tupleItems(args, 'REDUCE arguments')));
        break;
      }
      case 0x81: {
        const args = pop();
        const cls = pop();
        fail(`NEWOBJ of ${describe(cls)} (${describe(args)}) is not supported`);
        break;
      }
      case 0x62: {
        const state = pop();
        build(top(), state);
        break;
      }
      case 0x51: {
        if (ext?.persistentLoad == null) fail(`unsupported pickle opcode 0x51 'Q' (BINPERSID) at offset ${opPos}`);
        const pid = pop();
        stack.push(extItem((ext as PickleExtension).persistentLoad?.(extArg(pid, 'persistent id'))));
        break;
      }
      case 0x30:
        pop();
        break;
      case 0x31:
        popMark();
        break;
      case 0x32:
        stack.push(top());
        break;
      default: {
        const known = OPCODE_NAMES[op];
        const ch = op >= 0x20 && op < 0x7f ? ` '${String.fromCharCode(op)}'` : '';
        fail(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')}${ch}` +
            (known ? ` (${known})` : '') +
            ` at offset ${opPos}`,
        );
      }
    }
  }
}
