//! The fast activations: rational approximations of `tanh` and the sigmoid (within 4e-7 of
//! the exact ones), on registers of lanes.

use super::{Lanes, each};

/// Where [`tanh_fast_n`] clamps its input: `tanh` of it rounds to 1 within the
/// approximation's error.
pub(super) const TANH_FAST_CLAMP: f32 = 7.905_311;

/// Eigen's `ptanh_float`: `tanh(y) ≈ y P(y²) / Q(y²)`, `P` of degree 6 (`a1, a3, ... a13`),
/// `Q` of degree 3 (`b0, b2, b4, b6`), for `|y| <= TANH_FAST_CLAMP`.
const TANH_P: [f64; 7] = [
    4.893_524_558_917_86e-3,
    6.372_619_288_754_36e-4,
    1.485_722_357_179_79e-5,
    5.122_297_090_371_14e-8,
    -8.604_671_522_137_35e-11,
    2.000_187_904_824_77e-13,
    -2.760_768_477_423_55e-16,
];
const TANH_Q: [f64; 4] = [
    4.893_525_185_543_85e-3,
    2.268_434_632_439_00e-3,
    1.185_347_056_866_54e-4,
    1.198_258_394_667_02e-6,
];

/// `c[k] out zs^k` in `f32`: the coefficients of a polynomial in `z` as one in `zs z`,
/// times `out` (exact for powers of two).
const fn coefficients<const K: usize>(c: [f64; K], zs: f64, out: f64) -> [f32; K] {
    let mut r = [0.0; K];
    let (mut w, mut k) = (out, 0);
    while k < K {
        r[k] = (c[k] * w) as f32;
        w *= zs;
        k += 1;
    }
    r
}

/// `[P, Q]` of `tanh` ([`TANH_P`], [`TANH_Q`]) and of the sigmoid ([`rational_n`]).
const RATIONAL: [([f32; 7], [f32; 4]); 2] = [
    (
        coefficients(TANH_P, 1.0, 1.0),
        coefficients(TANH_Q, 1.0, 1.0),
    ),
    (
        coefficients(TANH_P, 0.25, 0.25),
        coefficients(TANH_Q, 0.25, 1.0),
    ),
];

/// The fast activations (a network's `set_fast_activations`), on `N` registers: `tanh`, or the
/// sigmoid if `SIGMOID`. `tanh` is Eigen's rational approximation (`ptanh_float`, see
/// [`TANH_P`], the input clamped to `±7.905311`); the sigmoid is `σ(x) = 1/2 + tanh(x / 2) / 2
/// = 1/2 + x P'(x²)/Q(x²/4)` with `P'(z) = P(z/4) / 4`, the halving folded into the
/// coefficients (exact: powers of two). Both polynomials in `x²` by Estrin's scheme, the clamp
/// on `x²` (one operation on the chain), `x` divided by the denominator while the numerator is
/// finished: about 30 cycles of latency by the instruction tables, where
/// [`tanh_n`](super::tanh_n) and [`sigmoid_n`](super::sigmoid_n) take 70-80 (their exponential,
/// division and select). Within 4e-7 of `tanh` and 2e-7 of `σ` over all of `f32` (at most
/// 3.0e-7 and 1.5e-7 over every 1009th bit pattern: `fast_activations_are_within_4e_7` below),
/// NaN to NaN (the clamps take `x` second, as in [`exp_n`](super::exact::exp_n)).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
unsafe fn rational_n<L: Lanes, const N: usize, const SIGMOID: bool>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        // Every lane the sigmoid, or every lane `tanh`.
        Rational::<L>::of_lanes(&const { rational_lanes(if SIGMOID { (0, 0) } else { (0, 16) }) })
            .apply_n(x)
    }
}

/// The constants of [`rational_n`] for one lane, `tanh`'s or the sigmoid's: the clamp of
/// `x²`, the clamp of `x` and its negation, the numerator's 7 coefficients, the
/// denominator's 4, and what is added at the end (1/2 for the sigmoid, `-0` for `tanh`,
/// which changes nothing, not even a zero's sign).
const fn rational_row(sigmoid: bool) -> [f32; 15] {
    // For the sigmoid, x = 2y: the clamp doubles, z = x² is 4y².
    let clamp = if sigmoid {
        2.0 * TANH_FAST_CLAMP
    } else {
        TANH_FAST_CLAMP
    };
    let (p, q) = RATIONAL[sigmoid as usize];
    let mut row = [0.0; 15];
    row[0] = clamp * clamp;
    row[1] = clamp;
    row[2] = -clamp;
    let mut j = 0;
    while j < 7 {
        row[3 + j] = p[j];
        j += 1;
    }
    let mut j = 0;
    while j < 4 {
        row[10 + j] = q[j];
        j += 1;
    }
    row[14] = if sigmoid { 0.5 } else { -0.0 };
    row
}

