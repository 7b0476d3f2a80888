//! Fused blocks for [`Online::process_block`](crate::Online::process_block): what a layer
//! shows of itself ([`Layer::block_stage`](crate::Layer::block_stage)) to a kernel that runs
//! a whole block of samples through two layers at once, and the pairs of stages that have
//! such a kernel ([`Layer::forward_block`](crate::Layer::forward_block)).
//!
//! Why: a network this small, stepped once per sample (an amp model such as
//! `Sequential[ LSTM(1, 2), Linear(2, 1) ]`), spends most of a step around its arithmetic:
//! the engine's bookkeeping, a call per layer, the state stored and loaded back, the weights
//! and constants loaded again, the gates kept for a backward that a block never runs. A
//! fused block keeps the state in registers from sample to sample and runs the head beside
//! the cell, with each operation of the two layers' step kernels in their order: the same
//! bits as stepping (tested). NAM's 1x2 model (`LSTM(1, 2) -> Linear(2, 1)`) per sample:
//! about 200 instructions instead of about 690 through the pipelined steps (callgrind, fast
//! activations; 217 instead of 711 exact).
//!
//! One pair has a kernel today: an `LSTM(1, H)` cell followed by an affine head with one
//! output (`Linear(H, 1)`), `f32`, batch 1, on AVX2 or AVX-512 (the step's path). Below
//! eight units (`kernels::lstm_step::block`) the state stays in registers and the gates of
//! a cell of `4H` lanes or fewer share one register; from eight to 64 units
//! (`kernels::lstm_block`) the block calls the step's own kernels (`gemv`, the fused cell,
//! `gemv` for the head) on buffers of its own, without the engine around them (feather
//! 1x16 and 1x32: about 0.9x the time). Everything else is stepped as before (pipelined for
//! a stack, see [`Layer::forward_step_skewed`](crate::Layer::forward_step_skewed)). A new
//! pair is a new arm of `run` (this module) and its kernel; a layer with no kernel keeps the
//! defaults.

use crate::Float;

/// A layer as one stage of a fused block ([`Layer::block_stage`](crate::Layer::block_stage)):
/// its `f32` weights, and for a recurrent layer its state before the block and where the
/// state after it goes. Batch 1.
pub enum BlockStage<'a> {
    /// An LSTM cell (`crate::layers::Lstm`).
    Lstm(LstmStage<'a>),
    /// An affine map `y = W x + b` with no state (`crate::layers::Linear`).
    Affine(AffineStage<'a>),
}

/// An LSTM cell as a [`BlockStage`]: the parameters as the layer stores them (column-major,
/// gates `i, f, g, o`), the state before the block and where the state after it goes.
pub struct LstmStage<'a> {
    /// `weight_ih`, `4H x I`.
    pub weight_ih: &'a [f32],
    /// `weight_hh`, `4H x H`.
    pub weight_hh: &'a [f32],
    /// `bias_ih`, `4H`.
    pub bias_ih: &'a [f32],
    /// `bias_hh`, `4H`.
    pub bias_hh: &'a [f32],
    /// `h` before the block.
    pub h_prev: &'a [f32],
    /// `c` before the block.
    pub c_prev: &'a [f32],
    /// Receives `h` after the block.
    pub h: &'a mut [f32],
    /// Receives `c` after the block.
    pub c: &'a mut [f32],
    /// Whether the fast activations apply
    /// ([`Layer::set_fast_activations`](crate::Layer::set_fast_activations), evaluation mode).
    pub fast: bool,
    /// The kernel for this cell's sizes and the head after it (sizes are constants of the
    /// layer, not of the chain that pairs it).
    pub(crate) kernel: fn(LstmStage<'_>, AffineStage<'_>, &mut [f32]) -> bool,
}

/// An affine map `y = W x + b` as a [`BlockStage`].
pub struct AffineStage<'a> {
    /// `W`, `O x I`, column-major.
    pub weight: &'a [f32],
    /// `b`, `O`.
    pub bias: &'a [f32],
}

/// Runs `samples` in place through `first` then `second`, a chain's two layers from `I`
/// inputs to `O` outputs at batch `B`, if a fused kernel covers the pair here; returns
/// whether it ran (if not, nothing changed).
#[must_use]
pub(crate) fn run<S: Float, const I: usize, const O: usize, const B: usize>(
    first: BlockStage<'_>,
    second: BlockStage<'_>,
    samples: &mut [S],
) -> bool {
    if let (BlockStage::Lstm(cell), BlockStage::Affine(head)) = (first, second)
        && I == 1
        && O == 1
        && B == 1
        && let Some(samples) = S::as_f32_mut(samples)
    {
        return (cell.kernel)(cell, head, samples);
    }
    false
}

/// The fused kernel of an `LSTM(1, H)` cell (`G = 4H`) and a `Linear(H, 1)` head (the
/// [`LstmStage::kernel`] of a cell of `H` units); whether it ran.
pub(crate) fn lstm_and_head<const H: usize, const G: usize>(
    cell: LstmStage<'_>,
    head: AffineStage<'_>,
    samples: &mut [f32],
) -> bool {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(&head_b) = head.bias.first()
        && head.weight.len() >= H
    {
        let mut args = crate::kernels::LstmBlockArgs {
            w_ih: cell.weight_ih,
            w_hh: cell.weight_hh,
            b_ih: cell.bias_ih,
            b_hh: cell.bias_hh,
            head_w: head.weight,
            head_b,
            h_prev: cell.h_prev,
            c_prev: cell.c_prev,
            h: cell.h,
            c: cell.c,
        };
        return crate::kernels::lstm_block_simd::<H, G>(cell.fast, &mut args, samples);
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    let _ = (cell, head, samples);
    false
}
