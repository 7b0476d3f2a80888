//! LogSoftMax over one column (`crate::layers::logsoftmax`), AVX2 + FMA.
//!
//! One column's forward and backward for `f32` with AVX2 + FMA, eight classes at a time
//! (masked loads for the last partial vector): the generic path is scalar and, for a 5-class
//! output, cost as much as the LSTM's products at batch 1.

use super::simd::{exp8_clamped, lane_mask, load, store};
use core::arch::x86_64::*;

/// The eight lanes of `x` from `k` (the lanes past `N` masked: read as 0, not touched).
///
/// # Safety
/// `x` holds `N` values and `k < N`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn chunk<const N: usize>(x: &[f32], k: usize) -> (__m256, __m256) {
    let mask = lane_mask(N - k);
    // SAFETY: the caller's contract; masked lanes are not read.
    let v = unsafe { load::<true>(x.as_ptr().add(k), mask) };
    (v, _mm256_castsi256_ps(mask))
}

/// Writes the lanes of `v` that are inside `N` to `y[k..]`.
///
/// # Safety
/// `y` holds `N` values and `k < N`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn put<const N: usize>(y: &mut [f32], k: usize, v: __m256) {
    // SAFETY: the caller's contract: `y[k..]` holds at least `min(N - k, 8)` values.
    unsafe { store::<true>(y.as_mut_ptr().add(k), v, (N - k).min(8)) };
}

/// Horizontal maximum (ignores NaN lanes; a NaN input still makes the output NaN through
/// its exponential).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hmax(v: __m256) -> f32 {
    let m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)))
}

/// `log_softmax_column` (in `crate::layers::logsoftmax`): `y = (x - m) - ln Σ exp(x - m)`, the sum in `f64`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn forward<const N: usize>(x: &[f32], y: &mut [f32]) {
    assert!(N > 0 && x.len() == N && y.len() == N);
    let neg_inf = _mm256_set1_ps(f32::NEG_INFINITY);
    let mut m = neg_inf;
    // SAFETY (every `chunk` and `put`): `x` and `y` hold `N` values and `k < N`.
    for k in (0..N).step_by(8) {
        let (v, mask) = unsafe { chunk::<N>(x, k) };
        m = _mm256_max_ps(m, _mm256_blendv_ps(neg_inf, v, mask));
    }
    let m = _mm256_set1_ps(hmax(m));
    let mut sum = _mm256_setzero_pd();
    for k in (0..N).step_by(8) {
        let (v, mask) = unsafe { chunk::<N>(x, k) };
        let e = _mm256_and_ps(exp8_clamped([_mm256_sub_ps(v, m)])[0], mask);
        sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        sum = _mm256_add_pd(sum, _mm256_cvtps_pd(_mm256_extractf128_ps::<1>(e)));
    }
    let pair = _mm_add_pd(_mm256_castpd256_pd128(sum), _mm256_extractf128_pd::<1>(sum));
    let total = _mm_cvtsd_f64(_mm_add_sd(pair, _mm_unpackhi_pd(pair, pair)));
    let log_sum = _mm256_set1_ps(<f32 as crate::Float>::ln_of_sum(total));
    for k in (0..N).step_by(8) {
        let (v, _) = unsafe { chunk::<N>(x, k) };
        unsafe { put::<N>(y, k, _mm256_sub_ps(_mm256_sub_ps(v, m), log_sum)) };
    }
}

/// The backward from the stored output: `gx = gy - exp(y) Σ gy`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn backward<const N: usize>(y: &[f32], gy: &[f32], gx: &mut [f32]) {
    assert!(N > 0 && y.len() == N && gy.len() == N && gx.len() == N);
    let mut sum = _mm256_setzero_ps();
    // SAFETY (every `chunk` and `put`): the slices hold `N` values and `k < N`.
    for k in (0..N).step_by(8) {
        sum = _mm256_add_ps(sum, unsafe { chunk::<N>(gy, k) }.0);
    }
    let s = _mm_add_ps(_mm256_castps256_ps128(sum), _mm256_extractf128_ps::<1>(sum));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    let total = _mm256_set1_ps(_mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s))));
    for k in (0..N).step_by(8) {
        let (yv, _) = unsafe { chunk::<N>(y, k) };
        let (g, _) = unsafe { chunk::<N>(gy, k) };
        let v = _mm256_fnmadd_ps(exp8_clamped([yv])[0], total, g);
        unsafe { put::<N>(gx, k, v) };
    }
}
