//! Batch-1 products for `f32` with AVX2 + FMA intrinsics: `c (+)= A₁ x₁ + A₂ x₂ + b₁ + b₂`
//! ([`nn`]) and `c (+)= Aᵀ x` ([`tn`]).
//!
//! At batch 1 every product is a matrix-vector product, which the register-tiled kernels of
//! [`super`] run as generic tiles with scalar bookkeeping around them (about three times the
//! instructions of the multiply-adds themselves for a seed-sized LSTM). Here every row block is
//! a run of fused multiply-adds on whole vectors with its accumulators in registers; the last
//! partial vector of rows uses masked loads (which never touch memory outside the mask), so no
//! padding or copying is needed. Short blocks split the sum over `k` into several accumulators
//! so that at least eight independent chains keep both FMA units busy, and the two products of
//! a recurrent cell (`W_ih x` and `W_hh h`) share one pass over the output with their biases
//! folded in.

use crate::kernels::simd::{lane_mask, load, store};
use core::arch::x86_64::*;

/// The operands of [`nn`] as pointers, checked once on entry.
struct NnArgs {
    a1: *const f32,
    x1: *const f32,
    a2: *const f32,
    x2: *const f32,
    b1: Option<*const f32>,
    b2: Option<*const f32>,
    c: *mut f32,
    accumulate: bool,
}

/// `c[M] = A₁ x₁ + A₂ x₂ + b₁ + b₂`, plus the old `c` if `accumulate`, from `[a1, x1]`,
/// `[a2, x2]` and `[b1, b2]` (as `gemm`'s `nn2` takes them). `A₁` is `M x K1` and `A₂` is
/// `M x K2`, column-major; `K2` may be 0 (then `a2`, `x2` are not read). Panics if a slice is
/// shorter than its shape.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn nn<const M: usize, const K1: usize, const K2: usize>(
    [a1, x1]: [&[f32]; 2],
    [a2, x2]: [&[f32]; 2],
    [b1, b2]: [Option<&[f32]>; 2],
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(a1.len() >= M * K1 && x1.len() >= K1 && a2.len() >= M * K2 && x2.len() >= K2);
    assert!(c.len() >= M && b1.is_none_or(|b| b.len() >= M) && b2.is_none_or(|b| b.len() >= M));
    let p = NnArgs {
        a1: a1.as_ptr(),
        x1: x1.as_ptr(),
        a2: a2.as_ptr(),
        x2: x2.as_ptr(),
        b1: b1.map(<[f32]>::as_ptr),
        b2: b2.map(<[f32]>::as_ptr),
        c: c.as_mut_ptr(),
        accumulate,
    };
    // One block of every row when they fit in twelve vectors (the last one masked if `M` is
    // not a multiple of 8): twelve accumulators, a broadcast and a mask fill 14 of the 16
    // registers, and each column of `A` is then one run of fused multiply-adds per `x` value.
    // Taller outputs: blocks of eight vectors, then one block of the remaining 5-12. (The
    // seed LSTM's 80 rows ran as a block of eight vectors and one of two, two passes over `x`
    // and 1.5x the instructions of the multiply-adds.) The shapes are chosen by constants, so
    // only the block functions this product needs are generated (a match on a run-time value
    // generated all of them).
    if M == 1 {
        // SAFETY: the lengths were checked above.
        unsafe { nn_one_row::<K1, K2>(&p) };
        return;
    }
    let eights = const { eight_blocks(M) };
    let row = 64 * eights;
    // SAFETY (every block): the lengths were checked above; a block at `row` of `V` vectors
    // reads and writes rows `row..row + 8 V`, or `row..M` if its last vector is partial.
    unsafe {
        for e in 0..eights {
            nn_block::<M, K1, K2, 8, { split(8) }, false>(&p, 64 * e);
        }
        match const { M.div_ceil(8) - 8 * eight_blocks(M) } {
            0 => {}
            1 => nn_block::<M, K1, K2, 1, { split(1) }, true>(&p, row),
            2 => nn_block::<M, K1, K2, 2, { split(2) }, true>(&p, row),
            3 => nn_block::<M, K1, K2, 3, { split(3) }, true>(&p, row),
            4 => nn_block::<M, K1, K2, 4, { split(4) }, true>(&p, row),
            5 => nn_block::<M, K1, K2, 5, { split(5) }, true>(&p, row),
            6 => nn_block::<M, K1, K2, 6, { split(6) }, true>(&p, row),
            7 => nn_block::<M, K1, K2, 7, { split(7) }, true>(&p, row),
            8 => nn_block::<M, K1, K2, 8, { split(8) }, true>(&p, row),
            9 => nn_block::<M, K1, K2, 9, { split(9) }, true>(&p, row),
            10 => nn_block::<M, K1, K2, 10, { split(10) }, true>(&p, row),
            11 => nn_block::<M, K1, K2, 11, { split(11) }, true>(&p, row),
            _ => nn_block::<M, K1, K2, 12, { split(12) }, true>(&p, row),
        }
    }
}

