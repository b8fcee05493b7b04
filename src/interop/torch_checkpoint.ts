/**
 * PyTorch checkpoints written by `torch.save` (the zip format of PyTorch ≥ 1.6, and the legacy format before it),
 * read through the library's safe unpickler: only the globals a state dict needs are known (tensor and parameter
 * rebuilders, storage classes, dtypes, `collections.OrderedDict`); any other global is refused by name and nothing
 * is executed. Browser-safe.
 */
import { type PickleExtension, type PickleKey, type PickleValue, PickleGlobalRef, readPickleWith } from '../data/pickle';
import { type CheckpointTensor, type CheckpointTensors, CHECKPOINT_DTYPES, FLOAT_DTYPE_BYTES, decodeCheckpointTensor } from './checkpoint_tensors';
import { type ReadSafetensorsOptions, readSafetensors, setOwn } from './safetensors';
import { type ZipEntry, isZip, readZipDirectory, readZipEntry } from './zip';

/**
 * Options of {@link readTorchCheckpoint}.
 *
 * @category Interop
 */
export interface ReadTorchCheckpointOptions {
  /** Name used in error messages (e.g. the file name). Default 'checkpoint'. */
  name?: string;
  /**
   * Where the state dict is in the saved object, as dict keys joined by '.', e.g. 'model' for
   * `torch.save({'model': model.state_dict(), 'epoch': 3})`; '' for the saved object itself. Tensors in dicts nested
   * under it are included with their names joined by '.'. Default: detected (see {@link readTorchCheckpoint}).
   */
  key?: string;
  /** Strip a `module.` prefix (DataParallel, DistributedDataParallel) when every name has it. Default true. */
  stripModulePrefix?: boolean;
  /**
   * Leave out tensors of dtypes that are not decoded (int64, bool, ...) instead of throwing. Default false: such a
   * tensor is an error naming it and its dtype.
   */
  skipUnsupportedDtypes?: boolean;
}

