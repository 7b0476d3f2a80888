//! One register of `W` `f32` lanes ([`Lanes`]): [`Avx2`] (eight) and [`Avx512`] (sixteen).

use super::{lane_mask, store};
use crate::fastmath::MAGIC;
use core::arch::x86_64::*;

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