/// [`nn`] for one row (a `Linear(H, 1)` head at batch 1), with the operations and order the
/// one masked vector of [`nn_block`] gives its first lane (`V = 1`, `SPLIT = 8`): the old `c`,
/// then the biases, into the first accumulator (from `0`), column `k` of each `A` into
/// accumulator `k % 8`, the eight added in order. Here the eight accumulators are the lanes
/// of one register, so eight columns are one fused multiply-add (the row of `A` and `x` are
/// both contiguous). The vector block's masked loads of one lane per column and its masked
/// store (which the core does not forward to the next load of the output) were 15 % of a
/// `LSTM(1, 16) -> Linear(16, 1)` block's samples in a profile on a Zen 4.
///
/// # Safety
/// The pointers of `p` cover the shapes of [`nn`] with `M = 1`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn nn_one_row<const K1: usize, const K2: usize>(p: &NnArgs) {
    // SAFETY: the caller's contract: `a1`, `x1` hold `K1` values, `a2`, `x2` hold `K2`, the
    // biases and `c` one.
    unsafe {
        let mut first = if p.accumulate { *p.c } else { 0.0 };
        for b in [p.b1, p.b2].into_iter().flatten() {
            first += *b;
        }
        let acc = _mm256_setr_ps(first, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let acc = row_columns::<K1>(acc, p.a1, p.x1);
        let acc = row_columns::<K2>(acc, p.a2, p.x2);
        let mut lanes = [0.0f32; 8];
        _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
        let mut sum = lanes[0];
        for v in &lanes[1..] {
            sum += *v;
        }
        *p.c = sum;
    }
}

/// `acc` plus the products of `K` columns of a one-row `a` with `x`, column `k` into lane
/// `k % 8` (the last partial pass changes only its lanes).
///
/// # Safety
/// `a` and `x` hold `K` values.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn row_columns<const K: usize>(mut acc: __m256, a: *const f32, x: *const f32) -> __m256 {
    // SAFETY: the caller's contract; the partial pass reads the lanes of its mask only.
    unsafe {
        for q in 0..K / 8 {
            let (a, x) = (_mm256_loadu_ps(a.add(8 * q)), _mm256_loadu_ps(x.add(8 * q)));
            acc = _mm256_fmadd_ps(a, x, acc);
        }
        if !K.is_multiple_of(8) {
            let (at, mask) = (8 * (K / 8), lane_mask(K % 8));
            let (a, x) = (load::<true>(a.add(at), mask), load::<true>(x.add(at), mask));
            acc = _mm256_blendv_ps(acc, _mm256_fmadd_ps(a, x, acc), _mm256_castsi256_ps(mask));
        }
        acc
    }
}

/// How many blocks of eight vectors [`nn`] runs before its last block, for `m` rows: none up
/// to twelve vectors, else as many as leave 5-12 for the last block.
const fn eight_blocks(m: usize) -> usize {
    let vectors = m.div_ceil(8);
    if vectors <= 12 { 0 } else { (vectors - 5) / 8 }
}

/// How many accumulators [`nn`] splits each row's sum into in a block of `vectors` vectors of
/// rows: at least eight independent chains in the block, so that both FMA units stay busy.
const fn split(vectors: usize) -> usize {
    match vectors {
        1 => 8,
        2 => 4,
        3 => 3,
        4..=7 => 2,
        _ => 1,
    }
}

/// The split ([`split`]) of every row of [`nn`] for `m` rows, if all its blocks share one:
/// what a kernel that repeats `nn`'s sums lane by lane (`lstm_block`'s register blocks)
/// must reproduce.
pub(crate) const fn uniform_split(m: usize) -> Option<usize> {
    let last = split(m.div_ceil(8) - 8 * eight_blocks(m));
    if eight_blocks(m) == 0 || last == split(8) {
        Some(last)
    } else {
        None
    }
}

