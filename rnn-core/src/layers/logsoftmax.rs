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

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 5, 5, 3>(&mut LogSoftMax::<f64, 5>::new(), 3, 5);
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
