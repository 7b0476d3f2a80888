//! `LSTM(in, hidden)` (alias `FastLSTM`): long short-term memory without peepholes, in
//! PyTorch's layout.
//!
//! Shapes: `x: I x B`; state `h, c: H x B`; `weight_ih: 4H x I`, `weight_hh: 4H x H`,
//! `bias_ih, bias_hh: 4H`; the type parameter `G` must equal `4 * H` (checked at compile time;
//! stable Rust cannot compute `4 * H` in a type, the `network!` macro passes it for you).
//!
//! The `4H` rows are the gates in PyTorch's order **i, f, g, o** (Torch's FastLSTM uses
//! i, g, f, o and one bias; the maths is the same with `b = b_ih + b_hh`):
//!
//! ```text
//! a = W_ih x + b_ih + W_hh h_{t-1} + b_hh          (4H x B)
//! i = σ(a_i)   f = σ(a_f)   g = tanh(a_g)   o = σ(a_o)
//! c_t = f ⊙ c_{t-1} + i ⊙ g
//! h_t = o ⊙ tanh(c_t)                              (the output y_t)
//! ```
//!
//! Backward, with `dh = gy + g_next.h` and `dc = g_next.c + dh ⊙ o ⊙ (1 - tanh²c_t)`:
//! `da_i = dc ⊙ g ⊙ i(1-i)`, `da_f = dc ⊙ c_{t-1} ⊙ f(1-f)`, `da_g = dc ⊙ i ⊙ (1-g²)`,
//! `da_o = dh ⊙ tanh(c_t) ⊙ o(1-o)`; then `g_prev.c = dc ⊙ f`, `g_prev.h = W_hhᵀ da`,
//! `gx = W_ihᵀ da`, `gW_ih += da xᵀ`, `gW_hh += da h_{t-1}ᵀ`, `gb_ih = gb_hh += Σ_b da`.
//!
//! The candidate `g` is computed as `2 σ(2 a_g) - 1` (= `tanh(a_g)`), so that one vectorised
//! sigmoid covers all four gates; in `f32` this is within `1.2e-7` of `tanh` absolutely.
//!
//! Initialisation (Torch FastLSTM, fan-in of each product): `W_ih, b_ih ~ U(±1/√I)`,
//! `W_hh, b_hh ~ U(±1/√H)`. No forget-gate bias.

use super::cell_params::{CellParams, parameterized_by_params};
use crate::block::{BlockStage, LstmStage};
use crate::float::AllocError;
use crate::kernels;
use crate::layer::{BackwardStep, ForwardSeq, ForwardStep, Layer, forward_each};
use crate::onnx::{Cell, Direction};
use crate::{Float, Rng};
use alloc::vec;
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// The state of an LSTM cell: hidden output `h` and cell `c`, one column per sample.
#[derive(Clone, Debug, PartialEq, bytemuck::Zeroable)]
#[zeroable(bound = "S: Float")]
pub struct LstmState<S, const H: usize, const B: usize> {
    /// Hidden state (the layer's output).
    pub h: SMatrix<S, H, B>,
    /// Cell state.
    pub c: SMatrix<S, H, B>,
}

impl<S: Float, const H: usize, const B: usize> crate::float::Columns for LstmState<S, H, B> {
    fn copy_column(&mut self, from: &Self, b: usize) {
        self.h.copy_column(&from.h, b);
        self.c.copy_column(&from.c, b);
    }
    fn zero_column(&mut self, b: usize) {
        self.h.zero_column(b);
        self.c.zero_column(b);
    }
    fn copy_all(&mut self, from: &Self) {
        self.h.copy_all(&from.h);
        self.c.copy_all(&from.c);
    }
    fn swap_all(&mut self, other: &mut Self) {
        self.h.swap_all(&mut other.h);
        self.c.swap_all(&mut other.c);
    }
    fn set_rows(&mut self, values: &mut dyn Iterator<Item = f64>) {
        self.h.set_rows(values);
        self.c.set_rows(values);
    }
    fn read_column(&self, b: usize, out: &mut dyn FnMut(f64)) {
        self.h.read_column(b, out);
        self.c.read_column(b, out);
    }
}

