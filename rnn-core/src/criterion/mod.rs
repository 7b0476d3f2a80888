//! Loss functions ("criteria" in Torch): per-step losses and their sum over a sequence.
//!
//! Each criterion compares one step's output (`N x B`, one column per sample) with a target
//! and is size-averaged by default like Torch: the loss is divided by the batch's total weight
//! (class criteria) or element count ([`Mse`]).

mod class_nll;
mod cross_entropy;
mod mask_zero;
mod mse;
mod sequencer;

pub use class_nll::{Class, ClassNll, ClassOutOfRange};
pub use cross_entropy::CrossEntropy;
pub use mask_zero::MaskZeroCriterion;
pub use mse::Mse;
pub use sequencer::{SequencerCriterion, SomeSamples, StepTarget};

use crate::Float;
use nalgebra::SMatrix;

/// A loss on one step's output `N x B`.
pub trait Criterion<S: Float, const N: usize, const B: usize> {
    /// What the output is compared with.
    type Target;

    /// The loss (Torch's `updateOutput`).
    fn forward(&self, output: &SMatrix<S, N, B>, target: &Self::Target) -> S;

    /// The gradient of the loss with respect to `output` (Torch's `updateGradInput`).
    fn backward(&self, output: &SMatrix<S, N, B>, target: &Self::Target) -> SMatrix<S, N, B>;

    /// The loss of the samples (columns) whose `keep[b]` is set, as if the batch held only
    /// them: size-averaging divides by their weight or element count. 0 if none is kept.
    /// (What Torch's `MaskZeroCriterion` computes by running its criterion on the sub-batch of
    /// kept rows; see [`MaskZeroCriterion`].)
    fn forward_kept(&self, output: &SMatrix<S, N, B>, target: &Self::Target, keep: &[bool; B])
    -> S;

    /// The gradient of [`Criterion::forward_kept`]: zero in the columns not kept.
    fn backward_kept(
        &self,
        output: &SMatrix<S, N, B>,
        target: &Self::Target,
        keep: &[bool; B],
    ) -> SMatrix<S, N, B>;
}

/// Checks a criterion's `backward` against central differences of its `forward` (f64).
#[cfg(test)]
pub(crate) fn check_criterion<C, const N: usize, const B: usize>(
    c: &C,
    output: &SMatrix<f64, N, B>,
    target: &C::Target,
) where
    C: Criterion<f64, N, B>,
{
    use crate::gradcheck::{STEP, TOLERANCE, relative_error};
    let analytic = c.backward(output, target);
    let mut x = *output;
    let mut numeric = alloc::vec::Vec::new();
    for k in 0..N * B {
        let x0 = x[k];
        x[k] = x0 + STEP;
        let up = c.forward(&x, target);
        x[k] = x0 - STEP;
        let down = c.forward(&x, target);
        x[k] = x0;
        numeric.push((up - down) / (2.0 * STEP));
    }
    let err = relative_error(analytic.as_slice(), &numeric);
    assert!(
        err <= TOLERANCE,
        "criterion gradient: relative error {err:e}"
    );
}
