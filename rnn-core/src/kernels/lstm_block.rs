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
//! product started while the cell works on the next group ([`staged`], [`staged_runs`]); at
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
//! multiply-adds and six activations all waited for the last `h`; [`staged`] overlaps them
//! instead.) Up to 64 units ([`MAX_H`]) a block otherwise calls the step's own kernels
//! (`gemv`, the fused cell, `gemv`) on buffers of its own, so the same bits by construction,
//! without the engine around them.
//!
//! Tested against the step kernels per sample (every size to eight in both widths; 9, 12,
//! 14, 15, 16, 31 and 32 units in 512 bits; [`staged`] at 16 and 24 in both encodings;
//! exact and fast) and, through the networks, against `step`.

use super::lstm_step::{cell, cell2, update};
use super::simd::{Avx2, Avx512, Lanes, Rational, lanes_where, rational_lanes, sigmoid_n};
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

/// A cell's parameters for the register blocks, in the order of the step's kernel for `H`
/// units (see the module docs).
struct Regs<L: Lanes, const I: usize, const H: usize> {
    /// Each gate's first accumulator's start: `b_ih + b_hh` below eight units, else
    /// `(0 + b_ih) + b_hh` as `gemv` adds its biases to a zero accumulator.
    start: [L::V; 4],
    /// `W_ih`'s columns, per gate.
    w_x: [[L::V; I]; 4],
    /// `W_hh`'s columns, per gate.
    w_h: [[L::V; H]; 4],
}

impl<L: Lanes, const I: usize, const H: usize> Regs<L, I, H> {
    /// Loads the parameters of `a` (checked: [`CellArgs::check`]).
    ///
    /// # Safety
    /// The CPU has `L`'s features; `H <= W`.
    #[inline(always)]
    unsafe fn load(a: &CellArgs<'_>) -> Self {
        a.check::<I, H>();
        let g = 4 * H;
        // SAFETY (every access): checked above; `H <= W` lanes, masked.
        let get = |at: *const f32| unsafe { L::load_part(at, H) };
        // No closures beyond `get` in these kernels (`array::from_fn` and the like): they do
        // not inherit the target features, and the intrinsics in them become calls.
        unsafe {
            let mut r = Self {
                start: [L::zero(); 4],
                w_x: [[L::zero(); I]; 4],
                w_h: [[L::zero(); H]; 4],
            };
            for q in 0..4 {
                let at = q * H;
                let b = [a.b_ih.as_ptr().add(at), a.b_hh.as_ptr().add(at)];
                r.start[q] = if H < 8 {
                    L::add(get(b[0]), get(b[1]))
                } else {
                    L::add(L::add(L::zero(), get(b[0])), get(b[1]))
                };
                for (k, w) in r.w_x[q].iter_mut().enumerate() {
                    *w = get(a.w_ih.as_ptr().add(k * g + at));
                }
                for (k, w) in r.w_h[q].iter_mut().enumerate() {
                    *w = get(a.w_hh.as_ptr().add(k * g + at));
                }
            }
            r
        }
    }

    /// The gates' pre-activations from the input (`x[k]`: input `k` in every lane) and `h`
    /// (lanes `0..H`).
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    #[inline(always)]
    #[expect(
        clippy::needless_range_loop,
        reason = "indices over constant ranges unroll into straight code; the iterator form \
                  (zip, chain) stayed a loop and took 3x the time of a block"
    )]
    unsafe fn pre(&self, x: &[L::V; I], h: L::V) -> [L::V; 4] {
        // SAFETY: the caller's contract.
        unsafe {
            let mut hs = [L::zero(); H];
            for (k, v) in hs.iter_mut().enumerate() {
                *v = L::splat_lane(h, k);
            }
            let mut pre = self.start;
            for q in 0..4 {
                if H < 8 {
                    // `lstm_step`: one chain.
                    for k in 0..I {
                        pre[q] = L::fmadd(self.w_x[q][k], x[k], pre[q]);
                    }
                    for k in 0..H {
                        pre[q] = L::fmadd(self.w_h[q][k], hs[k], pre[q]);
                    }
                } else if const { gemv_split(H) == 2 } {
                    // `gemv::nn`, four to seven vectors of rows: column `k` of each product
                    // (the input's, then the state's) into accumulator `k % 2`, the two added
                    // at the end.
                    let mut acc = [pre[q], L::zero()];
                    for k in 0..I {
                        acc[k % 2] = L::fmadd(self.w_x[q][k], x[k], acc[k % 2]);
                    }
                    for k in 0..H {
                        acc[k % 2] = L::fmadd(self.w_h[q][k], hs[k], acc[k % 2]);
                    }
                    pre[q] = L::add(acc[0], acc[1]);
                } else {
                    // `gemv::nn`, eight to twelve vectors of rows: one accumulator.
                    for k in 0..I {
                        pre[q] = L::fmadd(self.w_x[q][k], x[k], pre[q]);
                    }
                    for k in 0..H {
                        pre[q] = L::fmadd(self.w_h[q][k], hs[k], pre[q]);
                    }
                }
            }
            pre
        }
    }
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

