//! The blocks against the step kernels, per sample, bit for bit.

use super::staged::staged_fits;
use super::*;
use crate::Rng;
use crate::kernels::choice::use_avx2;
use crate::kernels::simd::testing::{bits, both_widths, pre_activations, weights};
use alloc::vec;
use alloc::vec::Vec;

/// A cell's parameters and state before a block.
struct Cell {
    w: [Vec<f32>; 4],
    h: Vec<f32>,
    c: Vec<f32>,
}

impl Cell {
    fn new(rng: &mut Rng, i: usize, h: usize) -> Self {
        let g = 4 * h;
        Self {
            w: [
                weights(rng, g * i),
                weights(rng, g * h),
                weights(rng, g),
                weights(rng, g),
            ],
            h: weights(rng, h),
            c: pre_activations(rng, h),
        }
    }

    /// One step as `Lstm::forward` runs it at batch 1: the fused small step below
    /// eight units, else `gemv` then the fused cell; the state moves on.
    fn step<const I: usize, const H: usize, const G: usize, const FAST: bool>(
        &mut self,
        wide: bool,
        x: &[f32],
    ) {
        assert!(H < 8 || G == 4 * H);
        let [w_ih, w_hh, b_ih, b_hh] = &self.w;
        let mut gates = vec![0.0; 4 * H];
        let (mut c, mut tanh_c, mut h) = (vec![0.0; H], vec![0.0; H], vec![0.0; H]);
        // SAFETY: the callers checked the CPU's features.
        unsafe {
            if H < 8 {
                let mut args = crate::kernels::lstm_step::StepArgs {
                    w_ih,
                    w_hh,
                    b_ih,
                    b_hh,
                    x,
                    h_prev: &self.h,
                    c_prev: &self.c,
                    gates: &mut gates,
                    c: &mut c,
                    tanh_c: &mut tanh_c,
                    h: &mut h,
                };
                crate::kernels::lstm_step::step_of_width::<I, H, FAST>(wide, &mut args);
            } else {
                gemv::nn::<G, I, H>(
                    [w_ih, x],
                    [w_hh, &self.h],
                    [Some(b_ih), Some(b_hh)],
                    &mut gates,
                    false,
                );
                lstm_cell::cell_of_width::<H, 1, FAST>(
                    wide,
                    &mut gates,
                    &self.c,
                    &mut c,
                    &mut tanh_c,
                    &mut h,
                );
            }
        }
        (self.h, self.c) = (h, c);
    }

    fn args<'a>(&'a self, out: &'a mut [Vec<f32>; 2]) -> CellArgs<'a> {
        let [h, c] = out;
        CellArgs {
            w_ih: &self.w[0],
            w_hh: &self.w[1],
            b_ih: &self.w[2],
            b_hh: &self.w[3],
            h_prev: &self.h,
            c_prev: &self.c,
            h,
            c,
        }
    }
}

/// The widths to test on this CPU.
fn widths() -> &'static [bool] {
    if both_widths() {
        &[false, true]
    } else if use_avx2() {
        &[false]
    } else {
        &[]
    }
}

/// [`one`] against the step and the head per sample: the outputs' and the final
/// state's bits.
fn one_against_steps<const H: usize, const G: usize, const FAST: bool>(wide: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut cell = Cell::new(&mut rng, 1, H);
    let (w, b) = (weights(&mut rng, H), weights(&mut rng, 1)[0]);
    let xs = pre_activations(&mut rng, 37);
    // The 256-bit block in AVX2's encoding and, where the CPU has it, AVX-512VL's; at 16
    // and 24 units, the staged block in both.
    let variants: &[bool] = if wide { &[false] } else { vl() };
    let staged_too = !wide && staged_fits(H);
    let runs: Vec<_> = variants
        .iter()
        .map(|&variant| {
            let mut out = [vec![0.0; H], vec![0.0; H]];
            let mut block = xs.clone();
            // SAFETY: the callers checked the CPU's features (`vl()`: AVX-512VL).
            unsafe {
                let mut args = cell.args(&mut out);
                let head_args = HeadArgs { w: &w, b };
                if wide && H > MAX_WIDE_REGISTER_H {
                    two_part_avx512::<H, FAST>(&mut args, &head_args, &mut block);
                } else if wide {
                    one_avx512::<H, FAST>(&mut args, &head_args, &mut block);
                } else if staged_too && variant {
                    staged_vl::<H, FAST>(&mut args, &head_args, &mut block);
                } else if staged_too {
                    staged::<H, FAST>(&mut args, &head_args, &mut block);
                } else if variant {
                    one_vl::<H, FAST>(&mut args, &head_args, &mut block);
                } else {
                    one::<H, FAST>(&mut args, &head_args, &mut block);
                }
            }
            (block, out)
        })
        .collect();
    let stepped: Vec<f32> = xs
        .iter()
        .map(|&x| {
            cell.step::<1, H, G, FAST>(wide, &[x]);
            head_of::<H>(&w, b, &cell.h)
        })
        .collect();
    for ((block, out), variant) in runs.into_iter().zip(variants) {
        let what = alloc::format!("{H} units, fast {FAST}, wide {wide}, variant {variant}");
        assert_eq!(bits([&block]), bits([&stepped]), "{what}");
        assert_eq!(bits([&out[0], &out[1]]), bits([&cell.h, &cell.c]), "{what}");
    }
}

