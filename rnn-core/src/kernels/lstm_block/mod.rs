//! The fused blocks of `crate::block` (`Online::process_block`): an `LSTM(1, H)` cell and a
//! `Linear(H, 1)` head ([`one`]), or two stacked cells and the head ([`two`], NAM's two-layer
//! models), over a block of samples in place, with the bits of stepping the layers.
//!
//! Why: a network this small, stepped per sample, spent most of a step around its arithmetic
//! (the engine's records, a call per layer, the state stored and loaded back, the weights and
//! constants reloaded, the gates kept for a backward a block never runs): NAM's 1x2 model took
//! about 690 instructions per sample at five per cycle. Cells of up to eight units
//! ([`MAX_REGISTER_H`], one register per gate) keep their state in registers here, `h`
//! reaching the next products by permutes, and repeat per lane the operations of the kernels
//! a step runs, in their order: the fused small step below eight units (`lstm_step`, one
//! chain of fused multiply-adds from the summed biases), `gemv` then the fused cell at eight
//! (two accumulators, even and odd columns, as `gemv::nn` splits four vectors of rows), and
//! `gemv` for the head (one accumulator per column, added in order). A cell of `4H` lanes or
//! fewer (`LSTM(1, 2)` in 256 bits) holds its four gates in one register: one activation
//! instead of four, the sigmoid's and `tanh`'s constants per lane. Two stacked cells run one
//! sample apart (the first on `t + 1` beside the second on `t`, as `process_block` pipelines
//! a chain), their activations interleaved in one call (`lstm_step::cell2`: NAM's lite model,
//! exact, 74-78 -> 63-65 ns per sample on a Zen 4, against the two cells one after the
//! other, whose chains the core had not overlapped). From nine to sixteen units
//! ([`MAX_WIDE_REGISTER_H`]) a cell fits one 512-bit register per gate: [`one_avx512`] keeps
//! it there as above, with `gemv`'s split of each row's sum (two accumulators for up to seven
//! vectors of eight rows, one above) and the head's columns from the ninth into accumulators
//! `0..` again; at 24 units, and at 16 with the fast activations, the step's kernels'
//! operations in 256-bit registers, each group of eight units' columns of the next sample's
//! product started while the cell works on the next group ([`staged()`], [`staged_runs`]); at
//! 31 and 32 units, two registers per gate ([`two_part_avx512`], `W_hh` read
//! from the layer each step). Whether they run is measured (`kernels::choice::FusedBlock`),
//! as is the width of the blocks to eight units (256 bits with AVX-512VL's 32 registers
//! where the CPU has them: [`two_vl`], [`one_vl`]). On a Zen 4 (AMD EPYC, family 25 model 17),
//! ns per sample in the calibration (exact): 12 and 16 units summed 149-162 by the step's
//! kernels, 134-135 in registers; 32 units 178-182 and 154-155; eight units 47 in 256 bits,
//! 57 in 512. (256-bit registers for 9-16 units, two per gate with the activations'
//! constants in 16 registers, had measured 1.18x slower than the step's kernels on an Intel
//! Xeon; at 17-24 units two 512-bit registers per gate leave the second half empty or more,
//! a third more multiply-adds than the step's kernels: slower on that Zen 4; packed sixteen
//! gate rows to a register, six at 24 units with per-lane activation constants, 1.04-1.11x
//! slower with the exact activations and 0.95-0.98x with the fast ones: each sample's 150
//! multiply-adds and six activations all waited for the last `h`; [`staged()`] overlaps them
//! instead.) Up to 64 units ([`MAX_H`]) a block otherwise calls the step's own kernels
//! (`gemv`, the fused cell, `gemv`) on buffers of its own, so the same bits by construction,
//! without the engine around them.
//!
//! Tested against the step kernels per sample (every size to eight in both widths; 9, 12,
//! 14, 15, 16, 31 and 32 units in 512 bits; [`staged()`] at 16 and 24 in both encodings;
//! exact and fast) and, through the networks, against `step`.
//!
//! Here: the operands ([`CellArgs`], [`HeadArgs`]), the head and the state every block
//! shares, and [`steps`]; the cells in registers (one per gate or packed, one cell or two
//! stacked) in `registers`, [`staged()`] in `staged`, [`two_part_avx512`] in `two_part`, the
//! tests in `tests`.