/// A cell of `4H <= W` lanes with its four gates `[i; f; g; o]` in one register, as [`Regs`]
/// does them one register each: the same operations per lane.
struct Packed<L: Lanes, const H: usize> {
    start: L::V,
    w_x: L::V,
    w_h: [L::V; H],
    /// The fast activations' constants per lane: `tanh` for `g`, the sigmoid elsewhere.
    rational: Rational<L>,
    /// The exact path: `g`'s lanes doubled before the sigmoid (`tanh(x) = 2 σ(2x) - 1`), then
    /// `2 s - 1` there; the other lanes times 1 and plus `-0`, which changes nothing.
    scale: L::V,
    minus: L::V,
}

impl<L: Lanes, const H: usize> Packed<L, H> {
    /// # Safety
    /// The CPU has `L`'s features; `4H <= W`.
    #[inline(always)]
    unsafe fn load(a: &CellArgs<'_>) -> Self {
        a.check::<1, H>();
        // SAFETY (every access): checked above; `4H <= W` lanes, masked.
        let all = |at: *const f32| unsafe { L::load_part(at, 4 * H) };
        unsafe {
            let mut w_h = [L::zero(); H];
            for (k, w) in w_h.iter_mut().enumerate() {
                *w = all(a.w_hh.as_ptr().add(k * 4 * H));
            }
            Self {
                start: L::add(all(a.b_ih.as_ptr()), all(a.b_hh.as_ptr())),
                w_x: all(a.w_ih.as_ptr()),
                w_h,
                rational: Rational::<L>::of_lanes(&const { rational_lanes((2 * H, 3 * H)) }),
                scale: L::load(const { lanes_where(2 * H, 3 * H, 2.0, 1.0) }.as_ptr()),
                minus: L::load(const { lanes_where(2 * H, 3 * H, -1.0, -0.0) }.as_ptr()),
            }
        }
    }

