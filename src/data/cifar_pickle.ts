import { PickleNdArray, type PickleKey, type PickleValue, readPickle } from './pickle';
import {
  CIFAR100_NUM_COARSE_CLASSES,
  CIFAR_CHANNELS,
  CIFAR_IMAGE_BYTES,
  CIFAR_IMAGE_SIZE,
  type CifarSplit,
  type CifarVariant,
  cifarNumClasses,
  planarToNhwc,
} from './types';

/**
 * Options of {@link parseCifarPickleBatch}.
 *
 * @category Data
 */
export interface ParseCifarPickleOptions {
  /** CIFAR-10 batches hold `labels`; CIFAR-100 files hold `fine_labels` and `coarse_labels`. */
  variant?: CifarVariant;
  /** File name used in error messages. */
  name?: string;
}

function describeValue(v: PickleValue): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a list or tuple';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof Set) return 'a set';
  if (v instanceof PickleNdArray) return 'a numpy array';
  return `a ${typeof v}`;
}

function asDict(v: PickleValue, name: string): Map<PickleKey, PickleValue> {
  if (!(v instanceof Map)) {
    throw new Error(`${name}: expected a pickled dict at the top level (a CIFAR python batch or meta file), got ${describeValue(v)}`);
  }
  return v;
}

function labelList(d: Map<PickleKey, PickleValue>, key: string, n: number, max: number, name: string): Uint8Array {
  const v = d.get(key);
  if (v == null) throw new Error(`${name}: missing '${key}' entry`);
  let values: ArrayLike<number | bigint>;
  if (Array.isArray(v)) values = v as (number | bigint)[];
  else if (v instanceof PickleNdArray && v.shape.length === 1) values = v.data as ArrayLike<number | bigint>;
  else throw new Error(`${name}: '${key}' is not a list of integers`);
  if (values.length !== n) throw new Error(`${name}: '${key}' has ${values.length} entries for ${n} images`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const raw = values[i];
    const l = typeof raw === 'bigint' ? Number(raw) : raw;
    if (typeof l !== 'number' || !Number.isInteger(l) || l < 0 || l >= max) {
      throw new Error(`${name}: label out of range in '${key}'[${i}]: ${String(raw)} (expected 0..${max - 1})`);
    }
    out[i] = l;
  }
  return out;
}

/**
 * Parses one batch of CIFAR's "python version" (`data_batch_1`, `test_batch`, CIFAR-100's `train`, `test`) with the
 * safe pickle reader: a dict whose `data` is a uint8 numpy array [n, 3072] of planar rows. Returns uint8 NHWC images
 * and labels (CIFAR-100: fine `labels` and `coarseLabels`).
 *
 * Limits, for untrusted files: those of {@link readPickle} (time linear in the input, memory the input plus the
 * output, nesting depth capped, integers at most 8 bytes); errors name the file and say what was expected.
 *
 * @category Data
 */
export function parseCifarPickleBatch(bytes: Uint8Array, options: ParseCifarPickleOptions = {}): CifarSplit {
  const variant = options.variant ?? 'cifar10';
  const name = options.name ?? 'CIFAR pickle batch';
  const d = asDict(readPickle(bytes, { name }), name);
  const data = d.get('data');
  if (!(data instanceof PickleNdArray)) throw new Error(`${name}: missing or invalid 'data' array`);
  if (data.dtype !== 'u1' || data.shape.length !== 2 || data.shape[1] !== CIFAR_IMAGE_BYTES) {
    throw new Error(`${name}: 'data' must be uint8 [n, 3072], got ${data.dtype} [${data.shape.join(', ')}]`);
  }
  if (data.fortranOrder) throw new Error(`${name}: Fortran-ordered 'data' is not supported`);
  const n = data.shape[0];
  const images = new Uint8Array(n * CIFAR_IMAGE_BYTES);
  planarToNhwc(data.data as Uint8Array, 0, CIFAR_IMAGE_BYTES, n, images, 0);
  const shape: CifarSplit['shape'] = [n, CIFAR_IMAGE_SIZE, CIFAR_IMAGE_SIZE, CIFAR_CHANNELS];
  if (variant === 'cifar10') {
    return { images, shape, labels: labelList(d, 'labels', n, cifarNumClasses('cifar10'), name) };
  }
  return {
    images,
    shape,
    labels: labelList(d, 'fine_labels', n, cifarNumClasses('cifar100'), name),
    coarseLabels: labelList(d, 'coarse_labels', n, CIFAR100_NUM_COARSE_CLASSES, name),
  };
}

/**
 * Class names decoded from a CIFAR python `batches.meta` (CIFAR-10) or `meta` (CIFAR-100) pickle.
 *
 * @category Data
 */
export interface CifarPickleMeta {
  /** CIFAR-10 `label_names` or CIFAR-100 `fine_label_names`. */
  classNames: string[];
  /** CIFAR-100 `coarse_label_names`. */
  coarseClassNames?: string[];
}

function names(d: Map<PickleKey, PickleValue>, key: string, name: string): string[] {
  const v = d.get(key);
  if (!Array.isArray(v)) throw new Error(`${name}: missing '${key}' list`);
  return v.map((x, i) => {
    if (typeof x === 'string') return x;
    if (x instanceof Uint8Array) return new TextDecoder().decode(x);
    throw new Error(`${name}: '${key}'[${i}] is not a string`);
  });
}

/**
 * Parses CIFAR's python meta pickle (`batches.meta` or CIFAR-100 `meta`) into class names. Limits as
 * {@link readPickle}.
 *
 * @category Data
 */
export function parseCifarPickleMeta(bytes: Uint8Array, options: ParseCifarPickleOptions = {}): CifarPickleMeta {
  const variant = options.variant ?? 'cifar10';
  const name = options.name ?? 'CIFAR meta pickle';
  const d = asDict(readPickle(bytes, { name }), name);
  if (variant === 'cifar10') return { classNames: names(d, 'label_names', name) };
  return { classNames: names(d, 'fine_label_names', name), coarseClassNames: names(d, 'coarse_label_names', name) };
}
