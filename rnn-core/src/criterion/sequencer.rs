//! `SequencerCriterion`: a per-step criterion summed over the steps of a sequence.

use super::Criterion;
use crate::Float;
use nalgebra::SMatrix;

/// A step's target: either a target, or `Option<target>` where `None` means "no loss at this
/// step" (e.g. sequence-to-one: only the last step has a target).
pub trait StepTarget<Tg> {
    /// The target, if this step has one.
    fn target(&self) -> Option<&Tg>;
}

impl<Tg> StepTarget<Tg> for Tg {
    fn target(&self) -> Option<&Tg> {
        Some(self)
    }
}

impl<Tg> StepTarget<Tg> for Option<Tg> {
    fn target(&self) -> Option<&Tg> {
        self.as_ref()
    }
}

/// Sums a criterion over `T` steps (Torch's `SequencerCriterion`): `loss = Σ_t c(y_t, target_t)`
/// over the steps that have a target; the gradient of a step without target is zero. With
/// `size_average` (default `false`, as in Torch) loss and gradients are divided by `T`.
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

    fn scale<S: Float>(&self, steps: usize) -> S {
        if self.size_average {
            S::one() / S::cast(steps as f64)
        } else {
            S::one()
        }
    }

    /// The summed loss over the `T` steps.
    pub fn forward<S, X, const N: usize, const B: usize, const T: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>; T],
        targets: &[X; T],
    ) -> S
    where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target>,
    {
        let sum = outputs.iter().zip(targets).fold(S::zero(), |acc, (y, x)| {
            x.target()
                .map_or(acc, |t| acc + self.criterion.forward(y, t))
        });
        sum * self.scale::<S>(T)
    }

    /// The gradient with respect to each step's output.
    pub fn backward<S, X, const N: usize, const B: usize, const T: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>; T],
        targets: &[X; T],
    ) -> [SMatrix<S, N, B>; T]
    where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target>,
    {
        let mut grads = [SMatrix::zeros(); T];
        self.backward_into(outputs, targets, &mut grads);
        grads
    }

    /// Like [`SequencerCriterion::backward`], writing into `grads` (no large return value).
    pub fn backward_into<S, X, const N: usize, const B: usize, const T: usize>(
        &self,
        outputs: &[SMatrix<S, N, B>; T],
        targets: &[X; T],
        grads: &mut [SMatrix<S, N, B>; T],
    ) where
        S: Float,
        C: Criterion<S, N, B>,
        X: StepTarget<C::Target>,
    {
        let scale = self.scale::<S>(T);
        for ((g, y), x) in grads.iter_mut().zip(outputs).zip(targets) {
            match x.target() {
                Some(t) => *g = self.criterion.backward(y, t) * scale,
                None => g.fill(S::zero()),
            }
        }
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

    fn crit_sum_sq(ys: &[SMatrix<f64, 2, 1>]) -> f64 {
        ys.iter().map(|y| y.norm_squared()).sum()
    }
}