    /// One step from input `x` (every lane) and `[h, c]`: `[h, c]` after it (lanes `0..H`).
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    #[inline(always)]
    unsafe fn step<const FAST: bool>(&self, x: L::V, [h, c]: [L::V; 2]) -> [L::V; 2] {
        // SAFETY: the caller's contract.
        unsafe {
            let mut pre = L::fmadd(self.w_x, x, self.start);
            for (k, w) in self.w_h.iter().enumerate() {
                pre = L::fmadd(*w, L::splat_lane(h, k), pre);
            }
            let act = if FAST {
                let [act] = self.rational.apply_n([pre]);
                act
            } else {
                let [s] = sigmoid_n::<L, 1>([L::mul(self.scale, pre)]);
                L::fmadd(self.scale, s, self.minus)
            };
            let gates = [
                act,
                L::lanes_from(act, H),
                L::lanes_from(act, 2 * H),
                L::lanes_from(act, 3 * H),
            ];
            let [c, _, h] = update::<L, FAST>(gates, c);
            [h, c]
        }
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

/// One step of a per-gate cell: `[h, c]` after it.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn step<L: Lanes, const I: usize, const H: usize, const FAST: bool>(
    r: &Regs<L, I, H>,
    x: &[L::V; I],
    [h, c]: [L::V; 2],
) -> [L::V; 2] {
    // SAFETY: the caller's contract.
    unsafe {
        let [.., c, _, h] = cell::<L, FAST>(r.pre(x, h), c);
        [h, c]
    }
}

/// `samples` in place through an `LSTM(1, H)` cell and its head (`H <=`
/// [`MAX_REGISTER_H`]), with the fast activations if `FAST`. Panics if a slice is shorter
/// than its shape or `H` is too large.
#[target_feature(enable = "avx2,fma")]
pub(super) fn one<const H: usize, const FAST: bool>(
    cell: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { one_lanes::<Avx2, H, FAST>(cell, head, samples) }
}

/// [`one`] in AVX-512F registers, for cells of up to [`MAX_WIDE_REGISTER_H`] units.
#[target_feature(enable = "avx512f")]
pub(super) fn one_avx512<const H: usize, const FAST: bool>(
    cell: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { one_lanes::<Avx512, H, FAST>(cell, head, samples) }
}

/// Whether [`staged`] runs a cell of `h` units: 16 or 24, whole 256-bit registers of units
/// per gate, where `gemv::nn` sums every gate row in one chain (8 and 12 vectors of rows).
/// Where it runs: [`staged_runs`].
pub(crate) const fn staged_fits(h: usize) -> bool {
    h.is_multiple_of(8) && h >= 16 && h <= 24 && gemv_split(h) == 1
}

/// Whether a block of `h` units runs [`staged`] (with the fast activations if `fast`, in
/// AVX-512VL's encoding if `vl`): at 24 units (NAM's standard) always; at 16 (feather) with
/// the fast activations in AVX-512VL's encoding, where on a Zen 4 (AMD EPYC, family 25 model
/// 17) it took 0.88x the time of the 512-bit register block in the `nam` bench (53.6-54.1
/// against 60.8-67.1 ns per sample) and 0.85x in a `-C target-cpu=native` build, where that
/// block spills (52.4-53.2 against 61.7-64.4 with its best form, `W_hh` read in a loop). With
/// the exact activations at 16 units the register block stays (`staged` 1.09-1.11x its
/// time); in AVX2's encoding against the step's kernels at 16 units (`RNN_SIMD=avx2`),
/// `staged` was 1.03-1.04x slower at best and 0.81-0.83x in the median (the step's kernels
/// varied more between processes): not a clear win, so they stay there. Not timed per
/// process: a calibration of the 16-unit choice (the register block against `staged`, as
/// `kernels::choice` times the blocks) measured `staged` at 63-76 ns in 3 of 8 processes
/// against 54-55 in the others (with `W_hh` page-aligned as a network's too), while the
/// network's block ran at 53 in every process that chose it: the fixed choice was steadier.
pub(crate) const fn staged_runs(h: usize, fast: bool, vl: bool) -> bool {
    staged_fits(h) && (h > MAX_WIDE_REGISTER_H || (fast && vl))
}

/// The most 256-bit registers of gate rows [`staged`] holds: `4 * 24 / 8`.
const STAGED_ROWS: usize = 12;

/// `samples` in place through an `LSTM(1, H)` cell of 16 or 24 units ([`staged_fits`]) and its
/// head, the step's operations in their order (so the same bits) but scheduled across
/// samples: each group of eight units' cell, as soon as its gates are summed, then that
/// group's columns of `W_hh` into the next sample's gates, while the next group's cell runs.
/// Panics if a slice is shorter than its shape or `H` does not fit.
///
/// Why: stepped (the step's kernels per sample, as [`steps`] runs them), the matrix-vector
/// product and the cell are two phases that each wait for the other: the product's 300
/// multiply-adds (24 units) need all of `h`, the cell all of the product, and each phase
/// alone is bound by the two FMA pipes (on a Zen 4, per `llvm-mca`, about 150 cycles for the
/// product and 125-190 for the fast cell's rational activations and divisions), so a sample
/// took their sum plus both phases' latency tails (about 410 cycles, 112 ns). Here the
/// next sample's product starts on units 0-7 while the cell still works on 8-23: on that
/// Zen 4 (AMD EPYC, family 25 model 17) NAM's standard `LSTM(1, 24)` block ran 0.76-0.83x
/// the time with the fast activations and 0.95-0.97x with the exact ones in the profile
/// binary, 0.72-0.81x and 0.85-0.93x in the `nam` bench (BENCHMARKS.md); in AVX2's encoding
/// (`RNN_SIMD=avx2`) 0.74-0.85x fast, and exact 0.94x in the median but 1.05x at the best of
/// seven processes each (the step's kernels varied more between processes).
/// The gates stay in registers (twelve), `h` is stored for the products' broadcasts, and
/// the last sample of a block sums a product nobody reads (`x = 0`).
#[target_feature(enable = "avx2,fma")]
pub(super) fn staged<const H: usize, const FAST: bool>(
    a: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { staged_lanes::<Avx2, H, FAST>(a, head, samples) }
}

/// [`staged`] with AVX-512VL's encoding (32 registers: see [`two_vl`]): where the path is
/// AVX-512.
#[target_feature(enable = "avx512f,avx512vl")]
pub(super) fn staged_vl<const H: usize, const FAST: bool>(
    a: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F and AVX-512VL (this function's features), so AVX2 and FMA.
    unsafe { staged_lanes::<Avx2, H, FAST>(a, head, samples) }
}

/// `h` for the products' broadcasts in [`staged`].
#[repr(align(32))]
struct StagedH([f32; 24]);

/// Columns `from..to` of `W_hh` (`4H x H`, column-major) times `h`, into the gate rows' sums
/// `acc` (in column order: `gemv::nn`'s one chain per row).
///
/// # Safety
/// The CPU has `L`'s features (eight lanes); `w_hh` holds `4H x H` values; `to <= H <= 24`.
#[inline(always)]
unsafe fn staged_columns<L: Lanes, const H: usize>(
    acc: &mut [L::V; STAGED_ROWS],
    w_hh: *const f32,
    h: &StagedH,
    from: usize,
    to: usize,
) {
    let rows = 4 * H / 8;
    // SAFETY: the caller's contract.
    unsafe {
        for k in from..to {
            let hk = L::splat(h.0[k]);
            let col = w_hh.add(k * 4 * H);
            for (v, acc) in acc.iter_mut().enumerate().take(rows) {
                *acc = L::fmadd(L::load(col.add(8 * v)), hk, *acc);
            }
        }
    }
}

/// The gate rows' sums before `W_hh`'s columns: `(0 + b_ih) + b_hh` (`start`), then `W_ih`'s
/// column times `x` (`gemv::nn`'s order).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn staged_input<L: Lanes>(
    start: &[L::V; STAGED_ROWS],
    w_x: &[L::V; STAGED_ROWS],
    x: f32,
    rows: usize,
) -> [L::V; STAGED_ROWS] {
    // SAFETY: the caller's contract.
    unsafe {
        let mut acc = [L::zero(); STAGED_ROWS];
        let xv = L::splat(x);
        for v in 0..rows {
            acc[v] = L::fmadd(w_x[v], xv, start[v]);
        }
        acc
    }
}

/// One sample in [`staged_lanes`]: its gates' sums, the next sample's being summed, the
/// state, the head's accumulators. Its methods take the group of units as a constant, so
/// that every register index is one (an index known only at run time put the gates on the
/// stack: 1.37x the step's kernels' time, exact).
struct Staged<'a, L: Lanes> {
    /// This sample's gate rows' sums (`[i; f; g; o]`, `H / 8` registers each).
    acc: &'a [L::V; STAGED_ROWS],
    /// The next sample's, so far.
    next: &'a mut [L::V; STAGED_ROWS],
    /// `c`, per group of units.
    c: &'a mut [L::V; 3],
    /// `h`.
    h: &'a mut StagedH,
    /// The head's eight accumulators (`gemv::nn`'s: column `k` into `k % 8`).
    y: &'a mut L::V,
    /// The head's weights, per group of units.
    w_head: &'a [L::V; 3],
    /// `W_hh`, `4H x H`.
    w_hh: *const f32,
}

