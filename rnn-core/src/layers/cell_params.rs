//! The four parameter tensors that PyTorch's recurrent cells (`LSTM`, `GRU`, `RNN`) share.

use crate::float::f64m;
use crate::param::{Param, ParamMut, ParamRef, Parameterized};
use crate::{Float, Rng};

/// `weight_ih` (`G x I`), `weight_hh` (`G x H`), `bias_ih` and `bias_hh` (`G`), where `G` is
/// the number of gate rows (`4H` for LSTM, `3H` for GRU, `H` for RNN), in PyTorch's order.
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
    /// Torch's initialisation by fan-in of each product: `W_ih, b_ih ~ U(±1/√I)`,
    /// `W_hh, b_hh ~ U(±1/√H)`.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        let (bi, bh) = (1.0 / f64m::sqrt(I as f64), 1.0 / f64m::sqrt(H as f64));
        Self {
            weight_ih: Param::uniform(rng, bi),
            weight_hh: Param::uniform(rng, bh),
            bias_ih: Param::uniform(rng, bi),
            bias_hh: Param::uniform(rng, bh),
        }
    }
}

impl<S: Float, const I: usize, const H: usize, const G: usize> Parameterized<S>
    for CellParams<S, I, H, G>
{
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, S>)) {
        f(self.weight_ih.as_ref("weight_ih"));
        f(self.weight_hh.as_ref("weight_hh"));
        f(self.bias_ih.as_ref("bias_ih"));
        f(self.bias_hh.as_ref("bias_hh"));
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, S>)) {
        f(self.weight_ih.as_mut("weight_ih"));
        f(self.weight_hh.as_mut("weight_hh"));
        f(self.bias_ih.as_mut("bias_ih"));
        f(self.bias_hh.as_mut("bias_hh"));
    }
}
