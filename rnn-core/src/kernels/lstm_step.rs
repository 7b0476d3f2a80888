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

use super::simd::{
    Avx2, Avx512, Lanes, Rational, rational_lanes, sigmoid_fast_n, sigmoid_n, tanh_fast_n, tanh_n,
};

/// `yes` in lanes `from..to` of 16, `no` in the others.
const fn lanes_where(from: usize, to: usize, yes: f32, no: f32) -> [f32; 16] {
    let mut v = [no; 16];
    let mut k = from;
    while k < to && k < 16 {
        v[k] = yes;
        k += 1;
    }
    v
}

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
/// `c_{t-1}`: `[i, f, g, o, c_t, tanh(c_t), h_t]`, the gates activated. One definition for
/// [`step`] and [`block`], so that they give the same bits.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn cell<L: Lanes, const FAST: bool>(mut pre: [L::V; 4], c_prev: L::V) -> [L::V; 7] {
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

/// `[c_t, tanh(c_t), h_t]` from the activated gates and `c_{t-1}` (lane by lane).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn update<L: Lanes, const FAST: bool>([i, f, g, o]: [L::V; 4], c_prev: L::V) -> [L::V; 3] {
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

/// The operands of [`block`]: an `LSTM(1, H)` cell, then a `Linear(H, 1)` head, `f32`,
/// batch 1, column-major as the layers store them.
pub(crate) struct BlockArgs<'a> {
    /// `W_ih`, `4H x 1`.
    pub(crate) w_ih: &'a [f32],
    /// `W_hh`, `4H x H`.
    pub(crate) w_hh: &'a [f32],
    /// `b_ih`, `4H`.
    pub(crate) b_ih: &'a [f32],
    /// `b_hh`, `4H`.
    pub(crate) b_hh: &'a [f32],
    /// The head's weights, `H`.
    pub(crate) head_w: &'a [f32],
    /// The head's bias.
    pub(crate) head_b: f32,
    /// `h` before the block, `H`.
    pub(crate) h_prev: &'a [f32],
    /// `c` before the block, `H`.
    pub(crate) c_prev: &'a [f32],
    /// Out: `h` after the block, `H`.
    pub(crate) h: &'a mut [f32],
    /// Out: `c` after the block, `H`.
    pub(crate) c: &'a mut [f32],
}

/// Runs `samples` through the cell and the head of `args`, in place, from `h_prev`, `c_prev`,
/// writing the state after the last sample to `h`, `c` (`h_prev`, `c_prev` for no sample): per sample the
/// operations of [`step`] for the cell and of `gemv::nn` for the head, in their order, so
/// the bits of stepping the two layers. What a block saves is everything around them: the
/// state stays in registers (`h` reaches the next step's products by permutes, not through
/// memory), the weights and the summed biases are loaded once, nothing is stored for
/// backward, and there is no call per layer and step. With the fast activations if `FAST`.
/// Panics if a slice is shorter than its shape or `H` is above [`MAX_H`].
#[target_feature(enable = "avx2,fma")]
pub(super) fn block<const H: usize, const FAST: bool>(
    args: &mut BlockArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { block_lanes::<Avx2, H, FAST>(args, samples) }
}

/// [`block`] in AVX-512F registers.
#[target_feature(enable = "avx512f")]
pub(super) fn block_avx512<const H: usize, const FAST: bool>(
    args: &mut BlockArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { block_lanes::<Avx512, H, FAST>(args, samples) }
}

/// [`block_avx512`] if `wide`, else [`block`].
///
/// # Safety
/// The CPU has AVX2 and FMA, and AVX-512F if `wide`.
#[inline(always)]
pub(super) unsafe fn block_of_width<const H: usize, const FAST: bool>(
    wide: bool,
    args: &mut BlockArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the caller's contract.
    unsafe {
        if wide {
            block_avx512::<H, FAST>(args, samples);
        } else {
            block::<H, FAST>(args, samples);
        }
    }
}