mod registers;
mod staged;
#[cfg(test)]
mod tests;
mod two_part;

pub(crate) use registers::{one, one_avx512, one_vl, two, two_avx512, two_vl};
pub(crate) use staged::{staged, staged_runs, staged_vl};
pub(crate) use two_part::{two_part_avx512, two_part_fits};

use super::simd::Lanes;
use super::{gemv, lstm_cell};

/// The largest cell a block keeps in 256-bit registers: one register of eight lanes per gate.
pub(crate) const MAX_REGISTER_H: usize = 8;

/// The largest cell a block keeps in 512-bit registers ([`one_avx512`]): one register of
/// sixteen lanes per gate.
pub(crate) const MAX_WIDE_REGISTER_H: usize = 16;

/// The largest cell a block runs at all (the step's kernels on buffers on the stack, bounded
/// by this: 2.3 KB at 64 units).
pub(crate) const MAX_H: usize = 64;

/// One LSTM cell's operands for a block, `f32`, batch 1, as the layer stores them
/// (column-major, gates `i, f, g, o`).
pub(crate) struct CellArgs<'a> {
    /// `W_ih`, `4H x I`.
    pub(crate) w_ih: &'a [f32],
    /// `W_hh`, `4H x H`.
    pub(crate) w_hh: &'a [f32],
    /// `b_ih`, `4H`.
    pub(crate) b_ih: &'a [f32],
    /// `b_hh`, `4H`.
    pub(crate) b_hh: &'a [f32],
    /// `h` before the block, `H`.
    pub(crate) h_prev: &'a [f32],
    /// `c` before the block, `H`.
    pub(crate) c_prev: &'a [f32],
    /// Out: `h` after the block, `H`.
    pub(crate) h: &'a mut [f32],
    /// Out: `c` after the block, `H`.
    pub(crate) c: &'a mut [f32],
}

impl CellArgs<'_> {
    /// Panics unless the slices hold a cell of `I` inputs and `H` units.
    fn check<const I: usize, const H: usize>(&self) {
        let g = 4 * H;
        assert!(self.w_ih.len() >= g * I && self.w_hh.len() >= g * H);
        assert!(self.b_ih.len() >= g && self.b_hh.len() >= g);
        for v in [&self.h_prev, &self.c_prev, &&*self.h, &&*self.c] {
            assert!(v.len() >= H);
        }
    }
}

/// A head with one output: `y = w · h + b`.
pub(crate) struct HeadArgs<'a> {
    /// `w`, `H`.
    pub(crate) w: &'a [f32],
    /// `b`.
    pub(crate) b: f32,
}

/// How many accumulators `gemv::nn` splits the sum of each of an LSTM's `4H` gate rows into
/// (`H >= 8`, where it is the same for every row up to 24 units); 0 where the rows differ.
const fn gemv_split(h: usize) -> usize {
    match gemv::uniform_split(4 * h) {
        Some(split) => split,
        None => 0,
    }
}

/// A one-output head as `gemv::nn` runs it (eight accumulators, one per column, the first
/// from `0 + b`, added in order; `+ 0` for the unused ones below eight columns).
struct Head<L: Lanes, const H: usize> {
    w: L::V,
    start: L::V,
    /// Columns 8.. (into accumulators 0..), if `H > 8`.
    w_hi: [f32; 8],
}

