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
use crate::layer::{BackwardStep, ForwardStep, Layer, no_parameters};
use crate::onnx::{Graph, Value};

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

    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, _initial: &()) -> Value {
        g.node("LogSoftmax", &[x], &[("axis", -1)])
    }

    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, N, N, B>,
        _training: bool,
    ) {
        let ForwardStep {
            x,
            prev: _,
            next: _,
            cache: _,
            y,
        } = s;
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && let (Some(xs), Some(ys)) = (S::as_f32(x.as_slice()), S::as_f32_mut(y.as_mut_slice()))
            && crate::kernels::log_softmax_forward_avx2::<N>(xs, ys)
        {
            return;
        }
        for (xc, mut yc) in x.column_iter().zip(y.column_iter_mut()) {
            log_softmax_column(xc.as_slice(), yc.as_mut_slice());
        }
    }

    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, N, N, B>,
        _g_next: &Self::State,
        _g_prev: &mut Self::State,
        _defer: bool,
    ) {
        let BackwardStep {
            x: _,
            y,
            prev: _,
            next: _,
            cache: _,
            gy,
            gx,
            input_grad: _,
        } = s;
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && let (Some(ys), Some(gys), Some(gxs)) = (
                S::as_f32(y.as_slice()),
                S::as_f32(gy.as_slice()),
                S::as_f32_mut(gx.as_mut_slice()),
            )
            && crate::kernels::log_softmax_backward_avx2::<N>(ys, gys, gxs)
        {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use crate::gradcheck::{backward_once, forward_once};
    use nalgebra::SMatrix;

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
            forward_once(&mut l64, &x, (&(), &mut ()), &mut (), &mut y64, false);
            forward_once(&mut l32, &x32, (&(), &mut ()), &mut (), &mut y32, false);
            backward_once(&mut l64, (&x, &y64), &mut (), &gy, &mut gx64);
            backward_once(&mut l32, (&x32, &y32), &mut (), &gy32, &mut gx32);
            let close = |a: &[f32], b: &[f64]| {
                a.iter()
                    .zip(b)
                    .all(|(&p, &q)| (f64::from(p) - q).abs() < 1e-5 * (1.0 + q.abs()))
            };
            assert!(close(y32.as_slice(), y64.as_slice()), "{y32} {y64}");
            assert!(close(gx32.as_slice(), gx64.as_slice()), "{gx32} {gx64}");
            let mut nan = x32;
            nan[(N / 2, 1)] = f32::NAN;
            forward_once(&mut l32, &nan, (&(), &mut ()), &mut (), &mut y32, false);
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
        forward_once(
            &mut LogSoftMax::new(),
            &x,
            (&(), &mut ()),
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
