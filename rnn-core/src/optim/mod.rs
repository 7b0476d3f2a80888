//! Optimisers and gradient clipping. They step anything [`Parameterized`] (a layer, a network)
//! and keep their state in the buffers beside each parameter ([`crate::param::OptimState`]),
//! so a step never allocates.
//!
//! The buffers belong to the parameter, not to the optimiser value: use one optimiser per
//! network (switching from one to another carries the moment buffers over).

mod adam;
mod clip;
mod sgd;

pub use adam::Adam;
pub use clip::clip_grad_norm;

pub use sgd::Sgd;

use crate::{Float, Parameterized};
use core::fmt;

/// An optimiser or clipping hyper-parameter out of its range, or gradients that cannot be
/// clipped.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub enum OptimError {
    /// `name = value` is NaN, infinite or outside `expected`.
    HyperParameter {
        /// The field, e.g. `lr` or `beta2`.
        name: &'static str,
        /// What was given.
        value: f64,
        /// The valid range, e.g. `[0, 1)`.
        expected: &'static str,
    },
    /// Nesterov momentum needs `momentum > 0`.
    NesterovWithoutMomentum,
    /// The global gradient norm is NaN or infinite: the gradients were left as they are
    /// (scaling by a non-finite factor would turn every parameter into NaN).
    NonFiniteGradient {
        /// The norm that was computed.
        norm: f64,
    },
}

impl fmt::Display for OptimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HyperParameter {
                name,
                value,
                expected,
            } => write!(f, "`{name}` must be finite and in {expected}, got {value}"),
            Self::NesterovWithoutMomentum => f.write_str("Nesterov momentum needs `momentum > 0`"),
            Self::NonFiniteGradient { norm } => write!(
                f,
                "the gradient norm is {norm}: a forward or backward produced NaN or infinity \
                 (see `Network::check_finite`); nothing was clipped"
            ),
        }
    }
}

impl core::error::Error for OptimError {}

/// `Ok` if `value` is finite and at least `min` (and below `below`, if given).
pub(crate) fn check_range(
    name: &'static str,
    value: f64,
    min: f64,
    below: Option<f64>,
    expected: &'static str,
) -> Result<(), OptimError> {
    let ok = value.is_finite() && value >= min && below.is_none_or(|b| value < b);
    if ok {
        Ok(())
    } else {
        Err(OptimError::HyperParameter {
            name,
            value,
            expected,
        })
    }
}

/// One update of parameters from their accumulated gradients.
pub trait Optimizer {
    /// Checks the hyper-parameters (NaN, negative, a `beta >= 1`, ...). The constructors
    /// (`Adam::new`, `checked`) call it, so an invalid optimiser is refused when it is built.
    ///
    /// # Errors
    /// [`OptimError::HyperParameter`] or [`OptimError::NesterovWithoutMomentum`].
    fn validate(&self) -> Result<(), OptimError>;

    /// This optimiser if its hyper-parameters are valid, for struct literals:
    /// `Adam { lr: 0.01, ..Adam::default() }.checked()?`.
    ///
    /// # Errors
    /// Those of [`Optimizer::validate`].
    fn checked(self) -> Result<Self, OptimError>
    where
        Self: Sized,
    {
        self.validate().map(|()| self)
    }

    /// Updates every parameter of `params` once. Does not zero the gradients.
    ///
    /// # Errors
    /// Those of [`Optimizer::validate`] (checked again here, in O(1), for optimisers written
    /// as struct literals): then no parameter is changed.
    fn step<S: Float, P: Parameterized<S> + ?Sized>(
        &self,
        params: &mut P,
    ) -> Result<(), OptimError>;
}

#[cfg(test)]
pub(crate) mod tests {
    use super::Optimizer;
    use crate::param::{Param, ParamKind, ParamMut, ParamRef, Parameterized};

    /// `L(p) = Σ_k a_k (p_k - c_k)²`, minimum at `p = c`.
    pub(crate) struct Quadratic {
        pub p: Param<f64, 3, 1>,
        pub a: [f64; 3],
        pub c: [f64; 3],
    }

    impl Quadratic {
        pub fn new() -> Self {
            let mut p = Param::<f64, 3, 1>::zeros();
            p.value.copy_from_slice(&[2.0, -1.0, 0.5]);
            Self {
                p,
                a: [1.0, 0.5, 2.0],
                c: [0.3, 0.7, -1.2],
            }
        }
        pub fn eval_grad(&mut self) {
            for k in 0..3 {
                self.p.grad[k] = 2.0 * self.a[k] * (self.p.value[k] - self.c[k]);
            }
        }
    }

    impl Parameterized<f64> for Quadratic {
        fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, f64>)) {
            f(self.p.as_ref("p", ParamKind::Vector));
        }
        fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, f64>)) {
            f(self.p.as_mut("p", ParamKind::Vector));
        }
    }

    pub(crate) fn assert_reaches_minimum<O: Optimizer>(opt: &O, steps: usize, tol: f64) {
        let mut q = Quadratic::new();
        for _ in 0..steps {
            q.eval_grad();
            opt.step(&mut q).expect("valid optimiser");
        }
        for k in 0..3 {
            assert!(
                (q.p.value[k] - q.c[k]).abs() < tol,
                "p[{k}] = {} want {}",
                q.p.value[k],
                q.c[k]
            );
        }
    }
}
