//! The whole batch-1 step of a small LSTM cell (`crate::layers::lstm`, fewer than eight
//! units), AVX2 + FMA or AVX-512F: `a = b_ih + b_hh + W_ih x + W_hh h_{t-1}`, the gates, `c`,
//! `tanh(c)` and `h` in one pass, the pre-activations never leaving the registers.
//!
//! Why: such a cell's step is a chain of latencies (the product, the sigmoids, `tanh(c)`, the
//! next step's product), not of arithmetic. Run as the matrix-vector product (`gemv`) then the
//! fused cell (`lstm_cell`), its `4H <= 28` gate rows were one vector whose eight partial sums
//! (`gemv` splits short sums eight ways to keep both FMA units busy) were added in a chain of
//! seven, stored, and loaded back by the cell as four masked loads, which the core does not
//! forward from the store. Here each gate is one register of `H` lanes: its sum is one chain
//! (at most `I + 7` fused multiply-adds, the `I` of them on the input, ready early), and the
//! activations start from the registers. `LSTM(1, 2) -> Linear(2, 1)` per sample: 0.70-0.75x
//! the time (BENCHMARKS.md, "Neural Amp Modeler"). From eight units up the same pass (gate
//! rows in unit blocks, the `W_hh h` sum split two ways, passes of as many rows as fit in
//! registers) was level with `gemv` and the cell or slower, on both widths of an Intel Xeon:
//! there a step is as much throughput as latency, and the unit blocks cost masked loads and
//! a broadcast of `h` per pass. So those cells keep the two kernels.
//!
//! Each lane runs the same operations in both widths: the same bits with AVX2 and AVX-512
//! (tested below). The activations are those of `lstm_cell` (the same bits as it, given the
//! same pre-activations).

use super::simd::{Avx2, Avx512, Lanes, sigmoid_fast_n, sigmoid_n, tanh_fast_n, tanh_n};

/// The largest hidden size the fused step runs (see the module docs).
pub(crate) const MAX_H: usize = 7;

/// The operands of one step, `f32`, batch 1, column-major as the layers store them.
pub(crate) struct StepArgs<'a> {
    /// `W_ih`, `4H x I`.
    pub(crate) w_ih: &'a [f32],
    /// `W_hh`, `4H x H`.
    pub(crate) w_hh: &'a [f32],
    /// `b_ih`, `4H`.
    pub(crate) b_ih: &'a [f32],
    /// `b_hh`, `4H`.
    pub(crate) b_hh: &'a [f32],
    /// The input, `I`.
    pub(crate) x: &'a [f32],
    /// `h_{t-1}`, `H`.
    pub(crate) h_prev: &'a [f32],
    /// `c_{t-1}`, `H`.
    pub(crate) c_prev: &'a [f32],
    /// Out: the activated gates `[i; f; g; o]`, `4H`.
    pub(crate) gates: &'a mut [f32],
    /// Out: `c_t`, `H`.
    pub(crate) c: &'a mut [f32],
    /// Out: `tanh(c_t)`, `H`.
    pub(crate) tanh_c: &'a mut [f32],
    /// Out: `h_t`, `H`.
    pub(crate) h: &'a mut [f32],
}

/// One step (see the module docs), with the fast activations if `FAST`
/// ([`super::simd::tanh_fast_n`]). Panics if a slice is shorter than its shape or `H` is
/// above [`MAX_H`].
#[target_feature(enable = "avx2,fma")]
pub(super) fn step<const I: usize, const H: usize, const FAST: bool>(args: &mut StepArgs<'_>) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { step_lanes::<Avx2, I, H, FAST>(args) }
}

/// [`step`] in AVX-512F registers.
#[target_feature(enable = "avx512f")]
pub(super) fn step_avx512<const I: usize, const H: usize, const FAST: bool>(
    args: &mut StepArgs<'_>,
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { step_lanes::<Avx512, I, H, FAST>(args) }
}

/// [`step_avx512`] if `wide`, else [`step`].
///
/// # Safety
/// The CPU has AVX2 and FMA, and AVX-512F if `wide`.
#[inline(always)]
pub(super) unsafe fn step_of_width<const I: usize, const H: usize, const FAST: bool>(
    wide: bool,
    args: &mut StepArgs<'_>,
) {
    // SAFETY: the caller's contract.
    unsafe {
        if wide {
            step_avx512::<I, H, FAST>(args);
        } else {
            step::<I, H, FAST>(args);
        }
    }
}

