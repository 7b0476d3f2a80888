//! Stochastic gradient descent with momentum, weight decay and Nesterov momentum, as
//! `torch.optim.SGD` (dampening 0).

use super::{OptimError, OptimKind, Optimizer, check_range, check_range_in, check_same_optimizer};
use crate::param::contiguous_mut;
use crate::{Float, Parameterized};

/// SGD as in `torch.optim.SGD` with `dampening = 0`:
///
/// ```text
/// g = grad + weight_decay * p
/// buf = g                      (first step)      buf = momentum * buf + g   (later steps)
/// g = g + momentum * buf       (nesterov)        g = buf                     (otherwise)
/// p = p - lr * g
/// ```
/// With `momentum = 0` this is `p -= lr * (grad + weight_decay * p)`.
///
/// ```
/// use rnn_core::prelude::*;
///
/// network! { pub Net<seq_len = 2> = Sequential[ RNN(2, 3), Linear(3, 1) ]; }
///
/// let sgd = Sgd { lr: 0.1, momentum: 0.9, ..Sgd::default() }.checked()?;
/// let mut net = Net::new(0);
/// let x = [SMatrix::<f32, 2, 1>::new(1.0, -1.0); 2];
/// let y = net.forward(&x).to_vec();
/// net.backward_parameters(&x, &y); // the gradient of sum(y²) / 2
/// sgd.step(&mut net)?;
/// # Ok::<(), OptimError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd {
    /// Learning rate.
    pub lr: f64,
    /// Momentum factor (0 for none).
    pub momentum: f64,
    /// L2 penalty added to the gradient.
    pub weight_decay: f64,
    /// Nesterov momentum (needs `momentum > 0`).
    pub nesterov: bool,
}

impl Default for Sgd {
    /// `lr = 0.01`, no momentum, no weight decay.
    fn default() -> Self {
        Self {
            lr: 0.01,
            momentum: 0.0,
            weight_decay: 0.0,
            nesterov: false,
        }
    }
}

impl Sgd {
    /// Plain SGD with learning rate `lr`.
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

impl Optimizer for Sgd {
    /// `lr`, `momentum`, `weight_decay` finite and `>= 0`, and `momentum > 0` for Nesterov
    /// (PyTorch's checks).
    fn validate(&self) -> Result<(), OptimError> {
        check_range("lr", self.lr, 0.0, None, "[0, inf)")?;
        check_range("momentum", self.momentum, 0.0, None, "[0, inf)")?;
        check_range("weight_decay", self.weight_decay, 0.0, None, "[0, inf)")?;
        if self.nesterov && self.momentum == 0.0 {
            return Err(OptimError::NesterovWithoutMomentum);
        }
        Ok(())
    }

    /// Also: `lr`, `momentum` and `weight_decay` finite as `S` values.
    fn validate_for<S: Float>(&self) -> Result<(), OptimError> {
        self.validate()?;
        check_range_in::<S>("lr", self.lr, (0.0, None, false), "[0, inf)")?;
        check_range_in::<S>("momentum", self.momentum, (0.0, None, false), "[0, inf)")?;
        check_range_in::<S>(
            "weight_decay",
            self.weight_decay,
            (0.0, None, false),
            "[0, inf)",
        )
    }

    fn kind(&self) -> OptimKind {
        OptimKind::Sgd {
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
            nesterov: self.nesterov,
        }
    }

    fn step<S: Float, P: Parameterized<S> + ?Sized>(
        &self,
        params: &mut P,
    ) -> Result<(), OptimError> {
        self.validate_for::<S>()?;
        let kind = self.kind();
        check_same_optimizer(params, kind)?;
        let (lr, mom, wd) = (
            S::cast(self.lr),
            S::cast(self.momentum),
            S::cast(self.weight_decay),
        );
        let use_momentum = self.momentum != 0.0;
        params.visit_parameters_mut(&mut |mut p| {
            let first = *p.state.steps == 0;
            *p.state.steps = p.state.steps.saturating_add(1);
            *p.state.kind = kind;
            let buf = &mut *p.state.m;
            let apply = |w: &mut S, g0: S, b: &mut S| {
                let mut g = g0 + wd * *w;
                if use_momentum {
                    *b = if first { g } else { mom * *b + g };
                    g = if self.nesterov { g + mom * *b } else { *b };
                }
                *w -= lr * g;
            };
            match (contiguous_mut(&mut p.value), contiguous_mut(&mut p.grad)) {
                (Some(w), Some(g)) => {
                    for ((w, &g), b) in w.iter_mut().zip(g.iter()).zip(buf.iter_mut()) {
                        apply(w, g, b);
                    }
                }
                _ => {
                    for ((w, &g), b) in p.value.iter_mut().zip(p.grad.iter()).zip(buf.iter_mut()) {
                        apply(w, g, b);
                    }
                }
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{Quadratic, assert_reaches_minimum};
    use super::*;

    #[test]
    fn steps_a_quadratic_to_its_minimum() {
        for opt in [
            Sgd {
                lr: 0.1,
                ..Sgd::default()
            },
            Sgd {
                lr: 0.05,
                momentum: 0.9,
                ..Sgd::default()
            },
            Sgd {
                lr: 0.05,
                momentum: 0.9,
                nesterov: true,
                ..Sgd::default()
            },
        ] {
            assert_reaches_minimum(&opt, 1000, 1e-8);
        }
    }

    #[test]
    fn weight_decay_shrinks_towards_zero() {
        let mut q = Quadratic::new();
        let opt = Sgd {
            lr: 0.1,
            weight_decay: 1.0,
            ..Sgd::default()
        };
        for _ in 0..500 {
            q.eval_grad();
            opt.step(&mut q).expect("valid");
        }
        // Minimum of Σ a_k (p_k - c_k)² + ½ Σ p_k²: p_k = 2 a_k c_k / (2 a_k + 1).
        for k in 0..3 {
            let want = 2.0 * q.a[k] * q.c[k] / (2.0 * q.a[k] + 1.0);
            assert!(
                (q.p.value[k] - want).abs() < 1e-9,
                "{} vs {want}",
                q.p.value[k]
            );
        }
    }

    #[test]
    fn invalid_hyper_parameters_are_refused() {
        assert!(Sgd::new(0.1).is_ok());
        assert!(Sgd::new(f64::NAN).is_err());
        assert!(Sgd::new(-0.1).is_err());
        let bad = Sgd {
            momentum: -0.9,
            ..Sgd::default()
        };
        assert!(matches!(
            bad.checked(),
            Err(OptimError::HyperParameter {
                name: "momentum",
                ..
            })
        ));
        let nesterov = Sgd {
            nesterov: true,
            ..Sgd::default()
        };
        assert_eq!(nesterov.checked(), Err(OptimError::NesterovWithoutMomentum));
    }
}