/** torch storage class → dtype (safetensors names) and element size. */
const STORAGE_DTYPES: Readonly<Record<string, [string, number]>> = {
  FloatStorage: ['F32', 4],
  HalfStorage: ['F16', 2],
  BFloat16Storage: ['BF16', 2],
  DoubleStorage: ['F64', 8],
  LongStorage: ['I64', 8],
  IntStorage: ['I32', 4],
  ShortStorage: ['I16', 2],
  CharStorage: ['I8', 1],
  ByteStorage: ['U8', 1],
  BoolStorage: ['BOOL', 1],
};
/** torch dtype objects (`torch.float32`, ...): allowed as values (a dtype in a saved config), read as their names. */
const TORCH_DTYPES = ['float32', 'float16', 'bfloat16', 'float64', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

const REBUILD_TENSOR = 'torch._utils._rebuild_tensor_v2';
const REBUILD_TENSOR_V1 = 'torch._utils._rebuild_tensor';
const REBUILD_PARAMETER = 'torch._utils._rebuild_parameter';
const REBUILD_PARAMETER_STATE = 'torch._utils._rebuild_parameter_with_state';
const REBUILD_FROM_TYPE = 'torch._tensor._rebuild_from_type_v2';
const ORDERED_DICT = 'collections.OrderedDict';
const UNTYPED_STORAGE = new Set(['torch.UntypedStorage', 'torch.storage.UntypedStorage']);
const TENSOR_TYPES = new Set(['torch.Tensor', 'torch.nn.parameter.Parameter']);

const TORCH_GLOBALS: ReadonlySet<string> = new Set([
  REBUILD_TENSOR,
  REBUILD_TENSOR_V1,
  REBUILD_PARAMETER,
  REBUILD_PARAMETER_STATE,
  REBUILD_FROM_TYPE,
  ORDERED_DICT,
  ...UNTYPED_STORAGE,
  ...TENSOR_TYPES,
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
  ...TORCH_DTYPES.map((d) => `torch.${d}`),
]);

/** A storage (one `data/N` record), read and decoded lazily: only storages of the chosen tensors are touched. */
class StorageRef {
  private raw?: Uint8Array;
  private decoded?: Float32Array;
  constructor(
    readonly key: string,
    readonly typeName: string,
    readonly dtype: string,
    readonly itemBytes: number,
    readonly numel: number,
    private readonly load: (s: StorageRef) => Uint8Array,
    private readonly fileName: string,
  ) {}
  /** The storage's bytes, checked to be exactly `numel` elements long. */
  bytes(): Uint8Array {
    if (this.raw == null) {
      const b = this.load(this);
      if (b.length !== this.numel * this.itemBytes) {
        throw new Error(
          `${this.fileName}: storage '${this.key}' (${this.typeName}) holds ${b.length} bytes, expected ` +
            `${this.numel} × ${this.itemBytes} = ${this.numel * this.itemBytes}`,
        );
      }
      this.raw = b;
    }
    return this.raw;
  }
  /** The whole storage as float32 (decoded once, for strided views). */
  floats(): Float32Array {
    if (this.decoded == null) this.decoded = decodeCheckpointTensor(this.dtype, [this.numel], this.bytes()).data;
    return this.decoded;
  }
}

/** A tensor: a strided view of a storage, materialized when the state dict is returned. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

/** Reads the bytes of a storage, once, when a tensor of the state dict needs them. */
type StorageSource = (storage: StorageRef) => Uint8Array;

function torchExtension(
  name: string,
  source: StorageSource,
  legacy: boolean,
  onStorage?: (s: StorageRef) => void,
): PickleExtension {
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}`);
  };
  const storages = new Map<string, StorageRef>();
  const int = (v: unknown, what: string): number => {
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    return fail(`${what}: expected an integer, got ${describeValue(v)}`);
  };
  const ints = (v: unknown, what: string): number[] => {
    if (!Array.isArray(v)) return fail(`${what}: expected a tuple of integers, got ${describeValue(v)}`);
    return v.map((x) => int(x, what));
  };
  const rebuildTensor = (args: unknown[], fn: string): TensorRef => {
    if (args.length < 4) fail(`${fn} called with ${args.length} arguments, expected at least 4`);
    const [storage, offsetArg, sizeArg, strideArg] = args;
    if (!(storage instanceof StorageRef)) {
      return fail(`${fn}: expected a storage (persistent id) as first argument, got ${describeValue(storage)}`);
    }
    const offset = int(offsetArg, `${fn} storage offset`);
    const shape = ints(sizeArg, `${fn} size`);
    const stride = ints(strideArg, `${fn} stride`);
    if (shape.length !== stride.length) fail(`${fn}: size (${shape.length} dims) and stride (${stride.length} dims) differ`);
    if (shape.some((d) => d < 0) || stride.some((s) => s < 0) || offset < 0) {
      fail(`${fn}: negative size, stride or offset (size [${shape.join(', ')}], stride [${stride.join(', ')}], offset ${offset})`);
    }
    let count = 1;
    let last = offset;
    for (let i = 0; i < shape.length; i++) {
      count *= shape[i];
      last += (shape[i] - 1) * stride[i];
    }
    if (count > 0 && (last >= storage.numel || !Number.isSafeInteger(last))) {
      fail(
        `tensor of size [${shape.join(', ')}], stride [${stride.join(', ')}], offset ${offset} reaches element ${last} of storage ` +
          `'${storage.key}', which holds ${storage.numel}`,
      );
    }
    return new TensorRef(storage, offset, shape, stride);
  };
  return {
    globals: TORCH_GLOBALS,
    allowedDescription: 'tensors, storages and plain data (a state dict)',
    // The legacy format starts with the magic number 0x1950a86a20f9469cfc6c, a 10-byte integer.
    maxLongBytes: legacy ? 10 : undefined,
    reduce(g, args) {
      if (g === ORDERED_DICT) {
        const m = new Map<PickleKey, PickleValue>();
        if (args.length > 0 && Array.isArray(args[0])) {
          for (const kv of args[0] as unknown[]) {
            if (!Array.isArray(kv) || kv.length !== 2) fail('collections.OrderedDict called with items that are not pairs');
            const [k, v] = kv as [unknown, unknown];
            if (k !== null && typeof k === 'object') fail(`collections.OrderedDict key ${describeValue(k)} is not supported`);
            m.set(k as PickleKey, v as PickleValue);
          }
        }
        return m;
      }
      if (g === REBUILD_TENSOR || g === REBUILD_TENSOR_V1) return rebuildTensor(args, g);
      if (g === REBUILD_PARAMETER || g === REBUILD_PARAMETER_STATE) {
        if (!(args[0] instanceof TensorRef)) return fail(`${g}: expected a tensor, got ${describeValue(args[0])}`);
        return args[0];
      }
      if (g === REBUILD_FROM_TYPE) {
        // _rebuild_from_type_v2(func, new_type, args, state): a tensor or parameter with Python attributes.
        const [func, type, inner] = args;
        if (!(type instanceof PickleGlobalRef && TENSOR_TYPES.has(type.name))) {
          return fail(`${g}: tensor subclass ${describeValue(type)} is not supported (expected torch.Tensor or a Parameter)`);
        }
        if (!(func instanceof PickleGlobalRef && (func.name === REBUILD_TENSOR || func.name === REBUILD_PARAMETER))) {
          return fail(`${g}: rebuild function ${describeValue(func)} is not supported`);
        }
        if (!Array.isArray(inner)) return fail(`${g}: arguments are ${describeValue(inner)}, expected a tuple`);
        return func.name === REBUILD_TENSOR ? rebuildTensor(inner, func.name) : inner[0];
      }
      return fail(`global '${g}' cannot be called`);
    },
    persistentLoad(pid) {
      // ('storage', storage_type, key, location, numel) — the legacy format adds view_metadata.
      if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') {
        return fail(`unsupported persistent id ${describeValue(pid)} (expected ('storage', type, key, location, numel))`);
      }
      const [, type, keyArg, , numelArg] = pid as unknown[];
      const key = typeof keyArg === 'string' ? keyArg : fail(`storage key ${describeValue(keyArg)} is not a string`);
      if (legacy && pid.length > 5 && pid[5] != null) fail(`storage '${key}': legacy storage views are not supported`);
      if (!(type instanceof PickleGlobalRef)) return fail(`storage '${key}': type ${describeValue(type)} is not a storage class`);
      if (UNTYPED_STORAGE.has(type.name)) {
        return fail(`storage '${key}': untyped storages (${type.name}) carry no dtype; re-save the state dict with torch.save`);
      }
      const dt = STORAGE_DTYPES[type.name.slice('torch.'.length)];
      if (dt == null) return fail(`storage '${key}': unsupported storage type ${type.name}`);
      const numel = int(numelArg, `storage '${key}' size`);
      if (numel < 0) fail(`storage '${key}' has a negative size ${numel}`);
      const cached = storages.get(key);
      if (cached != null) {
        if (cached.dtype !== dt[0] || cached.numel !== numel) {
          fail(`storage '${key}' is declared as ${cached.numel} × ${cached.dtype} and as ${numel} × ${dt[0]}`);
        }
        return cached;
      }
      const ref = new StorageRef(key, type.name, dt[0], dt[1], numel, source, name);
      storages.set(key, ref);
      onStorage?.(ref);
      return ref;
    },
    globalValue(g) {
      if (g.startsWith('torch.') && TORCH_DTYPES.includes(g.slice('torch.'.length))) return g;
      return fail(`global '${g}' used as a value (expected a tensor or plain data)`);
    },
    buildDict() {
      // OrderedDict state: a state dict's `_metadata` (module versions); not needed.
    },
  };
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'None';
  if (v instanceof PickleGlobalRef) return `global '${v.name}'`;
  if (v instanceof TensorRef) return 'a tensor';
  if (v instanceof StorageRef) return 'a storage';
  if (v instanceof Map) return 'a dict';
  if (Array.isArray(v)) return `a tuple of ${v.length}`;
  if (v instanceof Uint8Array) return 'bytes';
  if (typeof v === 'string') return `'${v.length > 40 ? `${v.slice(0, 40)}…` : v}'`;
  return typeof v;
}

/** Materializes a (possibly strided) tensor view as a row-major float32 tensor. */
function materialize(t: TensorRef): CheckpointTensor {
  const { storage, offset, shape, stride } = t;
  const count = shape.reduce((a, b) => a * b, 1);
  // Contiguous (row-major strides): decode just its bytes.
  let contiguous = true;
  for (let i = shape.length - 1, want = 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== want) contiguous = false;
    want *= shape[i];
  }
  if (contiguous || count === 0) {
    const b = storage.itemBytes;
    return decodeCheckpointTensor(storage.dtype, shape, storage.bytes().subarray(offset * b, (offset + count) * b));
  }
  const src = storage.floats();
  const out = new Float32Array(count);
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let at = offset;
  for (let i = 0; i < count; i++) {
    out[i] = src[at];
    // Odometer: advance the last index, carrying into earlier ones.
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        at += stride[d];
        break;
      }
      at -= (shape[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
  return { shape: [...shape], data: out, sourceDtype: storage.dtype };
}

/** Top-level keys tried, in this order, when the saved object is a dict of several things (as timm's loader does). */
const STATE_DICT_KEYS = ['state_dict', 'model', 'model_state_dict', 'module'];

/** Collects the tensors under `v`, names joined by '.' from `prefix`. */
function collectTensors(v: unknown, prefix: string, out: [string, TensorRef][], depth: number): void {
  if (v instanceof TensorRef) out.push([prefix, v]);
  else if (v instanceof Map && depth < 64) {
    for (const [k, x] of v) collectTensors(x, prefix === '' ? String(k) : `${prefix}.${String(k)}`, out, depth + 1);
  }
}

/** Paths of the dicts that hold tensors directly. */
function tensorDicts(v: unknown, path: string, out: string[], depth: number): void {
  if (!(v instanceof Map) || depth >= 64) return;
  let has = false;
  for (const [k, x] of v) {
    if (x instanceof TensorRef) has = true;
    else tensorDicts(x, path === '' ? String(k) : `${path}.${String(k)}`, out, depth + 1);
  }
  if (has) out.push(path);
}

/** Finds the state dict in the saved object and flattens it to name → tensor. */
function selectStateDict(root: unknown, name: string, options: ReadTorchCheckpointOptions): [string, TensorRef][] {
  let node: unknown = root;
  let where = options.key;
  if (where == null) {
    const dicts: string[] = [];
    tensorDicts(root, '', dicts, 0);
    if (dicts.length === 0) {
      if (root instanceof TensorRef) throw new Error(`${name}: the checkpoint is a single tensor, not a state dict`);
      throw new Error(`${name}: no tensors found (the saved object is ${describeValue(root)})`);
    }
    // The top-level entries that hold tensors somewhere below them.
    const tops = [...new Set(dicts.map((d) => (d === '' ? '' : d.split('.')[0])))];
    if (tops.includes('')) where = '';
    else if (tops.length === 1) where = tops[0];
    else {
      const preferred = STATE_DICT_KEYS.find((k) => tops.includes(k));
      if (preferred == null) {
        throw new Error(
          `${name}: several dicts hold tensors (${dicts.map((d) => `'${d}'`).join(', ')}); ` +
            `choose one with options.key`,
        );
      }
      where = preferred;
    }
  }
  if (where !== '') {
    for (const part of where.split('.')) {
      const next: unknown = node instanceof Map ? (node.has(part) ? node.get(part) : node.get(Number(part))) : undefined;
      if (next === undefined) {
        throw new Error(`${name}: options.key '${where}': no key '${part}' in ${describeValue(node)}`);
      }
      node = next;
    }
  }
  const out: [string, TensorRef][] = [];
  collectTensors(node, '', out, 0);
  if (out.length === 0) throw new Error(`${name}: no tensors under '${where}' (found ${describeValue(node)})`);
  return out;
}

/** Decodes and unpickles a zip checkpoint, returning the saved object. */
function loadZip(bytes: Uint8Array, name: string): unknown {
  const entries = readZipDirectory(bytes, name);
  const pkl = entries.filter((e) => /^[^/]+\/data\.pkl$/.test(e.name) || e.name === 'data.pkl');
  if (pkl.length !== 1) {
    throw new Error(
      `${name}: not a PyTorch checkpoint: expected one '<archive>/data.pkl' in the zip, found ${pkl.length} ` +
        `(entries: ${entries.slice(0, 5).map((e) => e.name).join(', ')}${entries.length > 5 ? ', …' : ''})`,
    );
  }
  const prefix = pkl[0].name.slice(0, -'data.pkl'.length);
  const byName = new Map<string, ZipEntry>(entries.map((e) => [e.name, e]));
  const byteorder = byName.get(`${prefix}byteorder`);
  if (byteorder != null) {
    const order = new TextDecoder().decode(readZipEntry(bytes, byteorder, name)).trim();
    if (order !== 'little') throw new Error(`${name}: byteorder '${order}' is not supported (expected 'little')`);
  }
  const source: StorageSource = ({ key }) => {
    const e = byName.get(`${prefix}data/${key}`);
    if (e == null) throw new Error(`${name}: storage '${key}' has no record '${prefix}data/${key}' in the archive`);
    return readZipEntry(bytes, e, name);
  };
  return readPickleWith(readZipEntry(bytes, pkl[0], name), { name: `${name}: ${pkl[0].name}` }, torchExtension(name, source, false)).value;
}

const LEGACY_MAGIC = BigInt('0x1950a86a20f9469cfc6c');

/**
 * The legacy format (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`): pickles of the magic number, the
 * protocol version and the system info, the object (storages as persistent ids), the sorted storage keys; then each
 * storage in key order as an int64 element count and its bytes.
 */
