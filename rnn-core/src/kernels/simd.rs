//! AVX2 + FMA building blocks: the activations of `crate::fastmath` on eight lanes, masked
//! loads and stores, and the unit groups the fused cells iterate over.
//!
//! The same functions on eight lanes with AVX2 + FMA intrinsics. (Autovectorisation of the
//! scalar code chose interleaved loops that left the short gate blocks, 20 to 128 values, to a
//! scalar epilogue, and a scalar `exp` tail cost as much as the vector part.)

// The polynomial constants are Cephes', written as published (as in `crate::fastmath`).
#![allow(clippy::excessive_precision)]

use crate::fastmath::{EXP_LOW, MAGIC};
use core::arch::x86_64::*;

/// `[e for q in 0..n]` for vectors, as a plain loop: `array::from_fn` and `map` made the
/// compiler generate a copy of their machinery for every closure (a fifth of a user
/// crate's LLVM IR).
macro_rules! each {
    ($n:expr, |$q:ident| $e:expr) => {{
        let mut out = [_mm256_setzero_ps(); $n];
        for $q in 0..$n {
            out[$q] = $e;
        }
        out
    }};
}
pub(crate) use each;

#[inline]
#[target_feature(enable = "avx2,fma")]
fn splat(v: f32) -> __m256 {
    _mm256_set1_ps(v)
}

/// `2^n` for integer lanes `n` in `[-126, 127]`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn pow2i(n: __m256i) -> __m256 {
    _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
        n,
        _mm256_set1_epi32(127),
    )))
}

/// `e^x` on eight lanes for what [`sigmoid8`] and [`tanh8`] need: [`super::exp`]'s range
/// reduction and polynomial (fused steps), with `x` clamped to `[EXP_LOW, 88]` so that one
/// power of two covers the range (`n <= 127`), instead of `exp`'s exact overflow and
/// underflow. Both callers only add 1 to the result, so `e^88 ≈ 1.7e38` in place of a larger
/// value or infinity changes nothing they return beyond subnormals. NaN propagates: the
/// clamps take `x` as their second operand, which `maxps`/`minps` return for NaN.
///
/// `N` vectors at a time, each step for all of them before the next: the chains are
/// independent, and side by side in program order the out-of-order core overlaps them
/// (one after the other, a ~100-cycle chain per vector filled its scheduler and ran them
/// nearly serially).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn exp8_clamped<const N: usize>(x: [__m256; N]) -> [__m256; N] {
    let xc = each!(N, |q| _mm256_min_ps(
        splat(88.0),
        _mm256_max_ps(splat(EXP_LOW), x[q])
    ));
    let t = each!(N, |q| _mm256_fmadd_ps(
        xc[q],
        splat(core::f32::consts::LOG2_E),
        splat(MAGIC)
    ));
    // 2^n from the integer in the low bits of t.
    let pow2 = each!(N, |q| pow2i(_mm256_sub_epi32(
        _mm256_castps_si256(t[q]),
        _mm256_set1_epi32(MAGIC.to_bits() as i32),
    )));
    let n = each!(N, |q| _mm256_sub_ps(t[q], splat(MAGIC)));
    let r = each!(N, |q| _mm256_fnmadd_ps(n[q], splat(0.693_359_4), xc[q]));
    let r = each!(N, |q| _mm256_fnmadd_ps(n[q], splat(-2.121_944_4e-4), r[q]));
    let z = each!(N, |q| _mm256_mul_ps(r[q], r[q]));
    // Cephes' polynomial p(r) = c0 + c1 r + ... + c5 r^5 in Estrin's scheme: three
    // independent pairs, then two steps in r² (12 cycles of latency instead of Horner's 20).
    let p45 = each!(N, |q| _mm256_fmadd_ps(
        splat(1.987_569_1e-4),
        r[q],
        splat(1.398_2e-3)
    ));
    let p23 = each!(N, |q| _mm256_fmadd_ps(
        splat(8.333_452e-3),
        r[q],
        splat(4.166_579_6e-2)
    ));
    let p01 = each!(N, |q| _mm256_fmadd_ps(
        splat(1.666_666_5e-1),
        r[q],
        splat(5.000_000_1e-1)
    ));
    let p = each!(N, |q| _mm256_fmadd_ps(p45[q], z[q], p23[q]));
    let p = each!(N, |q| _mm256_fmadd_ps(p[q], z[q], p01[q]));
    let y = each!(N, |q| _mm256_fmadd_ps(p[q], z[q], r[q]));
    each!(N, |q| _mm256_mul_ps(
        _mm256_add_ps(y[q], splat(1.0)),
        pow2[q]
    ))
}

