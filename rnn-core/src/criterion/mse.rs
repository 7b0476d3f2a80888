//! `Mse`: mean squared error (Torch's `MSECriterion`).

use super::Criterion;
use crate::Float;
use nalgebra::SMatrix;

/// Squared error `Σ (x - y)²`, divided by the element count `N * B` when size-averaging (the
/// default). Gradient `2 (x - y)`, divided the same way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mse {
    /// Divide by the number of elements (default `true`).
    pub size_average: bool,
}

impl Default for Mse {
    fn default() -> Self {
        Self { size_average: true }
    }
}

impl Mse {
    fn divisor<S: Float>(&self, len: usize) -> S {
        if self.size_average {
            S::cast(len as f64)
        } else {
            S::one()
        }
    }
}

impl<S: Float, const N: usize, const B: usize> Criterion<S, N, B> for Mse {
    type Target = SMatrix<S, N, B>;

    fn forward(&self, output: &SMatrix<S, N, B>, target: &SMatrix<S, N, B>) -> S {
        (output - target).norm_squared() / self.divisor::<S>(N * B)
    }

    fn backward(&self, output: &SMatrix<S, N, B>, target: &SMatrix<S, N, B>) -> SMatrix<S, N, B> {
        (output - target) * (S::cast(2.0) / self.divisor::<S>(N * B))
    }

    fn forward_kept(
        &self,
        output: &SMatrix<S, N, B>,
        target: &SMatrix<S, N, B>,
        keep: &[bool; B],
    ) -> S {
        let kept = keep.iter().filter(|k| **k).count();
        if kept == 0 {
            return S::zero();
        }
        let mut sum = S::zero();
        for b in (0..B).filter(|&b| keep[b]) {
            sum += (output.column(b) - target.column(b)).norm_squared();
        }
        sum / self.divisor::<S>(N * kept)
    }

    fn backward_kept(
        &self,
        output: &SMatrix<S, N, B>,
        target: &SMatrix<S, N, B>,
        keep: &[bool; B],
    ) -> SMatrix<S, N, B> {
        let kept = keep.iter().filter(|k| **k).count();
        let mut g = SMatrix::zeros();
        if kept == 0 {
            return g;
        }
        let scale = S::cast(2.0) / self.divisor::<S>(N * kept);
        for b in (0..B).filter(|&b| keep[b]) {
            g.set_column(b, &((output.column(b) - target.column(b)) * scale));
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::super::check_criterion;
    use super::*;

    #[test]
    fn value_and_gradient() {
        let x = SMatrix::<f64, 2, 2>::new(1.0, 2.0, 3.0, 4.0);
        let y = SMatrix::<f64, 2, 2>::new(0.0, 2.0, 1.0, 5.0);
        assert_eq!(Mse::default().forward(&x, &y), (1.0 + 4.0 + 1.0) / 4.0);
        assert_eq!(
            Mse {
                size_average: false
            }
            .forward(&x, &y),
            6.0
        );
        check_criterion(&Mse::default(), &x, &y);
        check_criterion(
            &Mse {
                size_average: false,
            },
            &x,
            &y,
        );
    }
}