/// [`step`] with lanes `L`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn step_lanes<L: Lanes, const I: usize, const H: usize, const FAST: bool>(
    a: &mut StepArgs<'_>,
) {
    let g = 4 * H;
    assert!(H <= MAX_H && a.w_ih.len() >= g * I && a.w_hh.len() >= g * H);
    assert!(a.b_ih.len() >= g && a.b_hh.len() >= g && a.x.len() >= I && a.gates.len() >= g);
    for v in [&a.h_prev, &a.c_prev, &&*a.c, &&*a.tanh_c, &&*a.h] {
        assert!(v.len() >= H);
    }
    let (w_ih, w_hh) = (a.w_ih.as_ptr(), a.w_hh.as_ptr());
    // SAFETY (every access): the lengths were checked above; each gate's `H < W` rows are
    // read and written with masks (the other lanes neither read nor written).
    let get = |at: *const f32| unsafe { L::load_part(at, H) };
    let put = |at: &mut [f32], v: L::V| unsafe { L::store_part(at.as_mut_ptr(), v, H) };
    unsafe {
        let mut pre = [L::zero(); 4];
        for (q, pre) in pre.iter_mut().enumerate() {
            let r = q * H;
            let mut sum = L::add(get(a.b_ih.as_ptr().add(r)), get(a.b_hh.as_ptr().add(r)));
            for (k, &x) in a.x.iter().enumerate().take(I) {
                sum = L::fmadd(get(w_ih.add(k * g + r)), L::splat(x), sum);
            }
            for (k, &h) in a.h_prev.iter().enumerate().take(H) {
                sum = L::fmadd(get(w_hh.add(k * g + r)), L::splat(h), sum);
            }
            *pre = sum;
        }
        let [gates @ .., c, tanh_c, h] = cell::<L, FAST>(pre, get(a.c_prev.as_ptr()));
        for (q, v) in gates.into_iter().enumerate() {
            put(&mut a.gates[q * H..], v);
        }
        put(a.c, c);
        put(a.tanh_c, tanh_c);
        put(a.h, h);
    }
}

/// The cell from the gates' pre-activations `[i; f; g; o]` (one register each) and
/// `c_{t-1}`: `[i, f, g, o, c_t, tanh(c_t), h_t]`, the gates activated: `lstm_cell`'s
/// operations lane by lane. One definition for [`step`] and the blocks of `lstm_block`, so
/// that they give the same bits.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(super) unsafe fn cell<L: Lanes, const FAST: bool>(
    mut pre: [L::V; 4],
    c_prev: L::V,
) -> [L::V; 7] {
    // SAFETY: the caller's contract.
    unsafe {
        let [i, f, g, o] = if FAST {
            let [i, f, o] = sigmoid_fast_n::<L, 3>([pre[0], pre[1], pre[3]]);
            let [g] = tanh_fast_n::<L, 1>([pre[2]]);
            [i, f, g, o]
        } else {
            let (one, two) = (L::splat(1.0), L::splat(2.0));
            pre[2] = L::mul(two, pre[2]);
            let [i, f, g2, o] = sigmoid_n::<L, 4>(pre);
            [i, f, L::fmsub(two, g2, one), o]
        };
        let [c, tanh_c, h] = update::<L, FAST>([i, f, g, o], c_prev);
        [i, f, g, o, c, tanh_c, h]
    }
}