/// [`super::sigmoid`] on `N` vectors of eight lanes (interleaved as in [`exp8_clamped`]).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn sigmoid8n<const N: usize>(x: [__m256; N]) -> [__m256; N] {
    let e = exp8_clamped(each!(N, |q| _mm256_sub_ps(_mm256_setzero_ps(), x[q])));
    each!(N, |q| _mm256_div_ps(
        splat(1.0),
        _mm256_add_ps(splat(1.0), e[q])
    ))
}

/// [`super::sigmoid`] on eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn sigmoid8(x: __m256) -> __m256 {
    sigmoid8n([x])[0]
}

/// [`super::tanh`] on `N` vectors of eight lanes (interleaved as in [`exp8_clamped`]).
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn tanh8n<const N: usize>(x: [__m256; N]) -> [__m256; N] {
    let a = each!(N, |q| _mm256_andnot_ps(splat(-0.0), x[q]));
    let z = each!(N, |q| _mm256_mul_ps(x[q], x[q]));
    let mut p = [splat(-5.704_988_7e-3); N];
    for c in [
        2.063_908_9e-2,
        -5.373_971_6e-2,
        1.333_144_2e-1,
        -3.333_328_2e-1,
    ] {
        p = each!(N, |q| _mm256_fmadd_ps(p[q], z[q], splat(c)));
    }
    let small = each!(N, |q| _mm256_fmadd_ps(
        _mm256_mul_ps(p[q], z[q]),
        x[q],
        x[q]
    ));
    let e = exp8_clamped(each!(N, |q| _mm256_add_ps(a[q], a[q])));
    let large = each!(N, |q| _mm256_sub_ps(
        splat(1.0),
        _mm256_div_ps(splat(2.0), _mm256_add_ps(e[q], splat(1.0)))
    ));
    // The sign of x back on; NaN fails the comparison and takes `large`, which is NaN (as
    // are `a` and `e`).
    each!(N, |q| _mm256_blendv_ps(
        _mm256_or_ps(large[q], _mm256_and_ps(x[q], splat(-0.0))),
        small[q],
        _mm256_cmp_ps::<_CMP_LT_OQ>(a[q], splat(0.625)),
    ))
}

/// [`super::tanh`] on eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn tanh8(x: __m256) -> __m256 {
    tanh8n([x])[0]
}

/// Lanes `0..n` set.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn lane_mask(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// Eight lanes from `p`, or only the lanes of `mask` (the others read as 0) if `PARTIAL`.
///
/// # Safety
/// The eight (or masked) `f32` at `p` are readable.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn load<const PARTIAL: bool>(p: *const f32, mask: __m256i) -> __m256 {
    // SAFETY: the caller's contract.
    unsafe {
        if PARTIAL {
            _mm256_maskload_ps(p, mask)
        } else {
            _mm256_loadu_ps(p)
        }
    }
}

/// Stores `v` at `p`: all eight lanes, or only the first `n` if `PARTIAL` (through a buffer:
/// AVX2's masked store is slow on some CPUs).
///
/// # Safety
/// The eight (or `n`) `f32` at `p` are writable.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn store<const PARTIAL: bool>(p: *mut f32, v: __m256, n: usize) {
    // SAFETY: the caller's contract; `buf` holds eight `f32`.
    unsafe {
        if PARTIAL {
            let mut buf = [0.0f32; 8];
            _mm256_storeu_ps(buf.as_mut_ptr(), v);
            core::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
        } else {
            _mm256_storeu_ps(p, v);
        }
    }
}

/// A group of `NG` blocks of eight units of a recurrent cell, in column `b` from unit `j`;
/// its last block ends at `H` (masked) if `LAST_PARTIAL`. See [`unit_groups`].
#[derive(Clone, Copy)]
pub(crate) struct UnitGroup<const H: usize, const NG: usize, const LAST_PARTIAL: bool> {
    /// The column (sample of the batch).
    pub(crate) b: usize,
    /// The first unit.
    pub(crate) j: usize,
}

impl<const H: usize, const NG: usize, const LAST_PARTIAL: bool> UnitGroup<H, NG, LAST_PARTIAL> {
    /// Block `q` of a per-unit matrix (`H` rows per column) at `base`.
    ///
    /// # Safety
    /// `base` points to an `H x B` matrix with `b < B`.
    #[inline(always)]
    pub(crate) unsafe fn unit(self, base: *mut f32, q: usize) -> *mut f32 {
        // SAFETY: the caller's contract; the group's blocks are inside `H`.
        unsafe { base.add(self.b * H + self.j + 8 * q) }
    }