/// Whether to run the 256-bit blocks in AVX2's encoding (`false`) and AVX-512VL's
/// (`true`): the latter where the CPU has it.
fn vl() -> &'static [bool] {
    if std::is_x86_feature_detected!("avx512vl") && both_widths() {
        &[false, true]
    } else {
        &[false]
    }
}

/// The head of `H` columns as `Linear` runs it.
fn head_of<const H: usize>(w: &[f32], b: f32, h: &[f32]) -> f32 {
    let mut y = [0.0f32];
    // SAFETY: the callers checked the CPU's features.
    unsafe { gemv::nn::<1, H, 0>([w, h], [&[], &[]], [Some(&[b]), None], &mut y, false) };
    y[0]
}

/// [`two`] against the two steps and the head per sample.
fn two_against_steps<const H1: usize, const H2: usize, const FAST: bool>(wide: bool, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut first = Cell::new(&mut rng, 1, H1);
    let mut second = Cell::new(&mut rng, H1, H2);
    let (w, b) = (weights(&mut rng, H2), weights(&mut rng, 1)[0]);
    let xs = pre_activations(&mut rng, 37);
    let narrow: &[bool] = if wide { &[false] } else { vl() };
    let runs: Vec<_> = narrow
        .iter()
        .map(|&vl| {
            let (mut out_a, mut out_b) = (
                [vec![0.0; H1], vec![0.0; H1]],
                [vec![0.0; H2], vec![0.0; H2]],
            );
            let mut block = xs.clone();
            // SAFETY: the callers checked the CPU's features (`vl()`: AVX-512VL).
            unsafe {
                let (mut a, mut b2) = (first.args(&mut out_a), second.args(&mut out_b));
                let cells = [&mut a, &mut b2];
                let head_args = HeadArgs { w: &w, b };
                if wide {
                    two_avx512::<H1, H2, FAST>(cells, &head_args, &mut block);
                } else if vl {
                    two_vl::<H1, H2, FAST>(cells, &head_args, &mut block);
                } else {
                    two::<H1, H2, FAST>(cells, &head_args, &mut block);
                }
            }
            let [a, b] = out_a;
            let [c, d] = out_b;
            (block, [a, b, c, d])
        })
        .collect();
    let stepped: Vec<f32> = xs
        .iter()
        .map(|&x| {
            first.step::<1, H1, 32, FAST>(wide, &[x]);
            let h = first.h.clone();
            second.step::<H1, H2, 32, FAST>(wide, &h);
            head_of::<H2>(&w, b, &second.h)
        })
        .collect();
    for (block, [a, b, c, d]) in runs {
        assert_eq!(bits([&block]), bits([&stepped]), "{H1} {H2} {FAST} {wide}");
        let got = bits([&a, &b, &c, &d]);
        assert_eq!(got, bits([&first.h, &first.c, &second.h, &second.c]));
    }
}

#[test]
fn a_block_of_one_cell_gives_the_bits_of_the_steps() {
    fn check<const H: usize, const G: usize>(wide: bool) {
        for seed in 0..3 {
            one_against_steps::<H, G, false>(wide, seed);
            one_against_steps::<H, G, true>(wide, seed);
        }
    }
    for &wide in widths() {
        check::<1, 4>(wide);
        check::<2, 8>(wide);
        check::<3, 12>(wide);
        check::<4, 16>(wide);
        check::<5, 20>(wide);
        check::<7, 28>(wide);
        check::<8, 32>(wide);
    }
    // Sixteen and 24 units in 256-bit registers, staged (`staged`).
    if use_avx2() {
        check::<16, 64>(false);
        check::<24, 96>(false);
    }
    // Nine to sixteen units: 512-bit registers only (`gemv`'s two accumulators to 14
    // units, one from 15).
    if both_widths() {
        check::<9, 36>(true);
        check::<12, 48>(true);
        check::<14, 56>(true);
        check::<15, 60>(true);
        check::<16, 64>(true);
        // Two registers per gate.
        check::<31, 124>(true);
        check::<32, 128>(true);
    }
}

/// [`two_part_fits`] holds for 31 and 32 units, where every gate row of `gemv::nn` is
/// one chain: its blocks of rows as `nn` runs them (eight vectors at a time, then the
/// rest), each block's split as `nn`'s match gives it.
#[test]
fn two_registers_per_gate_where_gemv_sums_each_row_in_one_chain() {
    fn split(vectors: usize) -> usize {
        match vectors {
            1 => 8,
            2 => 4,
            3 => 3,
            4..=7 => 2,
            _ => 1,
        }
    }
    for h in 1..=64usize {
        let vectors = (4 * h).div_ceil(8);
        let mut blocks = std::vec::Vec::new();
        let mut left = vectors;
        while left > 12 {
            blocks.push(8);
            left -= 8;
        }
        blocks.push(left);
        let one_chain = blocks.iter().all(|&v| split(v) == 1);
        assert!(one_chain || !(17..=24).contains(&h));
        let want = (31..=32).contains(&h) && one_chain;
        assert_eq!(two_part_fits(h), want, "{h} units: blocks {blocks:?}");
    }
}

#[test]
fn a_block_of_two_cells_gives_the_bits_of_the_steps() {
    fn check<const H1: usize, const H2: usize>(wide: bool) {
        for seed in 0..3 {
            two_against_steps::<H1, H2, false>(wide, seed);
            two_against_steps::<H1, H2, true>(wide, seed);
        }
    }
    for &wide in widths() {
        check::<8, 8>(wide);
        check::<3, 5>(wide);
        check::<8, 2>(wide);
        check::<1, 8>(wide);
    }
}
