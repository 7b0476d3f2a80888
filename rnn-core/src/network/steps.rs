//! A sequencer's per-step records and the views of them that layers' whole-sequence passes
//! take ([`crate::layer::ForwardSeq`], [`crate::layer::BackwardSeq`]), with the masking of
//! steps.

use crate::Float;
use crate::float::{AllocError, ZeroInit, try_zeroed_box};
use crate::layer::{
    BackwardSeq, BackwardStep, Dir, Encoder, ForwardSeq, ForwardStep, Layer, Mask, StateGrads,
};
use alloc::boxed::Box;
use nalgebra::SMatrix;

/// The record of a step of a sequencer of `L` and `E`.
pub(super) type Record<S, L, E, const I: usize, const O: usize, const B: usize> =
    StepRecord<S, <L as Layer<S, I, O, B>>::Cache, <E as Encoder<S, I, B>>::Kept, I, O, B>;

#[derive(bytemuck::Zeroable)]
#[zeroable(bound = "S: Float")]
pub(super) struct StepRecord<S, C, K, const I: usize, const O: usize, const B: usize> {
    /// The layer's input (the encoder's output).
    pub(super) x: SMatrix<S, I, B>,
    /// What the encoder keeps of the step's input.
    pub(super) kept: K,
    /// With masking: the samples masked at this step (their input column is all zero).
    pub(super) masked: [bool; B],
    /// Some sample is masked at this step.
    pub(super) any_masked: bool,
    pub(super) y: SMatrix<S, O, B>,
    pub(super) cache: C,
}

/// The steps of one whole-sequence forward as the outermost layer sees them: records and
/// states from slot 0 (see `Sequencer::origin`).
pub(super) struct SeqSteps<'a, S: Float, C, K, St, const I: usize, const O: usize, const B: usize> {
    pub(super) records: &'a mut [StepRecord<S, C, K, I, O, B>],
    /// One more than `records`: the state before each step and after the last.
    pub(super) states: &'a mut [St],
    /// With masking (`mask_zero`): what a masked sample's state resets to.
    pub(super) initial: Option<&'a St>,
}

impl<S: Float, C, K, St, const I: usize, const O: usize, const B: usize>
    ForwardSeq<S, St, C, I, O, B> for SeqSteps<'_, S, C, K, St, I, O, B>
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.records.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (ForwardStep<'_, S, St, C, I, O, B>, Option<Mask<'_, St, B>>) {
        let (before, after) = self.states.split_at_mut(k + 1);
        let states = match dir {
            Dir::Forward => (&before[k], &mut after[0]),
            Dir::Reversed => (&after[0], &mut before[k]),
        };
        self.records[k].forward(states, self.initial)
    }
}

/// The steps of one whole-sequence backward as the outermost layer sees them.
pub(super) struct SeqGrads<'a, S: Float, C, K, St, const I: usize, const O: usize, const B: usize> {
    pub(super) records: &'a mut [StepRecord<S, C, K, I, O, B>],
    pub(super) states: &'a [St],
    /// The output gradients (masked samples' columns zeroed when masking).
    pub(super) gy: &'a [SMatrix<S, O, B>],
    pub(super) gx: &'a mut [SMatrix<S, I, B>],
    /// Whether `gx` is read (see [`BackwardStep::input_grad`]).
    pub(super) input_grads: bool,
    /// Masking is on.
    pub(super) masking: bool,
}

impl<S: Float, C, K, St, const I: usize, const O: usize, const B: usize>
    BackwardSeq<S, St, C, I, O, B> for SeqGrads<'_, S, C, K, St, I, O, B>
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.records.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (BackwardStep<'_, S, St, C, I, O, B>, Option<&[bool; B]>) {
        let states = match dir {
            Dir::Forward => (&self.states[k], &self.states[k + 1]),
            Dir::Reversed => (&self.states[k + 1], &self.states[k]),
        };
        let grads = (&self.gy[k], &mut self.gx[k], self.input_grads);
        self.records[k].backward(states, grads, self.masking)
    }
    #[inline(always)]
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, I, B>, &St, &C) {
        let rec = &self.records[k];
        let prev = match dir {
            Dir::Forward => &self.states[k],
            Dir::Reversed => &self.states[k + 1],
        };
        (&rec.x, prev, &rec.cache)
    }
}

/// The gradients at the states around a backward ([`StateGrads`]), on the heap.
pub(super) struct StateGradBuffers<St> {
    /// The gradient at the state after the steps to back-propagate; after
    /// [`StateGradBuffers::step_back`], at the state before them.
    pub(super) state: Box<St>,
    /// Receives the gradient at the state before the steps.
    prev: Box<St>,
    /// The backward's second buffer ([`StateGrads::scratch`]).
    scratch: Box<St>,
}

