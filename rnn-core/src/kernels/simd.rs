//! SIMD building blocks: one register of lanes ([`Lanes`]: eight with AVX2 + FMA, sixteen
//! with AVX-512F), the activations of `crate::fastmath` written once over it, the AVX2 masked
//! loads and stores, and the unit groups the fused cells iterate over.
//!
//! The same functions as `crate::fastmath`, with intrinsics. (Autovectorisation of the
//! scalar code chose interleaved loops that left the short gate blocks, 20 to 128 values, to a
//! scalar epilogue, and a scalar `exp` tail cost as much as the vector part.)

// The polynomial constants are Cephes', written as published (as in `crate::fastmath`).
#![allow(clippy::excessive_precision)]

use crate::fastmath::{EXP_LOW, MAGIC};
use core::arch::x86_64::*;

/// `[e for q in 0..n]` for vectors of lanes `L` ([`Lanes`]), as a plain loop:
/// `array::from_fn` and `map` made the compiler generate a copy of their machinery for every
/// closure (a fifth of a user crate's LLVM IR). Used inside the `unsafe` block of a kernel
/// for `$l`'s features (its registers start from `Lanes::zero`).
macro_rules! each {
    ($l:ty, $n:expr, |$q:ident| $e:expr) => {{
        let mut out = [<$l as $crate::kernels::simd::Lanes>::zero(); $n];
        for $q in 0..$n {
            out[$q] = $e;
        }
        out
    }};
}
pub(crate) use each;

