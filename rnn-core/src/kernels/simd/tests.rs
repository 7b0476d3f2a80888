//! The vector activations against `crate::fastmath` and the exact functions.

use super::exact::{exp_n, exp_signed_n};
use super::rational::TANH_FAST_CLAMP;
use super::*;
use crate::fastmath::EXP_LOW;
use alloc::vec::Vec;

/// `f` over `xs` in registers of `L`, the tail padded with zeros.
///
/// # Safety
/// The CPU has `L`'s features.
unsafe fn map_lanes<L: Lanes>(xs: &[f32], f: unsafe fn([L::V; 1]) -> [L::V; 1]) -> Vec<f32> {
    let mut out = Vec::with_capacity(xs.len());
    for chunk in xs.chunks(L::W) {
        let mut lanes = [0.0f32; 16];
        lanes[..chunk.len()].copy_from_slice(chunk);
        // SAFETY: the caller's contract; `lanes` holds 16 >= W floats.
        unsafe {
            let [y] = f([L::load(lanes.as_ptr())]);
            L::store(lanes.as_mut_ptr(), y);
        }
        out.extend_from_slice(&lanes[..chunk.len()]);
    }
    out
}

#[target_feature(enable = "avx2,fma")]
fn fast_avx2(xs: &[f32], tanh: bool) -> Vec<f32> {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe {
        if tanh {
            map_lanes::<Avx2>(xs, tanh_fast_n::<Avx2, 1>)
        } else {
            map_lanes::<Avx2>(xs, sigmoid_fast_n::<Avx2, 1>)
        }
    }
}

#[target_feature(enable = "avx512f")]
fn fast_avx512(xs: &[f32], tanh: bool) -> Vec<f32> {
    // SAFETY: the CPU has AVX-512F (this function's features).
    unsafe {
        if tanh {
            map_lanes::<Avx512>(xs, tanh_fast_n::<Avx512, 1>)
        } else {
            map_lanes::<Avx512>(xs, sigmoid_fast_n::<Avx512, 1>)
        }
    }
}

#[target_feature(enable = "avx2,fma")]
fn exp_of_negated(xs: &[f32], folded: bool) -> Vec<f32> {
    // SAFETY: the CPU has AVX2 and FMA (this function's features).
    unsafe {
        if folded {
            map_lanes::<Avx2>(xs, exp_signed_n::<Avx2, 1, true>)
        } else {
            map_lanes::<Avx2>(xs, |[x]| exp_n::<Avx2, 1>([Avx2::sub(Avx2::zero(), x)]))
        }
    }
}

/// The sigmoid's `e^-x` with the negation folded in has the bits of `e^(0 - x)`.
#[test]
fn exp_of_minus_x_folded_is_exp_of_the_negation_bit_for_bit() {
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
        return;
    }
    let xs = super::super::tests::every_1009th(&[
        EXP_LOW,
        -EXP_LOW,
        88.0,
        -88.0,
        0.0,
        -0.0,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::NAN,
    ]);
    // SAFETY: checked above.
    let (folded, negated) = unsafe { (exp_of_negated(&xs, true), exp_of_negated(&xs, false)) };
    assert_eq!(testing::bits([&folded]), testing::bits([&negated]));
}

/// Every 1009th bit pattern of each sign, and the edges.
fn sweep() -> Vec<f32> {
    super::super::tests::every_1009th(&[
        TANH_FAST_CLAMP,
        -TANH_FAST_CLAMP,
        2.0 * TANH_FAST_CLAMP,
        f32::MAX,
        f32::MIN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
    ])
}

/// The fast tanh and sigmoid stay within their documented distance of the exact
/// functions (f64) over all of `f32`, keep the sign of zero, give NaN for NaN, and write
/// the same bits in both widths.
#[test]
fn fast_activations_are_within_4e_7() {
    if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
        return;
    }
    let xs = sweep();
    type Reference = fn(f64) -> f64;
    let cases: [(&str, bool, Reference, f64); 2] = [
        ("tanh", true, f64::tanh, 4e-7),
        ("sigmoid", false, |x| 1.0 / (1.0 + (-x).exp()), 2e-7),
    ];
    for (name, tanh, reference, bound) in cases {
        // SAFETY: checked above.
        let ys = unsafe { fast_avx2(&xs, tanh) };
        let mut worst = 0.0f64;
        for (&x, &y) in xs.iter().zip(&ys) {
            let err = (f64::from(y) - reference(f64::from(x))).abs();
            assert!(err <= bound, "{name}({x:e}) = {y:e}: off by {err:e}");
            worst = worst.max(err);
        }
        // The bound is tight: a looser approximation would not pass.
        assert!(worst > bound / 4.0, "{name}: worst {worst:e}");
        // SAFETY: checked above.
        let nan = unsafe { fast_avx2(&[f32::NAN], tanh) };
        assert!(nan[0].is_nan(), "{name}(NaN) = {}", nan[0]);
        if std::is_x86_feature_detected!("avx512f") {
            // SAFETY: checked just above.
            let wide = unsafe { fast_avx512(&xs, tanh) };
            assert_eq!(
                testing::bits([&wide]),
                testing::bits([&ys]),
                "{name}: AVX-512 and AVX2 differ"
            );
        }
    }
    // SAFETY: checked above.
    let zeros = unsafe { fast_avx2(&[0.0, -0.0], true) };
    assert_eq!(testing::bits([&zeros]), testing::bits([&[0.0, -0.0]]));
}
