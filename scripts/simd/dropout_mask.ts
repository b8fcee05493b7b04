/**
 * WebAssembly text of a dropout mask drawn with xoshiro128** (scalar: the generator is one sequential stream).
 *
 * `dropout_mask(out, n, s0, s1, s2, s3, threshold, scale)` writes n float32 values: for each successive 32-bit draw
 * of the generator whose state is (s0, s1, s2, s3), 0 where the draw is below `threshold` (rate · 2³²) and `scale`
 * elsewhere — the same numbers, draw for draw, as the library's `RandomGenerator.nextUint32` and `dropoutMask` on
 * other backends.
 */
export function dropoutMaskWat(): string {
  const get = (name: string) => `(local.get $${name})`;
  const xor = (a: string, b: string) => `(local.set $${a} (i32.xor ${get(a)} ${get(b)}))`;
  return `(func (export "dropout_mask") (param $out i32) (param $n i32) (param $s0 i32) (param $s1 i32) (param $s2 i32) (param $s3 i32)
    (param $threshold f64) (param $scale f32)
  (local $draw i32) (local $t i32)
  (block $done
    (loop $values
      (br_if $done (i32.eqz ${get('n')}))
      ;; xoshiro128**: result = rotl(s1 · 5, 7) · 9, then the state update
      (local.set $draw (i32.mul (i32.rotl (i32.mul ${get('s1')} (i32.const 5)) (i32.const 7)) (i32.const 9)))
      (local.set $t (i32.shl ${get('s1')} (i32.const 9)))
      ${xor('s2', 's0')}
      ${xor('s3', 's1')}
      ${xor('s1', 's2')}
      ${xor('s0', 's3')}
      ${xor('s2', 't')}
      (local.set $s3 (i32.rotl ${get('s3')} (i32.const 11)))
      (f32.store ${get('out')} (select (f32.const 0) ${get('scale')} (f64.lt (f64.convert_i32_u ${get('draw')}) ${get('threshold')})))
      (local.set $out (i32.add ${get('out')} (i32.const 4)))
      (local.set $n (i32.sub ${get('n')} (i32.const 1)))
      (br $values)))
)`;
}
