//! `Sigmoid`: element-wise logistic function.
//!
//! Shapes: `x, y: N x B`. Forward `y = 1 / (1 + exp(-x))`; backward `gx = gy ⊙ y ⊙ (1 - y)`.

use crate::layer::elementwise_layer;

elementwise_layer!(
    /// Element-wise logistic sigmoid over `N` features. See the [module docs](self).
    Sigmoid,
    forward: |v: S| v.sigmoid(),
    derivative_from_output: |y: S| y * (S::one() - y),
    onnx: "Sigmoid"
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 4, 4, 2>(&mut Sigmoid::<f64, 4>::new(), 3, 8);
    }
}
