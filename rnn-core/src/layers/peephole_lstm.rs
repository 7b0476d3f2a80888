//! `PeepholeLSTM(in, hidden)`: Torch7's `nn.LSTM`, an LSTM with diagonal peepholes.
//!
//! Shapes: `x: I x B`; state `h, c: H x B`; `weight_ih: 4H x I`, `weight_hh: 4H x H`,
//! `bias: 4H` (Torch has one bias per gate, on the input side), `peephole_i`, `peephole_f`,
//! `peephole_o: H`. Gate blocks in the order **i, f, g, o** (as in our `LSTM`); `G = 4 * H`.
//!
//! ```text
//! a = W_ih x + b + W_hh h_{t-1}
//! i = σ(a_i + p_i ⊙ c_{t-1})     f = σ(a_f + p_f ⊙ c_{t-1})     g = tanh(a_g)
//! c_t = f ⊙ c_{t-1} + i ⊙ g
//! o = σ(a_o + p_o ⊙ c_t)          (the output gate peeks at the *new* cell)
//! h_t = o ⊙ tanh(c_t)
//! ```
//!
//! Backward, with `dh = gy + g_next.h`: `da_o = dh ⊙ tanh(c_t) ⊙ o(1-o)`,
//! `dc = g_next.c + dh ⊙ o ⊙ (1 - tanh²c_t) + da_o ⊙ p_o`, `da_i = dc ⊙ g ⊙ i(1-i)`,
//! `da_f = dc ⊙ c_{t-1} ⊙ f(1-f)`, `da_g = dc ⊙ i ⊙ (1-g²)`,
//! `g_prev.c = dc ⊙ f + da_i ⊙ p_i + da_f ⊙ p_f`, `gp_o += Σ_b da_o ⊙ c_t`,
//! `gp_i += Σ_b da_i ⊙ c_{t-1}`, `gp_f += Σ_b da_f ⊙ c_{t-1}`; the products as in `LSTM`.
//!
//! Initialisation (Torch `nn.LSTM`): `W_ih, b ~ U(±1/√I)`; `W_hh` and the peepholes
//! `~ U(±1/√H)`.

use super::lstm::{LstmCache, LstmState};
use crate::float::{AllocError, f64m};
use crate::kernels;
use crate::layer::{BackwardStep, ForwardStep, Layer};
use crate::onnx::{Cell, Direction, gate_rows};
use crate::param::Param;
use crate::{Float, Rng};
use alloc::vec;
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// An LSTM cell with diagonal peepholes (Torch's `nn.LSTM`); `G = 4 * H`. See the
/// [module docs](self).
#[derive(Clone)]
pub struct PeepholeLstm<S: Float, const I: usize, const H: usize, const G: usize> {
    /// `weight_ih`, `4H x I`, gate blocks i, f, g, o.
    pub weight_ih: Param<S, G, I>,
    /// `weight_hh`, `4H x H`.
    pub weight_hh: Param<S, G, H>,
    /// `bias`, `4H`.
    pub bias: Param<S, G, 1>,
    /// `peephole_i`, `H`: input gate's view of `c_{t-1}`.
    pub peephole_i: Param<S, H, 1>,
    /// `peephole_f`, `H`: forget gate's view of `c_{t-1}`.
    pub peephole_f: Param<S, H, 1>,
    /// `peephole_o`, `H`: output gate's view of `c_t`.
    pub peephole_o: Param<S, H, 1>,
}

impl<S: Float, const I: usize, const H: usize, const G: usize> PeepholeLstm<S, I, H, G> {
    const SHAPE_OK: () = assert!(G == 4 * H, "PeepholeLstm<S, I, H, G> needs G == 4 * H");

    /// Torch's default initialisation from `rng`.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        Self::try_new(rng).unwrap_or_else(|e| e.abort())
    }

    /// [`PeepholeLstm::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if a parameter cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        let () = Self::SHAPE_OK;
        let (bi, bh) = (1.0 / f64m::sqrt(I as f64), 1.0 / f64m::sqrt(H as f64));
        Ok(Self {
            weight_ih: Param::try_uniform(rng, bi)?,
            weight_hh: Param::try_uniform(rng, bh)?,
            bias: Param::try_uniform(rng, bi)?,
            peephole_i: Param::try_uniform(rng, bh)?,
            peephole_f: Param::try_uniform(rng, bh)?,
            peephole_o: Param::try_uniform(rng, bh)?,
        })
    }
}

