//! The fused GRU cell (`crate::layers::gru`), AVX2 + FMA.
//!
//! The cell's pointwise step for `f32` with AVX2 + FMA: both gates, the candidate and `h` of
//! eight units at a time in registers, in one pass, up to four blocks through each activation
//! stage together (see `fastmath::avx2::unit_groups`).

use super::simd::{UnitGroup, each, sigmoid8n, tanh8n, unit_groups};
use core::arch::x86_64::*;

/// For each of the `B` columns: `gates` holds the input side `W_ih x + b_ih` (`3H`) and
/// gets the activations `[r; z; n]`; `ah` is the hidden side `W_hh h + b_hh`; `hn` gets its
/// `n` block and `h` the new state `(1 - z) ⊙ n + z ⊙ h_prev`. Panics if a slice is shorter
/// than its shape.
#[target_feature(enable = "avx2,fma")]
pub(super) fn cell<const H: usize, const B: usize>(
    gates: &mut [f32],
    ah: &[f32],
    h_prev: &[f32],
    hn: &mut [f32],
    h: &mut [f32],
) {
    let n = H * B;
    assert!(gates.len() >= 3 * n && ah.len() >= 3 * n && h_prev.len() >= n);
    assert!(hn.len() >= n && h.len() >= n);
    let p = [
        gates.as_mut_ptr(),
        ah.as_ptr().cast_mut(),
        h_prev.as_ptr().cast_mut(),
        hn.as_mut_ptr(),
        h.as_mut_ptr(),
    ];
    // SAFETY: the lengths were checked above; the groups cover the units of every column
    // once, inside `H`. `ah` and `h_prev` are only read.
    unsafe { unit_groups!(group::<H>(p), B) };
}

/// One group of units `u` (see `unit_groups!`); `p` is `[gates, ah, h_prev, hn, h]`.
///
/// # Safety
/// The pointers cover the shapes of [`cell`] and the group is inside them.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn group<const H: usize, const NG: usize, const LAST_PARTIAL: bool>(
    p: [*mut f32; 5],
    u: UnitGroup<H, NG, LAST_PARTIAL>,
) {
    // SAFETY: the caller's contract; a partial block's masked lanes are neither read nor
    // written.
    unsafe {
        // Gate k of the input side (s = 0) or the hidden side (s = 1).
        let side = |s: usize, k: usize, q: usize| u.get(u.gate::<3>(p[s], k, q), q);
        let r = sigmoid8n(each!(NG, |q| _mm256_add_ps(side(0, 0, q), side(1, 0, q))));
        let z = sigmoid8n(each!(NG, |q| _mm256_add_ps(side(0, 1, q), side(1, 1, q))));
        let hn = each!(NG, |q| side(1, 2, q));
        let n = tanh8n(each!(NG, |q| _mm256_fmadd_ps(r[q], hn[q], side(0, 2, q))));
        for q in 0..NG {
            // (1 - z) n + z h_prev = n + z (h_prev - n)
            let h_prev = u.get(u.unit(p[2], q), q);
            let h = _mm256_fmadd_ps(z[q], _mm256_sub_ps(h_prev, n[q]), n[q]);
            for (k, v) in [r[q], z[q], n[q]].into_iter().enumerate() {
                u.put(u.gate::<3>(p[0], k, q), q, v);
            }
            u.put(u.unit(p[3], q), q, hn[q]);
            u.put(u.unit(p[4], q), q, h);
        }
    }
}
