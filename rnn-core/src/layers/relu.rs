//! `ReLU`: element-wise rectifier.
//!
//! Shapes: `x, y: N x B`. Forward `y = max(x, 0)`; backward `gx = gy ⊙ [y > 0]` (the
//! sub-gradient at 0 is 0, as in Torch).

use crate::layer::elementwise_layer;

elementwise_layer!(
    /// Element-wise `max(x, 0)` over `N` features. See the [module docs](self).
    ReLU,
    forward: |v: S| if v > S::zero() { v } else { S::zero() },
    derivative_from_output: |y: S| if y > S::zero() { S::one() } else { S::zero() }
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;

    #[test]
    fn gradients_match_finite_differences() {
        check_layer::<_, 6, 6, 2>(&mut ReLU::<f64, 6>::new(), 3, 9);
    }
}
