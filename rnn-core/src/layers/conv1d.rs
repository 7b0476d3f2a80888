//! `Conv1d(in, out, kernel)` with option `dilation = d`: a causal convolution over time, the
//! building block of WaveNet-style audio models, in PyTorch's layout (`torch.nn.Conv1d` with
//! `(kernel - 1) * dilation` zeros of padding on the left only).
//!
//! Shapes: `x_t: I x B`; `weight: O x (I K)` holding PyTorch's `[out, in, kernel]` tensor
//! row-major (column `i K + k` is input channel `i` at tap `k`); `bias: O`; `y_t: O x B`.
//! State: the last `n = (K - 1) D` inputs, `I n x B`, oldest first (`W = I (K - 1) D` rows).
//!
//! Forward: `y_t = b + Σ_k W_k x_{t - (K - 1 - k) D}` (tap `K - 1` is the current input), the
//! inputs before the first step being the initial state's: zeros after `forget()`, PyTorch's
//! left padding; under `remember` the previous call's last `n` inputs, so a sequence cut in
//! two calls gives the same outputs as in one. With `z_t` the `I K` inputs the taps read
//! (`z_t[i K + k] = x_{t - (K - 1 - k) D}[i]`, kept for backward): `y_t = W z_t + b`.
//!
//! Backward: `gz = Wᵀ gy`; `gx` = `gz` at tap `K - 1` plus the state gradient of the slot the
//! input moved into; the state gradient before the step is the one after it shifted by one
//! slot plus `gz` at the taps that read the state; `gW += gy z_tᵀ`, `gb += Σ_b gy`.
//!
//! Initialisation (PyTorch's and Torch's `TemporalConvolution`): `W, b ~ U(±1/√(I K))`.
//!
//! The Rust type also takes the derived sizes `IK = I K` and `W = I (K - 1) D` (stable Rust
//! cannot compute a type's sizes from its parameters); `network!` writes them, and
//! constructing a layer with other values is a compile-time error.

use crate::float::{AllocError, f64m};
use crate::kernels;
use crate::layer::{BackwardStep, ForwardStep, Layer};
use crate::onnx::{Graph, Value};
use crate::param::Param;
use crate::{Float, Rng};
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// A causal, dilated 1-D convolution over time from `I` to `O` channels with kernel `K` and
/// dilation `D` (`IK = I * K`, `W = I * (K - 1) * D`). See the [module docs](self).
#[derive(Clone)]
pub struct Conv1d<
    S: Float,
    const I: usize,
    const O: usize,
    const K: usize,
    const D: usize,
    const IK: usize,
    const W: usize,
> {
    /// `weight`, `O x (I K)`: PyTorch's `[out, in, kernel]` tensor, row-major.
    pub weight: Param<S, O, IK>,
    /// `bias`, `O`.
    pub bias: Param<S, O, 1>,
}

impl<
    S: Float,
    const I: usize,
    const O: usize,
    const K: usize,
    const D: usize,
    const IK: usize,
    const W: usize,
> Conv1d<S, I, O, K, D, IK, W>
{
    /// Checked when a layer is built: the derived sizes agree with the others.
    const SIZES: () = assert!(
        K > 0 && D > 0 && IK == I * K && W == I * (K - 1) * D,
        "Conv1d<S, I, O, K, D, IK, W> needs K >= 1, D >= 1, IK = I * K and W = I * (K - 1) * D"
    );

    /// Torch's default initialisation from `rng`.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        Self::try_new(rng).unwrap_or_else(|e| e.abort())
    }

    /// [`Conv1d::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if a parameter cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        let () = Self::SIZES;
        let bound = 1.0 / f64m::sqrt(IK as f64);
        Ok(Self {
            weight: Param::try_uniform(rng, bound)?,
            bias: Param::try_uniform(rng, bound)?,
        })
    }
}

crate::param::parameters!(Conv1d<I, O, K, D, IK, W> { weight: Kernel(K), bias: Vector });

