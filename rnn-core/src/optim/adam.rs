//! Adam, as `torch.optim.Adam` (no weight decay, no amsgrad).

use super::{OptimError, OptimKind, Optimizer, check_range, check_range_in, check_same_optimizer};
use crate::float::f64m;
use crate::param::contiguous_mut;
use crate::{Float, Parameterized};

/// Adam (Kingma and Ba), computed as `torch.optim.Adam` does:
///
/// ```text
/// t += 1
/// m = beta1 * m + (1 - beta1) * g
/// v = beta2 * v + (1 - beta2) * g²
/// p = p - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
/// ```
///
/// ```
/// use rnn_core::prelude::*;
///
/// network! { pub Net<seq_len = 2> = Sequential[ GRU(3, 4), Linear(4, 1) ]; }
///
/// let mut net = Net::new(0);
/// let adam = Adam::new(1e-3)?; // PyTorch's defaults otherwise; invalid values are errors
/// let x = [SMatrix::<f32, 3, 1>::from_element(1.0); 2];
/// let crit = SequencerCriterion::new(Mse::default());
/// let target = [SMatrix::<f32, 1, 1>::new(0.5); 2];
/// for _ in 0..10 {
///     net.zero_grad_parameters();
///     let y = net.forward(&x);
///     let g = crit.backward(y, &target);
///     net.backward_parameters(&x, &g);
///     clip_grad_norm(&mut net, 1.0)?; // optional: the global norm at most 1
///     adam.step(&mut net)?;
/// }
/// assert_eq!(net.parameters()[0].state.steps, 10);
/// # Ok::<(), OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Adam {
    /// Learning rate.
    pub lr: f64,
    /// Decay of the first moment.
    pub beta1: f64,
    /// Decay of the second moment.
    pub beta2: f64,
    /// Added to the denominator.
    pub eps: f64,
}

