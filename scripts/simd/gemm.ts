/**
 * WebAssembly text of the strided, batched matrix product `C = alpha · (A·B + bias)` (f32, 128-bit SIMD).
 *
 * The product is computed in register tiles of up to {@link TILE_ROWS} rows × 8 columns (two f32x4 accumulators
 * per row; narrower tiles of 4 and 1 columns finish a row), reading `A` through arbitrary row and depth strides
 * (so a transposed or head-interleaved operand needs no copy) and `B` / `C` with contiguous rows. The depth is
 * processed in chunks of {@link DEPTH_CHUNK} and the columns in blocks, so that the part of B the tiles share
 * stays in L2 and each tile's strip of A in L1.
 */

/** Rows of a register tile: 4 rows × 2 vectors = 8 accumulators, which the engines keep in registers. */
export const TILE_ROWS = 4;
/** Depth processed per pass over the tiles (measured: 128–256 best for [4096]-deep products). */
export const DEPTH_CHUNK = 256;
/** Floats of B per block of columns (256 KB, half a typical L2; see {@link tileGrid}). */
export const L2_FLOATS = 65536;

type Width = 8 | 4 | 1;
const WIDTHS: readonly Width[] = [8, 4, 1];

/** One tile function: `rows` rows × `width` columns of C, over `k` steps of the depth. */
function tile(rows: number, width: Width): string {
  const vectors = width === 8 ? 2 : 1;
  const simd = width !== 1;
  const ty = simd ? 'v128' : 'f32';
  const load = simd ? 'v128.load' : 'f32.load';
  const store = simd ? 'v128.store' : 'f32.store';
  const add = simd ? 'f32x4.add' : 'f32.add';
  const mul = simd ? 'f32x4.mul' : 'f32.mul';
  const acc = (r: number, v: number) => `$c${r}_${v}`;
  const rowPtr = (r: number) => (r === 0 ? '$a' : `$a${r}`);
  const out: string[] = [];
  out.push(
    `(func $tile_${rows}x${width} (param $a i32) (param $b i32) (param $c i32) (param $k i32) (param $ars i32) (param $aks i32) (param $bks i32) (param $ldc i32) (param $accumulate i32) (param $bias i32) (param $alpha f32)`,
  );
  for (let r = 0; r < rows; r++) for (let v = 0; v < vectors; v++) out.push(`  (local ${acc(r, v)} ${ty})`);
  for (let v = 0; v < vectors; v++) out.push(`  (local $b${v} ${ty})`);
  out.push(`  (local $av ${ty}) (local $pc i32) (local $scale ${ty})`);
  for (let r = 1; r < rows; r++) out.push(`  (local $a${r} i32)`);
  // Start from C's partial sums (a later depth chunk), from the bias row (address 0: none) or from zero.
  out.push(`  (if (local.get $accumulate) (then`, `    (local.set $pc (local.get $c))`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < vectors; v++) out.push(`    (local.set ${acc(r, v)} (${load} offset=${v * 16} (local.get $pc)))`);
    if (r < rows - 1) out.push(`    (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))`);
  }
  out.push(`  ) (else (if (local.get $bias) (then`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < vectors; v++) out.push(`    (local.set ${acc(r, v)} (${load} offset=${v * 16} (local.get $bias)))`);
  }
  out.push(`  ))))`);
  for (let r = 1; r < rows; r++) out.push(`  (local.set $a${r} (i32.add (local.get $a) (i32.mul (local.get $ars) (i32.const ${r}))))`);
  out.push(`  (loop $depth`);
  for (let v = 0; v < vectors; v++) out.push(`    (local.set $b${v} (${load} offset=${v * 16} (local.get $b)))`);
  for (let r = 0; r < rows; r++) {
    out.push(`    (local.set $av (${simd ? 'v128.load32_splat' : 'f32.load'} (local.get ${rowPtr(r)})))`);
    for (let v = 0; v < vectors; v++) {
      out.push(`    (local.set ${acc(r, v)} (${add} (local.get ${acc(r, v)}) (${mul} (local.get $av) (local.get $b${v}))))`);
    }
  }
  out.push(`    (local.set $b (i32.add (local.get $b) (local.get $bks)))`);
  for (let r = 0; r < rows; r++) out.push(`    (local.set ${rowPtr(r)} (i32.add (local.get ${rowPtr(r)}) (local.get $aks)))`);
  out.push(`    (br_if $depth (local.tee $k (i32.sub (local.get $k) (i32.const 1)))))`);
  // Scale (last depth chunk only) and store.
  out.push(`  (if (f32.ne (local.get $alpha) (f32.const 1)) (then`);
  out.push(`    (local.set $scale ${simd ? '(f32x4.splat (local.get $alpha))' : '(local.get $alpha)'})`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < vectors; v++) out.push(`    (local.set ${acc(r, v)} (${mul} (local.get ${acc(r, v)}) (local.get $scale)))`);
  }
  out.push(`  ))`, `  (local.set $pc (local.get $c))`);
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < vectors; v++) out.push(`  (${store} offset=${v * 16} (local.get $pc) (local.get ${acc(r, v)}))`);
    if (r < rows - 1) out.push(`  (local.set $pc (i32.add (local.get $pc) (local.get $ldc)))`);
  }
  out.push(`)`);
  return out.join('\n');
}

