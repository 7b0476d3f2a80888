//! Fused blocks for [`Online::process_block`](crate::Online::process_block): what a layer
//! shows of itself ([`Layer::block_stage`]) to a kernel that runs
//! a whole block of samples through a chain of layers at once
//! ([`Layer::block_stages`] lists a chain's), and the chains
//! that have such a kernel (`run`, which the engine calls).
//!
//! Why: a network this small, stepped once per sample (an amp model such as
//! `Sequential[ LSTM(1, 2), Linear(2, 1) ]`), spends most of a step around its arithmetic:
//! the engine's bookkeeping, a call per layer, the state stored and loaded back, the weights
//! and constants loaded again, the gates kept for a backward that a block never runs. A
//! fused block runs the layers' operations, in the order of their step kernels, in one loop
//! over the samples: the same bits as stepping (tested). NAM's 1x2 model per sample: about
//! 90 instructions instead of about 690 through the pipelined steps (callgrind, fast
//! activations; 115 instead of 711 exact); its two-layer 2x8, about 600 instead of 1245.
//!
//! The chains with a kernel today (`f32`, batch 1, AVX2 or AVX-512, the step's path; the
//! kernels are `kernels::lstm_block`'s):
//! - an `LSTM(1, H)` cell and an affine head with one output (`Linear(H, 1)`): up to eight
//!   units the state stays in registers (a cell of `4H` lanes or fewer with its four gates
//!   in one register); from nine to sixteen units, and at 31 and 32, in 512-bit registers
//!   where the CPU has AVX-512 and that was measured faster ([`crate::kernel_choice`]);
//!   else, up to 64 units, the block calls the step's own kernels on buffers of its own,
//!   without the engine around them;
//! - two stacked cells (`LSTM(1, H1)`, `LSTM(H1, H2)`, up to eight units each) and such a
//!   head, in registers, the first cell one sample ahead of the second as `process_block`
//!   pipelines a chain ([`Layer::forward_step_skewed`]).
//!
//! Everything else is stepped as before. A new chain is a new arm of `run` (this module)
//! and its kernel; a layer with no kernel keeps the defaults.

use crate::{Float, Layer};

/// A layer as one stage of a fused block ([`Layer::block_stage`]):
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
    /// ([`Layer::set_fast_activations`], evaluation mode).
    pub fast: bool,
    /// The kernel of this cell (its sizes are constants of the layer, not of the chain that
    /// pairs it) and a head after it.
    pub(crate) kernel: fn(LstmStage<'_>, AffineStage<'_>, &mut [f32]) -> bool,
    /// The kernel of a cell of one input before this one (its units this cell's inputs),
    /// this cell, and a head after it.
    pub(crate) stacked: fn([LstmStage<'_>; 2], AffineStage<'_>, &mut [f32]) -> bool,
}

/// An affine map `y = W x + b` as a [`BlockStage`].
pub struct AffineStage<'a> {
    /// `W`, `O x I`, column-major.
    pub weight: &'a [f32],
    /// `b`, `O`.
    pub bias: &'a [f32],
}

/// The most stages a fused kernel takes (two cells and a head).
const MAX_STAGES: usize = 3;

/// The stages of a chain of layers ([`Layer::block_stages`]), at
/// most [`BlockStages::MAX`], in order.
pub struct BlockStages<'a> {
    stages: [Option<BlockStage<'a>>; MAX_STAGES],
}

impl<'a> BlockStages<'a> {
    /// The most stages a fused kernel takes (two cells and a head).
    pub const MAX: usize = MAX_STAGES;

    /// No stage yet.
    #[must_use]
    pub fn new() -> Self {
        Self {
            stages: [const { None }; MAX_STAGES],
        }
    }

    /// Appends `stage`; `false` if there are [`BlockStages::MAX`] already (then no kernel
    /// covers the chain).
    pub fn push(&mut self, stage: BlockStage<'a>) -> bool {
        let Some(slot) = self.stages.iter_mut().find(|s| s.is_none()) else {
            return false;
        };
        *slot = Some(stage);
        true
    }
}

impl Default for BlockStages<'_> {
    fn default() -> Self {
        Self::new()
    }
}

