//! `Tanh`: element-wise hyperbolic tangent.
//!
//! Shapes: `x, y: N x B`. Forward `y = tanh(x)`; backward `gx = gy ⊙ (1 - y²)`.

use crate::layer::elementwise_layer;

elementwise_layer!(
    /// Element-wise `tanh` over `N` features. See the [module docs](self).
    Tanh,
    forward: |v: S| v.fast_tanh(),
    derivative_from_output: |y: S| S::one() - y * y,
    onnx: "Tanh"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 4, 4, 2>(&mut Tanh::<f64, 4>::new(), 3, 7);
    }
}
