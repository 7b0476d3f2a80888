//! One step as a sequence of one: the views through which a single step runs a layer's
//! whole-sequence methods ([`Layer::forward_seq`], [`Layer::backward_seq`]).
//!
//! The engine's online step runs every layer this way, and a container (`Sequential`'s
//! [`crate::sequential::Chain`], [`crate::residual::Residual`]) writes its wiring once, for
//! sequences: its [`Layer::forward_step`] and [`Layer::backward_step`] are
//! [`forward_step_by_seq`] and [`backward_step_by_seq`].
//!
//! A one-step view pairs its states forwards only: a [`Dir::Reversed`] forward step (the
//! backward direction of a `BiSequencer`, which has no online step) is refused.

use crate::Float;
use crate::layer::{
    BackwardSeq, BackwardStep, Dir, ForwardSeq, ForwardStep, Layer, Mask, StateGrads,
};
use nalgebra::SMatrix;

/// A forward step as a [`ForwardSeq`] of one step.
pub struct OneStep<'a, S: Float, St, C, const I: usize, const O: usize, const B: usize> {
    step: ForwardStep<'a, S, St, C, I, O, B>,
    mask: Option<Mask<'a, St, B>>,
}

impl<'a, S: Float, St, C, const I: usize, const O: usize, const B: usize>
    OneStep<'a, S, St, C, I, O, B>
{
    /// The view of `step`, with the samples masked at it if any (`mask_zero`).
    #[inline(always)]
    #[must_use]
    pub fn new(step: ForwardStep<'a, S, St, C, I, O, B>, mask: Option<Mask<'a, St, B>>) -> Self {
        Self { step, mask }
    }
}

impl<S: Float, St, C, const I: usize, const O: usize, const B: usize> ForwardSeq<S, St, C, I, O, B>
    for OneStep<'_, S, St, C, I, O, B>
{
    #[inline(always)]
    fn len(&self) -> usize {
        1
    }

    /// Step 0 (the only one).
    ///
    /// # Panics
    /// For [`Dir::Reversed`]: only a `BiSequencer` asks for it, and a layer holding one has
    /// no online step (`Layer::ONLINE` is `false`; the engine never steps it).
    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (ForwardStep<'_, S, St, C, I, O, B>, Option<Mask<'_, St, B>>) {
        debug_assert_eq!(k, 0, "a one-step view has step 0 only");
        assert!(
            dir == Dir::Forward,
            "a BiSequencer has no online step: its backward direction needs the whole \
             sequence (run it with forward/backward)"
        );
        let s = &mut self.step;
        let step = ForwardStep {
            x: s.x,
            prev: s.prev,
            next: &mut *s.next,
            cache: &mut *s.cache,
            y: &mut *s.y,
        };
        let mask = self.mask.as_ref().map(|m| Mask {
            masked: m.masked,
            initial: m.initial,
        });
        (step, mask)
    }
}

/// A backward step as a [`BackwardSeq`] of one step.
pub struct OneGrad<'a, S: Float, St, C, const I: usize, const O: usize, const B: usize> {
    step: BackwardStep<'a, S, St, C, I, O, B>,
    masked: Option<&'a [bool; B]>,
}

impl<'a, S: Float, St, C, const I: usize, const O: usize, const B: usize>
    OneGrad<'a, S, St, C, I, O, B>
{
    /// The view of `step`, with the samples masked at it if any (`mask_zero`).
    #[inline(always)]
    #[must_use]
    pub fn new(step: BackwardStep<'a, S, St, C, I, O, B>, masked: Option<&'a [bool; B]>) -> Self {
        Self { step, masked }
    }
}

impl<S: Float, St, C, const I: usize, const O: usize, const B: usize> BackwardSeq<S, St, C, I, O, B>
    for OneGrad<'_, S, St, C, I, O, B>
{
    #[inline(always)]
    fn len(&self) -> usize {
        1
    }

    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (BackwardStep<'_, S, St, C, I, O, B>, Option<&[bool; B]>) {
        debug_assert_eq!(k, 0, "a one-step view has step 0 only");
        let s = &mut self.step;
        let (prev, next) = match dir {
            Dir::Forward => (s.prev, s.next),
            Dir::Reversed => (s.next, s.prev),
        };
        let step = BackwardStep {
            x: s.x,
            y: s.y,
            prev,
            next,
            cache: &mut *s.cache,
            gy: s.gy,
            gx: &mut *s.gx,
            input_grad: s.input_grad,
        };
        (step, self.masked)
    }

    #[inline(always)]
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, I, B>, &St, &C) {
        debug_assert_eq!(k, 0, "a one-step view has step 0 only");
        let s = &self.step;
        let prev = match dir {
            Dir::Forward => s.prev,
            Dir::Reversed => s.next,
        };
        (s.x, prev, &*s.cache)
    }
}

/// [`Layer::forward_step`] as [`Layer::forward_seq`] over the one step `s`: a container's
/// step.
#[inline(always)]
pub fn forward_step_by_seq<S, L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    s: ForwardStep<'_, S, L::State, L::Cache, I, O, B>,
    training: bool,
) where
    S: Float,
    L: Layer<S, I, O, B>,
{
    layer.forward_seq(&mut OneStep::new(s, None), training);
}

/// [`Layer::backward_step`] as [`Layer::backward_seq`] over the one step `s`: a container's
/// step. It never defers weight gradients (each part decides for itself, and a sequence of
/// one step does not defer), so a container's [`Layer::accumulate_weight_grads`] has nothing
/// to add (the default).
#[inline(always)]
pub fn backward_step_by_seq<S, L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    s: BackwardStep<'_, S, L::State, L::Cache, I, O, B>,
    g_next: &L::State,
    g_prev: &mut L::State,
) where
    S: Float,
    L: Layer<S, I, O, B>,
{
    let g = StateGrads {
        last: g_next,
        first: g_prev,
        scratch: None,
    };
    layer.backward_seq(&mut OneGrad::new(s, None), g);
}
