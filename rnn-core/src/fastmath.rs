//! Vectorisable `exp`, `sigmoid` and `tanh` for `f32`.
//!
//! The scalar `expf`/`tanhf` of libm are calls LLVM cannot vectorise, and they took about half of
//! an LSTM step at small sizes. These versions are branch-free arithmetic on `f32` and its bits
//! (Cephes' range reduction and minimax polynomials), so a loop over a slice compiles to SIMD.
//! Accuracy against libm, over the whole `f32` range (see the tests): `exp` within 2 ulp,
//! `sigmoid` and `tanh` within 3 ulp for normal results; results that underflow below
//! `f32::MIN_POSITIVE` (subnormals) may be flushed to zero. `f64` keeps libm everywhere.

// The coefficients are Cephes' published values, kept digit for digit.
#![allow(clippy::excessive_precision)]

/// `1.5 * 2^23`: adding it rounds an `f32` of magnitude below `2^22` to an integer, which then
/// sits in the low mantissa bits.
pub(crate) const MAGIC: f32 = 12_582_912.0;

/// `2^n` from the integer `n` in `[-126, 127]`, built from the bits. (Integer arithmetic only:
/// Rust's saturating `f32 as i32` does not vectorise.)
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// Above this `e^x` overflows `f32` (`ln f32::MAX`).
pub(crate) const EXP_HIGH: f32 = 88.722_84;
/// Below this `e^x` is subnormal (`ln f32::MIN_POSITIVE`); such results are flushed to 0.
pub(crate) const EXP_LOW: f32 = -87.336_54;

/// `e^x`: Cephes `expf`. Overflows to `+inf` above `ln f32::MAX`, flushes subnormal results to 0.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    const LOG2E: f32 = core::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    let xc = x.clamp(EXP_LOW, EXP_HIGH);
    // n = round(x / ln 2), as a float and as an integer read from the bits.
    let t = xc * LOG2E + MAGIC;
    let n = t - MAGIC;
    let ni = t.to_bits().wrapping_sub(MAGIC.to_bits()) as i32;
    let r = xc - n * C1 - n * C2;
    let z = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_2e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5.000_000_1e-1;
    // 2^n in two halves, so that n = 128 (just below overflow) and n = -126 both stay in range.
    let half = ni >> 1;
    let y = (p * z + r + 1.0) * pow2i(half) * pow2i(ni - half);
    if x > EXP_HIGH {
        f32::INFINITY
    } else if x < EXP_LOW {
        0.0
    } else {
        y
    }
}

/// The logistic sigmoid `1 / (1 + e^-x)`.
#[inline(always)]
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + exp(-x))
}

/// `tanh(x)`: an odd polynomial near 0 (Cephes `tanhf`), `1 - 2 / (e^{2|x|} + 1)` elsewhere.
#[inline(always)]
pub fn tanh(x: f32) -> f32 {
    let a = x.abs();
    let z = x * x;
    let small =
        ((((-5.704_988_7e-3 * z + 2.063_908_9e-2) * z - 5.373_971_6e-2) * z + 1.333_144_2e-1) * z
            - 3.333_328_2e-1)
            * z
            * x
            + x;
    let large = 1.0 - 2.0 / (exp(2.0 * a) + 1.0);
    let large = if x < 0.0 { -large } else { large };
    if a < 0.625 { small } else { large }
}

/// Distance in units in the last place between two finite `f32` of the same sign (for the
/// accuracy tests here and of the vector versions in `kernels`).
#[cfg(test)]
pub(crate) fn ulps(a: f32, b: f32) -> u32 {
    if a == b {
        return 0;
    }
    if a.is_sign_negative() != b.is_sign_negative() {
        return u32::MAX;
    }
    a.to_bits().abs_diff(b.to_bits())
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// Every 331st `f32` bit pattern, both signs, plus the edges: about 13 million values.
    fn sweep(mut check: impl FnMut(f32)) {
        let mut bits: u32 = 0;
        while bits < 0x7f80_0000 {
            let x = f32::from_bits(bits);
            check(x);
            check(-x);
            bits += 331;
        }
        let edges = [
            0.0,
            -0.0,
            0.625,
            9.0,
            EXP_HIGH,
            EXP_LOW,
            88.7228,
            -87.3365,
            f32::MAX,
        ];
        for x in edges {
            check(x);
            check(-x);
            check(f32::from_bits(x.to_bits() + 1));
            check(f32::from_bits(x.to_bits().saturating_sub(1)));
        }
        // Densely around the ends of exp's range.
        for k in 0..20_000u32 {
            check(f32::from_bits(EXP_HIGH.to_bits() - k));
            check(f32::from_bits((-EXP_LOW).to_bits() - k));
            check(-f32::from_bits((-EXP_LOW).to_bits() + k));
        }
        check(f32::MIN);
    }

    fn check_against(
        name: &str,
        ours: impl Fn(f32) -> f32,
        reference: impl Fn(f64) -> f64,
        max_ulps: u32,
    ) {
        let mut worst = (0u32, 0.0f32);
        sweep(|x| {
            let want = reference(f64::from(x)) as f32;
            let got = ours(x);
            if got.is_nan() || want.is_nan() {
                assert!(
                    got.is_nan() && want.is_nan(),
                    "{name}({x:e}) = {got:e}, want {want:e}"
                );
                return;
            }
            if want.abs() < f32::MIN_POSITIVE {
                let err = (got - want).abs();
                assert!(
                    err <= f32::MIN_POSITIVE,
                    "{name}({x:e}) = {got:e}, want {want:e}"
                );
                return;
            }
            let u = ulps(got, want);
            if u > worst.0 {
                worst = (u, x);
            }
        });
        assert!(
            worst.0 <= max_ulps,
            "{name}: {} ulp at x = {:e}",
            worst.0,
            worst.1
        );
        std::println!("{name}: worst {} ulp at x = {:e}", worst.0, worst.1);
    }

    #[test]
    fn exp_is_within_2_ulp_of_libm() {
        check_against("exp", exp, f64::exp, 2);
        assert_eq!(exp(89.0), f32::INFINITY);
        assert_eq!(exp(-88.0), 0.0);
        assert!(exp(f32::NAN).is_nan());
    }

    #[test]
    fn sigmoid_is_within_3_ulp_of_libm() {
        check_against("sigmoid", sigmoid, |x| 1.0 / (1.0 + (-x).exp()), 3);
    }

    #[test]
    fn tanh_is_within_3_ulp_of_libm() {
        check_against("tanh", tanh, f64::tanh, 3);
        assert!(tanh(f32::NAN).is_nan());
    }
}