/// `V` vectors of rows from `row`, with `SPLIT` accumulators per vector taking every
/// `SPLIT`-th column. The `TAIL` block ends at `M`: its last vector is masked if `M` is not a
/// multiple of 8.
///
/// # Safety
/// The pointers of `p` cover the shapes of [`nn`] and the rows are inside `M`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn nn_block<
    const M: usize,
    const K1: usize,
    const K2: usize,
    const V: usize,
    const SPLIT: usize,
    const TAIL: bool,
>(
    p: &NnArgs,
    row: usize,
) {
    let partial = TAIL && !M.is_multiple_of(8);
    let mask = lane_mask(M % 8);
    let mut acc = [[_mm256_setzero_ps(); V]; SPLIT];
    // SAFETY: the caller's contract.
    unsafe {
        // One test per operand, not one per vector.
        if p.accumulate {
            for (v, a) in acc[0].iter_mut().enumerate() {
                *a = load_row::<V>(p.c.add(row), v, partial, mask);
            }
        }
        for b in [p.b1, p.b2].into_iter().flatten() {
            for (v, a) in acc[0].iter_mut().enumerate() {
                *a = _mm256_add_ps(*a, load_row::<V>(b.add(row), v, partial, mask));
            }
        }
        nn_columns::<M, K1, V, SPLIT>(&mut acc, p.a1, p.x1, row, partial, mask);
        nn_columns::<M, K2, V, SPLIT>(&mut acc, p.a2, p.x2, row, partial, mask);
        for v in 0..V {
            let mut sum = acc[0][v];
            for part in &acc[1..] {
                sum = _mm256_add_ps(sum, part[v]);
            }
            let at = p.c.add(row + 8 * v);
            if partial && v + 1 == V {
                store::<true>(at, sum, M % 8);
            } else {
                store::<false>(at, sum, 8);
            }
        }
    }
}

/// Vector `v` of a block of `V` from `p` (the block's first row): masked if it is the last
/// and `partial` (constants once inlined).
///
/// # Safety
/// The vector's rows (or its masked lanes) are readable.
#[inline(always)]
unsafe fn load_row<const V: usize>(
    p: *const f32,
    v: usize,
    partial: bool,
    mask: __m256i,
) -> __m256 {
    // SAFETY: the caller's contract.
    unsafe {
        if partial && v + 1 == V {
            load::<true>(p.add(8 * v), mask)
        } else {
            load::<false>(p.add(8 * v), mask)
        }
    }
}

/// Adds the `K` columns of `a` (`M` rows) times `x` into `acc`, column `kk` into `acc[kk % SPLIT]`.
///
/// # Safety
/// `a` holds `M x K` and `x` holds `K` values; the rows are inside `M`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn nn_columns<const M: usize, const K: usize, const V: usize, const SPLIT: usize>(
    acc: &mut [[__m256; V]; SPLIT],
    a: *const f32,
    x: *const f32,
    row: usize,
    partial: bool,
    mask: __m256i,
) {
    // A loop that LLVM does not unroll completely: fully unrolled, its scheduler hoisted every
    // load of the block to the top and spilled them to the stack (3x the instructions). Two
    // columns per pass at least (into the same accumulators when `SPLIT` is 1), for half the
    // loop's bookkeeping.
    let k = core::hint::black_box(K);
    let per_pass = const { if SPLIT < 2 { 2 } else { SPLIT } };
    // SAFETY: the caller's contract (`k == K`).
    unsafe {
        // Each accumulator is named by a constant (`s` of an unrolled loop), never by a
        // run-time index, which would keep the accumulators in memory.
        let column = |part: &mut [__m256; V], kk: usize| {
            let xb = _mm256_broadcast_ss(&*x.add(kk));
            let col = a.add(kk * M + row);
            for (v, a) in part.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(load_row::<V>(col, v, partial, mask), xb, *a);
            }
        };
        let passes = k / per_pass;
        let mut kk = 0;
        for _ in 0..passes {
            for s in 0..per_pass {
                column(&mut acc[s % SPLIT], kk + s);
            }
            kk += per_pass;
        }
        // Fewer than `per_pass` columns are left: at most one per accumulator.
        for (s, part) in acc.iter_mut().enumerate().take(k - kk) {
            column(part, kk + s);
        }
    }
}