/// [`cell`] on two groups of units, or two cells, at once (their activations' chains
/// interleaved): `[c_t, h_t]` of each, the same operations lane by lane.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(super) unsafe fn cell2<L: Lanes, const FAST: bool>(
    pre: [[L::V; 4]; 2],
    c_prev: [L::V; 2],
) -> [[L::V; 2]; 2] {
    // SAFETY: the caller's contract.
    unsafe {
        let [[i0, f0, g0, o0], [i1, f1, g1, o1]] = pre;
        let [i0, f0, g0, o0, i1, f1, g1, o1] = if FAST {
            let [i0, f0, o0, i1, f1, o1] = sigmoid_fast_n::<L, 6>([i0, f0, o0, i1, f1, o1]);
            let [g0, g1] = tanh_fast_n::<L, 2>([g0, g1]);
            [i0, f0, g0, o0, i1, f1, g1, o1]
        } else {
            let (one, two) = (L::splat(1.0), L::splat(2.0));
            let s = sigmoid_n::<L, 8>([i0, f0, L::mul(two, g0), o0, i1, f1, L::mul(two, g1), o1]);
            let [i0, f0, g0, o0, i1, f1, g1, o1] = s;
            [
                i0,
                f0,
                L::fmsub(two, g0, one),
                o0,
                i1,
                f1,
                L::fmsub(two, g1, one),
                o1,
            ]
        };
        let c = [
            L::fmadd(f0, c_prev[0], L::mul(i0, g0)),
            L::fmadd(f1, c_prev[1], L::mul(i1, g1)),
        ];
        let t = if FAST {
            tanh_fast_n::<L, 2>(c)
        } else {
            tanh_n::<L, 2>(c)
        };
        [[c[0], L::mul(o0, t[0])], [c[1], L::mul(o1, t[1])]]
    }
}

/// `[c_t, tanh(c_t), h_t]` from the activated gates and `c_{t-1}` (lane by lane).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(super) unsafe fn update<L: Lanes, const FAST: bool>(
    [i, f, g, o]: [L::V; 4],
    c_prev: L::V,
) -> [L::V; 3] {
    // SAFETY: the caller's contract.
    unsafe {
        let c = L::fmadd(f, c_prev, L::mul(i, g));
        let [tanh_c] = if FAST {
            tanh_fast_n::<L, 1>([c])
        } else {
            tanh_n::<L, 1>([c])
        };
        [c, tanh_c, L::mul(o, tanh_c)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use crate::kernels::simd::testing::{bits, both_widths, pre_activations, weights};
    use alloc::vec::Vec;

    /// One step in the given width; the bits of `[gates, c, tanh_c, h]`.
    fn run<const I: usize, const H: usize, const FAST: bool>(
        wide: bool,
        seed: u64,
    ) -> [Vec<u32>; 4] {
        let mut rng = Rng::new(seed);
        let (w_ih, w_hh) = (weights(&mut rng, 4 * H * I), weights(&mut rng, 4 * H * H));
        let (b_ih, b_hh) = (weights(&mut rng, 4 * H), weights(&mut rng, 4 * H));
        let x = pre_activations(&mut rng, I);
        let (h_prev, c_prev) = (weights(&mut rng, H), pre_activations(&mut rng, H));
        let mut gates = alloc::vec![0.0; 4 * H];
        let (mut c, mut tanh_c, mut h) = (
            alloc::vec![0.0; H],
            alloc::vec![0.0; H],
            alloc::vec![0.0; H],
        );
        let mut args = StepArgs {
            w_ih: &w_ih,
            w_hh: &w_hh,
            b_ih: &b_ih,
            b_hh: &b_hh,
            x: &x,
            h_prev: &h_prev,
            c_prev: &c_prev,
            gates: &mut gates,
            c: &mut c,
            tanh_c: &mut tanh_c,
            h: &mut h,
        };
        // SAFETY: the callers checked the CPU's features.
        unsafe { step_of_width::<I, H, FAST>(wide, &mut args) };
        bits([&gates, &c, &tanh_c, &h])
    }

    /// The AVX-512 step writes the AVX2 step's bits, from the smallest size to the largest,
    /// with the exact and with the fast activations (which differ).
    #[test]
    fn avx512_step_writes_the_avx2_bits() {
        fn check<const I: usize, const H: usize>() {
            for seed in 0..3 {
                let exact = run::<I, H, false>(false, seed);
                assert_eq!(run::<I, H, false>(true, seed), exact, "{I} {H}");
                let fast = run::<I, H, true>(false, seed);
                assert_eq!(run::<I, H, true>(true, seed), fast, "{I} {H} fast");
                assert_ne!(fast, exact, "{I} {H}: the fast activations did not run");
            }
        }
        if both_widths() {
            check::<1, 1>();
            check::<1, 2>();
            check::<10, 5>();
            check::<3, 7>();
        }
    }
}
