//! SIMD building blocks: one register of lanes ([`Lanes`]: eight with AVX2 + FMA, sixteen
//! with AVX-512F), the activations of `crate::fastmath` written once over it, the AVX2 masked
//! loads and stores, and the unit groups the fused cells iterate over.
//!
//! The same functions as `crate::fastmath`, with intrinsics. (Autovectorisation of the
//! scalar code chose interleaved loops that left the short gate blocks, 20 to 128 values, to a
//! scalar epilogue, and a scalar `exp` tail cost as much as the vector part.)
//!
//! Here: [`each!`] and the choice of the exact or fast activations ([`sigmoid_of`],
//! [`tanh_of`], [`tanh_gate_of`]); the register of lanes in `lanes`, the exact activations in
//! `exact`, the rational ones in `rational`, the masked loads and stores in `masked`, the unit
//! groups in `groups`.

// The polynomial constants are Cephes', written as published (as in `crate::fastmath`).
#![allow(clippy::excessive_precision)]

mod exact;
mod groups;
mod lanes;
mod masked;
mod rational;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

pub(crate) use exact::{exp8_clamped, map, sigmoid_n, tanh_n};
pub(crate) use groups::{UnitGroup, unit_groups};
pub(crate) use lanes::{Avx2, Avx512, Lanes};
pub(crate) use masked::{lane_mask, load, store};
pub(crate) use rational::{Rational, lanes_where, rational_lanes, sigmoid_fast_n, tanh_fast_n};

/// `[e for q in 0..n]` for vectors of lanes `L` ([`Lanes`]), as a plain loop:
/// `array::from_fn` and `map` made the compiler generate a copy of their machinery for every
/// closure (a fifth of a user crate's LLVM IR). Used inside the `unsafe` block of a kernel
/// for `$l`'s features (its registers start from `Lanes::zero`).
macro_rules! each {
    ($l:ty, $n:expr, |$q:ident| $e:expr) => {{
        let mut out = [<$l as $crate::kernels::simd::Lanes>::zero(); $n];
        for $q in 0..$n {
            out[$q] = $e;
        }
        out
    }};
}
pub(crate) use each;

/// [`sigmoid_n`], or [`sigmoid_fast_n`] if `FAST`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn sigmoid_of<L: Lanes, const N: usize, const FAST: bool>(
    x: [L::V; N],
) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        if FAST {
            sigmoid_fast_n::<L, N>(x)
        } else {
            sigmoid_n::<L, N>(x)
        }
    }
}

/// [`tanh_n`], or [`tanh_fast_n`] if `FAST`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn tanh_of<L: Lanes, const N: usize, const FAST: bool>(
    x: [L::V; N],
) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        if FAST {
            tanh_fast_n::<L, N>(x)
        } else {
            tanh_n::<L, N>(x)
        }
    }
}

/// An LSTM's `g` gate, `tanh(a)`: `2 σ(2a) - 1` as the generic path computes it (the same
/// bits), or [`tanh_fast_n`] if `FAST`.
///
/// # Safety
/// The CPU has `L`'s features.
#[inline(always)]
pub(crate) unsafe fn tanh_gate_of<L: Lanes, const N: usize, const FAST: bool>(
    a: [L::V; N],
) -> [L::V; N] {
    // SAFETY: the caller's contract.
    unsafe {
        if FAST {
            tanh_fast_n::<L, N>(a)
        } else {
            let (one, two) = (L::splat(1.0), L::splat(2.0));
            let s = sigmoid_n::<L, N>(each!(L, N, |q| L::mul(two, a[q])));
            each!(L, N, |q| L::fmsub(two, s[q], one))
        }
    }
}
