//! `GRU(in, hidden)`: gated recurrent unit in PyTorch's form (reset gate applied after the
//! hidden product).
//!
//! Shapes: `x: I x B`; state `h: H x B`; `weight_ih: 3H x I`, `weight_hh: 3H x H`,
//! `bias_ih, bias_hh: 3H`, gate blocks **r, z, n** as in `torch.nn.GRU`; the type parameter
//! `G` must equal `3 * H` (checked at compile time).
//!
//! ```text
//! r = σ(W_ir x + b_ir + W_hr h + b_hr)
//! z = σ(W_iz x + b_iz + W_hz h + b_hz)
//! n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
//! h_t = (1 - z) ⊙ n + z ⊙ h_{t-1}
//! ```
//!
//! Torch7's `nn.GRU` applies `r` before the product (`U_n (r ⊙ h)`); we follow PyTorch so that
//! weights convert exactly. Backward, with `dh = gy + g_next` and `hn = W_hn h + b_hn`:
//! `da_n = dh ⊙ (1-z) ⊙ (1-n²)`, `da_r = da_n ⊙ hn ⊙ r(1-r)`,
//! `da_z = dh ⊙ (h_{t-1} - n) ⊙ z(1-z)`; the input side sees `[da_r; da_z; da_n]`, the hidden
//! side `[da_r; da_z; da_n ⊙ r]`, and `g_prev = dh ⊙ z + W_hhᵀ (hidden side)`.
//!
//! Initialisation (fan-in of each product): `W_ih, b_ih ~ U(±1/√I)`, `W_hh, b_hh ~ U(±1/√H)`.

use super::cell_params::{CellParams, parameterized_by_params};
use crate::float::AllocError;
use crate::kernels;
use crate::layer::{BackwardStep, ForwardSeq, ForwardStep, Layer, forward_each};
use crate::onnx::Cell;
use crate::{Float, Rng};
use alloc::vec;
use nalgebra::SMatrix;

/// What one GRU step keeps for its backward.
#[derive(Clone, Debug, bytemuck::Zeroable)]
#[zeroable(bound = "S: Float")]
pub struct GruCache<S, const H: usize, const G: usize, const B: usize> {
    /// The activated gates `[r; z; n]`, `3H x B`.
    pub gates: SMatrix<S, G, B>,
    /// `W_hn h_{t-1} + b_hn`, the hidden part of the candidate before the reset gate.
    pub hn: SMatrix<S, H, B>,
    /// Gradients of the input-side and hidden-side pre-activations, kept by the
    /// whole-sequence backward until the weight gradients of all steps are added at once.
    pub dai: SMatrix<S, G, B>,
    /// See `dai`. The forward uses it as scratch for the hidden product `W_hh h_{t-1} + b_hh`
    /// (the backward overwrites it before reading it).
    pub dah: SMatrix<S, G, B>,
}

/// A GRU cell from `I` inputs to `H` hidden units; `G = 3 * H`. See the [module docs](self).
#[derive(Clone)]
pub struct Gru<S: Float, const I: usize, const H: usize, const G: usize> {
    /// `weight_ih`, `weight_hh`, `bias_ih`, `bias_hh` (see the module docs for the layout).
    pub params: CellParams<S, I, H, G>,
    /// `weight_ih` and `weight_hh` packed at the start of each whole-sequence forward for the
    /// batched kernel, where it reads them packed (`f32`, at least 256 gate rows on the AVX2
    /// path, 1024 on AVX-512: `4 G (I + H)` bytes more); empty elsewhere.
    packed: [kernels::Packed; 2],
}

impl<S: Float, const I: usize, const H: usize, const G: usize> Gru<S, I, H, G> {
    const SHAPE_OK: () = assert!(G == 3 * H, "Gru<S, I, H, G> needs G == 3 * H");

    /// Torch's default initialisation from `rng`.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        Self::try_new(rng).unwrap_or_else(|e| e.abort())
    }

    /// [`Gru::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if a parameter cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        let () = Self::SHAPE_OK;
        Ok(Self {
            params: CellParams::try_new(rng)?,
            packed: [
                kernels::Packed::try_new::<S, G, I, 0>()?,
                kernels::Packed::try_new::<S, G, H, 0>()?,
            ],
        })
    }
}