/// One register of `W` `f32` lanes and the operations the activations and the fused cells
/// need on it: [`Avx2`] (eight lanes, AVX2 + FMA) and [`Avx512`] (sixteen, AVX-512F), so that
/// one generic body serves both widths with the same operations in the same order (so the
/// same bits in every lane). Every method is `unsafe` (the CPU must have the features) and
/// `#[inline(always)]`: it is inlined into the `#[target_feature]` function that runs the
/// kernel, where each intrinsic is one instruction (a call left out of line would run
/// without the features).
pub(crate) trait Lanes: Copy {
    /// Lanes per register.
    const W: usize;
    /// The register.
    type V: Copy;
    /// All lanes 0.
    unsafe fn zero() -> Self::V;
    /// All lanes `v`.
    unsafe fn splat(v: f32) -> Self::V;
    /// All lanes lane `k < W` of `v` (a permute: no trip through memory).
    unsafe fn splat_lane(v: Self::V, k: usize) -> Self::V;
    /// Lane `j` is lane `(j + n) % W` of `v` (a permute).
    unsafe fn lanes_from(v: Self::V, n: usize) -> Self::V;
    /// `a + b`.
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    /// `a - b`.
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    /// `a b`.
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    /// `a / b`.
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    /// `min(a, b)`, `b` where either is NaN (`minps`).
    unsafe fn min(a: Self::V, b: Self::V) -> Self::V;
    /// `max(a, b)`, `b` where either is NaN (`maxps`).
    unsafe fn max(a: Self::V, b: Self::V) -> Self::V;
    /// `a b + c`, rounded once.
    unsafe fn fmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `c - a b`, rounded once.
    unsafe fn fnmadd(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `a b - c`, rounded once.
    unsafe fn fmsub(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `|a|` (the sign bit cleared).
    unsafe fn abs(a: Self::V) -> Self::V;
    /// `a` with the sign bit of `s` or-ed in.
    unsafe fn or_sign(a: Self::V, s: Self::V) -> Self::V;
    /// `yes` in the lanes where `a < t` (ordered: not for NaN), else `no`.
    unsafe fn select_lt(a: Self::V, t: Self::V, yes: Self::V, no: Self::V) -> Self::V;
    /// `2^n` for `t = n + MAGIC` (the integer `n`, in `[-126, 127]`, in its low bits).
    unsafe fn pow2_magic(t: Self::V) -> Self::V;
    /// The `W` lanes at `p` (readable).
    unsafe fn load(p: *const f32) -> Self::V;
    /// The first `n <= W` lanes at `p` (readable), the others 0 and not read.
    unsafe fn load_part(p: *const f32, n: usize) -> Self::V;
    /// Stores the `W` lanes at `p` (writable).
    unsafe fn store(p: *mut f32, v: Self::V);
    /// Stores the first `n <= W` lanes at `p` (writable), not touching the others.
    unsafe fn store_part(p: *mut f32, v: Self::V, n: usize);
}

/// Eight lanes, AVX2 + FMA.
#[derive(Clone, Copy)]
pub(crate) struct Avx2;

/// Sixteen lanes, AVX-512F.
#[derive(Clone, Copy)]
pub(crate) struct Avx512;

impl Lanes for Avx2 {
    const W: usize = 8;
    type V = __m256;
    // SAFETY (every method): the trait's contract, the CPU has AVX2 and FMA; pointers as
    // documented.
    #[inline(always)]
    unsafe fn zero() -> __m256 {
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m256 {
        unsafe { _mm256_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn splat_lane(v: __m256, k: usize) -> __m256 {
        unsafe { _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(k as i32)) }
    }
    #[inline(always)]
    unsafe fn lanes_from(v: __m256, n: usize) -> __m256 {
        let mut at = [0i32; 8];
        for (j, a) in at.iter_mut().enumerate() {
            *a = ((j + n) % 8) as i32;
        }
        unsafe { _mm256_permutevar8x32_ps(v, _mm256_loadu_si256(at.as_ptr().cast())) }
    }
    #[inline(always)]
    unsafe fn add(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m256, b: __m256) -> __m256 {
        unsafe { _mm256_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fnmadd(a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fnmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fmsub(a: __m256, b: __m256, c: __m256) -> __m256 {
        unsafe { _mm256_fmsub_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn abs(a: __m256) -> __m256 {
        unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), a) }
    }
    #[inline(always)]
    unsafe fn or_sign(a: __m256, s: __m256) -> __m256 {
        unsafe { _mm256_or_ps(a, _mm256_and_ps(s, _mm256_set1_ps(-0.0))) }
    }
    #[inline(always)]
    unsafe fn select_lt(a: __m256, t: __m256, yes: __m256, no: __m256) -> __m256 {
        unsafe { _mm256_blendv_ps(no, yes, _mm256_cmp_ps::<_CMP_LT_OQ>(a, t)) }
    }
    #[inline(always)]
    unsafe fn pow2_magic(t: __m256) -> __m256 {
        unsafe {
            let n = _mm256_sub_epi32(
                _mm256_castps_si256(t),
                _mm256_set1_epi32(MAGIC.to_bits() as i32),
            );
            _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
                n,
                _mm256_set1_epi32(127),
            )))
        }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m256 {
        unsafe { _mm256_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m256 {
        unsafe { _mm256_maskload_ps(p, lane_mask(n)) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m256) {
        unsafe { _mm256_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, v: __m256, n: usize) {
        unsafe { store::<true>(p, v, n) }
    }
}

impl Lanes for Avx512 {
    const W: usize = 16;
    type V = __m512;
    // SAFETY (every method): the trait's contract, the CPU has AVX-512F; pointers as
    // documented. AVX-512F has no `f32` logic operations: `abs` and `or_sign` work on the
    // bits as integers (the same bits as AVX2's `andnot`/`or`).
    #[inline(always)]
    unsafe fn zero() -> __m512 {
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn splat(v: f32) -> __m512 {
        unsafe { _mm512_set1_ps(v) }
    }
    #[inline(always)]
    unsafe fn splat_lane(v: __m512, k: usize) -> __m512 {
        unsafe { _mm512_permutexvar_ps(_mm512_set1_epi32(k as i32), v) }
    }
    #[inline(always)]
    unsafe fn lanes_from(v: __m512, n: usize) -> __m512 {
        let mut at = [0i32; 16];
        for (j, a) in at.iter_mut().enumerate() {
            *a = ((j + n) % 16) as i32;
        }
        unsafe { _mm512_permutexvar_ps(_mm512_loadu_si512(at.as_ptr().cast()), v) }
    }
    #[inline(always)]
    unsafe fn add(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_add_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn sub(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_sub_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn mul(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_mul_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn div(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_div_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn min(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_min_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn max(a: __m512, b: __m512) -> __m512 {
        unsafe { _mm512_max_ps(a, b) }
    }
    #[inline(always)]
    unsafe fn fmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fnmadd(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fnmadd_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn fmsub(a: __m512, b: __m512, c: __m512) -> __m512 {
        unsafe { _mm512_fmsub_ps(a, b, c) }
    }
    #[inline(always)]
    unsafe fn abs(a: __m512) -> __m512 {
        unsafe { _mm512_abs_ps(a) }
    }
    #[inline(always)]
    unsafe fn or_sign(a: __m512, s: __m512) -> __m512 {
        unsafe {
            let sign = _mm512_and_si512(_mm512_castps_si512(s), _mm512_set1_epi32(i32::MIN));
            _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), sign))
        }
    }
    #[inline(always)]
    unsafe fn select_lt(a: __m512, t: __m512, yes: __m512, no: __m512) -> __m512 {
        unsafe { _mm512_mask_blend_ps(_mm512_cmp_ps_mask::<_CMP_LT_OQ>(a, t), no, yes) }
    }
    #[inline(always)]
    unsafe fn pow2_magic(t: __m512) -> __m512 {
        unsafe {
            let n = _mm512_sub_epi32(
                _mm512_castps_si512(t),
                _mm512_set1_epi32(MAGIC.to_bits() as i32),
            );
            _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(
                n,
                _mm512_set1_epi32(127),
            )))
        }
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> __m512 {
        unsafe { _mm512_loadu_ps(p) }
    }
    #[inline(always)]
    unsafe fn load_part(p: *const f32, n: usize) -> __m512 {
        unsafe { _mm512_maskz_loadu_ps(((1u32 << n) - 1) as __mmask16, p) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: __m512) {
        unsafe { _mm512_storeu_ps(p, v) }
    }
    #[inline(always)]
    unsafe fn store_part(p: *mut f32, v: __m512, n: usize) {
        unsafe { _mm512_mask_storeu_ps(p, ((1u32 << n) - 1) as __mmask16, v) }
    }
}

/// `e^x` on `N` registers of lanes `L`, for what [`sigmoid_n`] and [`tanh_n`] need:
/// [`super::exp`]'s range reduction and polynomial (fused steps), with `x` clamped to
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
unsafe fn exp_signed_n<L: Lanes, const N: usize, const NEG: bool>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        // `a r + c` on the true reduced argument `r`, given what is carried (`-r` if `NEG`).
        let fma_r = |a: L::V, r: L::V, c: L::V| {
            if NEG {
                L::fnmadd(a, r, c)
            } else {
                L::fmadd(a, r, c)
            }
        };
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
        let t = each!(L, N, |q| fma_r(xc[q], log2e, magic));
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
        let p45 = each!(L, N, |q| fma_r(k(1.987_569_1e-4), r[q], k(1.398_2e-3)));
        let p23 = each!(L, N, |q| fma_r(k(8.333_452e-3), r[q], k(4.166_579_6e-2)));
        let p01 = each!(L, N, |q| fma_r(k(1.666_666_5e-1), r[q], k(5.000_000_1e-1)));
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

/// [`super::sigmoid`] on `N` registers of lanes `L` (interleaved as in [`exp_n`]).
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

/// [`super::tanh`] on `N` registers of lanes `L` (interleaved as in [`exp_n`]).
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

/// Where [`tanh_fast_n`] clamps its input: `tanh` of it rounds to 1 within the
/// approximation's error.
const TANH_FAST_CLAMP: f32 = 7.905_311;

/// Eigen's `ptanh_float`: `tanh(y) ≈ y P(y²) / Q(y²)`, `P` of degree 6 (`a1, a3, ... a13`),
/// `Q` of degree 3 (`b0, b2, b4, b6`), for `|y| <= TANH_FAST_CLAMP`.
const TANH_P: [f64; 7] = [
    4.893_524_558_917_86e-3,
    6.372_619_288_754_36e-4,
    1.485_722_357_179_79e-5,
    5.122_297_090_371_14e-8,
    -8.604_671_522_137_35e-11,
    2.000_187_904_824_77e-13,
    -2.760_768_477_423_55e-16,
];
const TANH_Q: [f64; 4] = [
    4.893_525_185_543_85e-3,
    2.268_434_632_439_00e-3,
    1.185_347_056_866_54e-4,
    1.198_258_394_667_02e-6,
];

/// `c[k] out zs^k` in `f32`: the coefficients of a polynomial in `z` as one in `zs z`,
/// times `out` (exact for powers of two).
const fn coefficients<const K: usize>(c: [f64; K], zs: f64, out: f64) -> [f32; K] {
    let mut r = [0.0; K];
    let (mut w, mut k) = (out, 0);
    while k < K {
        r[k] = (c[k] * w) as f32;
        w *= zs;
        k += 1;
    }
    r
}

/// `[P, Q]` of `tanh` ([`TANH_P`], [`TANH_Q`]) and of the sigmoid ([`rational_n`]).
const RATIONAL: [([f32; 7], [f32; 4]); 2] = [
    (
        coefficients(TANH_P, 1.0, 1.0),
        coefficients(TANH_Q, 1.0, 1.0),
    ),
    (
        coefficients(TANH_P, 0.25, 0.25),
        coefficients(TANH_Q, 0.25, 1.0),
    ),
];

/// The fast activations (a network's `set_fast_activations`), on `N` registers: `tanh`, or
/// the sigmoid if `SIGMOID`. `tanh` is Eigen's rational approximation (`ptanh_float`, see
/// [`TANH_P`], the input clamped to `±7.905311`); the sigmoid is
/// `σ(x) = 1/2 + tanh(x / 2) / 2 = 1/2 + x P'(x²) / Q(x²/4)` with `P'(z) = P(z/4) / 4`, the
/// halving folded into the coefficients (exact: powers of two). Both polynomials in `x²` by
/// Estrin's scheme, the clamp on `x²` (one operation on the chain), `x` divided by the
/// denominator while the numerator is finished: about 30 cycles of latency by the
/// instruction tables, where [`tanh_n`] and [`sigmoid_n`] take 70-80 (their exponential,
/// division and select). Within
/// 4e-7 of `tanh` and 2e-7 of `σ` over all of `f32` (at most 3.0e-7 and 1.5e-7 over every
/// 1009th bit pattern: `fast_activations_are_within_4e_7` below), NaN to NaN (the clamps
/// take `x` second, as in [`exp_n`]).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn rational_n<L: Lanes, const N: usize, const SIGMOID: bool>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        // Every lane the sigmoid, or every lane `tanh`.
        Rational::<L>::of_lanes(&const { rational_lanes(if SIGMOID { (0, 0) } else { (0, 16) }) })
            .apply_n(x)
    }
}

/// The constants of [`rational_n`] for one lane, `tanh`'s or the sigmoid's: the clamp of
/// `x²`, the clamp of `x` and its negation, the numerator's 7 coefficients, the
/// denominator's 4, and what is added at the end (1/2 for the sigmoid, `-0` for `tanh`,
/// which changes nothing, not even a zero's sign).
const fn rational_row(sigmoid: bool) -> [f32; 15] {
    // For the sigmoid, x = 2y: the clamp doubles, z = x² is 4y².
    let clamp = if sigmoid {
        2.0 * TANH_FAST_CLAMP
    } else {
        TANH_FAST_CLAMP
    };
    let (p, q) = RATIONAL[sigmoid as usize];
    let mut row = [0.0; 15];
    row[0] = clamp * clamp;
    row[1] = clamp;
    row[2] = -clamp;
    let mut j = 0;
    while j < 7 {
        row[3 + j] = p[j];
        j += 1;
    }
    let mut j = 0;
    while j < 4 {
        row[10 + j] = q[j];
        j += 1;
    }
    row[14] = if sigmoid { 0.5 } else { -0.0 };
    row
}

/// `yes` in lanes `from..to` of 16, `no` in the others.
pub(crate) const fn lanes_where(from: usize, to: usize, yes: f32, no: f32) -> [f32; 16] {
    let mut v = [no; 16];
    let mut k = from;
    while k < to && k < 16 {
        v[k] = yes;
        k += 1;
    }
    v
}

/// [`rational_row`] per lane of 16: `tanh` in lanes `tanh.0..tanh.1`, the sigmoid in the
/// others (an LSTM's gates `[i; f; g; o]` in one register: `tanh` for `g`). Row-major.
pub(crate) const fn rational_lanes(tanh: (usize, usize)) -> [[f32; 16]; 15] {
    let (of_tanh, of_sigmoid) = (rational_row(false), rational_row(true));
    let mut t = [[0.0; 16]; 15];
    let mut j = 0;
    while j < 15 {
        t[j] = lanes_where(tanh.0, tanh.1, of_tanh[j], of_sigmoid[j]);
        j += 1;
    }
    t
}

/// The constants of [`rational_n`] per lane (see [`rational_row`]): each lane `tanh` or the
/// sigmoid, so that one register can hold an LSTM's four gates (`kernels::lstm_step`'s
/// block of a cell of `4H` lanes or fewer), with the bits each lane gets from
/// [`rational_n`].
pub(crate) struct Rational<L: Lanes> {
    clamp2: L::V,
    clamp: [L::V; 2],
    p: [L::V; 7],
    q: [L::V; 4],
    add: L::V,
}

impl<L: Lanes> Rational<L> {
    /// The constants of a table of [`rational_lanes`].
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    #[inline(always)]
    pub(crate) unsafe fn of_lanes(t: &[[f32; 16]; 15]) -> Self {
        // SAFETY: each row holds 16 >= W lanes; the caller's contract.
        let get = |j: usize| unsafe { L::load(t[j].as_ptr()) };
        Self {
            clamp2: get(0),
            clamp: [get(1), get(2)],
            p: [get(3), get(4), get(5), get(6), get(7), get(8), get(9)],
            q: [get(10), get(11), get(12), get(13)],
            add: get(14),
        }
    }

    /// The function of each lane on `N` registers.
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    #[inline(always)]
    pub(crate) unsafe fn apply_n<const N: usize>(&self, x: [L::V; N]) -> [L::V; N] {
        let (a, b) = (&self.p, &self.q);
        // SAFETY: the caller's contract.
        unsafe {
            let z = each!(L, N, |q| L::min(self.clamp2, L::mul(x[q], x[q])));
            let xc = each!(L, N, |q| L::min(self.clamp[0], L::max(self.clamp[1], x[q])));
            let z2 = each!(L, N, |q| L::mul(z[q], z[q]));
            let z4 = each!(L, N, |q| L::mul(z2[q], z2[q]));
            let p01 = each!(L, N, |q| L::fmadd(a[1], z[q], a[0]));
            let p23 = each!(L, N, |q| L::fmadd(a[3], z[q], a[2]));
            let p45 = each!(L, N, |q| L::fmadd(a[5], z[q], a[4]));
            let lo = each!(L, N, |q| L::fmadd(p23[q], z2[q], p01[q]));
            let hi = each!(L, N, |q| L::fmadd(a[6], z2[q], p45[q]));
            let p = each!(L, N, |q| L::fmadd(hi[q], z4[q], lo[q]));
            let q01 = each!(L, N, |q| L::fmadd(b[1], z[q], b[0]));
            let q23 = each!(L, N, |q| L::fmadd(b[3], z[q], b[2]));
            let den = each!(L, N, |q| L::fmadd(q23[q], z2[q], q01[q]));
            let r = each!(L, N, |q| L::div(xc[q], den[q]));
            each!(L, N, |q| L::fmadd(p[q], r[q], self.add))
        }
    }
}

/// The fast activations' `tanh` ([`rational_n`]).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn tanh_fast_n<L: Lanes, const N: usize>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe { rational_n::<L, N, false>(x) }
}

/// The fast activations' sigmoid ([`rational_n`]): an absolute, not relative, error near 0.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn sigmoid_fast_n<L: Lanes, const N: usize>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe { rational_n::<L, N, true>(x) }
}

/// [`sigmoid_n`], or [`sigmoid_fast_n`] if `FAST`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn sigmoid_of<L: Lanes, const N: usize, const FAST: bool>(
    x: [L::V; N],
) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        if FAST {
            sigmoid_fast_n::<L, N>(x)
        } else {
            sigmoid_n::<L, N>(x)
        }
    }
}

/// [`tanh_n`], or [`tanh_fast_n`] if `FAST`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn tanh_of<L: Lanes, const N: usize, const FAST: bool>(
    x: [L::V; N],
) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        if FAST {
            tanh_fast_n::<L, N>(x)
        } else {
            tanh_n::<L, N>(x)
        }
    }
}

/// An LSTM's `g` gate, `tanh(a)`: `2 σ(2a) - 1` as the generic path computes it (the same
/// bits), or [`tanh_fast_n`] if `FAST`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn tanh_gate_of<L: Lanes, const N: usize, const FAST: bool>(
    a: [L::V; N],
) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        if FAST {
            tanh_fast_n::<L, N>(a)
        } else {
            let (one, two) = (L::splat(1.0), L::splat(2.0));
            let s = sigmoid_n::<L, N>(each!(L, N, |q| L::mul(two, a[q])));
            each!(L, N, |q| L::fmsub(two, s[q], one))
        }
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

/// A group of `NG` blocks of `L::W` units of a recurrent cell ([`Lanes`]), in column `b` from
/// unit `j`; its last block ends at `H` (masked) if `LAST_PARTIAL`. See [`unit_groups`].
#[derive(Clone, Copy)]
pub(crate) struct UnitGroup<L, const H: usize, const NG: usize, const LAST_PARTIAL: bool> {
    /// The column (sample of the batch).
    pub(crate) b: usize,
    /// The first unit.
    pub(crate) j: usize,
    /// The lanes.
    lanes: core::marker::PhantomData<L>,
}

impl<L: Lanes, const H: usize, const NG: usize, const LAST_PARTIAL: bool>
    UnitGroup<L, H, NG, LAST_PARTIAL>
{
    /// The group in column `b` from unit `j`.
    #[inline(always)]
    pub(crate) const fn new(b: usize, j: usize) -> Self {
        Self {
            b,
            j,
            lanes: core::marker::PhantomData,
        }
    }

    /// Block `q` of a per-unit matrix (`H` rows per column) at `base`.
    ///
    /// # Safety
    /// `base` points to an `H x B` matrix with `b < B`.
    #[inline(always)]
    pub(crate) unsafe fn unit(self, base: *mut f32, q: usize) -> *mut f32 {
        // SAFETY: the caller's contract; the group's blocks are inside `H`.
        unsafe { base.add(self.b * H + self.j + L::W * q) }
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
        unsafe { base.add(self.b * K * H + k * H + self.j + L::W * q) }
    }

    /// The lanes of block `q` at `p` (a partial block's masked lanes read as 0).
    ///
    /// # Safety
    /// The CPU has `L`'s features; the block's units at `p` are readable.
    #[inline(always)]
    pub(crate) unsafe fn get(self, p: *const f32, q: usize) -> L::V {
        // SAFETY: the caller's contract; a partial block's masked lanes are not read.
        unsafe {
            if LAST_PARTIAL && q == NG - 1 {
                L::load_part(p, H % L::W)
            } else {
                L::load(p)
            }
        }
    }

    /// Stores block `q` at `p` (not a partial block's masked lanes).
    ///
    /// # Safety
    /// The CPU has `L`'s features; the block's units at `p` are writable.
    #[inline(always)]
    pub(crate) unsafe fn put(self, p: *mut f32, q: usize, v: L::V) {
        // SAFETY: the caller's contract; a partial block's masked lanes are not written.
        unsafe {
            if LAST_PARTIAL && q == NG - 1 {
                L::store_part(p, v, H % L::W);
            } else {
                L::store(p, v);
            }
        }
    }
}

/// Runs `$group::<L, H, NG, LAST_PARTIAL>($args.., UnitGroup { b, j, .. })` over the units of
/// a recurrent cell, `W = L::W` lanes per block ([`Lanes`]): for each of the `$b` columns,
/// groups of four blocks of `W` units from unit `j`, then one last group of one to four
/// blocks, its last block partial if `H % W != 0`. A cell's activations go through each stage
/// for all blocks of a group together, so that their long, independent chains interleave (one
/// block after another, they barely overlapped). The last group's shape is chosen by a
/// constant (an integer: a constant tuple is not pruned), so only the group functions a cell
/// needs are generated.
macro_rules! unit_groups {
    ($group:ident::<$l:ident, $h:ident $(, $extra:ident)*>($($arg:expr),*), $b:ident) => {{
        use $crate::kernels::simd::{Lanes, UnitGroup};
        let w = <$l as Lanes>::W;
        let full_groups = const { ($h.div_ceil(<$l as Lanes>::W) - 1) / 4 };
        for b in 0..$b {
            let j = 4 * w * full_groups;
            for g in 0..full_groups {
                $group::<$l, $h $(, $extra)*, 4, false>($($arg,)* UnitGroup::new(b, 4 * w * g));
            }
            // (blocks in the last group) * 2 + (its last block is partial).
            match const {
                (($h.div_ceil(<$l as Lanes>::W) - 1) % 4 + 1) * 2
                    + !$h.is_multiple_of(<$l as Lanes>::W) as usize
            } {
                2 => $group::<$l, $h $(, $extra)*, 1, false>($($arg,)* UnitGroup::new(b, j)),
                3 => $group::<$l, $h $(, $extra)*, 1, true>($($arg,)* UnitGroup::new(b, j)),
                4 => $group::<$l, $h $(, $extra)*, 2, false>($($arg,)* UnitGroup::new(b, j)),
                5 => $group::<$l, $h $(, $extra)*, 2, true>($($arg,)* UnitGroup::new(b, j)),
                6 => $group::<$l, $h $(, $extra)*, 3, false>($($arg,)* UnitGroup::new(b, j)),
                7 => $group::<$l, $h $(, $extra)*, 3, true>($($arg,)* UnitGroup::new(b, j)),
                8 => $group::<$l, $h $(, $extra)*, 4, false>($($arg,)* UnitGroup::new(b, j)),
                _ => $group::<$l, $h $(, $extra)*, 4, true>($($arg,)* UnitGroup::new(b, j)),
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

/// What the cells' tests of the two widths share.
#[cfg(test)]
pub(crate) mod testing {
    use crate::Rng;
    use alloc::vec::Vec;

    /// Whether this CPU runs both widths (AVX2 + FMA and AVX-512F).
    pub(crate) fn both_widths() -> bool {
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma")
    }

    /// `n` weights in a trained network's range.
    pub(crate) fn weights(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-0.6, 0.6) as f32).collect()
    }

    /// `n` pre-activations over ±12: both branches of `tanh` and the clamps of `exp`.
    pub(crate) fn pre_activations(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-12.0, 12.0) as f32).collect()
    }

    /// The bits of each slice.
    pub(crate) fn bits<const K: usize>(vs: [&[f32]; K]) -> [Vec<u32>; K] {
        vs.map(|v| v.iter().map(|x| x.to_bits()).collect())
    }

    /// `$check::<H>()` at the cell sizes that cover the unit groups of sixteen lanes: a
    /// partial block (13, 20, 37), full groups only (64), two groups and a partial block (130).
    macro_rules! at_cell_sizes {
        ($check:ident) => {
            $check::<13>();
            $check::<20>();
            $check::<37>();
            $check::<64>();
            $check::<130>();
        };
    }
    pub(crate) use at_cell_sizes;
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    /// `f` over `xs` in registers of `L`, the tail padded with zeros.
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    unsafe fn map_lanes<L: Lanes>(xs: &[f32], f: unsafe fn([L::V; 1]) -> [L::V; 1]) -> Vec<f32> {
        let mut out = Vec::with_capacity(xs.len());
        for chunk in xs.chunks(L::W) {
            let mut lanes = [0.0f32; 16];
            lanes[..chunk.len()].copy_from_slice(chunk);
            // SAFETY: the caller's contract; `lanes` holds 16 >= W floats.
            unsafe {
                let [y] = f([L::load(lanes.as_ptr())]);
                L::store(lanes.as_mut_ptr(), y);
            }
            out.extend_from_slice(&lanes[..chunk.len()]);
        }
        out
    }

    #[target_feature(enable = "avx2,fma")]
    fn fast_avx2(xs: &[f32], tanh: bool) -> Vec<f32> {
        // SAFETY: the CPU has AVX2 and FMA (this function's features).
        unsafe {
            if tanh {
                map_lanes::<Avx2>(xs, tanh_fast_n::<Avx2, 1>)
            } else {
                map_lanes::<Avx2>(xs, sigmoid_fast_n::<Avx2, 1>)
            }
        }
    }

    #[target_feature(enable = "avx512f")]
    fn fast_avx512(xs: &[f32], tanh: bool) -> Vec<f32> {
        // SAFETY: the CPU has AVX-512F (this function's features).
        unsafe {
            if tanh {
                map_lanes::<Avx512>(xs, tanh_fast_n::<Avx512, 1>)
            } else {
                map_lanes::<Avx512>(xs, sigmoid_fast_n::<Avx512, 1>)
            }
        }
    }

    #[target_feature(enable = "avx2,fma")]
    fn exp_of_negated(xs: &[f32], folded: bool) -> Vec<f32> {
        // SAFETY: the CPU has AVX2 and FMA (this function's features).
        unsafe {
            if folded {
                map_lanes::<Avx2>(xs, exp_signed_n::<Avx2, 1, true>)
            } else {
                map_lanes::<Avx2>(xs, |[x]| exp_n::<Avx2, 1>([Avx2::sub(Avx2::zero(), x)]))
            }
        }
    }

    /// The sigmoid's `e^-x` with the negation folded in has the bits of `e^(0 - x)`.
    #[test]
    fn exp_of_minus_x_folded_is_exp_of_the_negation_bit_for_bit() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        let xs = super::super::tests::every_1009th(&[
            EXP_LOW,
            -EXP_LOW,
            88.0,
            -88.0,
            0.0,
            -0.0,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        // SAFETY: checked above.
        let (folded, negated) = unsafe { (exp_of_negated(&xs, true), exp_of_negated(&xs, false)) };
        assert_eq!(testing::bits([&folded]), testing::bits([&negated]));
    }

    /// Every 1009th bit pattern of each sign, and the edges.
    fn sweep() -> Vec<f32> {
        super::super::tests::every_1009th(&[
            TANH_FAST_CLAMP,
            -TANH_FAST_CLAMP,
            2.0 * TANH_FAST_CLAMP,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            0.0,
            -0.0,
        ])
    }

    /// The fast tanh and sigmoid stay within their documented distance of the exact
    /// functions (f64) over all of `f32`, keep the sign of zero, give NaN for NaN, and write
    /// the same bits in both widths.
    #[test]
    fn fast_activations_are_within_4e_7() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        let xs = sweep();
        type Reference = fn(f64) -> f64;
        let cases: [(&str, bool, Reference, f64); 2] = [
            ("tanh", true, f64::tanh, 4e-7),
            ("sigmoid", false, |x| 1.0 / (1.0 + (-x).exp()), 2e-7),
        ];
        for (name, tanh, reference, bound) in cases {
            // SAFETY: checked above.
            let ys = unsafe { fast_avx2(&xs, tanh) };
            let mut worst = 0.0f64;
            for (&x, &y) in xs.iter().zip(&ys) {
                let err = (f64::from(y) - reference(f64::from(x))).abs();
                assert!(err <= bound, "{name}({x:e}) = {y:e}: off by {err:e}");
                worst = worst.max(err);
            }
            // The bound is tight: a looser approximation would not pass.
            assert!(worst > bound / 4.0, "{name}: worst {worst:e}");
            // SAFETY: checked above.
            let nan = unsafe { fast_avx2(&[f32::NAN], tanh) };
            assert!(nan[0].is_nan(), "{name}(NaN) = {}", nan[0]);
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: checked just above.
                let wide = unsafe { fast_avx512(&xs, tanh) };
                assert_eq!(
                    testing::bits([&wide]),
                    testing::bits([&ys]),
                    "{name}: AVX-512 and AVX2 differ"
                );
            }
        }
        // SAFETY: checked above.
        let zeros = unsafe { fast_avx2(&[0.0, -0.0], true) };
        assert_eq!(testing::bits([&zeros]), testing::bits([&[0.0, -0.0]]));
    }
}
