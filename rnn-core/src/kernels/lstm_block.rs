//! The fused block of an `LSTM(1, H)` cell of eight units or more and its `Linear(H, 1)` head
//! (`crate::block`): per sample the kernels a step runs for them (`gemv` for the gates, the
//! fused cell, `gemv` for the head), called on buffers of the block's own, so the same bits
//! by construction. What it leaves out is everything around those kernels in a step: the
//! engine's records and ring of states, a call per layer, the copies of `h` into the layers'
//! outputs and inputs, the gates kept for backward. (Cells below eight units have a block
//! kernel of their own that keeps the state in registers: `lstm_step::block`.)

use super::lstm_step::BlockArgs;
use super::{gemv, lstm_cell};

/// The largest hidden size run here: the block's buffers (`4H + 5H` values) live on the
/// stack, so they are bounded (2.3 KB at 64 units).
pub(crate) const MAX_H: usize = 64;

/// Runs `samples` in place through the cell and the head of `args` (see the module docs),
/// with the fast activations if `FAST`, the cell in AVX-512 if `wide`; `G = 4H`. Panics if a
/// slice is shorter than its shape.
///
/// # Safety
/// The CPU has AVX2 and FMA, and AVX-512F if `wide`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn block<const H: usize, const G: usize, const FAST: bool>(
    wide: bool,
    a: &mut BlockArgs<'_>,
    samples: &mut [f32],
) {
    assert!(G == 4 * H && H <= MAX_H);
    assert!(a.h_prev.len() >= H && a.c_prev.len() >= H && a.h.len() >= H && a.c.len() >= H);
    let mut gates = [0.0f32; G];
    let mut tanh_c = [0.0f32; H];
    let (mut h_prev, mut h) = ([0.0f32; H], [0.0f32; H]);
    let (mut c_prev, mut c) = ([0.0f32; H], [0.0f32; H]);
    h_prev.copy_from_slice(&a.h_prev[..H]);
    c_prev.copy_from_slice(&a.c_prev[..H]);
    let head_b = [a.head_b];
    for x in samples.iter_mut() {
        // As `Lstm::forward` at batch 1 (`affine2` -> `gemv::nn`, then the fused cell), and
        // `Linear` (`affine` -> `gemv::nn`).
        gemv::nn::<G, 1, H>(
            [a.w_ih, &[*x]],
            [a.w_hh, &h_prev],
            [Some(a.b_ih), Some(a.b_hh)],
            &mut gates,
            false,
        );
        // SAFETY: the caller's contract.
        unsafe {
            lstm_cell::cell_of_width::<H, 1, FAST>(
                wide,
                &mut gates,
                &c_prev,
                &mut c,
                &mut tanh_c,
                &mut h,
            );
        }
        let mut y = [0.0f32];
        gemv::nn::<1, H, 0>(
            [a.head_w, &h],
            [&[], &[]],
            [Some(&head_b), None],
            &mut y,
            false,
        );
        *x = y[0];
        (h_prev, c_prev) = (h, c);
    }
    a.h[..H].copy_from_slice(&h_prev);
    a.c[..H].copy_from_slice(&c_prev);
}