impl<L: Lanes> Staged<'_, L> {
    /// The gate rows' sums `[i, f, g, o]` of units `8u..8u + 8`.
    #[inline(always)]
    fn pre<const H: usize>(&self, u: usize) -> [L::V; 4] {
        let (acc, g) = (self.acc, H / 8);
        [acc[u], acc[g + u], acc[2 * g + u], acc[3 * g + u]]
    }

    /// Keeps the new `c` and `h` of units `8u..8u + 8` and adds their head terms.
    ///
    /// # Safety
    /// The CPU has `L`'s features; `u < H / 8`.
    #[inline(always)]
    unsafe fn keep(&mut self, u: usize, [c, h]: [L::V; 2]) {
        self.c[u] = c;
        // SAFETY: the caller's contract (`8u + 8 <= 24`).
        unsafe {
            L::store(self.h.0.as_mut_ptr().add(8 * u), h);
            *self.y = L::fmadd(self.w_head[u], h, *self.y);
        }
    }

    /// The cell of units `8U..8U + 8`: `c`, `h` and the head's terms.
    ///
    /// # Safety
    /// The CPU has `L`'s features; `U < H / 8`.
    #[inline(always)]
    unsafe fn cell<const H: usize, const FAST: bool, const U: usize>(&mut self) {
        // SAFETY: the caller's contract.
        unsafe {
            let [.., c, _, h] = cell::<L, FAST>(self.pre::<H>(U), self.c[U]);
            self.keep(U, [c, h]);
        }
    }

    /// [`Staged::cell`] on groups `U` and `U + 1` at once.
    ///
    /// # Safety
    /// The CPU has `L`'s features; `U + 1 < H / 8`.
    #[inline(always)]
    unsafe fn cells<const H: usize, const FAST: bool, const U: usize>(&mut self) {
        // SAFETY: the caller's contract.
        unsafe {
            let pre = [self.pre::<H>(U), self.pre::<H>(U + 1)];
            let [first, second] = cell2::<L, FAST>(pre, [self.c[U], self.c[U + 1]]);
            self.keep(U, first);
            self.keep(U + 1, second);
        }
    }

    /// Columns `8U..8U + 8` of the next sample's product (units `8U..` of `h`).
    ///
    /// # Safety
    /// The CPU has `L`'s features; `U < H / 8`.
    #[inline(always)]
    unsafe fn columns<const H: usize, const U: usize>(&mut self) {
        // SAFETY: the caller's contract.
        unsafe { staged_columns::<L, H>(self.next, self.w_hh, self.h, 8 * U, 8 * U + 8) }
    }
}