/// `yes` in lanes `from..to` of 16, `no` in the others.
pub(crate) const fn lanes_where(from: usize, to: usize, yes: f32, no: f32) -> [f32; 16] {
    let mut v = [no; 16];
    let mut k = from;
    while k < to && k < 16 {
        v[k] = yes;
        k += 1;
    }
    v
}

/// [`rational_row`] per lane of 16: `tanh` in lanes `tanh.0..tanh.1`, the sigmoid in the
/// others (an LSTM's gates `[i; f; g; o]` in one register: `tanh` for `g`). Row-major.
pub(crate) const fn rational_lanes(tanh: (usize, usize)) -> [[f32; 16]; 15] {
    let (of_tanh, of_sigmoid) = (rational_row(false), rational_row(true));
    let mut t = [[0.0; 16]; 15];
    let mut j = 0;
    while j < 15 {
        t[j] = lanes_where(tanh.0, tanh.1, of_tanh[j], of_sigmoid[j]);
        j += 1;
    }
    t
}

/// The constants of [`rational_n`] per lane (see [`rational_row`]): each lane `tanh` or the
/// sigmoid, so that one register can hold an LSTM's four gates (`kernels::lstm_step`'s
/// block of a cell of `4H` lanes or fewer), with the bits each lane gets from
/// [`rational_n`].
pub(crate) struct Rational<L: Lanes> {
    clamp2: L::V,
    clamp: [L::V; 2],
    p: [L::V; 7],
    q: [L::V; 4],
    add: L::V,
}

impl<L: Lanes> Rational<L> {
    /// The constants of a table of [`rational_lanes`].
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    #[inline(always)]
    pub(crate) unsafe fn of_lanes(t: &[[f32; 16]; 15]) -> Self {
        // SAFETY: each row holds 16 >= W lanes; the caller's contract. (Loads written out, no
        // closure: see `lstm_block`'s `Regs::load`.)
        unsafe {
            Self {
                clamp2: L::load(t[0].as_ptr()),
                clamp: [L::load(t[1].as_ptr()), L::load(t[2].as_ptr())],
                p: [
                    L::load(t[3].as_ptr()),
                    L::load(t[4].as_ptr()),
                    L::load(t[5].as_ptr()),
                    L::load(t[6].as_ptr()),
                    L::load(t[7].as_ptr()),
                    L::load(t[8].as_ptr()),
                    L::load(t[9].as_ptr()),
                ],
                q: [
                    L::load(t[10].as_ptr()),
                    L::load(t[11].as_ptr()),
                    L::load(t[12].as_ptr()),
                    L::load(t[13].as_ptr()),
                ],
                add: L::load(t[14].as_ptr()),
            }
        }
    }

    /// The function of each lane on `N` registers.
    ///
    /// # Safety
    /// The CPU has `L`'s features.
    #[inline(always)]
    pub(crate) unsafe fn apply_n<const N: usize>(&self, x: [L::V; N]) -> [L::V; N] {
        let (a, b) = (&self.p, &self.q);
        // SAFETY: the caller's contract.
        unsafe {
            let z = each!(L, N, |q| L::min(self.clamp2, L::mul(x[q], x[q])));
            let xc = each!(L, N, |q| L::min(self.clamp[0], L::max(self.clamp[1], x[q])));
            let z2 = each!(L, N, |q| L::mul(z[q], z[q]));
            let z4 = each!(L, N, |q| L::mul(z2[q], z2[q]));
            let p01 = each!(L, N, |q| L::fmadd(a[1], z[q], a[0]));
            let p23 = each!(L, N, |q| L::fmadd(a[3], z[q], a[2]));
            let p45 = each!(L, N, |q| L::fmadd(a[5], z[q], a[4]));
            let lo = each!(L, N, |q| L::fmadd(p23[q], z2[q], p01[q]));
            let hi = each!(L, N, |q| L::fmadd(a[6], z2[q], p45[q]));
            let p = each!(L, N, |q| L::fmadd(hi[q], z4[q], lo[q]));
            let q01 = each!(L, N, |q| L::fmadd(b[1], z[q], b[0]));
            let q23 = each!(L, N, |q| L::fmadd(b[3], z[q], b[2]));
            let den = each!(L, N, |q| L::fmadd(q23[q], z2[q], q01[q]));
            let r = each!(L, N, |q| L::div(xc[q], den[q]));
            each!(L, N, |q| L::fmadd(p[q], r[q], self.add))
        }
    }
}

/// The fast activations' `tanh` ([`rational_n`]).
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn tanh_fast_n<L: Lanes, const N: usize>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe { rational_n::<L, N, false>(x) }
}

/// The fast activations' sigmoid ([`rational_n`]): an absolute, not relative, error near 0.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn sigmoid_fast_n<L: Lanes, const N: usize>(x: [L::V; N]) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe { rational_n::<L, N, true>(x) }
}