impl<St: ZeroInit> StateGradBuffers<St> {
    pub(super) fn try_new() -> Result<Self, AllocError> {
        Ok(Self {
            state: try_zeroed_box()?,
            prev: try_zeroed_box()?,
            scratch: try_zeroed_box()?,
        })
    }

    /// The buffers as a layer's backward takes them: from `state`, into `prev`.
    #[inline(always)]
    pub(super) fn grads(&mut self) -> StateGrads<'_, St> {
        StateGrads {
            last: &self.state,
            first: &mut self.prev,
            scratch: Some(&mut self.scratch),
        }
    }

    /// After a backward: the gradient it wrote becomes `state` (the buffers swap, nothing is
    /// copied).
    #[inline(always)]
    pub(super) fn step_back(&mut self) {
        core::mem::swap(&mut self.state, &mut self.prev);
    }
}

/// Where the step-by-step backward puts a step's input gradient.
#[derive(Clone, Copy)]
pub(super) enum GradInto {
    /// Step `k` of the whole-sequence call's buffer.
    Call(usize),
    /// Step `k` of the call's buffer, which nothing reads unless the encoder does
    /// (`backward_parameters`): the layers may skip it.
    Unread(usize),
    /// The online step's buffer.
    Step,
}

impl<S: Float, C, K, const I: usize, const O: usize, const B: usize> StepRecord<S, C, K, I, O, B> {
    /// The step as a layer's forward sees it, between the states `(prev, next)`, and its mask
    /// if masking (`initial`: what a masked sample's state resets to) and a sample is masked.
    #[inline(always)]
    pub(super) fn forward<'s, St>(
        &'s mut self,
        (prev, next): (&'s St, &'s mut St),
        initial: Option<&'s St>,
    ) -> (ForwardStep<'s, S, St, C, I, O, B>, Option<Mask<'s, St, B>>) {
        let mask = match initial {
            Some(initial) if self.any_masked => Some(Mask {
                masked: &self.masked,
                initial,
            }),
            _ => None,
        };
        let step = ForwardStep {
            x: &self.x,
            prev,
            next,
            cache: &mut self.cache,
            y: &mut self.y,
        };
        (step, mask)
    }

    /// The step as a layer's backward sees it, between the states `(prev, next)`, with the
    /// output gradient, where the input gradient goes and whether it is read, and the masked
    /// samples if `masking` and a sample is masked.
    #[inline(always)]
    pub(super) fn backward<'s, St>(
        &'s mut self,
        (prev, next): (&'s St, &'s St),
        (gy, gx, input_grad): (&'s SMatrix<S, O, B>, &'s mut SMatrix<S, I, B>, bool),
        masking: bool,
    ) -> (BackwardStep<'s, S, St, C, I, O, B>, Option<&'s [bool; B]>) {
        let mask = (masking && self.any_masked).then_some(&self.masked);
        let step = BackwardStep {
            x: &self.x,
            y: &self.y,
            prev,
            next,
            cache: &mut self.cache,
            gy,
            gx,
            input_grad,
        };
        (step, mask)
    }

    /// Zeroes the output columns of the samples masked at this step (a masked sample's
    /// output is zero), after the layers ran.
    #[inline(always)]
    pub(super) fn mask_output(&mut self) {
        if self.any_masked {
            zero_columns(&mut self.y, &self.masked);
        }
    }

    /// Finds the samples masked at this step: those whose input column is exactly zero.
    pub(super) fn find_masked(&mut self) {
        self.masked = core::array::from_fn(|b| self.x.column(b).iter().all(|v| *v == S::zero()));
        self.any_masked = self.masked.contains(&true);
    }
}

/// Zeroes the columns of `m` that `masked` marks.
pub(super) fn zero_columns<S: Float, const R: usize, const B: usize>(
    m: &mut SMatrix<S, R, B>,
    masked: &[bool; B],
) {
    for b in (0..B).filter(|&b| masked[b]) {
        m.column_mut(b).fill(S::zero());
    }
}

/// The output gradient of a step with its masked samples' columns zeroed (in `scratch`; `gy`
/// itself if none is masked): masked samples pass no gradient back.
pub(super) fn masked_grad<'g, S: Float, const O: usize, const B: usize>(
    (masked, any): (&[bool; B], bool),
    gy: &'g SMatrix<S, O, B>,
    scratch: &'g mut SMatrix<S, O, B>,
) -> &'g SMatrix<S, O, B> {
    if !any {
        return gy;
    }
    scratch.copy_from(gy);
    zero_columns(scratch, masked);
    scratch
}