/// [`staged`] with lanes `L` (eight).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn staged_lanes<L: Lanes, const H: usize, const FAST: bool>(
    a: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    assert!(L::W == 8 && staged_fits(H) && head.w.len() >= H);
    a.check::<1, H>();
    let (rows, groups) = (4 * H / 8, H / 8);
    // SAFETY (every access): checked above.
    unsafe {
        let mut start = [L::zero(); STAGED_ROWS];
        let mut w_x = [L::zero(); STAGED_ROWS];
        for v in 0..rows {
            let b = [a.b_ih.as_ptr().add(8 * v), a.b_hh.as_ptr().add(8 * v)];
            start[v] = L::add(L::add(L::zero(), L::load(b[0])), L::load(b[1]));
            w_x[v] = L::load(a.w_ih.as_ptr().add(8 * v));
        }
        let mut w_head = [L::zero(); 3];
        let mut c = [L::zero(); 3];
        let mut h = StagedH([0.0; 24]);
        for u in 0..groups {
            w_head[u] = L::load(head.w.as_ptr().add(8 * u));
            c[u] = L::load(a.c_prev.as_ptr().add(8 * u));
        }
        h.0[..H].copy_from_slice(&a.h_prev[..H]);
        // `gemv::nn`'s head: the first accumulator from `0 + b`, the others from 0.
        let head_start = L::load_part([0.0f32 + head.b].as_ptr(), 1);
        let w_hh = a.w_hh.as_ptr();
        let n = samples.len();
        let mut acc = [L::zero(); STAGED_ROWS];
        if let Some(&x) = samples.first() {
            acc = staged_input::<L>(&start, &w_x, x, rows);
            staged_columns::<L, H>(&mut acc, w_hh, &h, 0, H);
        }
        for t in 0..n {
            let next_x = samples.get(t + 1).copied().unwrap_or(0.0);
            let mut next = staged_input::<L>(&start, &w_x, next_x, rows);
            let mut y = head_start;
            let mut s = Staged::<L> {
                acc: &acc,
                next: &mut next,
                c: &mut c,
                h: &mut h,
                y: &mut y,
                w_head: &w_head,
                w_hh,
            };
            // Each group's columns after the next group's cell in program order, so that
            // the core has the cell's long chains to run beside the columns' multiply-adds
            // (at 24 units: cell, cell, columns, cell, columns, columns ran 0.75-0.81x the
            // time of cell, columns per group in turn with the exact activations, 0.94-0.97x
            // fast; the last two groups' cells as one, their chains interleaved, then 0.91x
            // exact and 0.98x fast in the `nam` bench. At 16 units both cells as one was
            // 1.03x slower there.)
            if groups > 2 {
                s.cell::<H, FAST, 0>();
                s.cells::<H, FAST, 1>();
                s.columns::<H, 0>();
                s.columns::<H, 1>();
                s.columns::<H, 2>();
            } else {
                s.cell::<H, FAST, 0>();
                s.cell::<H, FAST, 1>();
                s.columns::<H, 0>();
                s.columns::<H, 1>();
            }
            // The head's accumulators added in order, as `gemv::nn` ends.
            let mut lanes = [0.0f32; 8];
            L::store(lanes.as_mut_ptr(), y);
            let mut out = lanes[0];
            for v in &lanes[1..] {
                out += *v;
            }
            samples[t] = out;
            acc = next;
        }
        a.h[..H].copy_from_slice(&h.0[..H]);
        for (u, c) in c.iter().enumerate().take(groups) {
            L::store(a.c.as_mut_ptr().add(8 * u), *c);
        }
    }
}