function loadLegacy(bytes: Uint8Array, name: string): unknown {
  const fail = (msg: string): never => {
    throw new Error(`${name}: ${msg}`);
  };
  const plain = torchExtension(name, () => new Uint8Array(0), true);
  const magic = readPickleWith(bytes, { name }, plain, 0);
  if (magic.value !== LEGACY_MAGIC) {
    fail('not a PyTorch checkpoint: a pickle without the magic number of torch.save (expected a state dict saved with torch.save)');
  }
  const proto = readPickleWith(bytes, { name }, plain, magic.end);
  if (proto.value !== 1001) fail(`legacy torch.save protocol ${String(proto.value)} is not supported (expected 1001)`);
  const sys = readPickleWith(bytes, { name }, plain, proto.end);
  if (sys.value instanceof Map && sys.value.get('little_endian') === false) fail('big-endian legacy checkpoints are not supported');
  // The storages' bytes follow the object and the key list: found once the key list has been read.
  const declared = new Map<string, StorageRef>();
  const located = new Map<string, Uint8Array>();
  const source: StorageSource = ({ key }) => located.get(key) ?? fail(`storage '${key}' is not in the file's storage list`);
  const obj = readPickleWith(bytes, { name }, torchExtension(name, source, true, (s) => declared.set(s.key, s)), sys.end);
  const keys = readPickleWith(bytes, { name }, plain, obj.end);
  if (!Array.isArray(keys.value) || !keys.value.every((k) => typeof k === 'string')) {
    fail(`corrupt legacy checkpoint: the storage key list at offset ${obj.end} is not a list of strings`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = keys.end;
  for (const key of keys.value as string[]) {
    const s = declared.get(key) ?? fail(`corrupt legacy checkpoint: storage '${key}' is listed but never used`);
    if (at + 8 > bytes.length) fail(`truncated legacy checkpoint: storage '${key}' size expected at offset ${at}`);
    const n = view.getBigInt64(at, true);
    if (n !== BigInt(s.numel)) fail(`corrupt legacy checkpoint: storage '${key}' at offset ${at} holds ${n} elements, declared ${s.numel}`);
    const len = s.numel * s.itemBytes;
    if (at + 8 + len > bytes.length) fail(`truncated legacy checkpoint: storage '${key}' (${len} bytes at offset ${at + 8}) runs past the end`);
    located.set(key, bytes.subarray(at + 8, at + 8 + len));
    at += 8 + len;
  }
  return obj.value;
}

/**
 * Reads a PyTorch checkpoint written by `torch.save` (a zip archive: `data.pkl` plus one `data/N` record per
 * storage; stored or deflated entries, zip64) and returns its state dict as float32 tensors in the file's order.
 *
 * - The pickle is read by the library's safe unpickler: only tensor and parameter rebuilders, storage classes,
 *   dtypes and `collections.OrderedDict` are known; any other global (a model class, `argparse.Namespace`,
 *   `os.system`) is refused by name and nothing is executed. Save `model.state_dict()`, not the model.
 * - Strided views (transposed tensors, slices) come out row-major; views sharing one storage each get their own data.
 * - The state dict: the saved dict when it holds tensors itself; otherwise the one entry of it with tensors below it
 *   (`{'model': state_dict, 'epoch': 3}`), or, when several have, the first of `state_dict`, `model`,
 *   `model_state_dict`, `module` among them; `options.key` chooses explicitly. Tensors of nested dicts get dotted
 *   names. A `module.` prefix on every name is stripped.
 * - F32, F16, BF16 and F64 tensors are decoded (F16/BF16 exactly); other dtypes are refused by name unless
 *   `options.skipUnsupportedDtypes`.
 *
 * @throws Error naming the problem: the refused global, the entry or offset of a corrupt archive, the tensor and its
 * dtype.
 *
 * @example
 * ```ts
 * const tensors = readTorchCheckpoint(bytes, { name: 'vit_b_16.pth' });
 * console.log(tensors['conv_proj.weight'].shape); // [768, 3, 16, 16]
 * ```
 *
 * @category Interop
 */
export function readTorchCheckpoint(bytes: Uint8Array, options: ReadTorchCheckpointOptions = {}): CheckpointTensors {
  const name = options.name ?? 'checkpoint';
  let root: unknown;
  if (isZip(bytes)) root = loadZip(bytes, name);
  else if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] <= 5) root = loadLegacy(bytes, name);
  else {
    throw new Error(
      `${name}: not a PyTorch checkpoint (expected a zip archive written by torch.save, starting with 'PK', or a ` +
        'legacy pickle starting with byte 0x80)',
    );
  }
  let entries = selectStateDict(root, name, options);
  if (options.stripModulePrefix !== false && entries.every(([k]) => k.startsWith('module.'))) {
    entries = entries.map(([k, t]) => [k.slice('module.'.length), t]);
  }
  const out: CheckpointTensors = {};
  for (const [k, t] of entries) {
    if (Object.prototype.hasOwnProperty.call(out, k)) throw new Error(`${name}: two tensors are named '${k}'`);
    if (FLOAT_DTYPE_BYTES[t.storage.dtype] == null) {
      if (options.skipUnsupportedDtypes === true) continue;
      throw new Error(
        `${name}: tensor '${k}' has dtype ${t.storage.dtype}, which is not supported (supported: ` +
          `${CHECKPOINT_DTYPES.join(', ')}; options.skipUnsupportedDtypes leaves such tensors out)`,
      );
    }
    setOwn(out, k, materialize(t));
  }
  return out;
}

