//! The fused LSTM cell (`crate::layers::lstm`), AVX2 + FMA or AVX-512F.
//!
//! The cell's pointwise step for `f32`: all four gates, the cell, `tanh(c)` and `h` of one
//! register of units at a time (eight with AVX2, sixteen with AVX-512: one generic body over
//! [`Lanes`], the same operations in every lane, so the same bits on both), in one pass (the
//! generic path makes five passes over memory and pays the fixed cost of two activation calls
//! per step). Up to four blocks of units go through each stage together, so that their long,
//! independent activation chains are interleaved rather than run one block after another.

use super::simd::{
    Avx2, Avx512, Lanes, UnitGroup, each, sigmoid_of, tanh_gate_of, tanh_of, unit_groups,
};

/// For each of the `B` columns: the gate pre-activations `[i; f; g; o]` (`4H`) are replaced
/// by their activations (`g = 2 σ(2 a_g) - 1 = tanh(a_g)`), `c = f ⊙ c_prev + i ⊙ g`,
/// `tanh_c = tanh(c)`, `h = o ⊙ tanh_c`, eight units at a time; with the fast activations
/// if `FAST` ([`super::simd::tanh_fast_n`]). Panics if a slice is shorter than its shape.
#[target_feature(enable = "avx2,fma")]
pub(super) fn cell<const H: usize, const B: usize, const FAST: bool>(
    gates: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { cell_lanes::<Avx2, H, B, FAST>([gates, c, tanh_c, h], c_prev) }
}

/// [`cell`] sixteen units at a time (on a Zen 5, LSTM(32, 256) at batch 32: whole sequences
/// 0.90-0.92x the time per step of the AVX2 cell, where the cell had taken 16 % of it).
#[target_feature(enable = "avx512f")]
pub(super) fn cell_avx512<const H: usize, const B: usize, const FAST: bool>(
    gates: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { cell_lanes::<Avx512, H, B, FAST>([gates, c, tanh_c, h], c_prev) }
}

/// [`cell_avx512`] if `wide`, else [`cell`]: one call for the width `kernel_choice` picked
/// (what the layers run, and what its measurement times).
///
/// # Safety
/// The CPU has AVX2 and FMA, and AVX-512F if `wide`.
#[inline(always)]
pub(super) unsafe fn cell_of_width<const H: usize, const B: usize, const FAST: bool>(
    wide: bool,
    gates: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
) {
    // SAFETY: the caller's contract.
    unsafe {
        if wide {
            cell_avx512::<H, B, FAST>(gates, c_prev, c, tanh_c, h);
        } else {
            cell::<H, B, FAST>(gates, c_prev, c, tanh_c, h);
        }
    }
}

/// [`cell`] with lanes `L`; `out` is `[gates, c, tanh_c, h]`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn cell_lanes<L: Lanes, const H: usize, const B: usize, const FAST: bool>(
    [gates, c, tanh_c, h]: [&mut [f32]; 4],
    c_prev: &[f32],
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
    // SAFETY: the caller's contract; the lengths were checked above; the groups cover the
    // units of every column once, inside `H`. `c_prev` is only read.
    unsafe { unit_groups!(group::<L, H, FAST>(p), B) };
}

/// One group of units `u` (see `unit_groups!`); `p` is `[gates, c_prev, c, tanh_c, h]`.
///
/// # Safety
/// The CPU has `L`'s features; the pointers cover the shapes of [`cell`] and the group is
/// inside them.
#[inline(always)]
unsafe fn group<
    L: Lanes,
    const H: usize,
    const FAST: bool,
    const NG: usize,
    const LAST_PARTIAL: bool,
>(
    p: [*mut f32; 5],
    u: UnitGroup<L, H, NG, LAST_PARTIAL>,
) {
    // SAFETY: the caller's contract; a partial block's masked lanes are neither read nor
    // written.
    unsafe {
        let i = sigmoid_of::<L, NG, FAST>(gate(u, p[0], 0));
        let f = sigmoid_of::<L, NG, FAST>(gate(u, p[0], 1));
        let g = tanh_gate_of::<L, NG, FAST>(gate(u, p[0], 2));
        let o = sigmoid_of::<L, NG, FAST>(gate(u, p[0], 3));
        let c = each!(L, NG, |q| L::fmadd(
            f[q],
            u.get(u.unit(p[1], q), q),
            L::mul(i[q], g[q])
        ));
        let tanh_c = tanh_of::<L, NG, FAST>(c);
        for q in 0..NG {
            for (k, v) in [i[q], f[q], g[q], o[q]].into_iter().enumerate() {
                u.put(u.gate::<4>(p[0], k, q), q, v);
            }
            u.put(u.unit(p[2], q), q, c[q]);
            u.put(u.unit(p[3], q), q, tanh_c[q]);
            u.put(u.unit(p[4], q), q, L::mul(o[q], tanh_c[q]));
        }
    }
}

/// Gate `k` of the group's blocks from the gates at `gates`. (A function, not a closure: a
/// closure does not get the target features of the kernel it is inlined into.)
///
/// # Safety
/// As [`group`].
#[inline(always)]
unsafe fn gate<L: Lanes, const H: usize, const NG: usize, const LAST_PARTIAL: bool>(
    u: UnitGroup<L, H, NG, LAST_PARTIAL>,
    gates: *mut f32,
    k: usize,
) -> [L::V; NG] {
    // SAFETY: the caller's contract.
    unsafe { each!(L, NG, |q| u.get(u.gate::<4>(gates, k, q), q)) }
}

#[cfg(test)]
mod tests {
    use crate::Rng;
    use crate::kernels::simd::testing::{at_cell_sizes, bits, both_widths, pre_activations};

    /// The AVX-512 LSTM cell writes the AVX2 cell's bits (sizes: `at_cell_sizes`), with the
    /// exact and with the fast activations, which differ.
    #[test]
    fn avx512_cell_writes_the_avx2_bits() {
        fn check<const H: usize>() {
            let exact = bits_of::<H, false>();
            assert_eq!(exact[0], exact[1], "H = {H}");
            let fast = bits_of::<H, true>();
            assert_eq!(fast[0], fast[1], "H = {H}, fast");
            assert_ne!(
                fast[0], exact[0],
                "H = {H}: the fast activations did not run"
            );
        }
        /// The bits of `[gates, c, tanh_c, h]` with AVX-512 and with AVX2.
        fn bits_of<const H: usize, const FAST: bool>() -> [[alloc::vec::Vec<u32>; 4]; 2] {
            const B: usize = 3;
            let mut rng = Rng::new(H as u64);
            let gates = pre_activations(&mut rng, 4 * H * B);
            let c_prev = pre_activations(&mut rng, H * B);
            let run = |avx512: bool| {
                let mut g = gates.clone();
                let (mut c, mut t, mut h) = (
                    alloc::vec![0.0; H * B],
                    alloc::vec![0.0; H * B],
                    alloc::vec![0.0; H * B],
                );
                // SAFETY: the caller checked the CPU's features.
                unsafe {
                    super::cell_of_width::<H, B, FAST>(
                        avx512, &mut g, &c_prev, &mut c, &mut t, &mut h,
                    );
                }
                bits([&g, &c, &t, &h])
            };
            [run(true), run(false)]
        }
        if both_widths() {
            at_cell_sizes!(check);
        }
    }
}
