/**
 * Argument checks shared by layers, models, optimizers and data helpers. Each throws an `Error` whose message
 * names the argument, its value and what was expected.
 */

/**
 * A value as an error message shows it: strings quoted, numbers as JavaScript writes them (NaN and Infinity too,
 * also inside arrays and objects, where JSON would write null). @internal
 */
export function show(value: unknown): string {
  if (typeof value === 'string') return `'${value}'`;
  if (typeof value === 'number' || typeof value === 'bigint' || value === undefined) return String(value);
  try {
    const marked = JSON.stringify(value, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `\u0000${v}\u0000` : v));
    return marked == null ? String(value) : marked.replace(/"\\u0000(-?Infinity|NaN)\\u0000"/g, '$1');
  } catch {
    return String(value);
  }
}

/**
 * Throws unless `value` is an integer ≥ 1.
 *
 * @category Utilities
 */
export function assertPositiveInteger(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new Error(`${name} must be a positive integer, got ${show(value)}`);
  }
}

/**
 * Throws unless `value` is an integer ≥ 0.
 *
 * @category Utilities
 */
export function assertNonNegativeInteger(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new Error(`${name} must be a non-negative integer, got ${show(value)}`);
  }
}

/**
 * Throws unless `value` is a finite number.
 *
 * @category Utilities
 */
export function assertFiniteNumber(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`${name} must be a finite number, got ${show(value)}`);
  }
}

/**
 * Throws unless `value` is a finite number > 0.
 *
 * @category Utilities
 */
export function assertPositiveNumber(name: string, value: unknown): asserts value is number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${name} must be a positive number, got ${show(value)}`);
  }
}

/**
 * Throws unless `value` is a number in the interval given (bounds included unless `openLow` / `openHigh`).
 *
 * @category Utilities
 */
export function assertInRange(
  name: string,
  value: unknown,
  low: number,
  high: number,
  { openLow = false, openHigh = false }: { openLow?: boolean; openHigh?: boolean } = {},
): asserts value is number {
  const ok =
    typeof value === 'number' &&
    Number.isFinite(value) &&
    (openLow ? value > low : value >= low) &&
    (openHigh ? value < high : value <= high);
  if (!ok) {
    throw new Error(`${name} must be in ${openLow ? '(' : '['}${low}, ${high}${openHigh ? ')' : ']'}, got ${show(value)}`);
  }
}

/**
 * Throws unless `value` is one of `allowed`.
 *
 * @category Utilities
 */
export function assertOneOf<T extends string>(name: string, value: unknown, allowed: readonly T[]): asserts value is T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new Error(`${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${show(value)}`);
  }
}