/// `c[M] = Aᵀ x`, plus the old `c` if `accumulate`, for `A: K x M` column-major: output `m` is
/// the dot product of column `m` of `A` with `x`. Eight outputs at a time share the loads of
/// `x`, and their eight accumulators are reduced together. Panics if a slice is shorter than
/// its shape.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn tn<const M: usize, const K: usize>(
    a: &[f32],
    x: &[f32],
    c: &mut [f32],
    accumulate: bool,
) {
    assert!(a.len() >= M * K && x.len() >= K && c.len() >= M);
    if M == 0 {
        return;
    }
    let (a, x, c) = (a.as_ptr(), x.as_ptr(), c.as_mut_ptr());
    // SAFETY: the lengths were checked above; a group reads columns below `M` only and writes
    // outputs `first..first + 8` or `first..M`.
    unsafe {
        for g in 0..M / 8 {
            tn_group::<M, K, 8>(a, x, c, 8 * g, accumulate);
        }
        let first = 8 * (M / 8);
        // A constant: only the group function this product needs is generated.
        match const { M % 8 } {
            0 => {}
            1 => tn_group::<M, K, 1>(a, x, c, first, accumulate),
            2 => tn_group::<M, K, 2>(a, x, c, first, accumulate),
            3 => tn_group::<M, K, 3>(a, x, c, first, accumulate),
            4 => tn_group::<M, K, 4>(a, x, c, first, accumulate),
            5 => tn_group::<M, K, 5>(a, x, c, first, accumulate),
            6 => tn_group::<M, K, 6>(a, x, c, first, accumulate),
            _ => tn_group::<M, K, 7>(a, x, c, first, accumulate),
        }
    }
}

/// Outputs `first..first + G` of [`tn`] (`G < 8` only for the last, partial group).
///
/// # Safety
/// As in [`tn`], with `first + G <= M`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tn_group<const M: usize, const K: usize, const G: usize>(
    a: *const f32,
    x: *const f32,
    c: *mut f32,
    first: usize,
    accumulate: bool,
) {
    let tail = lane_mask(K % 8);
    let out_mask = lane_mask(G);
    // SAFETY: the caller's contract.
    unsafe {
        let mut cols = [a; G];
        for (q, col) in cols.iter_mut().enumerate() {
            *col = a.add((first + q) * K);
        }
        let mut acc = [_mm256_setzero_ps(); G];
        let mut kk = 0;
        while kk + 8 <= K {
            let xv = _mm256_loadu_ps(x.add(kk));
            for (q, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(_mm256_loadu_ps(cols[q].add(kk)), xv, *a);
            }
            kk += 8;
        }
        if !K.is_multiple_of(8) {
            let xv = _mm256_maskload_ps(x.add(kk), tail);
            for (q, a) in acc.iter_mut().enumerate() {
                *a = _mm256_fmadd_ps(_mm256_maskload_ps(cols[q].add(kk), tail), xv, *a);
            }
        }
        let mut padded = [_mm256_setzero_ps(); 8];
        padded[..G].copy_from_slice(&acc);
        let mut sums = reduce8(&padded);
        if G == 8 {
            if accumulate {
                sums = _mm256_add_ps(sums, load::<false>(c.add(first), out_mask));
            }
            store::<false>(c.add(first), sums, 8);
        } else {
            if accumulate {
                sums = _mm256_add_ps(sums, load::<true>(c.add(first), out_mask));
            }
            store::<true>(c.add(first), sums, G);
        }
    }
}

/// `dw[R x C] += Σ g[:, b] x[:, b]ᵀ` over the `(g, x)` pairs of `steps` (`g: R x B`,
/// `x: C x B`, column-major) and their columns `b`, in that order: the weight gradient of a
/// sequence at small batch. Register tiles of 16 rows x 6 columns (narrower at the edges, masked
/// loads for a partial vector of rows) are summed over every step before they are stored; each
/// element's sum is the same chain of fused multiply-adds, in the same order, as adding the steps
/// one by one.
///
/// # Safety
/// Every pointer of `steps` points to a live `R x B` (`g`) or `C x B` (`x`) matrix of `f32`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn outer_steps<const R: usize, const C: usize, const B: usize>(
    dw: &mut [f32],
    steps: &[(*const f32, *const f32)],
) {
    assert!(dw.len() >= R * C);
    let dw = dw.as_mut_ptr();
    let full = R / 8;
    // SAFETY: the caller's contract and the length check above: tiles stay inside `R x C`.
    unsafe {
        for pair in 0..full / 2 {
            outer_columns::<R, C, B, 2, false>(dw, steps, 16 * pair);
        }
        if const { (R / 8) % 2 == 1 } {
            outer_columns::<R, C, B, 1, false>(dw, steps, 16 * (full / 2));
        }
        if const { !R.is_multiple_of(8) } {
            outer_columns::<R, C, B, 1, true>(dw, steps, 8 * full);
        }
    }
}

