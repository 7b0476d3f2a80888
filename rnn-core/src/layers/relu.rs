//! `ReLU`: element-wise rectifier.
//!
//! Shapes: `x, y: N x B`. Forward `y = max(x, 0)`, NaN kept as NaN (as PyTorch: a diverged
//! network must not print finite, plausible outputs); backward `gx = gy ⊙ [y > 0]` (the
//! sub-gradient at 0 is 0, as in Torch).

use crate::layer::elementwise_layer;

elementwise_layer!(
    /// Element-wise `max(x, 0)` over `N` features. See the [module docs](self).
    ReLU,
    forward: |v: S| if v < S::zero() { S::zero() } else { v },
    derivative_from_output: |y: S| if y > S::zero() { S::one() } else { S::zero() },
    onnx: "Relu"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use crate::gradcheck::forward_once;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 6, 6, 2>(&mut ReLU::<f64, 6>::new(), 3, 9);
    }

    #[test]
    fn nan_stays_nan() {
        use nalgebra::SMatrix;
        let x = SMatrix::<f32, 4, 1>::new(f32::NAN, -1.0, 0.0, 2.0);
        let mut y = SMatrix::zeros();
        forward_once(
            &mut ReLU::<f32, 4>::new(),
            &x,
            (&(), &mut ()),
            &mut (),
            &mut y,
            true,
        );
        assert!(y[0].is_nan(), "{y}");
        assert_eq!((y[1], y[2], y[3]), (0.0, 0.0, 2.0));
    }
}
