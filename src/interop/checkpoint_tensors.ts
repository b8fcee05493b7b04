/**
 * The tensor type shared by the checkpoint readers and writers (safetensors, `torch.save`) and the layout mapping:
 * a flat name → float32 tensor map, as a PyTorch state dict. Browser-safe.
 */

/**
 * One tensor of a checkpoint, as float32 in row-major (C) order.
 *
 * @category Interop
 */
export interface CheckpointTensor {
  /** Dimensions, outermost first (`[]` for a scalar). */
  shape: number[];
  /** The elements in row-major order; `data.length` is the product of `shape`. */
  data: Float32Array;
  /** The element type in the file, as safetensors names it: 'F32', 'F16', 'BF16', 'F64'. */
  sourceDtype: string;
}

/**
 * A flat name → tensor map (a PyTorch state dict), in the file's order.
 *
 * @category Interop
 */
export type CheckpointTensors = Record<string, CheckpointTensor>;

/**
 * Builds a {@link CheckpointTensor}, checking that `data` holds exactly the product of `shape` elements.
 *
 * @example
 * ```ts
 * const bias = checkpointTensor([3], new Float32Array([0.1, 0.2, 0.3]));
 * ```
 *
 * @category Interop
 */
export function checkpointTensor(shape: readonly number[], data: Float32Array, sourceDtype = 'F32'): CheckpointTensor {
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`checkpointTensor: shape [${shape.join(', ')}] has an invalid dimension ${d} (expected integers ≥ 0)`);
    }
  }
  const n = shape.reduce((a, b) => a * b, 1);
  if (data.length !== n) {
    throw new Error(`checkpointTensor: data has ${data.length} elements, shape [${shape.join(', ')}] needs ${n}`);
  }
  return { shape: [...shape], data, sourceDtype };
}

/** Bytes per element of the dtypes the readers decode to float32 (safetensors names). @internal */
export const FLOAT_DTYPE_BYTES: Readonly<Record<string, number>> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/**
 * The element types the checkpoint readers decode to float32, as safetensors names them (PyTorch's float32,
 * float16, bfloat16 and float64).
 *
 * @category Interop
 */
export const CHECKPOINT_DTYPES: readonly string[] = Object.freeze(Object.keys(FLOAT_DTYPE_BYTES));

/**
 * Decodes the little-endian bytes of one tensor of dtype 'F32', 'F16', 'BF16' or 'F64' into a float32
 * {@link CheckpointTensor} (F16 and BF16 exactly, F64 rounded to nearest). The bytes are copied, so `bytes` may be
 * a view at any alignment.
 *
 * @throws Error for another dtype, or when `bytes` is not exactly the size `shape` and `dtype` need.
 *
 * @example
 * ```ts
 * const one = decodeCheckpointTensor('BF16', [1], new Uint8Array([0x80, 0x3f])); // data: [1]
 * ```
 *
 * @category Interop
 */
export function decodeCheckpointTensor(dtype: string, shape: readonly number[], bytes: Uint8Array): CheckpointTensor {
  const size = FLOAT_DTYPE_BYTES[dtype];
  if (size == null) throw new Error(`decodeCheckpointTensor: unsupported dtype '${dtype}' (supported: ${CHECKPOINT_DTYPES.join(', ')})`);
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new Error(`decodeCheckpointTensor: shape [${shape.join(', ')}] has an invalid dimension ${d} (expected integers ≥ 0)`);
    }
    count *= d;
  }
  if (bytes.length !== count * size) {
    throw new Error(`decodeCheckpointTensor: ${bytes.length} bytes, shape [${shape.join(', ')}] of ${dtype} needs ${count * size}`);
  }
  return { shape: [...shape], data: decodeFloats(dtype, bytes, count), sourceDtype: dtype };
}

/** float16 bits → float32 table for all 65,536 codes, built on first use (256 KiB). */
let halfTable: Float32Array | undefined;

/** The value of the IEEE 754 binary16 with bits `h` (exact: every float16 is a float32). @internal */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac === 0 ? sign * Infinity : NaN;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/**
 * Decodes `count` little-endian elements of a float dtype ('F32', 'F16', 'BF16', 'F64') from `bytes` into a new
 * Float32Array. F16 and BF16 convert exactly; F64 rounds to the nearest float32. `bytes.length` must be `count`
 * times the element size (checked by the callers). @internal
 */
export function decodeFloats(dtype: string, bytes: Uint8Array, count: number): Float32Array {
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (dtype) {
    case 'F32':
      // A byte copy (little-endian hosts; DataView otherwise), whatever the alignment of `bytes`.
      if (littleEndianHost()) new Uint8Array(out.buffer).set(bytes.subarray(0, count * 4));
      else for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
      break;
    case 'F16': {
      if (halfTable == null) {
        halfTable = new Float32Array(65536);
        for (let h = 0; h < 65536; h++) halfTable[h] = halfToFloat(h);
      }
      const t = halfTable;
      for (let i = 0; i < count; i++) out[i] = t[view.getUint16(2 * i, true)];
      break;
    }
    case 'BF16': {
      // bfloat16 is the upper half of a float32: shift the bits up (the two views share the host's byte order).
      const bits = new Uint32Array(out.buffer);
      for (let i = 0; i < count; i++) bits[i] = view.getUint16(2 * i, true) << 16;
      break;
    }
    case 'F64':
      for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
      break;
    default:
      throw new Error(`unsupported dtype '${dtype}'`);
  }
  return out;
}

let hostLE: boolean | undefined;
function littleEndianHost(): boolean {
  if (hostLE == null) hostLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  return hostLE;
}
