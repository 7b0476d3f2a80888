//! `CrossEntropy`: `LogSoftMax` followed by `ClassNll` (Torch's `CrossEntropyCriterion`).

use super::{Class, ClassNll, Criterion};
use crate::Float;
use crate::layers::logsoftmax::log_softmax_column;
use nalgebra::{SMatrix, SVector};

/// Cross-entropy of raw scores: `loss = Σ_b w[t_b] (logsumexp(x_b) - x[t_b, b]) / W`, with `W`
/// as in [`ClassNll`]. Gradient `(softmax(x_b) - onehot(t_b)) w[t_b] / W`.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CrossEntropy<S: Float, const C: usize> {
    /// The NLL applied after the log-soft-max (class weights, size averaging).
    pub nll: ClassNll<S, C>,
}

impl<S: Float, const C: usize> CrossEntropy<S, C> {
    /// With per-class weights.
    #[must_use]
    pub fn with_weights(weights: SVector<S, C>) -> Self {
        Self {
            nll: ClassNll::with_weights(weights),
        }
    }
}

fn log_softmax<S: Float, const C: usize, const B: usize>(x: &SMatrix<S, C, B>) -> SMatrix<S, C, B> {
    let mut y = SMatrix::<S, C, B>::zeros();
    for (xc, mut yc) in x.column_iter().zip(y.column_iter_mut()) {
        log_softmax_column(xc.as_slice(), yc.as_mut_slice());
    }
    y
}

impl<S: Float, const C: usize, const B: usize> Criterion<S, C, B> for CrossEntropy<S, C> {
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
        self.nll.forward_kept(&log_softmax(output), target, keep)
    }

    fn backward_kept(
        &self,
        output: &SMatrix<S, C, B>,
        target: &[Class<C>; B],
        keep: &[bool; B],
    ) -> SMatrix<S, C, B> {
        let norm = self.nll.normaliser_kept(target, keep);
        let mut g = log_softmax(output);
        for (b, &t) in target.iter().enumerate() {
            let mut col = g.column_mut(b);
            if !keep[b] {
                col.fill(S::zero());
                continue;
            }
            let w = self.nll.weight(t) / norm;
            col.apply(|v| *v = v.fast_exp() * w);
            col[t.index()] -= w;
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::super::check_criterion;
    use super::*;

    #[test]
    fn equals_log_softmax_then_nll_and_gradient_checks() {
        let x = SMatrix::<f64, 4, 2>::new(0.3, -1.0, 2.0, 0.1, -0.5, 0.7, 1.5, -2.0);
        let t = [Class::new(1), Class::new(3)].map(|c| c.expect("in range"));
        let ce = CrossEntropy::with_weights(SVector::<f64, 4>::new(1.0, 0.5, 2.0, 3.0));
        let direct = ce.nll.forward(&log_softmax(&x), &t);
        assert!((ce.forward(&x, &t) - direct).abs() < 1e-15);
        check_criterion(&ce, &x, &t);
        check_criterion(&CrossEntropy::default(), &x, &t);
    }
}