/** Calls the tile function for (`$rows`, `$width`). */
function dispatch(args: string): string {
  const out: string[] = [];
  for (let rows = 1; rows <= TILE_ROWS; rows++) {
    const byWidth = WIDTHS.map((w) => `(call $tile_${rows}x${w} ${args})`);
    out.push(
      `(if (i32.eq (local.get $rows) (i32.const ${rows})) (then`,
      `  (if (i32.eq (local.get $width) (i32.const 8)) (then ${byWidth[0]})`,
      `  (else (if (i32.eq (local.get $width) (i32.const 4)) (then ${byWidth[1]}) (else ${byWidth[2]}))))))`,
    );
  }
  return out.join('\n');
}

/**
 * The loops over the tiles of one depth chunk, in blocks of `$blockWidth` columns: within a block, rows outer, so
 * each strip of A (4 rows × depth) stays in L1 while the block of B (depth × block width, at most
 * {@link L2_FLOATS}) is read from L2 for every strip.
 */
function tileGrid(args: string): string {
  return `(local.set $j0 (i32.const 0))
(loop $blocks
  (local.set $jEnd (select (local.get $n) (i32.add (local.get $j0) (local.get $blockWidth)) (i32.lt_u (i32.sub (local.get $n) (local.get $j0)) (local.get $blockWidth))))
  (local.set $i (i32.const 0))
  (loop $tileRows
    (local.set $rows (i32.sub (local.get $m) (local.get $i)))
    (if (i32.gt_u (local.get $rows) (i32.const ${TILE_ROWS})) (then (local.set $rows (i32.const ${TILE_ROWS}))))
    (local.set $pa (i32.add (local.get $a2) (i32.add (i32.mul (local.get $i) (local.get $ars)) (i32.mul (local.get $p0) (local.get $aks)))))
    (local.set $j (local.get $j0))
    (loop $tileCols
      (local.set $width (i32.sub (local.get $jEnd) (local.get $j)))
      (local.set $width (select (i32.const 8) (select (i32.const 4) (i32.const 1) (i32.ge_u (local.get $width) (i32.const 4))) (i32.ge_u (local.get $width) (i32.const 8))))
      (local.set $pb (i32.add (local.get $b2) (i32.add (i32.mul (local.get $p0) (local.get $bks)) (i32.shl (local.get $j) (i32.const 2)))))
      (local.set $pc (i32.add (local.get $c2) (i32.add (i32.mul (local.get $i) (local.get $ldc)) (i32.shl (local.get $j) (i32.const 2)))))
      (local.set $pbias (select (i32.add (local.get $bias) (i32.shl (local.get $j) (i32.const 2))) (i32.const 0) (local.get $bias)))
      ${dispatch(args).split('\n').join('\n      ')}
      (local.set $j (i32.add (local.get $j) (local.get $width)))
      (br_if $tileCols (i32.lt_u (local.get $j) (local.get $jEnd))))
    (local.set $i (i32.add (local.get $i) (local.get $rows)))
    (br_if $tileRows (i32.lt_u (local.get $i) (local.get $m))))
  (local.set $j0 (local.get $jEnd))
  (br_if $blocks (i32.lt_u (local.get $j0) (local.get $n))))`;
}