/// Every column block of [`outer_steps`] for the row block at `row`.
///
/// # Safety
/// As in [`outer_steps`], with the block's rows inside `R`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn outer_columns<
    const R: usize,
    const C: usize,
    const B: usize,
    const V: usize,
    const PARTIAL: bool,
>(
    dw: *mut f32,
    steps: &[(*const f32, *const f32)],
    row: usize,
) {
    // SAFETY: the caller's contract; column blocks stay inside `C`.
    unsafe {
        for t in 0..C / 6 {
            outer_tile::<R, C, B, V, 6, PARTIAL>(dw, steps, row, 6 * t);
        }
        let col = 6 * (C / 6);
        // A constant: only the tile function this product needs is generated.
        match const { C % 6 } {
            0 => {}
            1 => outer_tile::<R, C, B, V, 1, PARTIAL>(dw, steps, row, col),
            2 => outer_tile::<R, C, B, V, 2, PARTIAL>(dw, steps, row, col),
            3 => outer_tile::<R, C, B, V, 3, PARTIAL>(dw, steps, row, col),
            4 => outer_tile::<R, C, B, V, 4, PARTIAL>(dw, steps, row, col),
            _ => outer_tile::<R, C, B, V, 5, PARTIAL>(dw, steps, row, col),
        }
    }
}

/// One tile of [`outer_steps`]: `V` vectors of rows from `row` (one partial vector if
/// `PARTIAL`) by `NC` columns from `col`.
///
/// # Safety
/// As in [`outer_steps`], with the tile inside `R x C`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn outer_tile<
    const R: usize,
    const C: usize,
    const B: usize,
    const V: usize,
    const NC: usize,
    const PARTIAL: bool,
>(
    dw: *mut f32,
    steps: &[(*const f32, *const f32)],
    row: usize,
    col: usize,
) {
    let mask = lane_mask(R % 8);
    let mut acc = [[_mm256_setzero_ps(); V]; NC];
    // SAFETY: the caller's contract.
    unsafe {
        for (j, a) in acc.iter_mut().enumerate() {
            for (v, a) in a.iter_mut().enumerate() {
                *a = load::<PARTIAL>(dw.add((col + j) * R + row + 8 * v), mask);
            }
        }
        for &(g, x) in steps {
            for b in 0..B {
                let mut gv = [_mm256_setzero_ps(); V];
                for (v, gv) in gv.iter_mut().enumerate() {
                    *gv = load::<PARTIAL>(g.add(b * R + row + 8 * v), mask);
                }
                for (j, a) in acc.iter_mut().enumerate() {
                    let xb = _mm256_broadcast_ss(&*x.add(b * C + col + j));
                    for (a, &gv) in a.iter_mut().zip(&gv) {
                        *a = _mm256_fmadd_ps(gv, xb, *a);
                    }
                }
            }
        }
        for (j, a) in acc.iter().enumerate() {
            for (v, &a) in a.iter().enumerate() {
                store::<PARTIAL>(dw.add((col + j) * R + row + 8 * v), a, R % 8);
            }
        }
    }
}

/// `db[R] += Σ g[:, b]` over the matrices `g: R x B` of `steps` and their columns, in that
/// order (the same additions, in the same order, as adding the steps one by one): a bias
/// gradient of a sequence, with the running sums of four vectors of rows in registers.
///
/// # Safety
/// Every pointer of `steps` points to a live `R x B` matrix of `f32`.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn bias_steps<const R: usize, const B: usize>(
    db: &mut [f32],
    steps: &[*const f32],
) {
    assert!(db.len() >= R);
    let db = db.as_mut_ptr();
    let full = R / 8;
    // SAFETY: the caller's contract and the length check above: blocks stay inside `R`.
    unsafe {
        for block in 0..full / 4 {
            bias_block::<R, B, 4, false>(db, steps, 32 * block);
        }
        let row = 32 * (full / 4);
        // A constant: only the block function this shape needs is generated.
        match const { R / 8 % 4 } {
            0 => {}
            1 => bias_block::<R, B, 1, false>(db, steps, row),
            2 => bias_block::<R, B, 2, false>(db, steps, row),
            _ => bias_block::<R, B, 3, false>(db, steps, row),
        }
        if const { !R.is_multiple_of(8) } {
            bias_block::<R, B, 1, true>(db, steps, 8 * full);
        }
    }
}