/// What a step of [`Conv1d`] keeps: the inputs its taps read, `I K x B`, and their gradient
/// (written by its backward).
#[derive(Clone, Debug, PartialEq, bytemuck::Zeroable)]
#[zeroable(bound = "S: Float")]
pub struct Conv1dCache<S, const IK: usize, const B: usize> {
    /// `z_t`: row `i K + k` is input channel `i` at tap `k`.
    pub z: SMatrix<S, IK, B>,
    /// `Wᵀ gy`, the gradient at `z_t`.
    pub gz: SMatrix<S, IK, B>,
}

impl<
    S: Float,
    const I: usize,
    const O: usize,
    const K: usize,
    const D: usize,
    const IK: usize,
    const W: usize,
    const B: usize,
> Layer<S, I, O, B> for Conv1d<S, I, O, K, D, IK, W>
{
    /// The last `(K - 1) D` inputs, oldest first: slot `s` is rows `s I .. (s + 1) I`.
    type State = SMatrix<S, W, B>;
    /// `z_t`, the inputs the taps read, and room for their gradient.
    type Cache = Conv1dCache<S, IK, B>;

    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        _training: bool,
    ) {
        let ForwardStep {
            x,
            prev,
            next,
            cache,
            y,
        } = s;
        let z = &mut cache.z;
        // Column by column (sample by sample); `W` may be 0 (kernel 1: no state).
        for b in 0..B {
            let xb = &x.as_slice()[b * I..][..I];
            let pb = &prev.as_slice()[b * W..][..W];
            let zb = &mut z.as_mut_slice()[b * IK..][..IK];
            let nb = &mut next.as_mut_slice()[b * W..][..W];
            for k in 0..K {
                // Tap k reads the input (K - 1 - k) D steps back: slot k D of the state, or x.
                let from = if k + 1 == K { xb } else { &pb[k * D * I..] };
                for i in 0..I {
                    zb[i * K + k] = from[i];
                }
            }
            // The window moves on by one input.
            if W > 0 {
                nb[..W - I].copy_from_slice(&pb[I..]);
                nb[W - I..].copy_from_slice(xb);
            }
        }
        kernels::affine(y, &self.weight.value, z, Some(&self.bias.value), false);
    }

    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        g_next: &Self::State,
        g_prev: &mut Self::State,
        _defer: bool,
    ) {
        let BackwardStep {
            x: _,
            y: _,
            prev: _,
            next: _,
            cache,
            gy,
            gx,
            input_grad: _,
        } = s;
        // gz = Wᵀ gy, then each of its rows to the input or the state slot its tap read.
        kernels::transpose_mul(&mut cache.gz, &self.weight.value, gy, false);
        for b in 0..B {
            let gnb = &g_next.as_slice()[b * W..][..W];
            let gxb = &mut gx.as_mut_slice()[b * I..][..I];
            let gpb = &mut g_prev.as_mut_slice()[b * W..][..W];
            // What flowed back into the window after the step: slot s + 1 had moved to slot s,
            // the input to the last slot.
            if W > 0 {
                gpb[..I].fill(S::zero());
                gpb[I..].copy_from_slice(&gnb[..W - I]);
                gxb.copy_from_slice(&gnb[W - I..]);
            } else {
                gxb.fill(S::zero());
            }
            let gzb = &cache.gz.as_slice()[b * IK..][..IK];
            for k in 0..K {
                let to = if k + 1 == K {
                    &mut *gxb
                } else {
                    &mut gpb[k * D * I..]
                };
                for (i, g) in to.iter_mut().take(I).enumerate() {
                    *g += gzb[i * K + k];
                }
            }
        }
        kernels::acc_outer(self.weight.grad_mut(), gy, &cache.z);
        kernels::acc_bias(self.bias.grad_mut(), gy);
    }

    /// ONNX's `Conv` on the sequence as `[B, I, T]`, padded with `(K - 1) D` zeros on the
    /// left: the export of a layer whose initial state is not zero fails, naming it.
    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, initial: &Self::State) -> Value {
        if initial.iter().any(|v| *v != S::zero()) {
            g.unsupported(
                "Conv1d",
                "its initial state (the inputs before the first step) is not zero, and ONNX's \
                 `Conv` pads with zeros",
            );
        }
        let w = &self.weight.value;
        let row_major: Vec<S> = (0..O)
            .flat_map(|o| (0..IK).map(move |c| w[(o, c)]))
            .collect();
        let weight = g.constant("weight", &[O, I, K], &row_major);
        let bias = g.constant("bias", &[O], self.bias.value.as_slice());
        let channels_first = g.node_lists("Transpose", &[x], &[("perm", &[1, 2, 0])]);
        let pad = ((K - 1) * D) as i64;
        let y = g.node_lists(
            "Conv",
            &[&channels_first, &weight, &bias],
            &[
                ("kernel_shape", &[K as i64]),
                ("dilations", &[D as i64]),
                ("pads", &[pad, 0]),
                ("strides", &[1]),
            ],
        );
        g.node_lists("Transpose", &[&y], &[("perm", &[2, 0, 1])])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{check_layer, forward_sequence};

    #[test]
    fn gradients_match_finite_differences() {
        // Kernel 3, dilation 2: the state holds 4 inputs; 9 steps carry gradients through it.
        let mut l = Conv1d::<f64, 2, 3, 3, 2, 6, 8>::new(&mut Rng::new(1));
        check_layer::<_, 2, 3, 2>(&mut l, 9, 11);
        let mut l = Conv1d::<f64, 3, 2, 2, 1, 6, 3>::new(&mut Rng::new(2));
        check_layer::<_, 3, 2, 1>(&mut l, 4, 12);
        // Kernel 1: no state, a per-step linear map.
        let mut l = Conv1d::<f64, 3, 2, 1, 4, 3, 0>::new(&mut Rng::new(3));
        check_layer::<_, 3, 2, 3>(&mut l, 3, 13);
    }

    /// The definition, written out: `y_t[o] = b[o] + Σ_i Σ_k w[o, i, k] x_{t - (K-1-k) D}[i]`
    /// with zeros before the first step.
    fn check_definition<
        const I: usize,
        const O: usize,
        const K: usize,
        const D: usize,
        const IK: usize,
        const W: usize,
    >() {
        const T: usize = 9;
        let mut l = Conv1d::<f64, I, O, K, D, IK, W>::new(&mut Rng::new(4));
        let mut rng = Rng::new(5);
        let xs: Vec<SMatrix<f64, I, 2>> = (0..T)
            .map(|_| crate::gradcheck::random_matrix(&mut rng))
            .collect();
        let trace = forward_sequence(&mut l, &xs, false);
        for (t, y) in trace.ys.iter().enumerate() {
            for b in 0..2 {
                for o in 0..O {
                    let mut want = l.bias.value[o];
                    for i in 0..I {
                        for k in 0..K {
                            let back = (K - 1 - k) * D;
                            if t >= back {
                                want += l.weight.value[(o, i * K + k)] * xs[t - back][(i, b)];
                            }
                        }
                    }
                    assert!((y[(o, b)] - want).abs() < 1e-12, "t {t} o {o} b {b}");
                }
            }
        }
    }

    #[test]
    fn forward_is_the_causal_convolution() {
        check_definition::<2, 3, 3, 2, 6, 8>();
        check_definition::<3, 2, 2, 1, 6, 3>();
        check_definition::<3, 2, 1, 4, 3, 0>();
        check_definition::<1, 1, 4, 3, 4, 9>();
    }

    #[test]
    fn init_is_within_torch_bounds() {
        let l = Conv1d::<f32, 4, 8, 4, 1, 16, 12>::new(&mut Rng::new(3));
        assert!(l.weight.value.iter().all(|w| w.abs() <= 0.25));
        assert!(l.weight.value.iter().any(|w| w.abs() > 0.2));
    }
}
