//! [`staged`]: the step's operations in 256-bit registers for 16 and 24 units, each group of
//! eight units' columns of the next sample's product started while the cell works on the next
//! group (see the module docs of `lstm_block`).

use super::{CellArgs, HeadArgs, MAX_WIDE_REGISTER_H, gemv_split};
use crate::kernels::lstm_step::{cell, cell2};
use crate::kernels::simd::{Avx2, Lanes};

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
/// Why: stepped (the step's kernels per sample, as [`steps`](super::steps) runs them), the
/// matrix-vector product and the cell are two phases that each wait for the other: the product's
/// 300 multiply-adds (24 units) need all of `h`, the cell all of the product, and each phase alone
/// is bound by the two FMA pipes (on a Zen 4, per `llvm-mca`, about 150 cycles for the product and
/// 125-190 for the fast cell's rational activations and divisions), so a sample took their sum plus
/// both phases' latency tails (about 410 cycles, 112 ns). Here the next sample's product starts on
/// units 0-7 while the cell still works on 8-23: on that Zen 4 (AMD EPYC, family 25 model 17) NAM's
/// standard `LSTM(1, 24)` block ran 0.76-0.83x the time with the fast activations and 0.95-0.97x
/// with the exact ones in the profile binary, 0.72-0.81x and 0.85-0.93x in the `nam` bench
/// (BENCHMARKS.md); in AVX2's encoding (`RNN_SIMD=avx2`) 0.74-0.85x fast, and exact 0.94x in the
/// median but 1.05x at the best of seven processes each (the step's kernels varied more between
/// processes). The gates stay in registers (twelve), `h` is stored for the products' broadcasts,
/// and the last sample of a block sums a product nobody reads (`x = 0`).
#[target_feature(enable = "avx2,fma")]
pub(crate) fn staged<const H: usize, const FAST: bool>(
    a: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { staged_lanes::<Avx2, H, FAST>(a, head, samples) }
}

/// [`staged`] with AVX-512VL's encoding (32 registers: see [`two_vl`](super::two_vl)): where
/// the path is AVX-512.
#[target_feature(enable = "avx512f,avx512vl")]
pub(crate) fn staged_vl<const H: usize, const FAST: bool>(
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
