//! `ClassNll`: negative log-likelihood of log-probabilities (Torch's `ClassNLLCriterion`).

use super::Criterion;
use crate::Float;
use core::fmt;
use nalgebra::{SMatrix, SVector};

/// A class index in `0..C`. It cannot hold an out-of-range class: the check happens where it is
/// built ([`Class::new`], [`TryFrom`]). Classes are **0-based** (Torch's are 1-based).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Class<const C: usize>(u32);

impl<const C: usize> Class<C> {
    /// Class `index`, or `None` if `index >= C`.
    #[must_use]
    pub const fn new(index: usize) -> Option<Self> {
        if index < C && index <= u32::MAX as usize {
            Some(Self(index as u32))
        } else {
            None
        }
    }

    /// The 0-based index, always `< C`.
    #[must_use]
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// The error of building a [`Class`] from an index that is not below the class count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClassOutOfRange {
    /// The index that was given.
    pub index: usize,
    /// The number of classes.
    pub classes: usize,
}

impl fmt::Display for ClassOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "class {} is out of range for {} classes (0-based)",
            self.index, self.classes
        )
    }
}

impl core::error::Error for ClassOutOfRange {}

impl<const C: usize> TryFrom<usize> for Class<C> {
    type Error = ClassOutOfRange;
    fn try_from(index: usize) -> Result<Self, ClassOutOfRange> {
        Self::new(index).ok_or(ClassOutOfRange { index, classes: C })
    }
}

/// Negative log-likelihood over `C` classes of an output of log-probabilities (e.g. from
/// `LogSoftMax`).
///
/// For targets `t_b` and class weights `w` (all 1 by default):
/// `loss = -Σ_b w[t_b] x[t_b, b] / W` with `W = Σ_b w[t_b]` when size-averaging (the default)
/// and `W > 0`, else `W = 1`. The gradient is `-w[t_b] / W` at `(t_b, b)` and 0 elsewhere.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassNll<S: Float, const C: usize> {
    /// Optional per-class weights.
    pub weights: Option<SVector<S, C>>,
    /// Divide by the total weight of the batch (default `true`).
    pub size_average: bool,
}

impl<S: Float, const C: usize> Default for ClassNll<S, C> {
    fn default() -> Self {
        Self {
            weights: None,
            size_average: true,
        }
    }
}

impl<S: Float, const C: usize> ClassNll<S, C> {
    /// With per-class weights.
    #[must_use]
    pub fn with_weights(weights: SVector<S, C>) -> Self {
        Self {
            weights: Some(weights),
            size_average: true,
        }
    }

    pub(crate) fn weight(&self, class: Class<C>) -> S {
        self.weights.as_ref().map_or(S::one(), |w| w[class.index()])
    }

    /// The divisor `W` of the loss and gradient: the total weight of the kept samples' classes (1 without
    /// size averaging, or when that total is 0).
    pub(crate) fn normaliser_kept<const B: usize>(
        &self,
        target: &[Class<C>; B],
        keep: &[bool; B],
    ) -> S {
        let total = target
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .fold(S::zero(), |a, (&t, _)| a + self.weight(t));
        if self.size_average && total > S::zero() {
            total
        } else {
            S::one()
        }
    }
}

impl<S: Float, const C: usize, const B: usize> Criterion<S, C, B> for ClassNll<S, C> {
    type Target = [Class<C>; B];

    fn forward(&self, output: &SMatrix<S, C, B>, target: &[Class<C>; B]) -> S {
        self.forward_kept(output, target, &[true; B])
    }

    fn backward(&self, output: &SMatrix<S, C, B>, target: &[Class<C>; B]) -> SMatrix<S, C, B> {
        self.backward_kept(output, target, &[true; B])
    }

    fn forward_kept(
        &self,
        output: &SMatrix<S, C, B>,
        target: &[Class<C>; B],
        keep: &[bool; B],
    ) -> S {
        let sum = target
            .iter()
            .zip(keep)
            .enumerate()
            .filter(|(_, (_, k))| **k)
            .fold(S::zero(), |a, (b, (&t, _))| {
                a - self.weight(t) * output[(t.index(), b)]
            });
        sum / self.normaliser_kept(target, keep)
    }

    fn backward_kept(
        &self,
        _output: &SMatrix<S, C, B>,
        target: &[Class<C>; B],
        keep: &[bool; B],
    ) -> SMatrix<S, C, B> {
        let norm = self.normaliser_kept(target, keep);
        let mut g = SMatrix::zeros();
        for (b, (&t, _)) in target
            .iter()
            .zip(keep)
            .enumerate()
            .filter(|(_, (_, k))| **k)
        {
            g[(t.index(), b)] = -self.weight(t) / norm;
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::super::check_criterion;
    use super::*;

    fn classes<const C: usize, const B: usize>(ix: [usize; B]) -> [Class<C>; B] {
        ix.map(|i| Class::new(i).expect("test class in range"))
    }

    #[test]
    fn class_range_is_checked_where_built() {
        assert!(Class::<3>::new(2).is_some());
        assert_eq!(
            Class::<3>::try_from(3),
            Err(ClassOutOfRange {
                index: 3,
                classes: 3
            })
        );
    }

    #[test]
    fn matches_torch_definition_with_and_without_weights() {
        let x = SMatrix::<f64, 3, 2>::new(-1.0, -0.5, -2.0, -0.2, -0.7, -3.0);
        let t = classes([2, 0]);
        let plain = ClassNll::default();
        assert!((plain.forward(&x, &t) - (0.7 + 0.5) / 2.0).abs() < 1e-15);
        let w = ClassNll::with_weights(SVector::<f64, 3>::new(1.0, 2.0, 3.0));
        assert!((w.forward(&x, &t) - (3.0 * 0.7 + 0.5) / 4.0).abs() < 1e-15);
        let g = w.backward(&x, &t);
        assert_eq!(g[(2, 0)], -0.75);
        assert_eq!(g[(0, 1)], -0.25);
        check_criterion(&plain, &x, &t);
        check_criterion(&w, &x, &t);
        let sum = ClassNll {
            size_average: false,
            ..w
        };
        assert!((sum.forward(&x, &t) - (3.0 * 0.7 + 0.5)).abs() < 1e-15);
        check_criterion(&sum, &x, &t);
    }

    #[test]
    fn zero_total_weight_gives_zero_gradient() {
        let w = ClassNll::with_weights(SVector::<f64, 2>::new(0.0, 1.0));
        let x = SMatrix::<f64, 2, 1>::new(-0.3, -1.2);
        let t = classes([0]);
        assert_eq!(w.forward(&x, &t), 0.0);
        assert!(w.backward(&x, &t).iter().all(|&g| g == 0.0));
    }
}
