/**
 * WebAssembly text of layer normalization over the last axis and its gradient (f32, 128-bit SIMD; the number of
 * columns must be a multiple of 4). Pointers in bytes; a gamma or beta pointer of 0 stands for none (1 and 0).
 *
 * - `layer_norm(x, gamma, beta, y, xhat, rstd, rows, cols, epsilon)`: per row, mean and biased variance by two
 *   passes, rstd = 1/√(var + ε), x̂ = (x − mean)·rstd, y = x̂·γ + β;
 * - `layer_norm_grad(dy, xhat, rstd, gamma, dx, dgamma, dbeta, rows, cols)`: with g = dy·γ,
 *   dx = (g − mean(g) − x̂·mean(g·x̂))·rstd per row; dγ = Σ_rows dy·x̂ and dβ = Σ_rows dy.
 */

/** `(loop ...)` over the columns of a row, 4 at a time; `$c` is the byte offset of the current vector. */
function overColumns(label: string, body: string): string {
  return `(local.set $c (i32.const 0))
    (loop $${label}
      ${body}
      (local.set $c (i32.add (local.get $c) (i32.const 16)))
      (br_if $${label} (i32.lt_u (local.get $c) (local.get $rowBytes))))`;
}

const load = (ptr: string) => `(v128.load (i32.add (local.get $${ptr}) (local.get $c)))`;
const store = (ptr: string, value: string) => `(v128.store (i32.add (local.get $${ptr}) (local.get $c)) ${value})`;
/** γ (or 1 without gamma), β (or 0) at the current column. */
const gammaAt = `(if (result v128) (local.get $gamma) (then ${load('gamma')}) (else (v128.const f32x4 1 1 1 1)))`;
const betaAt = `(if (result v128) (local.get $beta) (then ${load('beta')}) (else (v128.const f32x4 0 0 0 0)))`;
/** The sum of the 4 lanes of `$name`. */
const lanes = (name: string) =>
  `(f32.add (f32.add (f32x4.extract_lane 0 (local.get $${name})) (f32x4.extract_lane 1 (local.get $${name}))) (f32.add (f32x4.extract_lane 2 (local.get $${name})) (f32x4.extract_lane 3 (local.get $${name}))))`;

/** Per-row loop: `body` runs with `$rowBytes` set, then every row pointer in `pointers` moves on by a row. */
function overRows(pointers: string[], body: string): string {
  return `(local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
  (block $done (loop $rows
    (br_if $done (i32.eqz (local.get $rows)))
    ${body}
    ${pointers.map((p) => `(local.set $${p} (i32.add (local.get $${p}) (local.get $rowBytes)))`).join('\n    ')}
    (local.set $rstd (i32.add (local.get $rstd) (i32.const 4)))
    (local.set $rows (i32.sub (local.get $rows) (i32.const 1)))
    (br $rows)))`;
}

/** The exported `layer_norm` and `layer_norm_grad` functions. */
export function layerNormWat(): string {
  const forward = `(func (export "layer_norm") (param $x i32) (param $gamma i32) (param $beta i32) (param $y i32) (param $xhat i32)
    (param $rstd i32) (param $rows i32) (param $cols i32) (param $epsilon f32)
  (local $rowBytes i32) (local $c i32) (local $sum v128) (local $mean v128) (local $d v128) (local $inv v128) (local $h v128) (local $scale f32)
  (local.set $scale (f32.div (f32.const 1) (f32.convert_i32_u (local.get $cols))))
  ${overRows(['x', 'y', 'xhat'], `(local.set $sum (v128.const f32x4 0 0 0 0))
    ${overColumns('mean', `(local.set $sum (f32x4.add (local.get $sum) ${load('x')}))`)}
    (local.set $mean (f32x4.splat (f32.mul ${lanes('sum')} (local.get $scale))))
    (local.set $sum (v128.const f32x4 0 0 0 0))
    ${overColumns('variance', `(local.set $d (f32x4.sub ${load('x')} (local.get $mean)))
      (local.set $sum (f32x4.add (local.get $sum) (f32x4.mul (local.get $d) (local.get $d))))`)}
    (f32.store (local.get $rstd) (f32.div (f32.const 1) (f32.sqrt (f32.add (f32.mul ${lanes('sum')} (local.get $scale)) (local.get $epsilon)))))
    (local.set $inv (v128.load32_splat (local.get $rstd)))
    ${overColumns('normalize', `(local.set $h (f32x4.mul (f32x4.sub ${load('x')} (local.get $mean)) (local.get $inv)))
      ${store('xhat', '(local.get $h)')}
      ${store('y', `(f32x4.add (f32x4.mul (local.get $h) ${gammaAt}) ${betaAt})`)}`)}`)}
)`;
  const backward = `(func (export "layer_norm_grad") (param $dy i32) (param $xhat i32) (param $rstd i32) (param $gamma i32) (param $dx i32)
    (param $dgamma i32) (param $dbeta i32) (param $rows i32) (param $cols i32)
  (local $rowBytes i32) (local $c i32) (local $g v128) (local $h v128) (local $d v128) (local $s1 v128) (local $s2 v128)
  (local $m1 v128) (local $m2 v128) (local $inv v128) (local $scale f32)
  (local.set $scale (f32.div (f32.const 1) (f32.convert_i32_u (local.get $cols))))
  (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
  ${overColumns('zero', `${store('dgamma', '(v128.const f32x4 0 0 0 0)')}
      ${store('dbeta', '(v128.const f32x4 0 0 0 0)')}`)}
  ${overRows(['dy', 'xhat', 'dx'], `(local.set $s1 (v128.const f32x4 0 0 0 0))
    (local.set $s2 (v128.const f32x4 0 0 0 0))
    ${overColumns('sums', `(local.set $d ${load('dy')})
      (local.set $h ${load('xhat')})
      (local.set $g (f32x4.mul (local.get $d) ${gammaAt}))
      (local.set $s1 (f32x4.add (local.get $s1) (local.get $g)))
      (local.set $s2 (f32x4.add (local.get $s2) (f32x4.mul (local.get $g) (local.get $h))))
      ${store('dgamma', `(f32x4.add ${load('dgamma')} (f32x4.mul (local.get $d) (local.get $h)))`)}
      ${store('dbeta', `(f32x4.add ${load('dbeta')} (local.get $d))`)}`)}
    (local.set $m1 (f32x4.splat (f32.mul ${lanes('s1')} (local.get $scale))))
    (local.set $m2 (f32x4.splat (f32.mul ${lanes('s2')} (local.get $scale))))
    (local.set $inv (v128.load32_splat (local.get $rstd)))
    ${overColumns('dx', `(local.set $g (f32x4.mul ${load('dy')} ${gammaAt}))
      ${store('dx', `(f32x4.mul (f32x4.sub (f32x4.sub (local.get $g) (local.get $m1)) (f32x4.mul ${load('xhat')} (local.get $m2))) (local.get $inv))`)}`)}`)}
)`;
  return `${forward}\n${backward}`;
}