/// What one LSTM step keeps for its backward.
#[derive(Clone, Debug, bytemuck::Zeroable)]
#[zeroable(bound = "S: Float")]
pub struct LstmCache<S, const H: usize, const G: usize, const B: usize> {
    /// The activated gates `[i; f; g; o]`, `4H x B`.
    pub gates: SMatrix<S, G, B>,
    /// `tanh(c_t)`.
    pub tanh_c: SMatrix<S, H, B>,
    /// The gradient of the gate pre-activations, kept by the whole-sequence backward until
    /// the weight gradients of all steps are added at once.
    pub da: SMatrix<S, G, B>,
}

/// An LSTM cell from `I` inputs to `H` hidden units; `G = 4 * H`. See the [module docs](self).
#[derive(Clone)]
pub struct Lstm<S: Float, const I: usize, const H: usize, const G: usize> {
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (see the module docs for the layout).
    pub params: CellParams<S, I, H, G>,
    /// `[weight_ih weight_hh]` packed at the start of each whole-sequence forward for the
    /// batched kernel, where it reads them packed (`f32`, at least 256 gate rows on the AVX2
    /// path, 1024 on AVX-512: `4 G (I + H)` bytes more, 1.2 MB for `LSTM(32, 256)`); empty
    /// elsewhere.
    packed: kernels::Packed,
    /// Whether an evaluation-mode forward may use the fast activations
    /// ([`Layer::set_fast_activations`]).
    fast: bool,
}

/// Torch's name for this cell.
pub type FastLstm<S, const I: usize, const H: usize, const G: usize> = Lstm<S, I, H, G>;

impl<S: Float, const I: usize, const H: usize, const G: usize> Lstm<S, I, H, G> {
    const SHAPE_OK: () = assert!(G == 4 * H, "Lstm<S, I, H, G> needs G == 4 * H");

    /// Torch's default initialisation from `rng`.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        Self::try_new(rng).unwrap_or_else(|e| e.abort())
    }

    /// [`Lstm::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if a parameter cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        let () = Self::SHAPE_OK;
        Ok(Self {
            params: CellParams::try_new(rng)?,
            packed: kernels::Packed::try_new::<S, G, I, H>()?,
            fast: false,
        })
    }
}

