//! `SequencerCriterion`: a per-step criterion summed over the steps of a sequence.

use super::Criterion;
use crate::Float;
use crate::network::LengthError;
use alloc::vec;
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// A step's target: a target, `Option<target>` where `None` means "no loss at this step"
/// (e.g. sequence-to-one: only the last step has a target), or [`SomeSamples`] for a target
/// that only some samples of the batch have at this step.
pub trait StepTarget<Tg, const B: usize> {
    /// The target, if this step has one.
    fn target(&self) -> Option<&Tg>;

    /// Which samples have it, if not all (see [`SomeSamples`]).
    fn present(&self) -> Option<&[bool; B]> {
        None
    }
}

impl<Tg, const B: usize> StepTarget<Tg, B> for Tg {
    fn target(&self) -> Option<&Tg> {
        Some(self)
    }
}

impl<Tg, const B: usize> StepTarget<Tg, B> for Option<Tg> {
    fn target(&self) -> Option<&Tg> {
        self.as_ref()
    }
}

/// A step's target for some samples of the batch only: sample `b` has one if `present[b]`
/// (what `target` holds for the others is ignored; none present is a step without loss). The loss is the criterion's on the present
/// samples as if the batch held only them ([`Criterion::forward_kept`]); the others get a zero
/// gradient. This is how sequences of different lengths in one batch each get their target at
/// their own last step (sequence-to-one).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SomeSamples<Tg, const B: usize> {
    /// The targets (for the present samples).
    pub target: Tg,
    /// Which samples have a target at this step.
    pub present: [bool; B],
}

impl<Tg, const B: usize> StepTarget<Tg, B> for SomeSamples<Tg, B> {
    fn target(&self) -> Option<&Tg> {
        self.present.iter().any(|p| *p).then_some(&self.target)
    }

    fn present(&self) -> Option<&[bool; B]> {
        Some(&self.present)
    }
}

/// Sums a criterion over `T` steps (Torch's `SequencerCriterion`): `loss = Σ_t c(y_t, target_t)`
/// over the steps that have a target; the gradient of a step without target is zero. With
/// `size_average` (default `false`, as in Torch) loss and gradients are divided by `T`.
///
/// ```
/// use rnn_core::prelude::*;
///
/// let crit = SequencerCriterion::new(ClassNll::default());
/// let outputs = [SMatrix::<f32, 3, 1>::new(-0.1, -2.0, -3.0); 4]; // log-probabilities
/// // A target at every step...
/// let every = [[Class::<3>::new(0).expect("< 3")]; 4];
/// assert!((crit.forward(&outputs, &every) - 0.4).abs() < 1e-6);
/// // ...or at the last step only (sequence-to-one): `None` adds no loss and a zero gradient.
/// let last = [None, None, None, Some([Class::<3>::new(0).expect("< 3")])];
/// assert!((crit.forward(&outputs, &last) - 0.1).abs() < 1e-6);
/// assert_eq!(crit.backward(&outputs, &last)[0], SMatrix::<f32, 3, 1>::zeros());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SequencerCriterion<C> {
    /// The per-step criterion.
    pub criterion: C,
    /// Divide by the number of steps (default `false`).
    pub size_average: bool,
}

impl<C> SequencerCriterion<C> {
    /// Sums `criterion` over the steps.
    #[must_use]
    pub fn new(criterion: C) -> Self {
        Self {
            criterion,
            size_average: false,
        }
    }

    /// The factor of every step's loss: `1 / steps` with `size_average` (an error for no
    /// steps, which would give NaN), else 1.
    fn scale<S: Float>(&self, steps: usize) -> Result<S, LengthError> {
        if !self.size_average {
            Ok(S::one())
        } else if steps == 0 {
            Err(LengthError::NoSteps)
        } else {
            Ok(S::one() / S::cast(steps as f64))
        }
    }

    /// The summed loss over the steps (one target per output step).
    ///
    /// # Panics
    /// If `outputs` and `targets` are not equally long (see [`SequencerCriterion::try_forward`]).
    pub fn forward<S, X, const N: usize, const B: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>],
        targets: &[X],
    ) -> S
    where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target, B>,
    {
        match self.try_forward(outputs, targets) {
            Ok(loss) => loss,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`SequencerCriterion::forward`], or [`LengthError::Unequal`] if `outputs` and
    /// `targets` are not equally long, [`LengthError::NoSteps`] if they are empty and
    /// `size_average` is set.
    pub fn try_forward<S, X, const N: usize, const B: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>],
        targets: &[X],
    ) -> Result<S, LengthError>
    where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target, B>,
    {
        same_length(outputs.len(), targets.len())?;
        let scale = self.scale::<S>(outputs.len())?;
        let sum = outputs.iter().zip(targets).fold(S::zero(), |acc, (y, x)| {
            x.target().map_or(acc, |t| {
                acc + match x.present() {
                    Some(keep) => self.criterion.forward_kept(y, t, keep),
                    None => self.criterion.forward(y, t),
                }
            })
        });
        Ok(sum * scale)
    }

    /// The gradient with respect to each step's output, in a new `Vec` (see
    /// [`SequencerCriterion::backward_into`] to reuse a buffer instead).
    ///
    /// # Panics
    /// If `outputs` and `targets` are not equally long.
    pub fn backward<S, X, const N: usize, const B: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>],
        targets: &[X],
    ) -> Vec<SMatrix<S, N, B>>
    where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target, B>,
    {
        let mut grads = vec![SMatrix::zeros(); outputs.len()];
        self.backward_into(outputs, targets, &mut grads);
        grads
    }

    /// Like [`SequencerCriterion::backward`], writing into `grads` (nothing allocates).
    ///
    /// # Panics
    /// If `outputs`, `targets` and `grads` are not equally long.
    pub fn backward_into<S, X, const N: usize, const B: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>],
        targets: &[X],
        grads: &mut [SMatrix<S, N, B>],
    ) where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target, B>,
    {
        if let Err(e) = self.try_backward_into(outputs, targets, grads) {
            panic!("{e}");
        }
    }

    /// [`SequencerCriterion::backward_into`], or [`LengthError::Unequal`] (and `grads`
    /// unchanged) if `outputs`, `targets` and `grads` are not equally long,
    /// [`LengthError::NoSteps`] if they are empty and `size_average` is set.
    pub fn try_backward_into<S, X, const N: usize, const B: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>],
        targets: &[X],
        grads: &mut [SMatrix<S, N, B>],
    ) -> Result<(), LengthError>
    where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target, B>,
    {
        same_length(outputs.len(), targets.len())?;
        same_length(outputs.len(), grads.len())?;
        let scale = self.scale::<S>(outputs.len())?;
        for ((g, y), x) in grads.iter_mut().zip(outputs).zip(targets) {
            match (x.target(), x.present()) {
                (Some(t), Some(keep)) => *g = self.criterion.backward_kept(y, t, keep) * scale,
                (Some(t), None) => *g = self.criterion.backward(y, t) * scale,
                (None, _) => g.fill(S::zero()),
            }
        }
        Ok(())
    }
}