/// [`one`] with lanes `L`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn one_lanes<L: Lanes, const H: usize, const FAST: bool>(
    a: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    assert!(H <= L::W);
    // SAFETY (every call): the caller's contract; `H <= W`.
    unsafe {
        let out = Head::<L, H>::load(head);
        let mut s = state::<L, H>(a.h_prev, a.c_prev);
        if const { 4 * H <= L::W } {
            let r = Packed::<L, H>::load(a);
            for x in samples.iter_mut() {
                s = r.step::<FAST>(L::splat(*x), s);
                *x = out.apply(s[0]);
            }
        } else {
            let r = Regs::<L, 1, H>::load(a);
            for x in samples.iter_mut() {
                s = step::<L, 1, H, FAST>(&r, &[L::splat(*x)], s);
                *x = out.apply(s[0]);
            }
        }
        store::<L, H>(a, s);
    }
}

/// `samples` in place through an `LSTM(1, H)` cell of 31 or 32 units ([`two_part_fits`])
/// and its head: two registers per gate (units `0..W` and `W..H`), the state in registers
/// across the block, `W_hh`'s columns read from the layer each step (16 KB at 32 units: 256
/// registers' worth, so no copy of them is kept), `gemv`'s one accumulator per row, the head
/// by `gemv` itself on `h` stored. Panics if a slice is shorter than its shape or `H` is out
/// of that range.
#[target_feature(enable = "avx512f")]
pub(super) fn two_part_avx512<const H: usize, const FAST: bool>(
    cell: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { two_part_lanes::<Avx512, H, FAST>(cell, head, samples) }
}

/// Whether [`two_part_avx512`] runs a cell of `h` units: 31 or 32, where two registers of
/// sixteen lanes per gate are (almost) full and `gemv::nn` sums every gate row in one chain
/// (a block of eight vectors of rows and one of eight, both unsplit). From 17 to 24 units
/// `gemv` sums in one chain too, but the second register of each gate is half empty or
/// less: at 24 units a third more multiply-adds than the step's 256-bit kernels, measured
/// slower on a Zen 4 (164-166 against 149-155 ns per sample); 25-30 end in a block of five
/// to seven vectors, split in two, whose rows share registers with the others'.
pub(crate) const fn two_part_fits(h: usize) -> bool {
    h + 1 >= 2 * MAX_WIDE_REGISTER_H && h <= 2 * MAX_WIDE_REGISTER_H && gemv_split(h) == 1
}

