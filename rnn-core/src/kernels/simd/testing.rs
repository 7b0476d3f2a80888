//! What the cells' tests of the two widths share.

use crate::Rng;
use alloc::vec::Vec;

/// Whether this CPU runs both widths (AVX2 + FMA and AVX-512F).
pub(crate) fn both_widths() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("fma")
}

/// `n` weights in a trained network's range.
pub(crate) fn weights(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-0.6, 0.6) as f32).collect()
}

/// `n` pre-activations over ±12: both branches of `tanh` and the clamps of `exp`.
pub(crate) fn pre_activations(rng: &mut Rng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.uniform(-12.0, 12.0) as f32).collect()
}

/// The bits of each slice.
pub(crate) fn bits<const K: usize>(vs: [&[f32]; K]) -> [Vec<u32>; K] {
    vs.map(|v| v.iter().map(|x| x.to_bits()).collect())
}

/// `$check::<H>()` at the cell sizes that cover the unit groups of sixteen lanes: a
/// partial block (13, 20, 37), full groups only (64), two groups and a partial block (130).
macro_rules! at_cell_sizes {
    ($check:ident) => {
        $check::<13>();
        $check::<20>();
        $check::<37>();
        $check::<64>();
        $check::<130>();
    };
}
pub(crate) use at_cell_sizes;
