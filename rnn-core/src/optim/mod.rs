//! Optimisers and gradient clipping. They step anything [`Parameterized`] (a layer, a network)
//! and keep their state in the buffers beside each parameter ([`crate::param::OptimState`]),
//! so a step never allocates.
//!
//! The buffers belong to the parameter, not to the optimiser value, and each step records
//! which optimiser made it ([`OptimKind`], kept in checkpoints): stepping a network with
//! another optimiser than the one that stepped it last is an error
//! ([`OptimError::OtherOptimizer`]) until [`reset_state`] clears the buffers.
//!
//! Hyper-parameters are checked twice: as given (`f64`, by [`Optimizer::validate`] and
//! `checked`) and at each step as the network's scalar type will apply them
//! ([`Optimizer::validate_for`]): a `beta2` of `0.99999999` is below 1 in `f64` but rounds to
//! 1 in `f32`, which would stop the second moment from learning, so an `f32` network refuses
//! it.

mod adam;
mod clip;
mod sgd;

pub use adam::Adam;
pub use clip::clip_grad_norm;

pub use sgd::Sgd;

pub use crate::param::OptimKind;
use crate::{Float, Parameterized};
use core::fmt;

/// Clears the optimiser state of every parameter of `params`: moment buffers, step counts
/// and the recorded optimiser, as if no optimiser had stepped it (to switch optimisers on
/// purpose, or to restart Adam's bias correction).
pub fn reset_state<S: Float, P: Parameterized<S> + ?Sized>(params: &mut P) {
    params.visit_parameters_mut(&mut |p| {
        p.state.m.fill(S::zero());
        p.state.v.fill(S::zero());
        *p.state.steps = 0;
        *p.state.kind = OptimKind::None;
    });
}

/// `Err` if a parameter of `params` was last stepped by another optimiser than `kind`.
fn check_same_optimizer<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    kind: OptimKind,
) -> Result<(), OptimError> {
    let mut found = None;
    params.visit_parameters(&mut |p| {
        let k = p.state.kind;
        if found.is_none() && k != OptimKind::None && !k.same_optimizer(&kind) {
            found = Some(k);
        }
    });
    match found {
        Some(recorded) => Err(OptimError::OtherOptimizer {
            recorded,
            used: kind,
        }),
        None => Ok(()),
    }
}

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
    /// `name = value` is valid in `f64` but not once rounded to the network's scalar type
    /// (`f32`), where the step would apply it: e.g. `beta2 = 0.99999999` is 1 in `f32`.
    RoundsOutOfRange {
        /// The field.
        name: &'static str,
        /// What was given.
        value: f64,
        /// What it becomes in the scalar type.
        rounded: f64,
        /// The scalar type, `"f32"` or `"f64"`.
        scalar: &'static str,
        /// The valid range there.
        expected: &'static str,
    },
    /// The parameters were last stepped by another optimiser (whose moment buffers mean
    /// something else): nothing was changed. [`reset_state`] starts over on purpose.
    OtherOptimizer {
        /// The optimiser of the last step (from the network or its checkpoint).
        recorded: OptimKind,
        /// The optimiser of this step.
        used: OptimKind,
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
            Self::RoundsOutOfRange {
                name,
                value,
                rounded,
                scalar,
                expected,
            } => write!(
                f,
                "`{name}` = {value} becomes {rounded} in {scalar}, the network's scalar type, \
                 where it must be in {expected}"
            ),
            Self::OtherOptimizer { recorded, used } => write!(
                f,
                "these parameters were last stepped by {recorded}, not {used}: its moment \
                 buffers would be misread (call `rnn_core::optim::reset_state` to start over \
                 with another optimiser)"
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

/// `value` as the scalar type `S` will apply it, checked against `[min, below)`; `min_normal`
/// also refuses values that round below `S`'s smallest normal number (an `eps` that vanishes).
pub(crate) fn check_range_in<S: Float>(
    name: &'static str,
    value: f64,
    (min, below, min_normal): (f64, Option<f64>, bool),
    expected: &'static str,
) -> Result<(), OptimError> {
    let rounded = S::cast(value).to_f64();
    let smallest = if S::IS_F32 {
        f64::from(f32::MIN_POSITIVE)
    } else {
        f64::MIN_POSITIVE
    };
    let ok = rounded.is_finite()
        && rounded >= min
        && below.is_none_or(|b| rounded < b)
        && (!min_normal || rounded >= smallest);
    if ok {
        Ok(())
    } else {
        Err(OptimError::RoundsOutOfRange {
            name,
            value,
            rounded,
            scalar: if S::IS_F32 { "f32" } else { "f64" },
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

    /// [`Optimizer::validate`], then the hyper-parameters as the scalar type `S` applies them
    /// (each step calls this).
    ///
    /// The default is [`Optimizer::validate`] alone (for optimisers written outside this
    /// crate).
    ///
    /// # Errors
    /// Those of [`Optimizer::validate`], and [`OptimError::RoundsOutOfRange`].
    fn validate_for<S: Float>(&self) -> Result<(), OptimError> {
        self.validate()
    }

    /// What a step records in each parameter (see [`OptimKind`]); the default,
    /// [`OptimKind::None`], records nothing.
    fn kind(&self) -> OptimKind {
        OptimKind::None
    }

    /// Updates every parameter of `params` once. Does not zero the gradients.
    ///
    /// # Errors
    /// Those of [`Optimizer::validate_for`] (checked here, in O(1), for optimisers written
    /// as struct literals and for the network's scalar type), and
    /// [`OptimError::OtherOptimizer`] if another optimiser stepped `params` last: then no
    /// parameter is changed.
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
            let (value, grad) = self.p.value_and_grad_mut();
            for k in 0..3 {
                grad[k] = 2.0 * self.a[k] * (value[k] - self.c[k]);
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