impl<S: Float, const I: usize, const H: usize, const G: usize> Lstm<S, I, H, G> {
    /// One step ([`Layer::forward_step`]), the weights read from `packed` where given, with
    /// the fast activations where `fast` and a kernel has them (`f32` on AVX2 or AVX-512).
    #[inline(always)]
    fn forward<const B: usize>(
        p: &CellParams<S, I, H, G>,
        packed: Option<&kernels::Packed>,
        s: ForwardStep<'_, S, LstmState<S, H, B>, LstmCache<S, H, G, B>, I, H, B>,
        fast: bool,
    ) {
        let ForwardStep {
            x,
            prev,
            next,
            cache,
            y,
        } = s;
        let () = Self::SHAPE_OK;
        // Only the x86-64 kernels have the fast activations.
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        let _ = fast;
        // Batch 1, fewer than eight units: the whole step in one kernel (products and cell;
        // see `kernels::lstm_step`).
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && B == 1
            && let (Some(w_ih), Some(w_hh), Some(b_ih), Some(b_hh)) = (
                S::as_f32(p.weight_ih.value.as_slice()),
                S::as_f32(p.weight_hh.value.as_slice()),
                S::as_f32(p.bias_ih.value.as_slice()),
                S::as_f32(p.bias_hh.value.as_slice()),
            )
            && let (Some(x), Some(h_prev), Some(c_prev)) = (
                S::as_f32(x.as_slice()),
                S::as_f32(prev.h.as_slice()),
                S::as_f32(prev.c.as_slice()),
            )
            && let (Some(gates), Some(c), Some(tanh_c), Some(h)) = (
                S::as_f32_mut(cache.gates.as_mut_slice()),
                S::as_f32_mut(next.c.as_mut_slice()),
                S::as_f32_mut(cache.tanh_c.as_mut_slice()),
                S::as_f32_mut(next.h.as_mut_slice()),
            )
            && kernels::lstm_step_simd::<I, H>(
                fast,
                &mut kernels::LstmStepArgs {
                    w_ih,
                    w_hh,
                    b_ih,
                    b_hh,
                    x,
                    h_prev,
                    c_prev,
                    gates,
                    c,
                    tanh_c,
                    h,
                },
            )
        {
            y.copy_from(&next.h);
            return;
        }
        let a = &mut cache.gates;
        kernels::affine2_packed(
            a,
            packed,
            (&p.weight_ih.value, x, Some(&p.bias_ih.value)),
            (&p.weight_hh.value, &prev.h, Some(&p.bias_hh.value)),
        );
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && let (Some(a), Some(c_prev), Some(c), Some(tc), Some(h)) = (
                S::as_f32_mut(a.as_mut_slice()),
                S::as_f32(prev.c.as_slice()),
                S::as_f32_mut(next.c.as_mut_slice()),
                S::as_f32_mut(cache.tanh_c.as_mut_slice()),
                S::as_f32_mut(next.h.as_mut_slice()),
            )
            && kernels::lstm_cell_simd::<H, B>(fast, [a, c, tc, h], c_prev)
        {
            y.copy_from(&next.h);
            return;
        }
        // One sigmoid over every gate of every column (long, vectorised runs), with the g block
        // pre-doubled: tanh(x) = 2 σ(2x) - 1.
        let two = S::one() + S::one();
        for col in a.as_mut_slice().chunks_exact_mut(G) {
            for v in &mut col[2 * H..3 * H] {
                *v *= two;
            }
        }
        crate::kernels::sigmoid_slice::<S>(a.as_mut_slice());
        let columns = a
            .as_mut_slice()
            .chunks_exact_mut(G)
            .zip(prev.c.as_slice().chunks_exact(H))
            .zip(next.c.as_mut_slice().chunks_exact_mut(H));
        for ((gates, c_prev), c) in columns {
            let (i, rest) = gates.split_at_mut(H);
            let (f, rest) = rest.split_at_mut(H);
            let (g, _) = rest.split_at_mut(H);
            for j in 0..H {
                g[j] = g[j] * two - S::one();
                c[j] = f[j] * c_prev[j] + i[j] * g[j];
            }
        }
        cache.tanh_c.copy_from(&next.c);
        crate::kernels::tanh_slice::<S>(cache.tanh_c.as_mut_slice());
        let columns = a
            .as_slice()
            .chunks_exact(G)
            .zip(cache.tanh_c.as_slice().chunks_exact(H));
        for ((gates, tc), h) in columns.zip(next.h.as_mut_slice().chunks_exact_mut(H)) {
            let o = &gates[3 * H..];
            for j in 0..H {
                h[j] = o[j] * tc[j];
            }
        }
        y.copy_from(&next.h);
    }
}

parameterized_by_params!(Lstm<I, H, G>);

