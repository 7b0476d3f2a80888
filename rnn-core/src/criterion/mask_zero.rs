//! `MaskZeroCriterion::new(inner)` (Torch's `MaskZeroCriterion`): samples whose output is
//! exactly zero are masked.

use super::Criterion;
use crate::Float;
use nalgebra::SMatrix;

/// Wraps a criterion so that samples with an all-zero output add no loss and get no gradient.
///
/// The mask comes from the criterion's *input*, the network's output: a column (sample) whose
/// every value is 0 (zero L2 norm) is dropped, and the inner criterion runs on the others as if
/// the batch held only them ([`Criterion::forward_kept`]): with size averaging it averages over
/// the kept samples. The gradient is 0 in masked columns; all masked gives loss 0 and a zero
/// gradient. It pairs with a network built with `mask_zero = true`: there the outputs of a
/// masked sample at a masked step are exactly zero whatever the last layer is (a `LogSoftMax`
/// included: the network zeroes its outputs after the last layer), so this criterion drops
/// them. Without `mask_zero` an output column is all zero only if the network computes zeros,
/// which a `LogSoftMax` over two or more classes never does.
///
/// ```
/// use rnn_core::prelude::*;
///
/// let crit = MaskZeroCriterion::new(Mse::default());
/// // The second sample's output is all zero: it is masked.
/// let out = SMatrix::<f32, 2, 2>::new(1.0, 0.0, 3.0, 0.0);
/// let target = SMatrix::<f32, 2, 2>::new(0.0, 9.0, 1.0, 9.0);
/// assert_eq!(crit.forward(&out, &target), (1.0 + 4.0) / 2.0);
/// assert_eq!(crit.backward(&out, &target).column(1).sum(), 0.0);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MaskZeroCriterion<C> {
    /// The criterion run on the unmasked samples.
    pub inner: C,
}

impl<C> MaskZeroCriterion<C> {
    /// Masks the samples whose output is all zero, then applies `inner`.
    #[must_use]
    pub fn new(inner: C) -> Self {
        Self { inner }
    }
}

/// `keep[b]`: column `b` of `output` has a non-zero value.
fn kept<S: Float, const N: usize, const B: usize>(output: &SMatrix<S, N, B>) -> [bool; B] {
    core::array::from_fn(|b| output.column(b).iter().any(|v| *v != S::zero()))
}

/// `a && b` for each sample.
fn both<const B: usize>(a: &[bool; B], b: &[bool; B]) -> [bool; B] {
    core::array::from_fn(|k| a[k] && b[k])
}

impl<S, C, const N: usize, const B: usize> Criterion<S, N, B> for MaskZeroCriterion<C>
where
    S: Float,
    C: Criterion<S, N, B>,
{
    type Target = C::Target;

    fn forward(&self, output: &SMatrix<S, N, B>, target: &Self::Target) -> S {
        self.inner.forward_kept(output, target, &kept(output))
    }

    fn backward(&self, output: &SMatrix<S, N, B>, target: &Self::Target) -> SMatrix<S, N, B> {
        self.inner.backward_kept(output, target, &kept(output))
    }

    fn forward_kept(
        &self,
        output: &SMatrix<S, N, B>,
        target: &Self::Target,
        keep: &[bool; B],
    ) -> S {
        self.inner
            .forward_kept(output, target, &both(keep, &kept(output)))
    }

    fn backward_kept(
        &self,
        output: &SMatrix<S, N, B>,
        target: &Self::Target,
        keep: &[bool; B],
    ) -> SMatrix<S, N, B> {
        self.inner
            .backward_kept(output, target, &both(keep, &kept(output)))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Class, ClassNll, CrossEntropy, Mse, check_criterion};
    use super::*;
    use nalgebra::SVector;

    fn outputs() -> SMatrix<f64, 3, 3> {
        SMatrix::<f64, 3, 3>::new(-0.3, -1.2, -2.0, -1.1, -0.2, -0.9, -2.2, -1.5, -0.4)
    }

    #[test]
    fn without_masks_it_is_its_inner_criterion() {
        let (x, t) = (
            outputs(),
            [0, 1, 2].map(|c| Class::<3>::new(c).expect("< 3")),
        );
        let nll = ClassNll::with_weights(SVector::<f64, 3>::new(1.0, 2.0, 0.5));
        let masked = MaskZeroCriterion::new(nll.clone());
        assert_eq!(masked.forward(&x, &t), nll.forward(&x, &t));
        assert_eq!(masked.backward(&x, &t), nll.backward(&x, &t));
        let y = SMatrix::<f64, 3, 3>::from_fn(|i, j| (i * 3 + j) as f64 * 0.1);
        let mse = MaskZeroCriterion::new(Mse::default());
        assert!((mse.forward(&x, &y) - Mse::default().forward(&x, &y)).abs() < 1e-15);
        assert!((mse.backward(&x, &y) - Mse::default().backward(&x, &y)).amax() < 1e-15);
        check_criterion(&masked, &x, &t);
        check_criterion(
            &MaskZeroCriterion::new(CrossEntropy::<f64, 3>::default()),
            &x,
            &t,
        );
    }

    #[test]
    fn a_masked_last_sample_gives_the_loss_of_the_others() {
        let t3 = [0, 1, 2].map(|c| Class::<3>::new(c).expect("< 3"));
        let t2 = [0, 1].map(|c| Class::<3>::new(c).expect("< 3"));
        let mut x = outputs();
        let others: SMatrix<f64, 3, 2> = x.fixed_columns::<2>(0).into_owned();
        x.column_mut(2).fill(0.0);
        for inner in [
            ClassNll::default(),
            ClassNll::with_weights(SVector::<f64, 3>::new(1.0, 2.0, 0.5)),
        ] {
            let masked = MaskZeroCriterion::new(inner.clone());
            assert_eq!(masked.forward(&x, &t3), inner.forward(&others, &t2));
            let g = masked.backward(&x, &t3);
            assert_eq!(g.fixed_columns::<2>(0), inner.backward(&others, &t2));
            // (No finite differences here: nudging a masked column unmasks it.)
            assert_eq!(g.column(2).amax(), 0.0);
        }
        let y = SMatrix::<f64, 3, 3>::from_fn(|i, j| (i + j) as f64 * 0.2);
        let y2: SMatrix<f64, 3, 2> = y.fixed_columns::<2>(0).into_owned();
        let masked = MaskZeroCriterion::new(Mse::default());
        assert!((masked.forward(&x, &y) - Mse::default().forward(&others, &y2)).abs() < 1e-15);
    }

    #[test]
    fn all_masked_is_zero_loss_and_zero_gradient() {
        let x = SMatrix::<f64, 3, 3>::zeros();
        let t = [0, 1, 2].map(|c| Class::<3>::new(c).expect("< 3"));
        let masked = MaskZeroCriterion::new(ClassNll::default());
        assert_eq!(masked.forward(&x, &t), 0.0);
        assert_eq!(masked.backward(&x, &t), SMatrix::<f64, 3, 3>::zeros());
        let y = SMatrix::<f64, 3, 3>::from_element(1.0);
        let mse = MaskZeroCriterion::new(Mse::default());
        assert_eq!(mse.forward(&x, &y), 0.0);
        assert_eq!(mse.backward(&x, &y), SMatrix::<f64, 3, 3>::zeros());
    }
}