    /// Block `q` of gate `k` of a gate matrix (`K` gates of `H` rows per column) at `base`.
    ///
    /// # Safety
    /// `base` points to a `K H x B` matrix with `b < B`, and `k < K`.
    #[inline(always)]
    pub(crate) unsafe fn gate<const K: usize>(
        self,
        base: *mut f32,
        k: usize,
        q: usize,
    ) -> *mut f32 {
        // SAFETY: the caller's contract; the group's blocks are inside `H`.
        unsafe { base.add(self.b * K * H + k * H + self.j + 8 * q) }
    }

    /// The eight lanes of block `q` at `p` (a partial block's masked lanes read as 0).
    ///
    /// # Safety
    /// The block's units at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn get(self, p: *const f32, q: usize) -> __m256 {
        // SAFETY: the caller's contract; a partial block's masked lanes are not read.
        unsafe {
            if LAST_PARTIAL && q == NG - 1 {
                load::<true>(p, lane_mask(H % 8))
            } else {
                load::<false>(p, lane_mask(8))
            }
        }
    }

    /// Stores block `q` at `p` (not a partial block's masked lanes).
    ///
    /// # Safety
    /// The block's units at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn put(self, p: *mut f32, q: usize, v: __m256) {
        // SAFETY: the caller's contract; a partial block's masked lanes are not written.
        unsafe {
            if LAST_PARTIAL && q == NG - 1 {
                store::<true>(p, v, H % 8);
            } else {
                store::<false>(p, v, 8);
            }
        }
    }
}

/// Runs `$group::<H, NG, LAST_PARTIAL>($args.., UnitGroup { b, j })` over the units of a
/// recurrent cell:
/// for each of the `$b` columns, groups of four blocks of eight units from unit `j`, then
/// one last group of one to four blocks, its last block partial if `H % 8 != 0`. A cell's
/// activations go through each stage for all blocks of a group together, so that their
/// long, independent chains interleave (one block after another, they barely overlapped).
/// The last group's shape is chosen by a constant (an integer: a constant tuple is not
/// pruned), so only the group functions a cell needs are generated.
macro_rules! unit_groups {
    ($group:ident::<$h:ident>($($arg:expr),*), $b:ident) => {{
        let full_groups = const { ($h.div_ceil(8) - 1) / 4 };
        for b in 0..$b {
            let j = 32 * full_groups;
            for g in 0..full_groups {
                $group::<$h, 4, false>($($arg,)* UnitGroup { b, j: 32 * g });
            }
            // (blocks in the last group) * 2 + (its last block is partial).
            match const { (($h.div_ceil(8) - 1) % 4 + 1) * 2 + !$h.is_multiple_of(8) as usize } {
                2 => $group::<$h, 1, false>($($arg,)* UnitGroup { b, j }),
                3 => $group::<$h, 1, true>($($arg,)* UnitGroup { b, j }),
                4 => $group::<$h, 2, false>($($arg,)* UnitGroup { b, j }),
                5 => $group::<$h, 2, true>($($arg,)* UnitGroup { b, j }),
                6 => $group::<$h, 3, false>($($arg,)* UnitGroup { b, j }),
                7 => $group::<$h, 3, true>($($arg,)* UnitGroup { b, j }),
                8 => $group::<$h, 4, false>($($arg,)* UnitGroup { b, j }),
                _ => $group::<$h, 4, true>($($arg,)* UnitGroup { b, j }),
            }
        }
    }};
}
pub(crate) use unit_groups;

/// `x = tanh(x)` (`TANH`) or `x = sigmoid(x)` in groups of eight, the tail padded into a
/// full group.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn map<const TANH: bool>(xs: &mut [f32]) {
    let f = |v| if TANH { tanh8(v) } else { sigmoid8(v) };
    let mut groups = xs.chunks_exact_mut(8);
    for g in &mut groups {
        // SAFETY: `g` holds exactly 8 f32; unaligned loads and stores.
        unsafe { _mm256_storeu_ps(g.as_mut_ptr(), f(_mm256_loadu_ps(g.as_ptr()))) };
    }
    let tail = groups.into_remainder();
    if !tail.is_empty() {
        let mut buf = [0.0f32; 8];
        buf[..tail.len()].copy_from_slice(tail);
        // SAFETY: `buf` holds exactly 8 f32.
        unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), f(_mm256_loadu_ps(buf.as_ptr()))) };
        tail.copy_from_slice(&buf[..tail.len()]);
    }
}