/// [`block`] with lanes `L`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn block_lanes<L: Lanes, const H: usize, const FAST: bool>(
    a: &mut BlockArgs<'_>,
    samples: &mut [f32],
) {
    let g = 4 * H;
    assert!(H <= MAX_H && a.w_ih.len() >= g && a.w_hh.len() >= g * H);
    assert!(a.b_ih.len() >= g && a.b_hh.len() >= g && a.head_w.len() >= H);
    for v in [&a.h_prev, &a.c_prev, &&*a.h, &&*a.c] {
        assert!(v.len() >= H);
    }
    // SAFETY (every access): the lengths were checked above; `H < W` lanes are read and
    // written with masks.
    let get = |at: *const f32| unsafe { L::load_part(at, H) };
    unsafe {
        // No closures below (`array::from_fn` and the like): they do not inherit this
        // function's target features, and the intrinsics in them are then calls.
        let (w_ih, w_hh) = (a.w_ih.as_ptr(), a.w_hh.as_ptr());
        let (mut bias, mut w_x) = ([L::zero(); 4], [L::zero(); 4]);
        let mut w_h = [[L::zero(); H]; 4];
        for q in 0..4 {
            let r = q * H;
            bias[q] = L::add(get(a.b_ih.as_ptr().add(r)), get(a.b_hh.as_ptr().add(r)));
            w_x[q] = get(w_ih.add(r));
            for (k, w) in w_h[q].iter_mut().enumerate() {
                *w = get(w_hh.add(k * g + r));
            }
        }
        // Cells of `4H <= W` lanes: the four gates in one register (the sigmoid's and
        // `tanh`'s constants per lane), then moved down to the lanes of `c` by permutes:
        // half the instructions of a register per gate, each lane computed as there.
        let packed = const { 4 * H <= L::W };
        let all = |at: *const f32| L::load_part(at, 4 * H);
        let gates_bias = L::add(all(a.b_ih.as_ptr()), all(a.b_hh.as_ptr()));
        let gates_w_x = all(w_ih);
        let mut gates_w_h = [L::zero(); H];
        for (k, w) in gates_w_h.iter_mut().enumerate() {
            *w = all(w_hh.add(k * g));
        }
        let rational = Rational::<L>::of_lanes(&const { rational_lanes((2 * H, 3 * H)) });
        // Exact: the `g` lanes doubled, then `2 s - 1` there (`tanh(x) = 2 σ(2x) - 1`), the
        // others times 1 and plus -0, which changes nothing.
        let scale = L::load(const { lanes_where(2 * H, 3 * H, 2.0, 1.0) }.as_ptr());
        let out_b = L::load(const { lanes_where(2 * H, 3 * H, -1.0, -0.0) }.as_ptr());
        let head_w = get(a.head_w.as_ptr());
        let head_start = L::load_part([0.0f32 + a.head_b].as_ptr(), 1);
        let mut h = get(a.h_prev.as_ptr());
        let mut c = get(a.c_prev.as_ptr());
        let mut lanes = [0.0f32; 16];
        for x in samples.iter_mut() {
            let xs = L::splat(*x);
            if packed {
                let mut pre = L::fmadd(gates_w_x, xs, gates_bias);
                for (k, w) in gates_w_h.iter().enumerate() {
                    pre = L::fmadd(*w, L::splat_lane(h, k), pre);
                }
                let act = if FAST {
                    let [act] = rational.apply_n([pre]);
                    act
                } else {
                    let [s] = sigmoid_n::<L, 1>([L::mul(scale, pre)]);
                    L::fmadd(scale, s, out_b)
                };
                let gates = [
                    act,
                    L::lanes_from(act, H),
                    L::lanes_from(act, 2 * H),
                    L::lanes_from(act, 3 * H),
                ];
                [c, _, h] = update::<L, FAST>(gates, c);
            } else {
                let mut pre = [L::zero(); 4];
                for q in 0..4 {
                    let mut sum = L::fmadd(w_x[q], xs, bias[q]);
                    for (k, w) in w_h[q].iter().enumerate() {
                        sum = L::fmadd(*w, L::splat_lane(h, k), sum);
                    }
                    pre[q] = sum;
                }
                [.., c, _, h] = cell::<L, FAST>(pre, c);
            }
            L::store(lanes.as_mut_ptr(), L::fmadd(head_w, h, head_start));
            let mut y = lanes[0];
            for v in &lanes[1..H] {
                y += *v;
            }
            *x = y + 0.0;
        }
        L::store_part(a.h.as_mut_ptr(), h, H);
        L::store_part(a.c.as_mut_ptr(), c, H);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use crate::kernels::simd::testing::{bits, both_widths, pre_activations};
    use alloc::vec::Vec;

    /// `n` weights in a trained network's range.
    fn weights(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-0.6, 0.6) as f32).collect()
    }

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

    /// A block of samples (`block`, in the given width) against the step kernel (in the
    /// same width) and `gemv::nn` per sample: the bits of the outputs and of the state after
    /// the block, for every hidden size the block runs, exact and fast.
    fn block_against_steps<const H: usize, const FAST: bool>(wide: bool, seed: u64) {
        let mut rng = Rng::new(seed);
        let (w_ih, w_hh) = (weights(&mut rng, 4 * H), weights(&mut rng, 4 * H * H));
        let (b_ih, b_hh) = (weights(&mut rng, 4 * H), weights(&mut rng, 4 * H));
        let (head_w, head_b) = (weights(&mut rng, H), weights(&mut rng, 1));
        let (h0, c0) = (weights(&mut rng, H), pre_activations(&mut rng, H));
        let xs = pre_activations(&mut rng, 37);
        // Stepped: the cell, then the head as `Linear` runs it.
        let (mut h, mut c) = (h0.clone(), c0.clone());
        let mut stepped = Vec::new();
        for &x in &xs {
            let mut gates = alloc::vec![0.0; 4 * H];
            let (mut c_next, mut tanh_c, mut h_next) = (
                alloc::vec![0.0; H],
                alloc::vec![0.0; H],
                alloc::vec![0.0; H],
            );
            let mut args = StepArgs {
                w_ih: &w_ih,
                w_hh: &w_hh,
                b_ih: &b_ih,
                b_hh: &b_hh,
                x: &[x],
                h_prev: &h,
                c_prev: &c,
                gates: &mut gates,
                c: &mut c_next,
                tanh_c: &mut tanh_c,
                h: &mut h_next,
            };
            let mut y = [0.0f32];
            // SAFETY: the callers checked the CPU's features.
            unsafe {
                step_of_width::<1, H, FAST>(wide, &mut args);
                crate::kernels::gemv::nn::<1, H, 0>(
                    [&head_w, &h_next],
                    [&[], &[]],
                    [Some(&head_b), None],
                    &mut y,
                    false,
                );
            }
            stepped.push(y[0]);
            (h, c) = (h_next, c_next);
        }
        let mut block = xs.clone();
        let (mut h_out, mut c_out) = (alloc::vec![0.0; H], alloc::vec![0.0; H]);
        let mut args = BlockArgs {
            w_ih: &w_ih,
            w_hh: &w_hh,
            b_ih: &b_ih,
            b_hh: &b_hh,
            head_w: &head_w,
            head_b: head_b[0],
            h_prev: &h0,
            c_prev: &c0,
            h: &mut h_out,
            c: &mut c_out,
        };
        // SAFETY: the callers checked the CPU's features.
        unsafe { block_of_width::<H, FAST>(wide, &mut args, &mut block) };
        assert_eq!(bits([&block]), bits([&stepped]), "{H} {FAST} {wide}");
        assert_eq!(bits([&h_out, &c_out]), bits([&h, &c]), "{H} {FAST} {wide}");
    }

    #[test]
    fn a_block_gives_the_bits_of_the_step_and_the_head_per_sample() {
        fn check<const H: usize>(wide: bool) {
            for seed in 0..3 {
                block_against_steps::<H, false>(wide, seed);
                block_against_steps::<H, true>(wide, seed);
            }
        }
        let widths: &[bool] = if both_widths() {
            &[false, true]
        } else if crate::kernels::choice::use_avx2() {
            &[false]
        } else {
            &[]
        };
        for &wide in widths {
            check::<1>(wide);
            check::<2>(wide);
            check::<3>(wide);
            check::<4>(wide);
            check::<5>(wide);
            check::<6>(wide);
            check::<7>(wide);
        }
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
