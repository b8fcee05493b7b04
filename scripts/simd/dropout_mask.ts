/**
 * WebAssembly text of a dropout mask drawn from four interleaved xoshiro128** streams (one per SIMD lane).
 *
 * `dropout_mask(out, n, a0, a1, a2, a3, b0, …, d3, threshold, scale)` writes n float32 values: value i comes from
 * stream i mod 4 (states a, b, c, d: four 32-bit words each), its ⌊i / 4⌋-th draw; 0 where that draw is below the
 * integer `threshold`, `scale` elsewhere — the same numbers as `dropoutMask`'s JavaScript loop on other backends.
 */

const STATE_WORDS = ['a', 'b', 'c', 'd'].flatMap((s) => [0, 1, 2, 3].map((w) => `${s}${w}`));

export function dropoutMaskWat(): string {
  const get = (name: string) => `(local.get $${name})`;
  const set = (name: string, value: string) => `(local.set $${name} ${value})`;
  const rotl = (x: string, k: number) => `(v128.or (i32x4.shl ${x} (i32.const ${k})) (i32x4.shr_u ${x} (i32.const ${32 - k})))`;
  // Word w of the four streams' states as one vector (lane j = stream j).
  const gather = (w: number) =>
    ['b', 'c', 'd'].reduce((v, s, j) => `(i32x4.replace_lane ${j + 1} ${v} ${get(`${s}${w}`)})`, `(i32x4.splat ${get(`a${w}`)})`);
  // One draw of every stream: $draw, and the state update of xoshiro128**.
  const step = [
    set('draw', `(i32x4.mul ${rotl(`(i32x4.mul ${get('s1')} (i32x4.splat (i32.const 5)))`, 7)} (i32x4.splat (i32.const 9)))`),
    set('t', `(i32x4.shl ${get('s1')} (i32.const 9))`),
    set('s2', `(v128.xor ${get('s2')} ${get('s0')})`),
    set('s3', `(v128.xor ${get('s3')} ${get('s1')})`),
    set('s1', `(v128.xor ${get('s1')} ${get('s2')})`),
    set('s0', `(v128.xor ${get('s0')} ${get('s3')})`),
    set('s2', `(v128.xor ${get('s2')} ${get('t')})`),
    set('s3', rotl(get('s3'), 11)),
    // scale where draw ≥ threshold (unsigned), else 0
    set('value', `(v128.andnot ${get('scales')} (i32x4.lt_u ${get('draw')} ${get('thresholds')}))`),
  ].join('\n    ');
  const storeLane = (l: number) =>
    `(if (i32.gt_u ${get('n')} (i32.const ${l})) (then (f32.store offset=${4 * l} ${get('out')} (f32x4.extract_lane ${l} ${get('value')}))))`;
  return `(func (export "dropout_mask") (param $out i32) (param $n i32) ${STATE_WORDS.map((w) => `(param $${w} i32)`).join(' ')}
    (param $threshold i32) (param $scale f32)
  (local $s0 v128) (local $s1 v128) (local $s2 v128) (local $s3 v128) (local $t v128) (local $draw v128) (local $value v128)
  (local $thresholds v128) (local $scales v128)
  ${[0, 1, 2, 3].map((w) => set(`s${w}`, gather(w))).join('\n  ')}
  ${set('thresholds', `(i32x4.splat ${get('threshold')})`)}
  ${set('scales', `(f32x4.splat ${get('scale')})`)}
  (block $done (loop $vectors
    (br_if $done (i32.lt_u ${get('n')} (i32.const 4)))
    ${step}
    (v128.store ${get('out')} ${get('value')})
    ${set('out', `(i32.add ${get('out')} (i32.const 16))`)}
    ${set('n', `(i32.sub ${get('n')} (i32.const 4))`)}
    (br $vectors)))
  (if ${get('n')} (then
    ${step}
    ${[0, 1, 2].map(storeLane).join('\n    ')}))
)`;
}
