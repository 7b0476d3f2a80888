//! `Identity`: passes its input through.
//!
//! Shapes: `x, y: N x B`. Forward `y = x`; backward `gx = gy`.

use crate::layer::elementwise_layer;

elementwise_layer!(
    /// `y = x` over `N` features. See the [module docs](self).
    Identity,
    forward: |v: S| v,
    derivative_from_output: |_y: S| S::one(),
    onnx: ""
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 3, 3, 2>(&mut Identity::<f64, 3>::new(), 3, 10);
    }
}
