//! The fused LSTM cell (`crate::layers::lstm`), AVX2 + FMA.
//!
//! The cell's pointwise step for `f32` with AVX2 + FMA: all four gates, the cell, `tanh(c)` and
//! `h` of eight units at a time in registers, in one pass (the generic path makes five passes
//! over memory and pays the fixed cost of two activation calls per step). Up to four blocks of
//! eight units go through each stage together, so that their long, independent activation
//! chains are interleaved rather than run one block after another.

use super::simd::{UnitGroup, each, sigmoid8n, tanh8n, unit_groups};
use core::arch::x86_64::*;

/// For each of the `B` columns: the gate pre-activations `[i; f; g; o]` (`4H`) are replaced
/// by their activations (`g = 2 σ(2 a_g) - 1 = tanh(a_g)`), `c = f ⊙ c_prev + i ⊙ g`,
/// `tanh_c = tanh(c)`, `h = o ⊙ tanh_c`. Panics if a slice is shorter than its shape.
#[target_feature(enable = "avx2,fma")]
pub(super) fn cell<const H: usize, const B: usize>(
    gates: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
) {
    let n = H * B;
    assert!(gates.len() >= 4 * n && c_prev.len() >= n && c.len() >= n);
    assert!(tanh_c.len() >= n && h.len() >= n);
    let p = [
        gates.as_mut_ptr(),
        c_prev.as_ptr().cast_mut(),
        c.as_mut_ptr(),
        tanh_c.as_mut_ptr(),
        h.as_mut_ptr(),
    ];
    // SAFETY: the lengths were checked above; the groups cover the units of every column
    // once, inside `H`. `c_prev` is only read.
    unsafe { unit_groups!(group::<H>(p), B) };
}

/// One group of units `u` (see `unit_groups!`); `p` is `[gates, c_prev, c, tanh_c, h]`.
///
/// # Safety
/// The pointers cover the shapes of [`cell`] and the group is inside them.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn group<const H: usize, const NG: usize, const LAST_PARTIAL: bool>(
    p: [*mut f32; 5],
    u: UnitGroup<H, NG, LAST_PARTIAL>,
) {
    let (one, two) = (_mm256_set1_ps(1.0), _mm256_set1_ps(2.0));
    // SAFETY: the caller's contract; a partial block's masked lanes are neither read nor
    // written.
    unsafe {
        let gate = |k: usize, q: usize| u.get(u.gate::<4>(p[0], k, q), q);
        let i = sigmoid8n(each!(NG, |q| gate(0, q)));
        let f = sigmoid8n(each!(NG, |q| gate(1, q)));
        let g2 = sigmoid8n(each!(NG, |q| _mm256_mul_ps(two, gate(2, q))));
        let g = each!(NG, |q| _mm256_fmsub_ps(two, g2[q], one));
        let o = sigmoid8n(each!(NG, |q| gate(3, q)));
        let c = each!(NG, |q| _mm256_fmadd_ps(
            f[q],
            u.get(u.unit(p[1], q), q),
            _mm256_mul_ps(i[q], g[q])
        ));
        let tanh_c = tanh8n(c);
        for q in 0..NG {
            for (k, v) in [i[q], f[q], g[q], o[q]].into_iter().enumerate() {
                u.put(u.gate::<4>(p[0], k, q), q, v);
            }
            u.put(u.unit(p[2], q), q, c[q]);
            u.put(u.unit(p[3], q), q, tanh_c[q]);
            u.put(u.unit(p[4], q), q, _mm256_mul_ps(o[q], tanh_c[q]));
        }
    }
}
