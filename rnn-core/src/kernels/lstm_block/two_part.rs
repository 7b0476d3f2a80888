//! [`two_part_avx512`]: an `LSTM(1, H)` cell of 31 or 32 units in two 512-bit registers per
//! gate, `W_hh` read from the layer each step (see the module docs of `lstm_block`).

use super::{CellArgs, HeadArgs, MAX_WIDE_REGISTER_H, gemv_split};
use crate::kernels::gemv;
use crate::kernels::lstm_step::cell;
use crate::kernels::simd::{Avx512, Lanes};

/// `samples` in place through an `LSTM(1, H)` cell of 31 or 32 units ([`two_part_fits`])
/// and its head: two registers per gate (units `0..W` and `W..H`), the state in registers
/// across the block, `W_hh`'s columns read from the layer each step (16 KB at 32 units: 256
/// registers' worth, so no copy of them is kept), `gemv`'s one accumulator per row, the head
/// by `gemv` itself on `h` stored. Panics if a slice is shorter than its shape or `H` is out
/// of that range.
#[target_feature(enable = "avx512f")]
pub(crate) fn two_part_avx512<const H: usize, const FAST: bool>(
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
        let mut start = [[L::zero(); 2]; 4];
        let mut w_x = [[L::zero(); 2]; 4];
        for q in 0..4 {
            for p in 0..2 {
                let at = q * H;
                // `gemv`: the biases added to a zero accumulator.
                let b = L::add(L::zero(), part::<L>(width, a.b_ih.as_ptr().add(at), p));
                start[q][p] = L::add(b, part::<L>(width, a.b_hh.as_ptr().add(at), p));
                w_x[q][p] = part::<L>(width, a.w_ih.as_ptr().add(at), p);
            }
        }
        let w_hh = a.w_hh.as_ptr();
        let mut h = [
            part::<L>(width, a.h_prev.as_ptr(), 0),
            part::<L>(width, a.h_prev.as_ptr(), 1),
        ];
        let mut c = [
            part::<L>(width, a.c_prev.as_ptr(), 0),
            part::<L>(width, a.c_prev.as_ptr(), 1),
        ];
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
                        pre[q][p] = L::fmadd(part::<L>(width, col.add(q * H), p), hk, pre[q][p]);
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

/// Part `p` of a gate from `at`: lanes `p W..` for `width[p]` lanes, masked. (A function, not
/// a closure: see `Regs::load`.)
///
/// # Safety
/// The CPU has `L`'s features; `width[p]` values from `at + p W` are readable.
#[inline(always)]
unsafe fn part<L: Lanes>(width: [usize; 2], at: *const f32, p: usize) -> L::V {
    // SAFETY: the caller's contract.
    unsafe { L::load_part(at.add(p * L::W), width[p]) }
}
