//! `LogSoftMax`: log of the soft-max over the features of each column.
//!
//! Shapes: `x, y: N x B`.
//!
//! Forward (per column, with Torch's max shift): `m = max_j x_j`,
//! `y_i = (x_i - m) - ln Σ_j exp(x_j - m)`. The sum is accumulated in `f64`, as Torch
//! accumulates it in double precision. (Torch computes `x_i - (m + ln Σ)`, which loses the
//! low bits of `ln Σ` when `|m|` is large; the bracketing here does not.)
//!
//! Backward, from the stored output: `gx_i = gy_i - exp(y_i) Σ_j gy_j`.

use crate::Float;
use crate::layer::{Layer, no_parameters};
use nalgebra::SMatrix;

/// Log-soft-max over `N` classes. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSoftMax<S, const N: usize>(core::marker::PhantomData<S>);

impl<S: Float, const N: usize> LogSoftMax<S, N> {
    /// The layer (it has no parameters).
    #[must_use]
    pub fn new() -> Self {
        Self(core::marker::PhantomData)
    }
}

no_parameters!(LogSoftMax<N>);

/// `y = x - logsumexp(x)` for one column.
pub(crate) fn log_softmax_column<S: Float>(x: &[S], y: &mut [S]) {
    let m = x
        .iter()
        .copied()
        .fold(S::min_value().unwrap_or(S::zero()), |a, b| a.max(b));
    let sum: f64 = x.iter().map(|&v| (v - m).fast_exp().to_f64()).sum();
    let log_sum = S::ln_of_sum(sum);
    for (yi, &xi) in y.iter_mut().zip(x) {
        *yi = (xi - m) - log_sum;
    }
}

impl<S: Float, const N: usize, const B: usize> Layer<S, N, N, B> for LogSoftMax<S, N> {
    type State = ();
    type Cache = ();

    fn forward_step(
        &mut self,
        x: &SMatrix<S, N, B>,
        _prev: &(),
        _next: &mut (),
        _cache: &mut (),
        y: &mut SMatrix<S, N, B>,
        _training: bool,
    ) {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if crate::ops::use_avx2()
            && let (Some(xs), Some(ys)) = (S::as_f32(x.as_slice()), S::as_f32_mut(y.as_mut_slice()))
        {
            for (xc, yc) in xs.chunks_exact(N).zip(ys.chunks_exact_mut(N)) {
                // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
                unsafe { avx2::forward::<N>(xc, yc) };
            }
            return;
        }
        for (xc, mut yc) in x.column_iter().zip(y.column_iter_mut()) {
            log_softmax_column(xc.as_slice(), yc.as_mut_slice());
        }
    }

    fn backward_step(
        &mut self,
        _x: &SMatrix<S, N, B>,
        y: &SMatrix<S, N, B>,
        _prev: &(),
        _next: &(),
        _cache: &(),
        gy: &SMatrix<S, N, B>,
        _g_next: &(),
        _g_prev: &mut (),
        gx: &mut SMatrix<S, N, B>,
    ) {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if crate::ops::use_avx2()
            && let (Some(ys), Some(gys), Some(gxs)) = (
                S::as_f32(y.as_slice()),
                S::as_f32(gy.as_slice()),
                S::as_f32_mut(gx.as_mut_slice()),
            )
        {
            let columns = ys.chunks_exact(N).zip(gys.chunks_exact(N));
            for ((yc, gyc), gxc) in columns.zip(gxs.chunks_exact_mut(N)) {
                // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
                unsafe { avx2::backward::<N>(yc, gyc, gxc) };
            }
            return;
        }
        for b in 0..B {
            let total = gy.column(b).sum();
            for i in 0..N {
                gx[(i, b)] = gy[(i, b)] - y[(i, b)].fast_exp() * total;
            }
        }
    }
}

/// One column's forward and backward for `f32` with AVX2 + FMA, eight classes at a time
/// (masked loads for the last partial vector): the generic path is scalar and, for a 5-class
/// output, cost as much as the LSTM's products at batch 1.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod avx2 {
    use crate::fastmath::avx2::{exp8_clamped, lane_mask, load, store};
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

    /// [`super::log_softmax_column`]: `y = (x - m) - ln Σ exp(x - m)`, the sum in `f64`.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 5, 5, 3>(&mut LogSoftMax::<f64, 5>::new(), 3, 5);
    }

    /// The `f32` layer (the AVX2 path where the CPU has it; 13 classes are a full vector and a
    /// partial one) against `f64`, forward and backward, and NaN in gives NaN out.
    #[test]
    fn f32_matches_f64() {
        fn check<const N: usize>() {
            let mut rng = crate::Rng::new(N as u64);
            let x: SMatrix<f64, N, 2> = SMatrix::from_fn(|_, _| rng.uniform(-30.0, 30.0));
            let gy: SMatrix<f64, N, 2> = SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0));
            let (x32, gy32) = (x.cast::<f32>(), gy.cast::<f32>());
            let (mut y64, mut gx64) = (SMatrix::zeros(), SMatrix::zeros());
            let (mut y32, mut gx32) = (SMatrix::<f32, N, 2>::zeros(), SMatrix::zeros());
            let (mut l64, mut l32) = (LogSoftMax::<f64, N>::new(), LogSoftMax::<f32, N>::new());
            l64.forward_step(&x, &(), &mut (), &mut (), &mut y64, false);
            l32.forward_step(&x32, &(), &mut (), &mut (), &mut y32, false);
            l64.backward_step(&x, &y64, &(), &(), &(), &gy, &(), &mut (), &mut gx64);
            l32.backward_step(&x32, &y32, &(), &(), &(), &gy32, &(), &mut (), &mut gx32);
            let close = |a: &[f32], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(&p, &q)| (f64::from(p) - q).abs() < 1e-5 * (1.0 + q.abs()))
            };
            assert!(close(y32.as_slice(), y64.as_slice()), "{y32} {y64}");
            assert!(close(gx32.as_slice(), gx64.as_slice()), "{gx32} {gx64}");
            let mut nan = x32;
            nan[(N / 2, 1)] = f32::NAN;
            l32.forward_step(&nan, &(), &mut (), &mut (), &mut y32, false);
            assert!(y32.column(1).iter().all(|v| v.is_nan()), "{y32}");
            assert!(y32.column(0).iter().all(|v| v.is_finite()), "{y32}");
        }
        check::<5>();
        check::<8>();
        check::<13>();
    }

    #[test]
    fn huge_inputs_do_not_overflow() {
        let x = SMatrix::<f32, 3, 1>::new(1000.0, 1000.0, -1000.0);
        let mut y = SMatrix::zeros();
        Layer::<f32, 3, 3, 1>::forward_step(
            &mut LogSoftMax::new(),
            &x,
            &(),
            &mut (),
            &mut (),
            &mut y,
            false,
        );
        let ln2 = core::f32::consts::LN_2;
        assert!(
            (y[0] + ln2).abs() < 1e-6 && (y[1] + ln2).abs() < 1e-6,
            "{y}"
        );
        assert!(y[2] < -1999.0 && y[2].is_finite());
    }
}