/// [`two_part_avx512`] with lanes `L`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
#[expect(
    clippy::needless_range_loop,
    reason = "indices over constant ranges unroll into straight code (see `Regs::pre`)"
)]
unsafe fn two_part_lanes<L: Lanes, const H: usize, const FAST: bool>(
    a: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    assert!(L::W == MAX_WIDE_REGISTER_H && two_part_fits(H) && head.w.len() >= H);
    a.check::<1, H>();
    let g = 4 * H;
    let width = [L::W, H - L::W];
    // SAFETY (every access): checked above; part `p` of a gate is `width[p]` lanes, masked.
    unsafe {
        let get = |at: *const f32, p: usize| L::load_part(at.add(p * L::W), width[p]);
        let mut start = [[L::zero(); 2]; 4];
        let mut w_x = [[L::zero(); 2]; 4];
        for q in 0..4 {
            for p in 0..2 {
                let at = q * H;
                // `gemv`: the biases added to a zero accumulator.
                let b = L::add(L::zero(), get(a.b_ih.as_ptr().add(at), p));
                start[q][p] = L::add(b, get(a.b_hh.as_ptr().add(at), p));
                w_x[q][p] = get(a.w_ih.as_ptr().add(at), p);
            }
        }
        let w_hh = a.w_hh.as_ptr();
        let mut h = [get(a.h_prev.as_ptr(), 0), get(a.h_prev.as_ptr(), 1)];
        let mut c = [get(a.c_prev.as_ptr(), 0), get(a.c_prev.as_ptr(), 1)];
        let mut hs = [0.0f32; 32];
        let k_end = core::hint::black_box(H);
        for x in samples.iter_mut() {
            let xv = L::splat(*x);
            let mut pre = [[L::zero(); 2]; 4];
            for q in 0..4 {
                for p in 0..2 {
                    pre[q][p] = L::fmadd(w_x[q][p], xv, start[q][p]);
                }
            }
            // A loop over the columns (not unrolled: each pass loads its eight columns).
            for k in 0..k_end {
                let hk = L::splat_lane(h[k / L::W], k % L::W);
                let col = w_hh.add(k * g);
                for q in 0..4 {
                    for p in 0..2 {
                        pre[q][p] = L::fmadd(get(col.add(q * H), p), hk, pre[q][p]);
                    }
                }
            }
            for p in 0..2 {
                let gates = [pre[0][p], pre[1][p], pre[2][p], pre[3][p]];
                let [.., c_new, _, h_new] = cell::<L, FAST>(gates, c[p]);
                (c[p], h[p]) = (c_new, h_new);
            }
            L::store(hs.as_mut_ptr(), h[0]);
            L::store_part(hs.as_mut_ptr().add(L::W), h[1], width[1]);
            let mut y = [0.0f32];
            gemv::nn::<1, H, 0>(
                [head.w, &hs[..H]],
                [&[], &[]],
                [Some(&[head.b]), None],
                &mut y,
                false,
            );
            *x = y[0];
        }
        for p in 0..2 {
            L::store_part(a.h.as_mut_ptr().add(p * L::W), h[p], width[p]);
            L::store_part(a.c.as_mut_ptr().add(p * L::W), c[p], width[p]);
        }
    }
}