impl<S: Float, const I: usize, const H: usize, const G: usize, const B: usize> Layer<S, I, H, B>
    for Lstm<S, I, H, G>
{
    type State = LstmState<S, H, B>;
    type Cache = LstmCache<S, H, G, B>;

    /// ONNX's `LSTM`: gate blocks i, o, f, c (ours i, f, g, o).
    fn onnx_cell(&self, initial: &LstmState<S, H, B>) -> Option<Cell<S>> {
        let d = self
            .params
            .onnx_direction(&[0, 3, 1, 2], initial.h.as_slice());
        Some(Cell {
            op: "LSTM",
            hidden: H,
            attrs: Vec::new(),
            directions: vec![Direction {
                c0: Some(initial.c.as_slice().to_vec()),
                ..d
            }],
        })
    }

    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, H, B>,
        training: bool,
    ) {
        Self::forward(&self.params, None, s, self.fast && !training);
    }

    fn set_fast_activations(&mut self, on: bool) {
        self.fast = on;
    }

    /// The parameters and state (`f32` only) for a fused block ([`crate::block`]).
    fn block_stage<'a>(
        &'a self,
        prev: &'a Self::State,
        next: &'a mut Self::State,
        training: bool,
    ) -> Option<BlockStage<'a>> {
        let p = &self.params;
        Some(BlockStage::Lstm(LstmStage {
            weight_ih: S::as_f32(p.weight_ih.value.as_slice())?,
            weight_hh: S::as_f32(p.weight_hh.value.as_slice())?,
            bias_ih: S::as_f32(p.bias_ih.value.as_slice())?,
            bias_hh: S::as_f32(p.bias_hh.value.as_slice())?,
            h_prev: S::as_f32(prev.h.as_slice())?,
            c_prev: S::as_f32(prev.c.as_slice())?,
            h: S::as_f32_mut(next.h.as_mut_slice())?,
            c: S::as_f32_mut(next.c.as_mut_slice())?,
            fast: self.fast && !training,
            kernel: crate::block::lstm_and_head::<H, G>,
            stacked: crate::block::cells_and_head::<I, H, G>,
        }))
    }

    /// The default (step after step), with the weights packed once for a sequence of several
    /// steps where the batched kernel reads them packed: the same bits as
    /// [`Layer::forward_step`] per step.
    #[inline(always)]
    fn forward_seq<V>(&mut self, seq: &mut V, training: bool)
    where
        V: ForwardSeq<S, Self::State, Self::Cache, I, H, B>,
    {
        let p = &self.params;
        // Packing copies the weights: it pays over a sequence, not for one step.
        let packed = seq.len() > 1
            && self
                .packed
                .pack::<S, G, I, H, B>(&p.weight_ih.value, &p.weight_hh.value);
        let packed = packed.then_some(&self.packed);
        let fast = self.fast && !training;
        forward_each(seq, |s| Self::forward(p, packed, s, fast));
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
            next: _,
            cache,
            gy,
            gx,
            input_grad,
        } = s;
        let gx = input_grad.then_some(gx);
        self.backward_inputs(cache, prev, gy, g_next, g_prev, gx);
        if !defer {
            let da = &cache.da;
            self.params.add_step_grads(x, &prev.h, da, da);
        }
    }

    fn accumulate_weight_grads<'s, It>(&mut self, steps: It)
    where
        It: Iterator<Item = (&'s SMatrix<S, I, B>, &'s Self::State, &'s Self::Cache)> + Clone,
    {
        self.params
            .add_shared_sequence_grads(steps.map(|(x, s, c)| (x, &s.h, &c.da)));
    }
}

