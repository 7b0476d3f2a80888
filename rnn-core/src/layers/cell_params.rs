//! The four parameter tensors that PyTorch's recurrent cells (`LSTM`, `GRU`, `RNN`) share.

use crate::float::{AllocError, f64m};
use crate::kernels;
use crate::onnx::{Direction, gate_rows};
use crate::param::Param;
use crate::{Float, Rng};
use nalgebra::SMatrix;

/// `weight_ih` (`G x I`), `weight_hh` (`G x H`), `bias_ih` and `bias_hh` (`G`), where `G` is
/// the number of gate rows (`4H` for LSTM, `3H` for GRU, `H` for RNN), in PyTorch's order.
#[derive(Clone)]
pub struct CellParams<S: Float, const I: usize, const H: usize, const G: usize> {
    /// `weight_ih`, `G x I`.
    pub weight_ih: Param<S, G, I>,
    /// `weight_hh`, `G x H`.
    pub weight_hh: Param<S, G, H>,
    /// `bias_ih`, `G`.
    pub bias_ih: Param<S, G, 1>,
    /// `bias_hh`, `G`.
    pub bias_hh: Param<S, G, 1>,
}

impl<S: Float, const I: usize, const H: usize, const G: usize> CellParams<S, I, H, G> {
    /// One direction of the ONNX operator for these parameters: the gate blocks of
    /// `W`, `R` and both biases in the block order `order` (ONNX's order in terms of ours),
    /// `B = [b_ih; b_hh]`, the initial hidden state `h0` (`H x B`, column-major).
    pub(crate) fn onnx_direction(&self, order: &[usize], h0: &[S]) -> Direction<S> {
        let mut b = gate_rows(&self.bias_ih.value, order);
        b.extend(gate_rows(&self.bias_hh.value, order));
        Direction {
            w: gate_rows(&self.weight_ih.value, order),
            r: gate_rows(&self.weight_hh.value, order),
            b,
            p: None,
            h0: h0.to_vec(),
            c0: None,
        }
    }

    /// Torch's initialisation by fan-in of each product: `W_ih, b_ih ~ U(±1/√I)`,
    /// `W_hh, b_hh ~ U(±1/√H)`.
    ///
    /// # Errors
    /// [`AllocError`] if a parameter cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        let (bi, bh) = (1.0 / f64m::sqrt(I as f64), 1.0 / f64m::sqrt(H as f64));
        Ok(Self {
            weight_ih: Param::try_uniform(rng, bi)?,
            weight_hh: Param::try_uniform(rng, bh)?,
            bias_ih: Param::try_uniform(rng, bi)?,
            bias_hh: Param::try_uniform(rng, bh)?,
        })
    }
}

impl<S: Float, const I: usize, const H: usize, const G: usize> CellParams<S, I, H, G> {
    /// Adds one step's weight gradients: `gW_ih += d_ih xᵀ`, `gW_hh += d_hh h_{t-1}ᵀ`,
    /// `gb_ih += Σ_b d_ih`, `gb_hh += Σ_b d_hh`, where `d_ih`/`d_hh` are the gradients of the
    /// input-side and hidden-side pre-activations (the same matrix for LSTM and RNN).
    pub(crate) fn add_step_grads<const B: usize>(
        &mut self,
        x: &SMatrix<S, I, B>,
        h_prev: &SMatrix<S, H, B>,
        d_ih: &SMatrix<S, G, B>,
        d_hh: &SMatrix<S, G, B>,
    ) {
        kernels::acc_outer(self.weight_ih.grad_mut(), d_ih, x);
        kernels::acc_outer(self.weight_hh.grad_mut(), d_hh, h_prev);
        kernels::acc_bias(self.bias_ih.grad_mut(), d_ih);
        kernels::acc_bias(self.bias_hh.grad_mut(), d_hh);
    }

    /// [`CellParams::add_step_grads`] for all `(x, h_{t-1}, d_ih, d_hh)` of `steps`, each weight
    /// gradient as one product over the steps (in the order given: latest first keeps the
    /// result bit-identical to step-by-step backward).
    pub(crate) fn add_sequence_grads<'s, It, const B: usize>(&mut self, steps: It)
    where
        It: Iterator<
                Item = (
                    &'s SMatrix<S, I, B>,
                    &'s SMatrix<S, H, B>,
                    &'s SMatrix<S, G, B>,
                    &'s SMatrix<S, G, B>,
                ),
            > + Clone,
    {
        kernels::acc_outer_steps(
            self.weight_ih.grad_mut(),
            steps.clone().map(|(x, _, d, _)| (d, x)),
        );
        kernels::acc_outer_steps(
            self.weight_hh.grad_mut(),
            steps.clone().map(|(_, h, _, d)| (d, h)),
        );
        kernels::acc_bias_steps(self.bias_ih.grad_mut(), steps.clone().map(|(_, _, d, _)| d));
        kernels::acc_bias_steps(self.bias_hh.grad_mut(), steps.map(|(_, _, _, d)| d));
    }