/// `samples` in place through an `LSTM(1, H1)` cell, an `LSTM(H1, H2)` cell and a head
/// (`H1, H2 <=` [`MAX_REGISTER_H`]), the first cell one sample ahead of the second (see the
/// module docs), with the fast activations if `FAST`. Panics if a slice is shorter than its
/// shape or a size is too large.
#[target_feature(enable = "avx2,fma")]
pub(super) fn two<const H1: usize, const H2: usize, const FAST: bool>(
    cells: [&mut CellArgs<'_>; 2],
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { two_lanes::<Avx2, H1, H2, FAST>(cells, head, samples) }
}

/// [`two`] in AVX-512F registers.
#[target_feature(enable = "avx512f")]
pub(super) fn two_avx512<const H1: usize, const H2: usize, const FAST: bool>(
    cells: [&mut CellArgs<'_>; 2],
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { two_lanes::<Avx512, H1, H2, FAST>(cells, head, samples) }
}

/// [`two`] in 256-bit registers with AVX-512VL's encoding (the same operations): 32
/// registers, and constants broadcast from memory inside the instructions that use them.
/// With AVX2's 16, NAM's lite model (`LSTM(1, 8)`, `LSTM(8, 8)`) reloaded its weights,
/// spilled the lanes of `h` it broadcasts and re-broadcast the activations' constants every
/// sample: 302 memory operands per sample, 184 here (llvm-mca's count); on a Zen 4 (AMD
/// EPYC, family 25 model 17) 0.84-0.90x the time per sample, exact and fast.
#[target_feature(enable = "avx512f,avx512vl")]
pub(super) fn two_vl<const H1: usize, const H2: usize, const FAST: bool>(
    cells: [&mut CellArgs<'_>; 2],
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F and AVX-512VL, hence AVX2 and FMA (this function's
    // features).
    unsafe { two_lanes::<Avx2, H1, H2, FAST>(cells, head, samples) }
}

/// [`one`] in 256-bit registers with AVX-512VL's encoding (see [`two_vl`]): on that Zen 4
/// `LSTM(1, 8)` 0.94-0.97x the time per sample with the fast activations, level with the
/// exact ones and at two units.
#[target_feature(enable = "avx512f,avx512vl")]
pub(super) fn one_vl<const H: usize, const FAST: bool>(
    cell: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: as in `two_vl`.
    unsafe { one_lanes::<Avx2, H, FAST>(cell, head, samples) }
}

/// [`two`] with lanes `L`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn two_lanes<L: Lanes, const H1: usize, const H2: usize, const FAST: bool>(
    [a, b]: [&mut CellArgs<'_>; 2],
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    assert!(H1 <= MAX_REGISTER_H && H2 <= MAX_REGISTER_H);
    // SAFETY (every call): the caller's contract; `H1, H2 <= 8 <= W`.
    unsafe {
        let (ra, rb) = (Regs::<L, 1, H1>::load(a), Regs::<L, H1, H2>::load(b));
        let out = Head::<L, H2>::load(head);
        let mut sa = state::<L, H1>(a.h_prev, a.c_prev);
        let mut sb = state::<L, H2>(b.h_prev, b.c_prev);
        let n = samples.len();
        if let Some(&x) = samples.first() {
            sa = step::<L, 1, H1, FAST>(&ra, &[L::splat(x)], sa);
        }
        for k in 1..=n {
            // The first cell on sample `k`, the second and the head on sample `k - 1` (from
            // the first cell's `h` of that sample): two independent chains, the cells'
            // activations side by side in program order (`cell2`), as the core did not
            // overlap them one after the other.
            let h = sa[0];
            let mut x = [L::zero(); H1];
            for (j, v) in x.iter_mut().enumerate() {
                *v = L::splat_lane(h, j);
            }
            if let Some(&x_next) = samples.get(k) {
                let pa = ra.pre(&[L::splat(x_next)], sa[0]);
                let pb = rb.pre(&x, sb[0]);
                let [[ca, ha], [cb, hb]] = cell2::<L, FAST>([pa, pb], [sa[1], sb[1]]);
                (sa, sb) = ([ha, ca], [hb, cb]);
            } else {
                sb = step::<L, H1, H2, FAST>(&rb, &x, sb);
            }
            samples[k - 1] = out.apply(sb[0]);
        }
        store::<L, H1>(a, sa);
        store::<L, H2>(b, sb);
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

#[cfg(test)]
mod tests {
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
    fn two_against_steps<const H1: usize, const H2: usize, const FAST: bool>(
        wide: bool,
        seed: u64,
    ) {
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
}