crate::param::parameters!(PeepholeLstm<I, H, G> {
    weight_ih: Matrix,
    weight_hh: Matrix,
    bias: Vector,
    peephole_i: Vector,
    peephole_f: Vector,
    peephole_o: Vector,
});

impl<S: Float, const I: usize, const H: usize, const G: usize, const B: usize> Layer<S, I, H, B>
    for PeepholeLstm<S, I, H, G>
{
    type State = LstmState<S, H, B>;
    type Cache = LstmCache<S, H, G, B>;

    /// ONNX's `LSTM` with peepholes `P` (i, o, f), whose output gate also peeks at the new
    /// cell; the one bias on the input side.
    fn onnx_cell(&self, initial: &LstmState<S, H, B>) -> Option<Cell<S>> {
        let order = [0, 3, 1, 2];
        let mut b = gate_rows(&self.bias.value, &order);
        b.resize(2 * G, S::zero());
        let mut p = self.peephole_i.value.as_slice().to_vec();
        p.extend_from_slice(self.peephole_o.value.as_slice());
        p.extend_from_slice(self.peephole_f.value.as_slice());
        Some(Cell {
            op: "LSTM",
            hidden: H,
            attrs: Vec::new(),
            directions: vec![Direction {
                w: gate_rows(&self.weight_ih.value, &order),
                r: gate_rows(&self.weight_hh.value, &order),
                b,
                p: Some(p),
                h0: initial.h.as_slice().to_vec(),
                c0: Some(initial.c.as_slice().to_vec()),
            }],
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
            cache,
            y,
        } = s;
        let () = Self::SHAPE_OK;
        let a = &mut cache.gates;
        kernels::affine2(
            a,
            &self.weight_ih.value,
            x,
            Some(&self.bias.value),
            &self.weight_hh.value,
            &prev.h,
            None,
        );
        let (pi, pf, po) = (
            &self.peephole_i.value,
            &self.peephole_f.value,
            &self.peephole_o.value,
        );
        for b in 0..B {
            for j in 0..H {
                let c_prev = prev.c[(j, b)];
                let i = (a[(j, b)] + pi[j] * c_prev).sigmoid();
                let f = (a[(H + j, b)] + pf[j] * c_prev).sigmoid();
                let g = a[(2 * H + j, b)].fast_tanh();
                let c = f * c_prev + i * g;
                let o = (a[(3 * H + j, b)] + po[j] * c).sigmoid();
                let tc = c.fast_tanh();
                a[(j, b)] = i;
                a[(H + j, b)] = f;
                a[(2 * H + j, b)] = g;
                a[(3 * H + j, b)] = o;
                next.c[(j, b)] = c;
                cache.tanh_c[(j, b)] = tc;
                next.h[(j, b)] = o * tc;
            }
        }
        y.copy_from(&next.h);
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
            y: _,
            prev,
            next,
            cache,
            gy,
            gx,
            input_grad,
        } = s;
        let gx = input_grad.then_some(gx);
        self.backward_inputs(cache, [prev, next], gy, g_next, g_prev, gx);
        if !defer {
            let da = &cache.da;
            kernels::acc_outer(self.weight_ih.grad_mut(), da, x);
            kernels::acc_outer(self.weight_hh.grad_mut(), da, &prev.h);
            kernels::acc_bias(self.bias.grad_mut(), da);
        }
    }

    fn accumulate_weight_grads<'s, It>(&mut self, steps: It)
    where
        It: Iterator<Item = (&'s SMatrix<S, I, B>, &'s Self::State, &'s Self::Cache)> + Clone,
    {
        kernels::acc_outer_steps(
            self.weight_ih.grad_mut(),
            steps.clone().map(|(x, _, c)| (&c.da, x)),
        );
        kernels::acc_outer_steps(
            self.weight_hh.grad_mut(),
            steps.clone().map(|(_, s, c)| (&c.da, &s.h)),
        );
        kernels::acc_bias_steps(self.bias.grad_mut(), steps.map(|(_, _, c)| &c.da));
    }
}

impl<S: Float, const I: usize, const H: usize, const G: usize> PeepholeLstm<S, I, H, G> {
    /// The part of a step's backward that leaves the weight and bias gradients alone (the
    /// peepholes' gradients are added here, step by step): `cache.da` (from the gates and
    /// `tanh(c)` in `cache` and the states before and after the step), `gx` and `g_prev`.
    #[inline(always)]
    fn backward_inputs<const B: usize>(
        &mut self,
        cache: &mut LstmCache<S, H, G, B>,
        [prev, next]: [&LstmState<S, H, B>; 2],
        gy: &SMatrix<S, H, B>,
        g_next: &LstmState<S, H, B>,
        g_prev: &mut LstmState<S, H, B>,
        gx: Option<&mut SMatrix<S, I, B>>,
    ) {
        let LstmCache { gates, tanh_c, da } = cache;
        let one = S::one();
        let (pi, gpi) = self.peephole_i.value_and_grad_mut();
        let (pf, gpf) = self.peephole_f.value_and_grad_mut();
        let (po, gpo) = self.peephole_o.value_and_grad_mut();
        // The pointwise part, compiled for AVX2 at batch > 1 (see `kernels::pointwise`).
        kernels::pointwise::<B, _>(
            #[inline(always)]
            || {
                for b in 0..B {
                    for j in 0..H {
                        let (i, f) = (gates[(j, b)], gates[(H + j, b)]);
                        let (g, o) = (gates[(2 * H + j, b)], gates[(3 * H + j, b)]);
                        let (tc, c_prev) = (tanh_c[(j, b)], prev.c[(j, b)]);
                        let dh = gy[(j, b)] + g_next.h[(j, b)];
                        let dao = dh * tc * o * (one - o);
                        let dc = g_next.c[(j, b)] + dh * o * (one - tc * tc) + dao * po[j];
                        let dai = dc * g * i * (one - i);
                        let daf = dc * c_prev * f * (one - f);
                        da[(j, b)] = dai;
                        da[(H + j, b)] = daf;
                        da[(2 * H + j, b)] = dc * i * (one - g * g);
                        da[(3 * H + j, b)] = dao;
                        g_prev.c[(j, b)] = dc * f + dai * pi[j] + daf * pf[j];
                        gpo[j] += dao * next.c[(j, b)];
                        gpi[j] += dai * c_prev;
                        gpf[j] += daf * c_prev;
                    }
                }
            },
        );
        kernels::transpose_mul2(
            gx,
            &self.weight_ih.value,
            &mut g_prev.h,
            &self.weight_hh.value,
            da,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use crate::gradcheck::forward_once;

    #[test]
    fn gradients_match_finite_differences_through_four_steps() {
        let mut l = PeepholeLstm::<f64, 3, 4, 16>::new(&mut Rng::new(6));
        check_layer::<_, 3, 4, 2>(&mut l, 4, 15);
    }

    /// The `f32` layer (at batch 1 on x86-64 with AVX2: the matrix-vector kernels) against
    /// `f64`, forward and backward over four steps.
    #[test]
    fn f32_steps_match_f64() {
        let mut l32 = PeepholeLstm::<f32, 6, 19, 76>::new(&mut Rng::new(2));
        let mut l64 = PeepholeLstm::<f64, 6, 19, 76>::new(&mut Rng::new(2));
        crate::gradcheck::assert_f32_matches_f64::<_, _, 6, 19, 1>(&mut l32, &mut l64, 4, 8);
    }

    #[test]
    fn zero_peepholes_give_the_lstm_with_summed_bias() {
        use super::super::lstm::Lstm;
        use crate::float::ZeroInit;
        use crate::gradcheck::random_matrix;
        let mut rng = Rng::new(9);
        let mut p = PeepholeLstm::<f64, 3, 4, 16>::new(&mut rng);
        let mut l = Lstm::<f64, 3, 4, 16>::new(&mut rng);
        for q in [&mut p.peephole_i, &mut p.peephole_f, &mut p.peephole_o] {
            q.value.fill(0.0);
        }
        l.params.weight_ih.value.copy_from(&p.weight_ih.value);
        l.params.weight_hh.value.copy_from(&p.weight_hh.value);
        l.params.bias_ih.value.copy_from(&p.bias.value);
        l.params.bias_hh.value.fill(0.0);
        let (mut sp, mut sl) = (LstmState::zero_init(), LstmState::zero_init());
        for _ in 0..3 {
            let x: SMatrix<f64, 3, 2> = random_matrix(&mut rng);
            let (mut np, mut nl) = (LstmState::zero_init(), LstmState::zero_init());
            let (mut yp, mut yl) = (SMatrix::zeros(), SMatrix::zeros());
            forward_once(
                &mut p,
                &x,
                (&sp, &mut np),
                &mut LstmCache::zero_init(),
                &mut yp,
                false,
            );
            forward_once(
                &mut l,
                &x,
                (&sl, &mut nl),
                &mut LstmCache::zero_init(),
                &mut yl,
                false,
            );
            assert!((yp - yl).abs().max() < 1e-15);
            (sp, sl) = (np, nl);
        }
    }
}
