//! `Dropout(p)`: inverted dropout, active in training mode only.
//!
//! Shapes: `x, y: N x B`; the per-step mask `m: N x B` is kept in the cache.
//!
//! Training: `m_k = 1 / (1 - p)` with probability `1 - p`, else `0`; `y = x ⊙ m`.
//! Evaluation: `y = x` (and `m = 1`). Backward: `gx = gy ⊙ m`.
//!
//! Masks come from the layer's own seeded generator, so a network built from the same seed
//! draws the same masks. A new mask is drawn at every training step.

use crate::layer::{BackwardStep, ForwardStep, Layer, no_parameters};
use crate::onnx::{Graph, Value};
use crate::{Float, Rng};
use nalgebra::SMatrix;

/// Inverted dropout over `N` features. See the [module docs](self).
#[derive(Clone, Debug)]
pub struct Dropout<S, const N: usize> {
    /// Kept in `f64`: in `f32`, `p = 0.99999999` rounds to `1.0` (scale infinity).
    p: f64,
    /// `1 / (1 - p)`, computed in `f64` and rounded once.
    keep: S,
    rng: Rng,
}

impl<S: Float, const N: usize> Dropout<S, N> {
    /// Dropout with drop probability `p`, drawing masks from a generator forked off `rng`.
    ///
    /// # Panics
    /// If `p` is not in `[0, 1)` (the `network!` macro rejects such `p` at compile time; use
    /// [`Dropout::try_new`] for values known only at run time).
    #[must_use]
    pub fn new(p: f64, rng: &mut Rng) -> Self {
        match Self::try_new(p, rng) {
            Some(d) => d,
            None => panic!("Dropout: p must be in [0, 1), got {p}"),
        }
    }

    /// Like [`Dropout::new`], but `None` if `p` is not in `[0, 1)`.
    #[must_use]
    pub fn try_new(p: f64, rng: &mut Rng) -> Option<Self> {
        (0.0..1.0).contains(&p).then(|| Self {
            p,
            keep: S::cast(1.0 / (1.0 - p)),
            rng: rng.fork(),
        })
    }

    /// The drop probability.
    #[must_use]
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The scale of kept units, `1 / (1 - p)` (computed in `f64`, rounded once to `S`).
    #[must_use]
    pub fn keep_scale(&self) -> S {
        self.keep
    }
}

no_parameters!(Dropout<N>);

impl<S: Float, const N: usize, const B: usize> Layer<S, N, N, B> for Dropout<S, N> {
    type State = ();
    type Cache = SMatrix<S, N, B>;

    /// Dropout is the identity outside training: an exported graph (for inference) omits it.
    fn to_onnx(&self, _g: &mut Graph<S>, x: &Value, _initial: &()) -> Value {
        x.clone()
    }

    fn reseed(&mut self, stream: u64) {
        // Mixed with a large odd constant so that nearby streams start far apart.
        let seed = self.rng.next_u64() ^ stream.wrapping_add(1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.rng = Rng::new(seed);
    }

    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, N, N, B>,
        training: bool,
    ) {
        let ForwardStep {
            x,
            prev: _,
            next: _,
            cache: mask,
            y,
        } = s;
        if training && self.p > 0.0 {
            let (keep, p) = (self.keep, self.p);
            for m in mask.iter_mut() {
                *m = if self.rng.uniform01() >= p {
                    keep
                } else {
                    S::zero()
                };
            }
        } else {
            mask.fill(S::one());
        }
        // Element by element in place: `component_mul` would build an `N x B` temporary on
        // the stack.
        for ((y, x), m) in y.iter_mut().zip(x.iter()).zip(mask.iter()) {
            *y = *x * *m;
        }
    }

    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, N, N, B>,
        _g_next: &Self::State,
        _g_prev: &mut Self::State,
        _defer: bool,
    ) {
        let BackwardStep {
            x: _,
            y: _,
            prev: _,
            next: _,
            cache: mask,
            gy,
            gx,
            input_grad: _,
        } = s;
        for ((gx, gy), m) in gx.iter_mut().zip(gy.iter()).zip(mask.iter()) {
            *gx = *gy * *m;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{backward_once, forward_once};
    use crate::gradcheck::{check_layer, random_matrix};

    #[test]
    fn evaluation_is_identity_with_exact_gradient() {
        check_layer::<_, 4, 4, 2>(&mut Dropout::<f64, 4>::new(0.5, &mut Rng::new(1)), 3, 2);
    }

    #[test]
    fn training_masks_scale_and_backward_uses_the_same_mask() {
        let mut rng = Rng::new(3);
        let mut d = Dropout::<f64, 50>::new(0.3, &mut rng);
        let x: SMatrix<f64, 50, 20> = random_matrix(&mut rng);
        let gy: SMatrix<f64, 50, 20> = random_matrix(&mut rng);
        let (mut mask, mut y, mut gx) = (SMatrix::zeros(), SMatrix::zeros(), SMatrix::zeros());
        forward_once(&mut d, &x, (&(), &mut ()), &mut mask, &mut y, true);
        let dropped = mask.iter().filter(|&&m| m == 0.0).count();
        assert!(
            mask.iter()
                .all(|&m| m == 0.0 || (m - 1.0 / 0.7).abs() < 1e-15)
        );
        assert!((250..350).contains(&dropped), "dropped {dropped} of 1000");
        assert_eq!(y, x.component_mul(&mask));
        backward_once(&mut d, (&x, &y), &mut mask, &gy, &mut gx);
        assert_eq!(gx, gy.component_mul(&mask));
        // A new step draws a new mask.
        let mut mask2 = SMatrix::zeros();
        forward_once(&mut d, &x, (&(), &mut ()), &mut mask2, &mut y, true);
        assert_ne!(mask, mask2);
    }

    #[test]
    fn probabilities_near_one_scale_by_one_over_one_minus_p_in_f32() {
        // In f32 arithmetic 0.99999999 is 1.0 (scale inf) and 1 / (1 - 0.9999999) is 2^23.
        for p in [0.9999999, 0.99999999] {
            let d = Dropout::<f32, 3>::new(p, &mut Rng::new(0));
            let want = 1.0 / (1.0 - p);
            let got = f64::from(d.keep_scale());
            assert!(
                (got - want).abs() <= 1e-6 * want,
                "p = {p}: {got} vs {want}"
            );
            assert_eq!(d.p(), p);
        }
    }

    #[test]
    fn invalid_probability_is_rejected() {
        assert!(Dropout::<f32, 3>::try_new(1.0, &mut Rng::new(0)).is_none());
        assert!(Dropout::<f32, 3>::try_new(-0.1, &mut Rng::new(0)).is_none());
        assert!(Dropout::<f32, 3>::try_new(f64::NAN, &mut Rng::new(0)).is_none());
    }
}