impl Default for Adam {
    /// PyTorch's defaults: `lr = 1e-3`, `beta1 = 0.9`, `beta2 = 0.999`, `eps = 1e-8`.
    fn default() -> Self {
        Self {
            lr: 1e-3,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

impl Adam {
    /// Adam with learning rate `lr` and PyTorch's other defaults.
    ///
    /// # Errors
    /// If `lr` is NaN, infinite or negative.
    pub fn new(lr: f64) -> Result<Self, OptimError> {
        Self {
            lr,
            ..Self::default()
        }
        .checked()
    }
}

impl Optimizer for Adam {
    /// `lr >= 0`, `0 <= beta1, beta2 < 1`, all finite (PyTorch's checks), and `eps > 0`
    /// (PyTorch also takes 0, which divides 0 by 0 for every weight whose gradients were all
    /// zero, e.g. the rows of an embedding that no batch used).
    fn validate(&self) -> Result<(), OptimError> {
        check_range("lr", self.lr, 0.0, None, "[0, inf)")?;
        check_range("beta1", self.beta1, 0.0, Some(1.0), "[0, 1)")?;
        check_range("beta2", self.beta2, 0.0, Some(1.0), "[0, 1)")?;
        check_range("eps", self.eps, 0.0, None, "(0, inf)")?;
        if self.eps == 0.0 {
            return Err(OptimError::HyperParameter {
                name: "eps",
                value: self.eps,
                expected: "(0, inf)",
            });
        }
        Ok(())
    }

    /// Also: `lr`, `lr / (1 - beta1)` (the first step's size) finite, `beta1, beta2 < 1` and
    /// `eps` at least the smallest normal number, all as `S` values.
    fn validate_for<S: Float>(&self) -> Result<(), OptimError> {
        self.validate()?;
        check_range_in::<S>("lr", self.lr, (0.0, None, false), "[0, inf)")?;
        check_range_in::<S>(
            "lr / (1 - beta1)",
            self.lr / (1.0 - self.beta1),
            (0.0, None, false),
            "[0, inf)",
        )?;
        check_range_in::<S>("beta1", self.beta1, (0.0, Some(1.0), false), "[0, 1)")?;
        check_range_in::<S>("beta2", self.beta2, (0.0, Some(1.0), false), "[0, 1)")?;
        check_range_in::<S>(
            "eps",
            self.eps,
            (0.0, None, true),
            "[smallest normal number, inf)",
        )
    }

    fn kind(&self) -> OptimKind {
        OptimKind::Adam {
            lr: self.lr,
            beta1: self.beta1,
            beta2: self.beta2,
            eps: self.eps,
        }
    }

    fn step<S: Float, P: Parameterized<S> + ?Sized>(
        &self,
        params: &mut P,
    ) -> Result<(), OptimError> {
        self.validate_for::<S>()?;
        let kind = self.kind();
        check_same_optimizer(params, kind)?;
        let (b1, b2) = (S::cast(self.beta1), S::cast(self.beta2));
        let (one, eps) = (S::one(), S::cast(self.eps));
        params.visit_parameters_mut(&mut |mut p| {
            // Saturating: from 2^64 - 1 steps (a checkpoint may say so) the bias corrections
            // are 1 whatever comes after.
            *p.state.steps = p.state.steps.saturating_add(1);
            *p.state.kind = kind;
            let t = *p.state.steps as f64;
            let step_size = S::cast(self.lr / (1.0 - f64m::powf(self.beta1, t)));
            let bc2_sqrt = S::cast(f64m::sqrt(1.0 - f64m::powf(self.beta2, t)));
            let moments = p.state.m.iter_mut().zip(p.state.v.iter_mut());
            let apply = |(w, g): (&mut S, S), (m, v): (&mut S, &mut S)| {
                *m = b1 * *m + (one - b1) * g;
                *v = b2 * *v + (one - b2) * g * g;
                *w -= step_size * *m / (v.sqrt() / bc2_sqrt + eps);
            };
            match (contiguous_mut(&mut p.value), contiguous_mut(&mut p.grad)) {
                (Some(w), Some(g)) => w
                    .iter_mut()
                    .zip(g.iter().copied())
                    .zip(moments)
                    .for_each(|(a, b)| apply(a, b)),
                _ => p
                    .value
                    .iter_mut()
                    .zip(p.grad.iter().copied())
                    .zip(moments)
                    .for_each(|(a, b)| apply(a, b)),
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::assert_reaches_minimum;
    use super::*;

    #[test]
    fn steps_a_quadratic_to_its_minimum() {
        assert_reaches_minimum(
            &Adam {
                lr: 0.05,
                ..Adam::default()
            },
            2000,
            1e-6,
        );
    }

    #[test]
    fn invalid_hyper_parameters_are_refused_and_change_nothing() {
        use super::super::tests::Quadratic;
        use alloc::string::ToString;
        assert!(Adam::new(1e-3).is_ok());
        for bad in [
            Adam::new(f64::NAN),
            Adam::new(-0.1),
            Adam::new(f64::INFINITY),
            Adam {
                beta1: 1.0,
                ..Adam::default()
            }
            .checked(),
            Adam {
                beta2: -0.5,
                ..Adam::default()
            }
            .checked(),
            Adam {
                eps: f64::NAN,
                ..Adam::default()
            }
            .checked(),
        ] {
            assert!(
                matches!(bad, Err(OptimError::HyperParameter { .. })),
                "{bad:?}"
            );
        }
        let literal = Adam {
            lr: f64::NAN,
            ..Adam::default()
        };
        let mut q = Quadratic::new();
        q.eval_grad();
        let before = *q.p.value;
        assert!(literal.step(&mut q).is_err());
        assert_eq!(*q.p.value, before, "a refused step changes nothing");
        assert_eq!(
            Adam::new(-1.0).expect_err("negative").to_string(),
            "`lr` must be finite and in [0, inf), got -1"
        );
    }
}