fn same_length(outputs: usize, targets: usize) -> Result<(), LengthError> {
    if outputs == targets {
        Ok(())
    } else {
        Err(LengthError::Unequal { outputs, targets })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Class, ClassNll, Mse};
    use super::*;

    #[test]
    fn sums_over_steps_and_skips_steps_without_target() {
        let ys = [
            SMatrix::<f64, 2, 1>::new(-0.1, -2.0),
            SMatrix::<f64, 2, 1>::new(-1.0, -0.5),
            SMatrix::<f64, 2, 1>::new(-0.3, -0.9),
        ];
        let c = |i| Class::<2>::new(i).expect("in range");
        let all = [[c(0)], [c(1)], [c(1)]];
        let crit = SequencerCriterion::new(ClassNll::default());
        assert!((crit.forward(&ys, &all) - (0.1 + 0.5 + 0.9)).abs() < 1e-15);
        let last_only = [None, None, Some([c(1)])];
        assert!((crit.forward(&ys, &last_only) - 0.9).abs() < 1e-15);
        let g = crit.backward(&ys, &last_only);
        assert_eq!(g[0], SMatrix::<f64, 2, 1>::zeros());
        assert_eq!(g[2][1], -1.0);
        let avg = SequencerCriterion {
            size_average: true,
            ..SequencerCriterion::new(Mse::default())
        };
        let zs = [SMatrix::<f64, 2, 1>::zeros(); 3];
        assert!((avg.forward(&ys, &zs) - crit_sum_sq(&ys) / 2.0 / 3.0).abs() < 1e-15);
    }

    #[test]
    fn targets_may_be_absent_per_sample() {
        // Two sequences of lengths 2 and 3 in one batch, each with its class at its last step.
        // Columns are samples: log-probabilities of the 2 classes.
        let ys: [SMatrix<f64, 2, 2>; 3] = [
            SMatrix::from_column_slice(&[-0.1, -2.0, -0.4, -1.2]),
            SMatrix::from_column_slice(&[-1.0, -0.5, -0.3, -1.5]),
            SMatrix::from_column_slice(&[-0.3, -0.8, -0.9, -0.7]),
        ];
        let c = |i| Class::<2>::new(i).expect("in range");
        let at = |present| SomeSamples {
            target: [c(1), c(0)],
            present,
        };
        // Step 0: no sample has a target; step 1: sample 0 (class 1); step 2: sample 1 (class 0).
        let targets = [at([false, false]), at([true, false]), at([false, true])];
        let crit = SequencerCriterion::new(ClassNll::default());
        // Sample 0's loss at step 1 plus sample 1's at step 2, each alone (averaged over 1).
        assert!((crit.forward(&ys, &targets) - (0.5 + 0.9)).abs() < 1e-15);
        let g = crit.backward(&ys, &targets);
        assert_eq!(g[1].as_slice(), &[0.0, -1.0, 0.0, 0.0]);
        assert_eq!(g[2].as_slice(), &[0.0, 0.0, -1.0, 0.0]);
        assert_eq!(g[0], SMatrix::<f64, 2, 2>::zeros());
        // No sample present anywhere: no loss.
        assert_eq!(crit.forward(&ys, &[at([false, false]); 3]), 0.0);
    }

    #[test]
    fn unequal_lengths_are_an_error() {
        let ys = [SMatrix::<f64, 2, 1>::zeros(); 3];
        let crit = SequencerCriterion::new(Mse::default());
        let short = [SMatrix::<f64, 2, 1>::zeros(); 2];
        let err = LengthError::Unequal {
            outputs: 3,
            targets: 2,
        };
        assert_eq!(crit.try_forward(&ys, &short), Err(err));
        let mut grads = [SMatrix::<f64, 2, 1>::repeat(7.0); 3];
        assert_eq!(crit.try_backward_into(&ys, &short, &mut grads), Err(err));
        assert_eq!(grads[0][0], 7.0);
        assert_eq!(
            crit.try_backward_into(&ys, &ys, &mut grads[..2]),
            Err(LengthError::Unequal {
                outputs: 3,
                targets: 2
            })
        );
        // Any length works, as long as both agree.
        assert_eq!(crit.try_forward(&ys[..1], &short[..1]), Ok(0.0));
    }

    fn crit_sum_sq(ys: &[SMatrix<f64, 2, 1>]) -> f64 {
        ys.iter().map(|y| y.norm_squared()).sum()
    }
}
