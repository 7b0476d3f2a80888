//! `SoftMax`: soft-max over the features of each column.
//!
//! Shapes: `x, y: N x B`.
//!
//! Forward (max-shifted): `y_i = exp(x_i - m) / Σ_j exp(x_j - m)`, `m = max_j x_j`.
//!
//! Backward, from the stored output: `gx_i = y_i (gy_i - Σ_j gy_j y_j)`.

use crate::Float;
use crate::layer::{BackwardStep, ForwardStep, Layer, no_parameters};
use crate::onnx::{Graph, Value};

/// Soft-max over `N` features. See the [module docs](self).
#[derive(Clone, Copy, Debug, Default)]
pub struct SoftMax<S, const N: usize>(core::marker::PhantomData<S>);

impl<S: Float, const N: usize> SoftMax<S, N> {
    /// The layer (it has no parameters).
    #[must_use]
    pub fn new() -> Self {
        Self(core::marker::PhantomData)
    }
}

no_parameters!(SoftMax<N>);

impl<S: Float, const N: usize, const B: usize> Layer<S, N, N, B> for SoftMax<S, N> {
    type State = ();
    type Cache = ();

    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, _initial: &()) -> Value {
        g.node("Softmax", &[x], &[("axis", -1)])
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
        for (xc, mut yc) in x.column_iter().zip(y.column_iter_mut()) {
            super::logsoftmax::log_softmax_column(xc.as_slice(), yc.as_mut_slice());
            yc.apply(|v| *v = v.fast_exp());
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
        for b in 0..B {
            let dot = gy.column(b).dot(&y.column(b));
            for i in 0..N {
                gx[(i, b)] = y[(i, b)] * (gy[(i, b)] - dot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use crate::gradcheck::forward_once;
    use nalgebra::SMatrix;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 4, 4, 2>(&mut SoftMax::<f64, 4>::new(), 3, 6);
    }

    #[test]
    fn columns_sum_to_one() {
        let x = SMatrix::<f64, 3, 2>::new(1.0, 500.0, 2.0, -3.0, 3.0, 0.0);
        let mut y = SMatrix::zeros();
        forward_once(
            &mut SoftMax::new(),
            &x,
            (&(), &mut ()),
            &mut (),
            &mut y,
            false,
        );
        for c in y.column_iter() {
            assert!((c.sum() - 1.0).abs() < 1e-12);
        }
    }
}
