//! The activations of `crate::fastmath` on registers of lanes, with the same bits: `e^x`,
//! the sigmoid and `tanh`.

use super::{Avx2, Lanes, each};
use crate::fastmath::{EXP_LOW, MAGIC};
use core::arch::x86_64::*;

/// `e^x` on `N` registers of lanes `L`, for what [`sigmoid_n`] and [`tanh_n`] need:
/// [`crate::fastmath::exp`]'s range reduction and polynomial (fused steps), with `x` clamped to
/// `[EXP_LOW, 88]` so that one power of two covers the range (`n <= 127`), instead of `exp`'s
/// exact overflow and underflow. Both callers only add 1 to the result, so `e^88 ≈ 1.7e38`
/// in place of a larger value or infinity changes nothing they return beyond subnormals.
/// NaN propagates: the clamps take `x` as their second operand, which `maxps`/`minps` return
/// for NaN.
///
/// `N` vectors at a time, each step for all of them before the next: the chains are
/// independent, and side by side in program order the out-of-order core overlaps them
/// (one after the other, a ~100-cycle chain per vector filled its scheduler and ran them
/// nearly serially).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn exp_n<L: Lanes, const N: usize>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe { exp_signed_n::<L, N, false>(x) }
}

/// [`exp_n`] of `x`, or of `-x` if `NEG` (the sigmoid's `e^-x`) with the same bits as
/// [`exp_n`] of `0 - x`: the negation folded into mirrored clamps and the signs of the
/// fused multiply-adds (the reduced argument `r` is carried negated, which rounding to
/// nearest mirrors exactly), so that it is not one more operation on the chain.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(super) unsafe fn exp_signed_n<L: Lanes, const N: usize, const NEG: bool>(
    x: [L::V; N],
) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        // xc = clamp(x) to [EXP_LOW, 88]; with NEG, xm = -clamp(-x) = clamp(x) to
        // [-88, -EXP_LOW] (x NaN: NaN either way).
        let xc = if NEG {
            each!(L, N, |q| L::max(
                L::splat(-88.0),
                L::min(L::splat(-EXP_LOW), x[q])
            ))
        } else {
            each!(L, N, |q| L::min(
                L::splat(88.0),
                L::max(L::splat(EXP_LOW), x[q])
            ))
        };
        let (log2e, magic) = (L::splat(core::f32::consts::LOG2_E), L::splat(MAGIC));
        let t = each!(L, N, |q| fma_r::<L, NEG>(xc[q], log2e, magic));
        // 2^n from the integer in the low bits of t.
        let pow2 = each!(L, N, |q| L::pow2_magic(t[q]));
        let n = each!(L, N, |q| L::sub(t[q], L::splat(MAGIC)));
        // r = xc - n ln2 (in two parts), or -r = xm + n ln2.
        let (c1, c2) = (L::splat(0.693_359_4), L::splat(-2.121_944_4e-4));
        let r = if NEG {
            let r = each!(L, N, |q| L::fmadd(n[q], c1, xc[q]));
            each!(L, N, |q| L::fmadd(n[q], c2, r[q]))
        } else {
            let r = each!(L, N, |q| L::fnmadd(n[q], c1, xc[q]));
            each!(L, N, |q| L::fnmadd(n[q], c2, r[q]))
        };
        let z = each!(L, N, |q| L::mul(r[q], r[q]));
        // Cephes' polynomial p(r) = c0 + c1 r + ... + c5 r^5 in Estrin's scheme: three
        // independent pairs, then two steps in r² (12 cycles of latency instead of
        // Horner's 20).
        let k = L::splat;
        let p45 = each!(L, N, |q| fma_r::<L, NEG>(
            k(1.987_569_1e-4),
            r[q],
            k(1.398_2e-3)
        ));
        let p23 = each!(L, N, |q| fma_r::<L, NEG>(
            k(8.333_452e-3),
            r[q],
            k(4.166_579_6e-2)
        ));
        let p01 = each!(L, N, |q| fma_r::<L, NEG>(
            k(1.666_666_5e-1),
            r[q],
            k(5.000_000_1e-1)
        ));
        let p = each!(L, N, |q| L::fmadd(p45[q], z[q], p23[q]));
        let p = each!(L, N, |q| L::fmadd(p[q], z[q], p01[q]));
        // y = p z + r.
        let y = if NEG {
            each!(L, N, |q| L::fmsub(p[q], z[q], r[q]))
        } else {
            each!(L, N, |q| L::fmadd(p[q], z[q], r[q]))
        };
        each!(L, N, |q| L::mul(L::add(y[q], L::splat(1.0)), pow2[q]))
    }
}

/// [`crate::fastmath::sigmoid`] on `N` registers of lanes `L` (interleaved as in [`exp_n`]).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn sigmoid_n<L: Lanes, const N: usize>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        let e = exp_signed_n::<L, N, true>(x);
        each!(L, N, |q| L::div(L::splat(1.0), L::add(L::splat(1.0), e[q])))
    }
}

/// [`crate::fastmath::tanh`] on `N` registers of lanes `L` (interleaved as in [`exp_n`]).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn tanh_n<L: Lanes, const N: usize>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        let a = each!(L, N, |q| L::abs(x[q]));
        let z = each!(L, N, |q| L::mul(x[q], x[q]));
        let mut p = [L::splat(-5.704_988_7e-3); N];
        for c in [
            2.063_908_9e-2,
            -5.373_971_6e-2,
            1.333_144_2e-1,
            -3.333_328_2e-1,
        ] {
            p = each!(L, N, |q| L::fmadd(p[q], z[q], L::splat(c)));
        }
        let small = each!(L, N, |q| L::fmadd(L::mul(p[q], z[q]), x[q], x[q]));
        let e = exp_n::<L, N>(each!(L, N, |q| L::add(a[q], a[q])));
        let large = each!(L, N, |q| L::sub(
            L::splat(1.0),
            L::div(L::splat(2.0), L::add(e[q], L::splat(1.0)))
        ));
        // The sign of x back on; NaN fails the comparison and takes `large`, which is NaN
        // (as are `a` and `e`).
        each!(L, N, |q| L::select_lt(
            a[q],
            L::splat(0.625),
            small[q],
            L::or_sign(large[q], x[q])
        ))
    }
}

/// [`exp_n`] on AVX2 registers.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn exp8_clamped<const N: usize>(x: [__m256; N]) -> [__m256; N] {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { exp_n::<Avx2, N>(x) }
}

/// [`sigmoid_n`] on one AVX2 register.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn sigmoid8(x: __m256) -> __m256 {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { sigmoid_n::<Avx2, 1>([x])[0] }
}

/// [`tanh_n`] on one AVX2 register.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn tanh8(x: __m256) -> __m256 {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { tanh_n::<Avx2, 1>([x])[0] }
}

/// `x = tanh(x)` (`TANH`) or `x = sigmoid(x)` in groups of eight, the tail padded into a
/// full group.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(crate) fn map<const TANH: bool>(xs: &mut [f32]) {
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

/// `a r + c` on the true reduced argument `r` of [`exp_signed_n`], given what it carries (`-r`
/// if `NEG`). (A function, not a closure: a closure does not get the target features of the
/// kernel it is inlined into.)
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn fma_r<L: Lanes, const NEG: bool>(a: L::V, r: L::V, c: L::V) -> L::V {
    // SAFETY: the caller's contract.
    unsafe {
        if NEG {
            L::fnmadd(a, r, c)
        } else {
            L::fmadd(a, r, c)
        }
    }
}