impl<L: Lanes, const H: usize> Head<L, H> {
    /// # Safety
    /// The CPU has `L`'s features; `H <= W`. Panics if `a.w` is shorter than `H`.
    #[inline(always)]
    unsafe fn load(a: &HeadArgs<'_>) -> Self {
        assert!(a.w.len() >= H);
        // SAFETY: checked above; masked lanes.
        unsafe {
            let mut w_hi = [0.0; 8];
            for (k, w) in w_hi.iter_mut().enumerate().take(H.saturating_sub(8)) {
                *w = a.w[8 + k];
            }
            Self {
                w: L::load_part(a.w.as_ptr(), H.min(8)),
                start: L::load_part([0.0f32 + a.b].as_ptr(), 1),
                w_hi,
            }
        }
    }

    /// The output for `h` (lanes `0..H`).
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    #[inline(always)]
    unsafe fn apply(&self, h: L::V) -> f32 {
        let mut lanes = [0.0f32; 16];
        // SAFETY: `lanes` holds 16 >= W values; the caller's contract.
        unsafe { L::store(lanes.as_mut_ptr(), L::fmadd(self.w, h, self.start)) };
        if H > 8 {
            use core::arch::x86_64::{_mm_cvtss_f32, _mm_fmadd_ss, _mm_set_ss};
            let mut hs = [0.0f32; 16];
            // SAFETY: as above; the CPU has FMA (the caller's contract: `L`'s features).
            unsafe {
                L::store(hs.as_mut_ptr(), h);
                for k in 8..H {
                    let acc = _mm_set_ss(lanes[k - 8]);
                    let w = _mm_set_ss(self.w_hi[k - 8]);
                    lanes[k - 8] = _mm_cvtss_f32(_mm_fmadd_ss(w, _mm_set_ss(hs[k]), acc));
                }
            }
        }
        let mut y = lanes[0];
        for v in &lanes[1..H.min(8)] {
            y += *v;
        }
        if H < 8 { y + 0.0 } else { y }
    }
}

/// Loads a state `[h, c]`.
///
/// # Safety
/// The CPU has `L`'s features; the slices hold `H <= W` values.
#[inline(always)]
unsafe fn state<L: Lanes, const H: usize>(h: &[f32], c: &[f32]) -> [L::V; 2] {
    // SAFETY: the caller's contract.
    unsafe { [L::load_part(h.as_ptr(), H), L::load_part(c.as_ptr(), H)] }
}

/// Stores a state `[h, c]` into `a`'s state after the block.
///
/// # Safety
/// The CPU has `L`'s features; `a` was checked for `H <= W` units.
#[inline(always)]
unsafe fn store<L: Lanes, const H: usize>(a: &mut CellArgs<'_>, [h, c]: [L::V; 2]) {
    // SAFETY: the caller's contract.
    unsafe {
        L::store_part(a.h.as_mut_ptr(), h, H);
        L::store_part(a.c.as_mut_ptr(), c, H);
    }
}

/// `samples` in place through an `LSTM(1, H)` cell (`G = 4H`, `H <=` [`MAX_H`]) and its head
/// by the step's own kernels (see the module docs), with the fast activations if `FAST`, the
/// cell in AVX-512 if `wide`. Panics if a slice is shorter than its shape.
///
/// # Safety
/// The CPU has AVX2 and FMA, and AVX-512F if `wide`.
#[target_feature(enable = "avx2,fma")]
pub(super) unsafe fn steps<const H: usize, const G: usize, const FAST: bool>(
    wide: bool,
    a: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    assert!(G == 4 * H && H <= MAX_H);
    a.check::<1, H>();
    let mut gates = [0.0f32; G];
    let mut tanh_c = [0.0f32; H];
    let (mut h_prev, mut h) = ([0.0f32; H], [0.0f32; H]);
    let (mut c_prev, mut c) = ([0.0f32; H], [0.0f32; H]);
    h_prev.copy_from_slice(&a.h_prev[..H]);
    c_prev.copy_from_slice(&a.c_prev[..H]);
    let head_b = [head.b];
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
            [head.w, &h],
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