    /// [`CellParams::add_sequence_grads`] where `d_ih` and `d_hh` are one matrix `d` (LSTM,
    /// RNN). The two bias gradients are then sums of the same values in the same order: where
    /// they start with the same bits (from `zero_grad`, the usual case), the second is a copy
    /// of the first, one pass over the steps' `d` instead of two.
    pub(crate) fn add_shared_sequence_grads<'s, It, const B: usize>(&mut self, steps: It)
    where
        It: Iterator<
                Item = (
                    &'s SMatrix<S, I, B>,
                    &'s SMatrix<S, H, B>,
                    &'s SMatrix<S, G, B>,
                ),
            > + Clone,
    {
        kernels::acc_outer_steps2(
            self.weight_ih.grad_mut(),
            self.weight_hh.grad_mut(),
            steps.clone().map(|(x, h, d)| (d, x, h)),
        );
        // One iterator type for both branches: each type is a new instance of the kernels'
        // generic fallback code (a second one, the general form called in the other branch,
        // took the seed crate's .text from 362 to 372 KiB and its rebuild 12-20 % longer).
        let ds = steps.map(|(_, _, d)| d);
        let same_bits = |a: &S, b: &S| a == b && a.is_sign_negative() == b.is_sign_negative();
        let same = match (self.bias_ih.grad(), self.bias_hh.grad()) {
            (Some(bi), Some(bh)) => bi.iter().zip(bh.iter()).all(|(a, b)| same_bits(a, b)),
            // Both zero (no training buffers yet): the same bits.
            (None, None) => true,
            _ => false,
        };
        if same {
            kernels::acc_bias_steps(self.bias_ih.grad_mut(), ds);
            let bi = &*self.bias_ih.grad_mut();
            self.bias_hh.grad_mut().copy_from(bi);
        } else {
            kernels::acc_bias_steps(self.bias_ih.grad_mut(), ds.clone());
            kernels::acc_bias_steps(self.bias_hh.grad_mut(), ds);
        }
    }
}

crate::param::parameters!(CellParams<I, H, G> {
    weight_ih: Matrix,
    weight_hh: Matrix,
    bias_ih: Vector,
    bias_hh: Vector,
});

/// [`Parameterized`] for a recurrent layer `$layer<S, $c...>` whose parameters are all in its
/// field `params` (a [`CellParams`]): each call passed on to it.
macro_rules! parameterized_by_params {
    ($layer:ident<$($c:ident),*>) => {
        impl<S: $crate::Float, $(const $c: usize),*> $crate::param::Parameterized<S>
            for $layer<S, $($c),*>
        {
            fn visit_parameters<'a>(
                &'a self,
                f: &mut dyn FnMut($crate::param::ParamRef<'a, S>),
            ) {
                self.params.visit_parameters(f);
            }
            fn visit_parameters_mut<'a>(
                &'a mut self,
                f: &mut dyn FnMut($crate::param::ParamMut<'a, S>),
            ) {
                self.params.visit_parameters_mut(f);
            }
            fn visit_slots_mut(&mut self, f: &mut dyn FnMut($crate::param::ParamSlot<'_, S>)) {
                self.params.visit_slots_mut(f);
            }
            fn zero_grad(&mut self) {
                self.params.zero_grad();
            }
            fn update(&mut self, lr: S) {
                self.params.update(lr);
            }
        }
    };
}
pub(crate) use parameterized_by_params;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::param::Parameterized;
    use alloc::vec::Vec;

    fn matrix<const R: usize, const C: usize>(rng: &mut Rng) -> SMatrix<f32, R, C> {
        SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32)
    }

    fn bits(p: &CellParams<f32, 3, 5, 20>) -> Vec<u32> {
        let mut out = Vec::new();
        p.visit_parameters(&mut |q| {
            out.extend(q.grad.expect("gradients").iter().map(|g| g.to_bits()));
        });
        out
    }

    /// The shared-gradient form gives the bits of the general one, whether the bias
    /// gradients start equal (then one is copied), different, or as zeros of different signs.
    #[test]
    fn shared_gradients_equal_the_general_sum() {
        let mut rng = Rng::new(3);
        let xs: [SMatrix<f32, 3, 8>; 4] = core::array::from_fn(|_| matrix(&mut rng));
        let hs: [SMatrix<f32, 5, 8>; 4] = core::array::from_fn(|_| matrix(&mut rng));
        let mut ds: [SMatrix<f32, 20, 8>; 4] = core::array::from_fn(|_| matrix(&mut rng));
        // A row of zero gradients, so that a zero's sign can survive the sums.
        for d in &mut ds {
            d.row_mut(7).fill(-0.0);
        }
        let starts: [fn(&mut CellParams<f32, 3, 5, 20>); 3] = [
            |_| {},
            |p| p.bias_hh.grad_mut()[2] = 0.25,
            |p| p.bias_hh.grad_mut()[7] = -0.0,
        ];
        for start in starts {
            let mut a = CellParams::<f32, 3, 5, 20>::try_new(&mut Rng::new(1)).unwrap();
            start(&mut a);
            let mut b = a.clone();
            let steps = xs.iter().zip(&hs).zip(&ds).map(|((x, h), d)| (x, h, d));
            a.add_sequence_grads(steps.clone().map(|(x, h, d)| (x, h, d, d)));
            b.add_shared_sequence_grads(steps);
            assert_eq!(bits(&a), bits(&b));
        }
    }
}
