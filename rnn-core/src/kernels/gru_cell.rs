//! The fused GRU cell (`crate::layers::gru`), AVX2 + FMA or AVX-512F.
//!
//! The cell's pointwise step for `f32`: both gates, the candidate and `h` of one register of
//! units at a time (eight with AVX2, sixteen with AVX-512, one generic body over [`Lanes`]: the
//! same bits on both), in one pass, up to four blocks through each activation stage together
//! (see `simd::unit_groups`).

use super::simd::{Avx2, Avx512, Lanes, UnitGroup, each, sigmoid_n, tanh_n, unit_groups};

/// For each of the `B` columns: `gates` holds the input side `W_ih x + b_ih` (`3H`) and
/// gets the activations `[r; z; n]`; `ah` is the hidden side `W_hh h + b_hh`; `hn` gets its
/// `n` block and `h` the new state `(1 - z) ⊙ n + z ⊙ h_prev`, eight units at a time. Panics
/// if a slice is shorter than its shape.
#[target_feature(enable = "avx2,fma")]
pub(super) fn cell<const H: usize, const B: usize>(
    gates: &mut [f32],
    ah: &[f32],
    h_prev: &[f32],
    hn: &mut [f32],
    h: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { cell_lanes::<Avx2, H, B>([gates, hn, h], [ah, h_prev]) }
}

/// [`cell`] sixteen units at a time (on a Zen 5, GRU(64, 128) at batch 32: whole sequences
/// 0.90-0.91x the time per step of the AVX2 cell).
#[target_feature(enable = "avx512f")]
pub(super) fn cell_avx512<const H: usize, const B: usize>(
    gates: &mut [f32],
    ah: &[f32],
    h_prev: &[f32],
    hn: &mut [f32],
    h: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { cell_lanes::<Avx512, H, B>([gates, hn, h], [ah, h_prev]) }
}

/// [`cell_avx512`] if `wide`, else [`cell`]: one call for the width `kernel_choice` picked
/// (what the layers run, and what its measurement times).
///
/// # Safety
/// The CPU has AVX2 and FMA, and AVX-512F if `wide`.
#[inline(always)]
pub(super) unsafe fn cell_of_width<const H: usize, const B: usize>(
    wide: bool,
    gates: &mut [f32],
    ah: &[f32],
    h_prev: &[f32],
    hn: &mut [f32],
    h: &mut [f32],
) {
    // SAFETY: the caller's contract.
    unsafe {
        if wide {
            cell_avx512::<H, B>(gates, ah, h_prev, hn, h);
        } else {
            cell::<H, B>(gates, ah, h_prev, hn, h);
        }
    }
}

/// [`cell`] with lanes `L`; `out` is `[gates, hn, h]`, `inputs` `[ah, h_prev]`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn cell_lanes<L: Lanes, const H: usize, const B: usize>(
    [gates, hn, h]: [&mut [f32]; 3],
    [ah, h_prev]: [&[f32]; 2],
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
    // SAFETY: the caller's contract; the lengths were checked above; the groups cover the
    // units of every column once, inside `H`. `ah` and `h_prev` are only read.
    unsafe { unit_groups!(group::<L, H>(p), B) };
}

/// One group of units `u` (see `unit_groups!`); `p` is `[gates, ah, h_prev, hn, h]`.
///
/// # Safety
/// The CPU has `L`'s features; the pointers cover the shapes of [`cell`] and the group is
/// inside them.
#[inline(always)]
unsafe fn group<L: Lanes, const H: usize, const NG: usize, const LAST_PARTIAL: bool>(
    p: [*mut f32; 5],
    u: UnitGroup<L, H, NG, LAST_PARTIAL>,
) {
    // SAFETY: the caller's contract; a partial block's masked lanes are neither read nor
    // written.
    unsafe {
        // Gate k of the input side (s = 0) or the hidden side (s = 1), block q.
        macro_rules! side {
            ($s:expr, $k:expr, $q:expr) => {
                u.get(u.gate::<3>(p[$s], $k, $q), $q)
            };
        }
        let r = sigmoid_n::<L, NG>(each!(L, NG, |q| L::add(side!(0, 0, q), side!(1, 0, q))));
        let z = sigmoid_n::<L, NG>(each!(L, NG, |q| L::add(side!(0, 1, q), side!(1, 1, q))));
        let hn = each!(L, NG, |q| side!(1, 2, q));
        let n = tanh_n::<L, NG>(each!(L, NG, |q| L::fmadd(r[q], hn[q], side!(0, 2, q))));
        for q in 0..NG {
            // (1 - z) n + z h_prev = n + z (h_prev - n)
            let h_prev = u.get(u.unit(p[2], q), q);
            let h = L::fmadd(z[q], L::sub(h_prev, n[q]), n[q]);
            for (k, v) in [r[q], z[q], n[q]].into_iter().enumerate() {
                u.put(u.gate::<3>(p[0], k, q), q, v);
            }
            u.put(u.unit(p[3], q), q, hn[q]);
            u.put(u.unit(p[4], q), q, h);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::Rng;
    use crate::kernels::simd::testing::{at_cell_sizes, bits, both_widths, pre_activations};

    /// The AVX-512 GRU cell writes the AVX2 cell's bits (sizes: `at_cell_sizes`).
    #[test]
    fn avx512_cell_writes_the_avx2_bits() {
        fn check<const H: usize>() {
            const B: usize = 3;
            let mut rng = Rng::new(H as u64);
            let gates = pre_activations(&mut rng, 3 * H * B);
            let (ah, h_prev) = (
                pre_activations(&mut rng, 3 * H * B),
                pre_activations(&mut rng, H * B),
            );
            let run = |avx512: bool| {
                let (mut g, mut hn, mut h) = (
                    gates.clone(),
                    alloc::vec![0.0; H * B],
                    alloc::vec![0.0; H * B],
                );
                // SAFETY: the caller checked the CPU's features.
                unsafe {
                    super::cell_of_width::<H, B>(avx512, &mut g, &ah, &h_prev, &mut hn, &mut h);
                }
                bits([&g, &hn, &h])
            };
            assert_eq!(run(true), run(false), "H = {H}");
        }
        if both_widths() {
            at_cell_sizes!(check);
        }
    }
}