impl<S: Float, const I: usize, const H: usize, const G: usize> Gru<S, I, H, G> {
    /// One step ([`Layer::forward_step`]), the weights read from `packed` where given.
    #[inline(always)]
    fn forward<const B: usize>(
        p: &CellParams<S, I, H, G>,
        packed: [Option<&kernels::Packed>; 2],
        s: ForwardStep<'_, S, SMatrix<S, H, B>, GruCache<S, H, G, B>, I, H, B>,
    ) {
        let ForwardStep {
            x,
            prev,
            next,
            cache,
            y,
        } = s;
        let () = Self::SHAPE_OK;
        let one = S::one();
        // `dah` is written by the backward before it reads it: until then it holds the hidden
        // product `W_hh h + b_hh` (3H x B, on the heap with the cache, never on the stack).
        let GruCache {
            gates: a,
            hn,
            dah: ah,
            ..
        } = cache;
        let [packed_ih, packed_hh] = packed;
        kernels::affine_packed(
            a,
            packed_ih,
            (&p.weight_ih.value, x, Some(&p.bias_ih.value)),
        );
        kernels::affine_packed(
            ah,
            packed_hh,
            (&p.weight_hh.value, prev, Some(&p.bias_hh.value)),
        );
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && let (Some(a), Some(ah), Some(h_prev), Some(hn), Some(h)) = (
                S::as_f32_mut(a.as_mut_slice()),
                S::as_f32(ah.as_slice()),
                S::as_f32(prev.as_slice()),
                S::as_f32_mut(hn.as_mut_slice()),
                S::as_f32_mut(next.as_mut_slice()),
            )
            && kernels::gru_cell_simd::<H, B>(a, ah, h_prev, hn, h)
        {
            y.copy_from(next);
            return;
        }
        let columns = a
            .as_mut_slice()
            .chunks_exact_mut(G)
            .zip(ah.as_slice().chunks_exact(G))
            .zip(prev.as_slice().chunks_exact(H))
            .zip(next.as_mut_slice().chunks_exact_mut(H))
            .zip(hn.as_mut_slice().chunks_exact_mut(H));
        for ((((gates, ah), h_prev), h), hn) in columns {
            for (g, a) in gates[..2 * H].iter_mut().zip(&ah[..2 * H]) {
                *g += *a;
            }
            crate::kernels::sigmoid_slice::<S>(&mut gates[..2 * H]);
            let (rz, n) = gates.split_at_mut(2 * H);
            let (r, z) = rz.split_at(H);
            hn.copy_from_slice(&ah[2 * H..]);
            for j in 0..H {
                n[j] += r[j] * hn[j];
            }
            crate::kernels::tanh_slice::<S>(n);
            for j in 0..H {
                h[j] = (one - z[j]) * n[j] + z[j] * h_prev[j];
            }
        }
        y.copy_from(next);
    }
}

parameterized_by_params!(Gru<I, H, G>);

impl<S: Float, const I: usize, const H: usize, const G: usize, const B: usize> Layer<S, I, H, B>
    for Gru<S, I, H, G>
{
    type State = SMatrix<S, H, B>;
    type Cache = GruCache<S, H, G, B>;

    /// ONNX's `GRU` with `linear_before_reset = 1` (PyTorch's form): gate blocks z, r, h
    /// (ours r, z, n).
    fn onnx_cell(&self, initial: &SMatrix<S, H, B>) -> Option<Cell<S>> {
        Some(Cell {
            op: "GRU",
            hidden: H,
            attrs: vec![("linear_before_reset", 1)],
            directions: vec![self.params.onnx_direction(&[1, 0, 2], initial.as_slice())],
        })
    }

    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, H, B>,
        _training: bool,
    ) {
        Self::forward(&self.params, [None, None], s);
    }

    /// The default (step after step), with the weights packed once for the sequence where
    /// the batched kernel reads them packed: the same bits as [`Layer::forward_step`] per step.
    #[inline(always)]
    fn forward_seq<V>(&mut self, seq: &mut V, _training: bool)
    where
        V: ForwardSeq<S, Self::State, Self::Cache, I, H, B>,
    {
        let p = &self.params;
        let [ih, hh] = &mut self.packed;
        // Packing copies the weights: it pays over a sequence, not for one step.
        let several = seq.len() > 1;
        let packed = [
            (several && ih.pack1::<S, G, I, B>(&p.weight_ih.value)).then_some(&*ih),
            (several && hh.pack1::<S, G, H, B>(&p.weight_hh.value)).then_some(&*hh),
        ];
        forward_each(seq, |s| Self::forward(p, packed, s));
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
            self.params.add_step_grads(x, prev, &cache.dai, &cache.dah);
        }
    }

    fn accumulate_weight_grads<'s, It>(&mut self, steps: It)
    where
        It: Iterator<Item = (&'s SMatrix<S, I, B>, &'s Self::State, &'s Self::Cache)> + Clone,
    {
        self.params
            .add_sequence_grads(steps.map(|(x, h, c)| (x, h, &c.dai, &c.dah)));
    }
}

