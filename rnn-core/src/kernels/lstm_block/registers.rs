//! Cells in registers: one `LSTM(1, H)` cell of up to sixteen units, a register per gate
//! ([`Regs`]) or its four gates in one ([`Packed`]), or two stacked cells of up to eight, with
//! the head (see the module docs of `lstm_block`).

use super::{CellArgs, Head, HeadArgs, MAX_REGISTER_H, gemv_split, state, store};
use crate::kernels::lstm_step::{cell, cell2, update};
use crate::kernels::simd::{Avx2, Avx512, Lanes, Rational, lanes_where, rational_lanes, sigmoid_n};

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
        // No closures in these kernels (`array::from_fn` and the like): a closure does not get
        // the target features of the kernel it is inlined into, so unless the optimiser
        // inlines it first, the intrinsics in it stay calls (gemm's AVX2 products ran 21x
        // slower so in one build).
        // SAFETY (every access): checked above; `H <= W` lanes, masked.
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
                    L::add(L::load_part(b[0], H), L::load_part(b[1], H))
                } else {
                    L::add(
                        L::add(L::zero(), L::load_part(b[0], H)),
                        L::load_part(b[1], H),
                    )
                };
                for (k, w) in r.w_x[q].iter_mut().enumerate() {
                    *w = L::load_part(a.w_ih.as_ptr().add(k * g + at), H);
                }
                for (k, w) in r.w_h[q].iter_mut().enumerate() {
                    *w = L::load_part(a.w_hh.as_ptr().add(k * g + at), H);
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
        unsafe {
            let mut w_h = [L::zero(); H];
            for (k, w) in w_h.iter_mut().enumerate() {
                *w = L::load_part(a.w_hh.as_ptr().add(k * 4 * H), 4 * H);
            }
            Self {
                start: L::add(
                    L::load_part(a.b_ih.as_ptr(), 4 * H),
                    L::load_part(a.b_hh.as_ptr(), 4 * H),
                ),
                w_x: L::load_part(a.w_ih.as_ptr(), 4 * H),
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
pub(crate) fn one<const H: usize, const FAST: bool>(
    cell: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { one_lanes::<Avx2, H, FAST>(cell, head, samples) }
}

/// [`one`] in AVX-512F registers, for cells of up to
/// [`MAX_WIDE_REGISTER_H`](super::MAX_WIDE_REGISTER_H) units.
#[target_feature(enable = "avx512f")]
pub(crate) fn one_avx512<const H: usize, const FAST: bool>(
    cell: &mut CellArgs<'_>,
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe { one_lanes::<Avx512, H, FAST>(cell, head, samples) }
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

/// `samples` in place through an `LSTM(1, H1)` cell, an `LSTM(H1, H2)` cell and a head
/// (`H1, H2 <=` [`MAX_REGISTER_H`]), the first cell one sample ahead of the second (see the
/// module docs), with the fast activations if `FAST`. Panics if a slice is shorter than its
/// shape or a size is too large.
#[target_feature(enable = "avx2,fma")]
pub(crate) fn two<const H1: usize, const H2: usize, const FAST: bool>(
    cells: [&mut CellArgs<'_>; 2],
    head: &HeadArgs<'_>,
    samples: &mut [f32],
) {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe { two_lanes::<Avx2, H1, H2, FAST>(cells, head, samples) }
}

/// [`two`] in AVX-512F registers.
#[target_feature(enable = "avx512f")]
pub(crate) fn two_avx512<const H1: usize, const H2: usize, const FAST: bool>(
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
pub(crate) fn two_vl<const H1: usize, const H2: usize, const FAST: bool>(
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
pub(crate) fn one_vl<const H: usize, const FAST: bool>(
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
