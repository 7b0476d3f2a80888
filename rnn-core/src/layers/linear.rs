//! `Linear(in, out)`: a fully connected layer.
//!
//! Shapes: `x: I x B`, `W: O x I` (`weight`), `b: O` (`bias`), `y: O x B`.
//!
//! Forward: `y = W x + b` (bias added to every column).
//!
//! Backward: `gx = Wᵀ gy`, `gW += gy xᵀ`, `gb += Σ_b gy[:, b]`.
//!
//! Initialisation (Torch `nn.Linear`): `W, b ~ U(-1/√I, 1/√I)`.

use crate::block::{AffineStage, BlockStage};
use crate::float::{AllocError, f64m};
use crate::kernels;
use crate::layer::{BackwardStep, ForwardStep, Layer};
use crate::onnx::{Graph, Value};
use crate::param::Param;
use crate::{Float, Rng};
use nalgebra::SMatrix;

/// A fully connected layer from `I` to `O` features. See the [module docs](self).
#[derive(Clone)]
pub struct Linear<S: Float, const I: usize, const O: usize> {
    /// `weight`, `O x I`.
    pub weight: Param<S, O, I>,
    /// `bias`, `O`.
    pub bias: Param<S, O, 1>,
}

impl<S: Float, const I: usize, const O: usize> Linear<S, I, O> {
    /// Torch's default initialisation from `rng`.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        Self::try_new(rng).unwrap_or_else(|e| e.abort())
    }

    /// [`Linear::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if a parameter cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        let bound = 1.0 / f64m::sqrt(I as f64);
        Ok(Self {
            weight: Param::try_uniform(rng, bound)?,
            bias: Param::try_uniform(rng, bound)?,
        })
    }
}

crate::param::parameters!(Linear<I, O> { weight: Matrix, bias: Vector });

impl<S: Float, const I: usize, const O: usize, const B: usize> Layer<S, I, O, B>
    for Linear<S, I, O>
{
    type State = ();
    /// The output gradient, kept by the whole-sequence backward at small batch until the
    /// weight gradients of all steps are added at once.
    type Cache = SMatrix<S, O, B>;

    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, _initial: &()) -> Value {
        g.linear(x, &self.weight.value, &self.bias.value)
    }

    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        _training: bool,
    ) {
        let ForwardStep {
            x,
            prev: _,
            next: _,
            cache: _,
            y,
        } = s;
        kernels::affine(y, &self.weight.value, x, Some(&self.bias.value), false);
    }

    /// `W` and `b` (`f32` only) for a fused block ([`crate::block`]).
    fn block_stage<'a>(
        &'a self,
        _prev: &'a (),
        _next: &'a mut (),
        _training: bool,
    ) -> Option<BlockStage<'a>> {
        Some(BlockStage::Affine(AffineStage {
            weight: S::as_f32(self.weight.value.as_slice())?,
            bias: S::as_f32(self.bias.value.as_slice())?,
        }))
    }

    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        _g_next: &Self::State,
        _g_prev: &mut Self::State,
        defer: bool,
    ) {
        let BackwardStep {
            x,
            y: _,
            prev: _,
            next: _,
            cache,
            gy,
            gx,
            input_grad,
        } = s;
        if input_grad {
            kernels::transpose_mul(gx, &self.weight.value, gy, false);
        }
        if defer {
            cache.copy_from(gy);
        } else {
            kernels::acc_outer(self.weight.grad_mut(), gy, x);
            kernels::acc_bias(self.bias.grad_mut(), gy);
        }
    }

    fn accumulate_weight_grads<'s, It>(&mut self, steps: It)
    where
        It: Iterator<Item = (&'s SMatrix<S, I, B>, &'s (), &'s SMatrix<S, O, B>)> + Clone,
    {
        kernels::acc_outer_steps(
            self.weight.grad_mut(),
            steps.clone().map(|(x, _, gy)| (gy, x)),
        );
        kernels::acc_bias_steps(self.bias.grad_mut(), steps.map(|(_, _, gy)| gy));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use crate::gradcheck::forward_once;

    #[test]
    fn gradients_match_finite_differences() {
        let mut l = Linear::<f64, 4, 3>::new(&mut Rng::new(1));
        check_layer::<_, 4, 3, 2>(&mut l, 3, 11);
    }

    /// The `f32` layer (at batch 1 on x86-64 with AVX2: the matrix-vector kernels and the
    /// rank-1 update) against `f64`, forward and backward over three steps.
    #[test]
    fn f32_matches_f64() {
        fn check<const I: usize, const O: usize, const B: usize>() {
            let mut l32 = Linear::<f32, I, O>::new(&mut Rng::new(2));
            let mut l64 = Linear::<f64, I, O>::new(&mut Rng::new(2));
            crate::gradcheck::assert_f32_matches_f64::<_, _, I, O, B>(&mut l32, &mut l64, 3, 5);
        }
        check::<20, 5, 1>();
        check::<37, 13, 1>();
        check::<9, 70, 3>();
    }

    #[test]
    fn forward_is_wx_plus_b() {
        let mut l = Linear::<f64, 2, 1>::new(&mut Rng::new(0));
        l.weight.value.copy_from_slice(&[2.0, -1.0]);
        l.bias.value[0] = 0.5;
        let x = SMatrix::<f64, 2, 1>::new(3.0, 4.0);
        let mut y = SMatrix::<f64, 1, 1>::zeros();
        let mut cache = SMatrix::zeros();
        forward_once(&mut l, &x, (&(), &mut ()), &mut cache, &mut y, false);
        assert_eq!(y[0], 2.0 * 3.0 - 4.0 + 0.5);
    }

    #[test]
    fn init_is_within_torch_bounds() {
        let l = Linear::<f32, 16, 8>::new(&mut Rng::new(3));
        assert!(l.weight.value.iter().all(|w| w.abs() <= 0.25));
        assert!(l.weight.value.iter().any(|w| w.abs() > 0.2));
    }
}