/**
 * The exported `gemm`: for every batch index (i1 < n1, i2 < n2),
 * `C[i, j] = alpha · (bias[j] + Σ_p A[i, p] · B[p, j])` (i < m, j < n, p < k; bias address 0: none) with element addresses
 * A: a + i1·sa1 + i2·sa2 + i·ars + p·aks, B: b + i1·sb1 + i2·sb2 + p·bks + j, C: c + i1·sc1 + i2·sc2 + i·ldc + j
 * (pointers in bytes, strides in elements; k ≥ 1).
 */
export function gemmWat(): string {
  const tiles: string[] = [];
  for (let rows = 1; rows <= TILE_ROWS; rows++) for (const w of WIDTHS) tiles.push(tile(rows, w));
  const args =
    '(local.get $pa) (local.get $pb) (local.get $pc) (local.get $depth) (local.get $ars) (local.get $aks) (local.get $bks) (local.get $ldc) (local.get $p0) (local.get $pbias) (local.get $scale)';
  const x4 = (name: string) => `(local.set ${name} (i32.shl (local.get ${name}) (i32.const 2)))`;
  return `${tiles.join('\n')}
(func (export "gemm") (param $a i32) (param $b i32) (param $c i32) (param $n1 i32) (param $n2 i32)
    (param $sa1 i32) (param $sa2 i32) (param $sb1 i32) (param $sb2 i32) (param $sc1 i32) (param $sc2 i32)
    (param $m i32) (param $n i32) (param $k i32) (param $ars i32) (param $aks i32) (param $bks i32) (param $ldc i32) (param $alpha f32)
    (param $bias i32)
  (local $pbias i32) (local $i1 i32) (local $i2 i32) (local $a2 i32) (local $b2 i32) (local $c2 i32)
  (local $p0 i32) (local $depth i32) (local $scale f32) (local $i i32) (local $j i32) (local $rows i32) (local $width i32)
  (local $pa i32) (local $pb i32) (local $pc i32) (local $j0 i32) (local $jEnd i32) (local $blockWidth i32)
  ${['$sa1', '$sa2', '$sb1', '$sb2', '$sc1', '$sc2', '$ars', '$aks', '$bks', '$ldc'].map(x4).join('\n  ')}
  (local.set $i1 (i32.const 0))
  (loop $outer
    (local.set $i2 (i32.const 0))
    (loop $inner
      (local.set $a2 (i32.add (local.get $a) (i32.add (i32.mul (local.get $i1) (local.get $sa1)) (i32.mul (local.get $i2) (local.get $sa2)))))
      (local.set $b2 (i32.add (local.get $b) (i32.add (i32.mul (local.get $i1) (local.get $sb1)) (i32.mul (local.get $i2) (local.get $sb2)))))
      (local.set $c2 (i32.add (local.get $c) (i32.add (i32.mul (local.get $i1) (local.get $sc1)) (i32.mul (local.get $i2) (local.get $sc2)))))
      (local.set $p0 (i32.const 0))
      (loop $chunks
        (local.set $depth (i32.sub (local.get $k) (local.get $p0)))
        (if (i32.gt_u (local.get $depth) (i32.const ${DEPTH_CHUNK})) (then (local.set $depth (i32.const ${DEPTH_CHUNK}))))
        (local.set $scale (select (local.get $alpha) (f32.const 1) (i32.ge_u (i32.add (local.get $p0) (local.get $depth)) (local.get $k))))
        ;; columns per block: B's block (depth × width) within L2_FLOATS, a multiple of 8, at least 8
        (local.set $blockWidth (i32.and (i32.div_u (i32.const ${L2_FLOATS}) (local.get $depth)) (i32.const -8)))
        (if (i32.lt_u (local.get $blockWidth) (i32.const 8)) (then (local.set $blockWidth (i32.const 8))))
        ${tileGrid(args).split('\n').join('\n        ')}
        (local.set $p0 (i32.add (local.get $p0) (local.get $depth)))
        (br_if $chunks (i32.lt_u (local.get $p0) (local.get $k))))
      (local.set $i2 (i32.add (local.get $i2) (i32.const 1)))
      (br_if $inner (i32.lt_u (local.get $i2) (local.get $n2))))
    (local.set $i1 (i32.add (local.get $i1) (i32.const 1)))
    (br_if $outer (i32.lt_u (local.get $i1) (local.get $n1))))
)`;
}