impl<S: Float, const I: usize, const H: usize, const G: usize> Gru<S, I, H, G> {
    /// The part of a step's backward that does not touch the weight gradients: the
    /// pre-activation gradients `cache.dai`/`cache.dah` (from the gates and `hn` in `cache`),
    /// the input gradient `gx` (if wanted) and `g_prev`.
    #[inline(always)]
    fn backward_inputs<const B: usize>(
        &self,
        cache: &mut GruCache<S, H, G, B>,
        prev: &SMatrix<S, H, B>,
        gy: &SMatrix<S, H, B>,
        g_next: &SMatrix<S, H, B>,
        g_prev: &mut SMatrix<S, H, B>,
        gx: Option<&mut SMatrix<S, I, B>>,
    ) {
        let GruCache {
            gates,
            hn,
            dai,
            dah,
        } = cache;
        let one = S::one();
        let columns = dai
            .as_mut_slice()
            .chunks_exact_mut(G)
            .zip(dah.as_mut_slice().chunks_exact_mut(G))
            .zip(
                gates
                    .as_slice()
                    .chunks_exact(G)
                    .zip(hn.as_slice().chunks_exact(H)),
            )
            .zip(
                gy.as_slice()
                    .chunks_exact(H)
                    .zip(g_next.as_slice().chunks_exact(H)),
            )
            .zip(
                prev.as_slice()
                    .chunks_exact(H)
                    .zip(g_prev.as_mut_slice().chunks_exact_mut(H)),
            );
        // The pointwise part, compiled for AVX2 at batch > 1 (see `kernels::pointwise`).
        kernels::pointwise::<B, _>(
            #[inline(always)]
            || {
                for ((((di, dh_), (gates, hn)), (gy, gn)), (h_prev, gp)) in columns {
                    let (r, rest) = gates.split_at(H);
                    let (z, n) = rest.split_at(H);
                    let (dir, rest) = di.split_at_mut(H);
                    let (diz, din) = rest.split_at_mut(H);
                    let (dhr, rest) = dh_.split_at_mut(H);
                    let (dhz, dhn) = rest.split_at_mut(H);
                    for j in 0..H {
                        let dh = gy[j] + gn[j];
                        let dan = dh * (one - z[j]) * (one - n[j] * n[j]);
                        let dar = dan * hn[j] * r[j] * (one - r[j]);
                        let daz = dh * (h_prev[j] - n[j]) * z[j] * (one - z[j]);
                        dir[j] = dar;
                        diz[j] = daz;
                        din[j] = dan;
                        dhr[j] = dar;
                        dhz[j] = daz;
                        dhn[j] = dan * r[j];
                        gp[j] = dh * z[j];
                    }
                }
            },
        );
        if let Some(gx) = gx {
            kernels::transpose_mul(gx, &self.params.weight_ih.value, dai, false);
        }
        kernels::transpose_mul(g_prev, &self.params.weight_hh.value, dah, true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{assert_f32_matches_f64, check_layer};

    /// The `f32` layer (on x86-64 with AVX2: the fused cell and, at batch 1, the
    /// matrix-vector kernels) against `f64` over four steps, forward and backward, at the
    /// LSTM test's sizes.
    #[test]
    fn f32_steps_match_f64() {
        fn check<const I: usize, const H: usize, const G: usize, const B: usize>() {
            let mut l32 = Gru::<f32, I, H, G>::new(&mut Rng::new(4));
            let mut l64 = Gru::<f64, I, H, G>::new(&mut Rng::new(4));
            assert_f32_matches_f64::<_, _, I, H, B>(&mut l32, &mut l64, 4, 9);
        }
        check::<3, 13, 39, 3>();
        check::<10, 20, 60, 1>();
        check::<7, 37, 111, 1>();
        check::<5, 64, 192, 2>();
        // Batch 32, the batched kernels' sizes.
        check::<6, 24, 72, 32>();
    }

    #[test]
    fn gradients_match_finite_differences_through_four_steps() {
        let mut l = Gru::<f64, 3, 4, 12>::new(&mut Rng::new(3));
        check_layer::<_, 3, 4, 2>(&mut l, 4, 13);
    }
}