impl<S: Float, const I: usize, const H: usize, const G: usize> Lstm<S, I, H, G> {
    /// The part of a step's backward that does not touch the weight gradients: the gate
    /// gradients `cache.da` (from the step's gates and `tanh(c)` in `cache`), the input
    /// gradient `gx` (if wanted) and the state gradients `g_prev`.
    #[inline(always)]
    fn backward_inputs<const B: usize>(
        &self,
        cache: &mut LstmCache<S, H, G, B>,
        prev: &LstmState<S, H, B>,
        gy: &SMatrix<S, H, B>,
        g_next: &LstmState<S, H, B>,
        g_prev: &mut LstmState<S, H, B>,
        gx: Option<&mut SMatrix<S, I, B>>,
    ) {
        let LstmCache { gates, tanh_c, da } = cache;
        let one = S::one();
        let columns = da
            .as_mut_slice()
            .chunks_exact_mut(G)
            .zip(gates.as_slice().chunks_exact(G))
            .zip(tanh_c.as_slice().chunks_exact(H))
            .zip(prev.c.as_slice().chunks_exact(H))
            .zip(
                gy.as_slice()
                    .chunks_exact(H)
                    .zip(g_next.h.as_slice().chunks_exact(H)),
            )
            .zip(
                g_next
                    .c
                    .as_slice()
                    .chunks_exact(H)
                    .zip(g_prev.c.as_mut_slice().chunks_exact_mut(H)),
            );
        // The pointwise part, compiled for AVX2 at batch > 1 (see `kernels::pointwise`).
        kernels::pointwise::<B, _>(
            #[inline(always)]
            || {
                for (((((d, gates), tc), c_prev), (gy, gnh)), (gnc, gpc)) in columns {
                    let (i, rest) = gates.split_at(H);
                    let (f, rest) = rest.split_at(H);
                    let (g, o) = rest.split_at(H);
                    let (di, rest) = d.split_at_mut(H);
                    let (df, rest) = rest.split_at_mut(H);
                    let (dg, d_o) = rest.split_at_mut(H);
                    for j in 0..H {
                        let dh = gy[j] + gnh[j];
                        let dc = gnc[j] + dh * o[j] * (one - tc[j] * tc[j]);
                        di[j] = dc * g[j] * i[j] * (one - i[j]);
                        df[j] = dc * c_prev[j] * f[j] * (one - f[j]);
                        dg[j] = dc * i[j] * (one - g[j] * g[j]);
                        d_o[j] = dh * tc[j] * o[j] * (one - o[j]);
                        gpc[j] = dc * f[j];
                    }
                }
            },
        );
        let p = &self.params;
        kernels::transpose_mul2(
            gx,
            &p.weight_ih.value,
            &mut g_prev.h,
            &p.weight_hh.value,
            da,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_f32_matches_f64, check_layer};

    #[test]
    fn gradients_match_finite_differences_through_four_steps() {
        let mut l = Lstm::<f64, 3, 4, 16>::new(&mut Rng::new(2));
        check_layer::<_, 3, 4, 2>(&mut l, 4, 12);
    }

    /// The `f32` layer (on x86-64 with AVX2: the fused cell and, at batch 1, the
    /// matrix-vector kernels) against `f64` over four steps, forward and backward. Sizes: a full
    /// block and a partial one (13 units), the seed (20), a full group of four blocks and a
    /// partial one (37), two full groups (64).
    #[test]
    fn f32_steps_match_f64() {
        fn check<const I: usize, const H: usize, const G: usize, const B: usize>() {
            let mut l32 = Lstm::<f32, I, H, G>::new(&mut Rng::new(4));
            let mut l64 = Lstm::<f64, I, H, G>::new(&mut Rng::new(4));
            assert_f32_matches_f64::<_, _, I, H, B>(&mut l32, &mut l64, 4, 9);
        }
        check::<3, 13, 52, 3>();
        // Batch 1 below eight units runs the fused step (`kernels::lstm_step`).
        check::<1, 2, 8, 1>();
        check::<6, 7, 28, 1>();
        check::<10, 20, 80, 1>();
        check::<7, 37, 148, 1>();
        check::<5, 64, 256, 2>();
        // Batch 32: the transposed products of the input and state gradients (AVX-512).
        check::<6, 24, 96, 32>();
    }

    #[test]
    fn init_uses_fan_in_of_each_product() {
        let l = Lstm::<f64, 4, 100, 400>::new(&mut Rng::new(5));
        let max = |m: &[f64]| m.iter().fold(0.0f64, |a, v| a.max(v.abs()));
        assert!(max(l.params.weight_ih.value.as_slice()) > 0.45); // bound 1/√4 = 0.5
        assert!(max(l.params.weight_hh.value.as_slice()) <= 0.1); // bound 1/√100
    }
}
