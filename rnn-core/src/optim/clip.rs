//! Gradient clipping by global norm (`torch.nn.utils.clip_grad_norm_`).

use super::{OptimError, check_range};
use crate::param::{contiguous, contiguous_mut};
use crate::{Float, Parameterized};

/// Scales every gradient by `max_norm / (norm + 1e-6)` when the global L2 norm `norm` of all
/// gradients together exceeds `max_norm`, as `torch.nn.utils.clip_grad_norm_`. Returns the norm
/// before clipping (accumulated in `f64`).
///
/// # Errors
/// - [`OptimError::HyperParameter`] if `max_norm` is NaN or negative (a negative bound would
///   flip every gradient's sign); `f64::INFINITY` means no clipping.
/// - [`OptimError::NonFiniteGradient`] if the norm is NaN or infinite (as PyTorch's
///   `error_if_nonfinite = True`): the gradients are left as they are, so that a training loop
///   can stop or skip the step instead of turning every parameter into NaN.
pub fn clip_grad_norm<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    max_norm: f64,
) -> Result<f64, OptimError> {
    if max_norm != f64::INFINITY {
        check_range("max_norm", max_norm, 0.0, None, "[0, inf]")?;
    }
    let mut sum = 0.0f64;
    params.visit_parameters(&mut |p| {
        let sq = |g: &S| g.to_f64() * g.to_f64();
        // No gradient buffer: a zero gradient.
        if let Some(grad) = &p.grad {
            sum += match contiguous(grad) {
                Some(g) => g.iter().map(sq).sum::<f64>(),
                None => grad.iter().map(sq).sum::<f64>(),
            };
        }
    });
    let norm = crate::float::f64m::sqrt(sum);
    if !norm.is_finite() {
        return Err(OptimError::NonFiniteGradient { norm });
    }
    let coef = max_norm / (norm + 1e-6);
    if coef < 1.0 {
        let c = S::cast(coef);
        params.visit_parameters_mut(&mut |mut p| match contiguous_mut(&mut p.grad) {
            Some(g) => g.iter_mut().for_each(|g| *g *= c),
            None => p.grad.iter_mut().for_each(|g| *g *= c),
        });
    }
    Ok(norm)
}

#[cfg(test)]
mod tests {
    use super::super::tests::Quadratic;
    use super::*;

    #[test]
    fn clips_to_the_global_norm_and_leaves_small_gradients() {
        let mut q = Quadratic::new();
        q.p.grad_mut().copy_from_slice(&[3.0, 4.0, 0.0]);
        assert_eq!(clip_grad_norm(&mut q, 10.0), Ok(5.0));
        assert_eq!(q.p.grad_mut().as_slice(), &[3.0, 4.0, 0.0]);
        assert_eq!(clip_grad_norm(&mut q, f64::INFINITY), Ok(5.0));
        assert_eq!(q.p.grad_mut().as_slice(), &[3.0, 4.0, 0.0]);
        assert_eq!(clip_grad_norm(&mut q, 1.0), Ok(5.0));
        let n = q.p.grad_mut().norm();
        assert!((n - 5.0 / (5.0 + 1e-6)).abs() < 1e-12, "{n}");
        assert!((q.p.grad_mut()[0] / q.p.grad_mut()[1] - 0.75).abs() < 1e-12);
    }

    #[test]
    fn bad_bounds_and_non_finite_gradients_are_errors_that_change_nothing() {
        let mut q = Quadratic::new();
        q.p.grad_mut().copy_from_slice(&[3.0, 4.0, 0.0]);
        for bad in [-1.0, f64::NAN, f64::NEG_INFINITY] {
            assert!(
                matches!(
                    clip_grad_norm(&mut q, bad),
                    Err(OptimError::HyperParameter { .. })
                ),
                "{bad}"
            );
        }
        assert_eq!(q.p.grad_mut().as_slice(), &[3.0, 4.0, 0.0]);
        q.p.grad_mut()[1] = f64::NAN;
        assert!(matches!(
            clip_grad_norm(&mut q, 1.0),
            Err(OptimError::NonFiniteGradient { norm }) if norm.is_nan()
        ));
        assert_eq!(q.p.grad_mut()[0], 3.0, "left as it was");
        q.p.grad_mut()[1] = f64::INFINITY;
        assert!(clip_grad_norm(&mut q, 1.0).is_err());
    }
}