/// Runs `samples` in place through `layer` (from `I` inputs to `O` outputs at batch `B`)
/// from state `prev`, writing the state after the last sample to `next`, if a fused kernel
/// covers its stages ([`Layer::block_stages`]) here; returns whether it ran (if not, nothing
/// changed).
#[must_use]
pub(crate) fn run<S, L, const I: usize, const O: usize, const B: usize>(
    layer: &L,
    samples: &mut [S],
    prev: &L::State,
    next: &mut L::State,
    training: bool,
) -> bool
where
    S: Float,
    L: Layer<S, I, O, B>,
{
    if I != 1 || O != 1 || B != 1 {
        return false;
    }
    let Some(samples) = S::as_f32_mut(samples) else {
        return false;
    };
    let mut stages = BlockStages::new();
    if !layer.block_stages(prev, next, training, &mut stages) {
        return false;
    }
    match stages.stages {
        [
            Some(BlockStage::Lstm(cell)),
            Some(BlockStage::Affine(head)),
            None,
        ] => (cell.kernel)(cell, head, samples),
        [
            Some(BlockStage::Lstm(first)),
            Some(BlockStage::Lstm(second)),
            Some(BlockStage::Affine(head)),
        ] => (second.stacked)([first, second], head, samples),
        _ => false,
    }
}

/// The kernels' view of a cell of `I` inputs and `H` units (if its slices have those
/// shapes), and whether its fast activations apply.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn cell_args<const I: usize, const H: usize>(
    cell: LstmStage<'_>,
) -> Option<(crate::kernels::LstmCellArgs<'_>, bool)> {
    let g = 4 * H;
    let shapes = cell.weight_ih.len() == g * I
        && cell.weight_hh.len() == g * H
        && cell.bias_ih.len() == g
        && cell.bias_hh.len() == g
        && [
            cell.h_prev.len(),
            cell.c_prev.len(),
            cell.h.len(),
            cell.c.len(),
        ] == [H; 4];
    let args = crate::kernels::LstmCellArgs {
        w_ih: cell.weight_ih,
        w_hh: cell.weight_hh,
        b_ih: cell.bias_ih,
        b_hh: cell.bias_hh,
        h_prev: cell.h_prev,
        c_prev: cell.c_prev,
        h: cell.h,
        c: cell.c,
    };
    shapes.then_some((args, cell.fast))
}

/// The kernels' view of a head of `H` inputs and one output (if it has those shapes).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn head_args<'a, const H: usize>(
    head: &AffineStage<'a>,
) -> Option<crate::kernels::LstmHeadArgs<'a>> {
    match head.bias {
        &[b] if head.weight.len() == H => Some(crate::kernels::LstmHeadArgs { w: head.weight, b }),
        _ => None,
    }
}

/// [`LstmStage::kernel`] of an `LSTM(1, H)` cell (`G = 4H`): the cell and a `Linear(H, 1)`
/// head; whether it ran.
pub(crate) fn lstm_and_head<const H: usize, const G: usize>(
    cell: LstmStage<'_>,
    head: AffineStage<'_>,
    samples: &mut [f32],
) -> bool {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(head) = head_args::<H>(&head)
        && let Some((mut cell, fast)) = cell_args::<1, H>(cell)
    {
        return crate::kernels::lstm_block_simd::<H, G>(fast, &mut cell, &head, samples);
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    let _ = (cell, head, samples);
    false
}

/// [`LstmStage::stacked`] of an `LSTM(I, H)` cell (`G = 4H`): an `LSTM(1, I)` cell, this
/// one and a `Linear(H, 1)` head; whether it ran.
pub(crate) fn cells_and_head<const I: usize, const H: usize, const G: usize>(
    [first, second]: [LstmStage<'_>; 2],
    head: AffineStage<'_>,
    samples: &mut [f32],
) -> bool {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(head) = head_args::<H>(&head)
        && let Some((mut a, fast)) = cell_args::<1, I>(first)
        && let Some((mut b, fast_too)) = cell_args::<I, H>(second)
        && fast == fast_too
    {
        return crate::kernels::lstm_stack_simd::<I, H>(fast, [&mut a, &mut b], &head, samples);
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    let _ = (first, second, head, samples);
    false
}
