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

/// One update of parameters from their accumulated gradients.
pub trait Optimizer {
    /// Updates every parameter of `params` once. Does not zero the gradients.
    fn step<S: Float, P: Parameterized<S> + ?Sized>(&self, params: &mut P);
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
            opt.step(&mut q);
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
