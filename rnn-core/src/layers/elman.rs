//! `RNN(in, hidden)`: the Elman recurrent cell with tanh, in PyTorch's layout
//! (`torch.nn.RNN(nonlinearity="tanh")`).
//!
//! Shapes: `x: I x B`; state `h: H x B`; `weight_ih: H x I`, `weight_hh: H x H`,
//! `bias_ih, bias_hh: H`.
//!
//! Forward: `h_t = tanh(W_ih x + b_ih + W_hh h_{t-1} + b_hh)`, starting from `h_0 = 0`
//! (unlike Torch7's `nn.Recurrent`, whose first step is a separate graph with a start bias).
//!
//! Backward, with `da = (gy + g_next) ⊙ (1 - h_t²)`: `gx = W_ihᵀ da`, `g_prev = W_hhᵀ da`,
//! `gW_ih += da xᵀ`, `gW_hh += da h_{t-1}ᵀ`, `gb_ih = gb_hh += Σ_b da`.
//!
//! Initialisation (fan-in of each product): `W_ih, b_ih ~ U(±1/√I)`, `W_hh, b_hh ~ U(±1/√H)`.

use super::cell_params::{CellParams, parameterized_by_params};
use crate::float::AllocError;
use crate::kernels;
use crate::layer::{BackwardStep, ForwardStep, Layer};
use crate::onnx::Cell;
use crate::{Float, Rng};
use alloc::vec;
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// An Elman (tanh) recurrent cell from `I` inputs to `H` hidden units. See the
/// [module docs](self).
#[derive(Clone)]
pub struct Rnn<S: Float, const I: usize, const H: usize> {
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (see the module docs for the layout).
    pub params: CellParams<S, I, H, H>,
}

impl<S: Float, const I: usize, const H: usize> Rnn<S, I, H> {
    /// Torch's default initialisation from `rng`.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        Self::try_new(rng).unwrap_or_else(|e| e.abort())
    }

    /// [`Rnn::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if a parameter cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        Ok(Self {
            params: CellParams::try_new(rng)?,
        })
    }
}

parameterized_by_params!(Rnn<I, H>);

impl<S: Float, const I: usize, const H: usize, const B: usize> Layer<S, I, H, B> for Rnn<S, I, H> {
    type State = SMatrix<S, H, B>;
    /// The gradient of the pre-activation, kept by the whole-sequence backward at small batch
    /// until the weight gradients of all steps are added at once.
    type Cache = SMatrix<S, H, B>;

    /// ONNX's `RNN` (tanh, its default activation).
    fn onnx_cell(&self, initial: &SMatrix<S, H, B>) -> Option<Cell<S>> {
        Some(Cell {
            op: "RNN",
            hidden: H,
            attrs: Vec::new(),
            directions: vec![self.params.onnx_direction(&[0], initial.as_slice())],
        })
    }

    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, H, B>,
        _training: bool,
    ) {
        let ForwardStep {
            x,
            prev,
            next,
            cache: _,
            y,
        } = s;
        let p = &self.params;
        kernels::affine2(
            next,
            &p.weight_ih.value,
            x,
            Some(&p.bias_ih.value),
            &p.weight_hh.value,
            prev,
            Some(&p.bias_hh.value),
        );
        crate::kernels::tanh_slice::<S>(next.as_mut_slice());
        y.copy_from(next);
    }

    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, I, H, B>,
        g_next: &Self::State,
        g_prev: &mut Self::State,
        defer: bool,
    ) {
        let BackwardStep {
            x,
            y,
            prev,
            next: _,
            cache,
            gy,
            gx,
            input_grad,
        } = s;
        let gx = input_grad.then_some(gx);
        self.backward_inputs(y, gy, g_next, g_prev, gx, cache);
        if !defer {
            self.params.add_step_grads(x, prev, cache, cache);
        }
    }

    fn accumulate_weight_grads<'s, It>(&mut self, steps: It)
    where
        It: Iterator<
                Item = (
                    &'s SMatrix<S, I, B>,
                    &'s SMatrix<S, H, B>,
                    &'s SMatrix<S, H, B>,
                ),
            > + Clone,
    {
        self.params.add_shared_sequence_grads(steps);
    }
}

impl<S: Float, const I: usize, const H: usize> Rnn<S, I, H> {
    /// The part of a step's backward that does not touch the weight gradients: `da`, the input
    /// gradient `gx` and the state gradient `g_prev`.
    #[inline(always)]
    fn backward_inputs<const B: usize>(
        &self,
        y: &SMatrix<S, H, B>,
        gy: &SMatrix<S, H, B>,
        g_next: &SMatrix<S, H, B>,
        g_prev: &mut SMatrix<S, H, B>,
        gx: Option<&mut SMatrix<S, I, B>>,
        da: &mut SMatrix<S, H, B>,
    ) {
        // The pointwise part, compiled for AVX2 at batch > 1 (see `kernels::pointwise`).
        kernels::pointwise::<B, _>(
            #[inline(always)]
            || {
                for (((d, &g), &gn), &h) in da
                    .iter_mut()
                    .zip(gy.iter())
                    .zip(g_next.iter())
                    .zip(y.iter())
                {
                    *d = (g + gn) * (S::one() - h * h);
                }
            },
        );
        let p = &self.params;
        kernels::transpose_mul2(gx, &p.weight_ih.value, g_prev, &p.weight_hh.value, da);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_match_finite_differences_through_four_steps() {
        let mut l = Rnn::<f64, 3, 5>::new(&mut Rng::new(4));
        check_layer::<_, 3, 5, 2>(&mut l, 4, 14);
    }

    /// The `f32` layer (at batch 1 on x86-64 with AVX2: the matrix-vector kernels) against
    /// `f64`, forward and backward over four steps.
    #[test]
    fn f32_steps_match_f64() {
        fn check<const I: usize, const H: usize, const B: usize>() {
            let mut l32 = Rnn::<f32, I, H>::new(&mut Rng::new(6));
            let mut l64 = Rnn::<f64, I, H>::new(&mut Rng::new(6));
            crate::gradcheck::assert_f32_matches_f64::<_, _, I, H, B>(&mut l32, &mut l64, 4, 3);
        }
        check::<10, 20, 1>();
        check::<7, 37, 2>();
    }
}
