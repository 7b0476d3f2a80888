//! Adam, as `torch.optim.Adam` (no weight decay, no amsgrad).

use super::Optimizer;
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

impl Optimizer for Adam {
    fn step<S: Float, P: Parameterized<S> + ?Sized>(&self, params: &mut P) {
        let (b1, b2) = (S::cast(self.beta1), S::cast(self.beta2));
        let (one, eps) = (S::one(), S::cast(self.eps));
        params.visit_parameters_mut(&mut |mut p| {
            *p.state.steps += 1;
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
}