/**
 * Options of {@link readCheckpoint}: those of {@link readTorchCheckpoint} (used for PyTorch files) and of
 * `readSafetensors` (for safetensors files).
 *
 * @category Interop
 */
export interface ReadCheckpointOptions extends ReadTorchCheckpointOptions, Pick<ReadSafetensorsOptions, 'maxHeaderBytes'> {}

/**
 * The format of checkpoint bytes, from their first bytes: 'torch' (a zip archive or a legacy pickle, as `torch.save`
 * writes), 'safetensors' (an 8-byte header length followed by '{'), or null.
 *
 * @category Interop
 */
export function checkpointFormat(bytes: Uint8Array): 'torch' | 'safetensors' | null {
  if (isZip(bytes) || (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5)) return 'torch';
  if (bytes.length >= 9 && bytes[8] === 0x7b && bytes[5] === 0 && bytes[6] === 0 && bytes[7] === 0) return 'safetensors';
  return null;
}

/**
 * Reads a checkpoint of either format, told apart by its first bytes (see {@link checkpointFormat}): a `torch.save`
 * file through {@link readTorchCheckpoint}, a safetensors file through `readSafetensors`.
 *
 * @throws Error naming the problem; for bytes of neither format, an error saying what was expected.
 *
 * @example
 * ```ts
 * const tensors = readCheckpoint(bytes, { name: 'model.bin' }); // .pth, .pt, .bin or .safetensors
 * ```
 *
 * @category Interop
 */
export function readCheckpoint(bytes: Uint8Array, options: ReadCheckpointOptions = {}): CheckpointTensors {
  const name = options.name ?? 'checkpoint';
  const format = checkpointFormat(bytes);
  if (format === 'torch') return readTorchCheckpoint(bytes, options);
  if (format === 'safetensors') {
    return readSafetensors(bytes, { name, maxHeaderBytes: options.maxHeaderBytes, skipUnsupportedDtypes: options.skipUnsupportedDtypes });
  }
  throw new Error(
    `${name}: not a checkpoint: neither a PyTorch file (a zip archive starting with 'PK', or a pickle starting with ` +
      "byte 0x80) nor a safetensors file (an 8-byte header length, then '{')",
  );
}