/// `V` vectors of rows from `row` (one partial vector if `PARTIAL`) of [`bias_steps`].
///
/// # Safety
/// As in [`bias_steps`], with the rows inside `R`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn bias_block<const R: usize, const B: usize, const V: usize, const PARTIAL: bool>(
    db: *mut f32,
    steps: &[*const f32],
    row: usize,
) {
    let mask = lane_mask(R % 8);
    let mut acc = [_mm256_setzero_ps(); V];
    // SAFETY: the caller's contract.
    unsafe {
        for (v, a) in acc.iter_mut().enumerate() {
            *a = load::<PARTIAL>(db.add(row + 8 * v), mask);
        }
        for &g in steps {
            for b in 0..B {
                for (v, a) in acc.iter_mut().enumerate() {
                    *a = _mm256_add_ps(*a, load::<PARTIAL>(g.add(b * R + row + 8 * v), mask));
                }
            }
        }
        for (v, &a) in acc.iter().enumerate() {
            store::<PARTIAL>(db.add(row + 8 * v), a, R % 8);
        }
    }
}

/// Lane `q` of the result is the sum of the eight lanes of `acc[q]`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn reduce8(acc: &[__m256; 8]) -> __m256 {
    let s01 = _mm256_hadd_ps(acc[0], acc[1]);
    let s23 = _mm256_hadd_ps(acc[2], acc[3]);
    let s45 = _mm256_hadd_ps(acc[4], acc[5]);
    let s67 = _mm256_hadd_ps(acc[6], acc[7]);
    // Lanes [0, 1, 2, 3 | 0, 1, 2, 3] of the first four accumulators' halves, then the last four.
    let s0123 = _mm256_hadd_ps(s01, s23);
    let s4567 = _mm256_hadd_ps(s45, s67);
    let low = _mm256_permute2f128_ps::<0x20>(s0123, s4567);
    let high = _mm256_permute2f128_ps::<0x31>(s0123, s4567);
    _mm256_add_ps(low, high)
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::Rng;
    use std::vec::Vec;

    fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()
    }

    /// Within `f32` rounding of the `f64` value.
    fn assert_close(got: &[f32], want: &[f64], what: &str) {
        assert_eq!(got.len(), want.len());
        for (i, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(g) - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{what}: [{i}] = {g}, want {w}"
            );
        }
    }

    /// Every row-block shape (full blocks of 8 vectors, each remainder 1..=7, a partial vector)
    /// and column counts below, at and above the split, against an `f64` reference; the output
    /// slices are exactly as long as the shape, so a write past them would panic or show.
    fn check<const M: usize, const K1: usize, const K2: usize>() {
        let mut rng = Rng::new((M * 1000 + K1 * 10 + K2) as u64);
        let (a1, x1, a2, x2) = (
            random(&mut rng, M * K1),
            random(&mut rng, K1),
            random(&mut rng, M * K2),
            random(&mut rng, K2),
        );
        let (b1, b2, c0) = (
            random(&mut rng, M),
            random(&mut rng, M),
            random(&mut rng, M),
        );
        let f = |v: f32| f64::from(v);
        let mut want = Vec::new();
        for r in 0..M {
            let mut s = f(b1[r]) + f(b2[r]);
            for k in 0..K1 {
                s += f(a1[k * M + r]) * f(x1[k]);
            }
            for k in 0..K2 {
                s += f(a2[k * M + r]) * f(x2[k]);
            }
            want.push(s);
        }
        let mut c = c0.clone();
        // SAFETY: the test only runs where the CPU has AVX2 and FMA.
        unsafe {
            nn::<M, K1, K2>(
                [&a1, &x1],
                [&a2, &x2],
                [Some(&b1), Some(&b2)],
                &mut c,
                false,
            )
        };
        assert_close(&c, &want, &std::format!("nn {M}x{K1}+{K2}"));
        let mut c = c0.clone();
        // SAFETY: as above.
        unsafe { nn::<M, K1, K2>([&a1, &x1], [&a2, &x2], [None, Some(&b2)], &mut c, true) };
        let want_acc: Vec<f64> = (0..M).map(|r| want[r] - f(b1[r]) + f(c0[r])).collect();
        assert_close(&c, &want_acc, &std::format!("nn += {M}x{K1}+{K2}"));

        // tn: a1 read as K1 x M.
        let x = random(&mut rng, K1);
        let want: Vec<f64> = (0..M)
            .map(|m| (0..K1).map(|k| f(a1[m * K1 + k]) * f(x[k])).sum::<f64>())
            .collect();
        let mut c = c0.clone();
        // SAFETY: as above.
        unsafe { tn::<M, K1>(&a1, &x, &mut c, false) };
        assert_close(&c, &want, &std::format!("tn {M}x{K1}"));
        let mut c = c0.clone();
        // SAFETY: as above.
        unsafe { tn::<M, K1>(&a1, &x, &mut c, true) };
        let want_acc: Vec<f64> = want.iter().zip(&c0).map(|(w, &c)| w + f(c)).collect();
        assert_close(&c, &want_acc, &std::format!("tn += {M}x{K1}"));
    }

    /// The sequence outer product (`f32`, through `kernels::acc_outer_steps`) and the per-step
    /// `kernels::acc_outer` are bit-identical to adding the steps one by one with the tiled
    /// product, and within rounding of `f64`; 40 steps cross the 32-step chunk.
    fn check_outer<const R: usize, const C: usize, const B: usize>() {
        use nalgebra::SMatrix;
        let mut rng = Rng::new((R * 100 + C * 10 + B) as u64);
        let mut m = |_: usize, _: usize| rng.uniform(-1.0, 1.0) as f32;
        let gs: Vec<SMatrix<f32, R, B>> = (0..40).map(|_| SMatrix::from_fn(&mut m)).collect();
        let xs: Vec<SMatrix<f32, C, B>> = (0..40).map(|_| SMatrix::from_fn(&mut m)).collect();
        let start: SMatrix<f32, R, C> = SMatrix::from_fn(&mut m);
        let mut one_by_one = start;
        for (g, x) in gs.iter().zip(&xs) {
            // What `acc_outer` does at batch 8 and up (and did at every batch before the
            // sequence kernel): the register-tiled product (`gemm`'s intrinsics here).
            let (g, x, d) = (g.as_slice(), x.as_slice(), one_by_one.as_mut_slice());
            crate::kernels::products::gemm_nn::<f32, R, B, C, C, 1, true>(g, x, d, true);
        }
        let mut rank_b = start;
        for (g, x) in gs.iter().zip(&xs) {
            crate::kernels::acc_outer(&mut rank_b, g, x);
        }
        assert_eq!(rank_b, one_by_one, "{R}x{C}x{B}");
        let mut at_once = start;
        crate::kernels::acc_outer_steps(&mut at_once, gs.iter().zip(&xs));
        assert_eq!(at_once, one_by_one, "{R}x{C}x{B}");
        let mut want = start.cast::<f64>();
        for (g, x) in gs.iter().zip(&xs) {
            want += g.cast::<f64>() * x.cast::<f64>().transpose();
        }
        assert_close(at_once.as_slice(), want.as_slice(), "outer_steps");

        // The bias gradient of the same steps: bit-identical to step by step, close to f64.
        let db0: nalgebra::SVector<f32, R> = nalgebra::SVector::from_fn(&mut m);
        let mut one_by_one = db0;
        for g in &gs {
            crate::kernels::acc_bias(&mut one_by_one, g);
        }
        let mut at_once = db0;
        crate::kernels::acc_bias_steps(&mut at_once, gs.iter());
        assert_eq!(at_once, one_by_one, "bias {R}x{B}");
        let want = gs.iter().fold(db0.cast::<f64>(), |acc, g| {
            acc + g.cast::<f64>() * nalgebra::SVector::<f64, B>::repeat(1.0)
        });
        assert_close(at_once.as_slice(), want.as_slice(), "bias_steps");
    }

    #[test]
    fn sequence_outer_products_match_step_by_step_bit_for_bit() {
        if !crate::kernels::choice::use_avx2() {
            return;
        }
        check_outer::<80, 10, 1>();
        check_outer::<80, 20, 1>();
        check_outer::<37, 9, 3>();
        check_outer::<5, 20, 2>();
        check_outer::<24, 13, 1>();
        check_outer::<16, 12, 7>();
        check_outer::<100, 3, 2>(); // bias: a block of four vectors, a remainder of 0, partial
        check_outer::<88, 2, 1>(); // bias: two blocks of four, a remainder of 3
    }

    #[test]
    fn batch_one_kernels_match_an_f64_reference() {
        if !crate::kernels::choice::use_avx2() {
            std::eprintln!("no AVX2 + FMA on this CPU: nothing to test");
            return;
        }
        check::<1, 1, 0>();
        check::<5, 20, 0>();
        check::<8, 3, 2>();
        check::<20, 80, 0>();
        check::<80, 10, 20>();
        check::<80, 30, 0>();
        check::<10, 80, 0>();
        check::<24, 7, 9>(); // one block of three vectors
        check::<37, 19, 1>(); // four vectors and a partial one
        check::<47, 5, 5>(); // five and a partial
        check::<55, 9, 0>(); // six and a partial
        check::<63, 17, 4>(); // seven and a partial
        check::<72, 11, 3>(); // nine vectors
        check::<93, 6, 7>(); // eleven and a partial: the largest single block
        check::<96, 13, 0>(); // twelve
        check::<97, 4, 9>(); // a block of eight, then four and a partial
        check::<136, 12, 12>(); // a block of eight, then nine
        check::<161, 3, 5>(); // two blocks of eight, then four and a partial
        check::<512, 33, 0>(); // seven blocks of eight, then eight
    }

    /// One row through [`nn`]'s scalar path and through the masked vector block it stands
    /// for: the same bits, with and without the old `c`, each bias and `A₂`.
    fn one_row_as_the_vector_block<const K1: usize, const K2: usize>(rng: &mut Rng) {
        let (a1, x1) = (random(rng, K1), random(rng, K1));
        let (a2, x2) = (random(rng, K2), random(rng, K2));
        let (b1, b2, old) = (random(rng, 1), random(rng, 1), random(rng, 1));
        for accumulate in [false, true] {
            for (b1, b2) in [(None, None), (Some(&b1), None), (Some(&b1), Some(&b2))] {
                let mut scalar = old.clone();
                // SAFETY (both calls): the CPU has AVX2 and FMA (checked by the caller); the
                // slices hold the shapes.
                unsafe {
                    nn::<1, K1, K2>(
                        [&a1, &x1],
                        [&a2, &x2],
                        [b1.map(Vec::as_slice), b2.map(Vec::as_slice)],
                        &mut scalar,
                        accumulate,
                    );
                }
                let mut vector = old.clone();
                let p = NnArgs {
                    a1: a1.as_ptr(),
                    x1: x1.as_ptr(),
                    a2: a2.as_ptr(),
                    x2: x2.as_ptr(),
                    b1: b1.map(|b| b.as_ptr()),
                    b2: b2.map(|b| b.as_ptr()),
                    c: vector.as_mut_ptr(),
                    accumulate,
                };
                // SAFETY: as above.
                unsafe { nn_block::<1, K1, K2, 1, 8, true>(&p, 0) };
                assert_eq!(
                    scalar[0].to_bits(),
                    vector[0].to_bits(),
                    "{K1} + {K2} columns, accumulate {accumulate}, biases {}",
                    b1.is_some() as u8 + b2.is_some() as u8
                );
            }
        }
    }

    #[test]
    fn one_row_gives_the_bits_of_the_vector_block() {
        if !crate::kernels::choice::use_avx2() {
            return;
        }
        let mut rng = Rng::new(17);
        for _ in 0..20 {
            one_row_as_the_vector_block::<1, 0>(&mut rng);
            one_row_as_the_vector_block::<7, 0>(&mut rng);
            one_row_as_the_vector_block::<8, 0>(&mut rng);
            one_row_as_the_vector_block::<16, 0>(&mut rng);
            one_row_as_the_vector_block::<19, 0>(&mut rng);
            one_row_as_the_vector_block::<32, 0>(&mut rng);
            one_row_as_the_vector_block::<3, 5>(&mut rng);
            one_row_as_the_vector_block::<12, 11>(&mut rng);
        }
    }
}
