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
const MAGIC: f32 = 12_582_912.0;

/// `2^n` from the integer `n` in `[-126, 127]`, built from the bits. (Integer arithmetic only:
/// Rust's saturating `f32 as i32` does not vectorise.)
#[inline(always)]
fn pow2i(n: i32) -> f32 {
    f32::from_bits(((n + 127) as u32) << 23)
}

/// Above this `e^x` overflows `f32` (`ln f32::MAX`).
const EXP_HIGH: f32 = 88.722_84;
/// Below this `e^x` is subnormal (`ln f32::MIN_POSITIVE`); such results are flushed to 0.
const EXP_LOW: f32 = -87.336_54;

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

/// The same functions on eight lanes with AVX2 + FMA intrinsics. (Autovectorisation of the
/// scalar code chose interleaved loops that left the short gate blocks, 20 to 128 values, to a
/// scalar epilogue, and a scalar `exp` tail cost as much as the vector part.)
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod avx2 {
    use super::{EXP_LOW, MAGIC};
    use core::arch::x86_64::*;

    /// `[e for q in 0..n]` for vectors, as a plain loop: `array::from_fn` and `map` made the
    /// compiler generate a copy of their machinery for every closure (a fifth of a user
    /// crate's LLVM IR).
    macro_rules! each {
        ($n:expr, |$q:ident| $e:expr) => {{
            let mut out = [_mm256_setzero_ps(); $n];
            for $q in 0..$n {
                out[$q] = $e;
            }
            out
        }};
    }
    pub(crate) use each;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(v: f32) -> __m256 {
        _mm256_set1_ps(v)
    }

    /// `2^n` for integer lanes `n` in `[-126, 127]`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn pow2i(n: __m256i) -> __m256 {
        _mm256_castsi256_ps(_mm256_slli_epi32::<23>(_mm256_add_epi32(
            n,
            _mm256_set1_epi32(127),
        )))
    }

    /// `e^x` on eight lanes for what [`sigmoid8`] and [`tanh8`] need: [`super::exp`]'s range
    /// reduction and polynomial (fused steps), with `x` clamped to `[EXP_LOW, 88]` so that one
    /// power of two covers the range (`n <= 127`), instead of `exp`'s exact overflow and
    /// underflow. Both callers only add 1 to the result, so `e^88 ≈ 1.7e38` in place of a larger
    /// value or infinity changes nothing they return beyond subnormals. NaN propagates: the
    /// clamps take `x` as their second operand, which `maxps`/`minps` return for NaN.
    ///
    /// `N` vectors at a time, each step for all of them before the next: the chains are
    /// independent, and side by side in program order the out-of-order core overlaps them
    /// (one after the other, a ~100-cycle chain per vector filled its scheduler and ran them
    /// nearly serially).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn exp8_clamped<const N: usize>(x: [__m256; N]) -> [__m256; N] {
        let xc = each!(N, |q| _mm256_min_ps(
            splat(88.0),
            _mm256_max_ps(splat(EXP_LOW), x[q])
        ));
        let t = each!(N, |q| _mm256_fmadd_ps(
            xc[q],
            splat(core::f32::consts::LOG2_E),
            splat(MAGIC)
        ));
        // 2^n from the integer in the low bits of t.
        let pow2 = each!(N, |q| pow2i(_mm256_sub_epi32(
            _mm256_castps_si256(t[q]),
            _mm256_set1_epi32(MAGIC.to_bits() as i32),
        )));
        let n = each!(N, |q| _mm256_sub_ps(t[q], splat(MAGIC)));
        let r = each!(N, |q| _mm256_fnmadd_ps(n[q], splat(0.693_359_4), xc[q]));
        let r = each!(N, |q| _mm256_fnmadd_ps(n[q], splat(-2.121_944_4e-4), r[q]));
        let z = each!(N, |q| _mm256_mul_ps(r[q], r[q]));
        // Cephes' polynomial p(r) = c0 + c1 r + ... + c5 r^5 in Estrin's scheme: three
        // independent pairs, then two steps in r² (12 cycles of latency instead of Horner's 20).
        let p45 = each!(N, |q| _mm256_fmadd_ps(
            splat(1.987_569_1e-4),
            r[q],
            splat(1.398_2e-3)
        ));
        let p23 = each!(N, |q| _mm256_fmadd_ps(
            splat(8.333_452e-3),
            r[q],
            splat(4.166_579_6e-2)
        ));
        let p01 = each!(N, |q| _mm256_fmadd_ps(
            splat(1.666_666_5e-1),
            r[q],
            splat(5.000_000_1e-1)
        ));
        let p = each!(N, |q| _mm256_fmadd_ps(p45[q], z[q], p23[q]));
        let p = each!(N, |q| _mm256_fmadd_ps(p[q], z[q], p01[q]));
        let y = each!(N, |q| _mm256_fmadd_ps(p[q], z[q], r[q]));
        each!(N, |q| _mm256_mul_ps(
            _mm256_add_ps(y[q], splat(1.0)),
            pow2[q]
        ))
    }

    /// [`super::sigmoid`] on `N` vectors of eight lanes (interleaved as in [`exp8_clamped`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn sigmoid8n<const N: usize>(x: [__m256; N]) -> [__m256; N] {
        let e = exp8_clamped(each!(N, |q| _mm256_sub_ps(_mm256_setzero_ps(), x[q])));
        each!(N, |q| _mm256_div_ps(
            splat(1.0),
            _mm256_add_ps(splat(1.0), e[q])
        ))
    }

    /// [`super::sigmoid`] on eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn sigmoid8(x: __m256) -> __m256 {
        sigmoid8n([x])[0]
    }

    /// [`super::tanh`] on `N` vectors of eight lanes (interleaved as in [`exp8_clamped`]).
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn tanh8n<const N: usize>(x: [__m256; N]) -> [__m256; N] {
        let a = each!(N, |q| _mm256_andnot_ps(splat(-0.0), x[q]));
        let z = each!(N, |q| _mm256_mul_ps(x[q], x[q]));
        let mut p = [splat(-5.704_988_7e-3); N];
        for c in [
            2.063_908_9e-2,
            -5.373_971_6e-2,
            1.333_144_2e-1,
            -3.333_328_2e-1,
        ] {
            p = each!(N, |q| _mm256_fmadd_ps(p[q], z[q], splat(c)));
        }
        let small = each!(N, |q| _mm256_fmadd_ps(
            _mm256_mul_ps(p[q], z[q]),
            x[q],
            x[q]
        ));
        let e = exp8_clamped(each!(N, |q| _mm256_add_ps(a[q], a[q])));
        let large = each!(N, |q| _mm256_sub_ps(
            splat(1.0),
            _mm256_div_ps(splat(2.0), _mm256_add_ps(e[q], splat(1.0)))
        ));
        // The sign of x back on; NaN fails the comparison and takes `large`, which is NaN (as
        // are `a` and `e`).
        each!(N, |q| _mm256_blendv_ps(
            _mm256_or_ps(large[q], _mm256_and_ps(x[q], splat(-0.0))),
            small[q],
            _mm256_cmp_ps::<_CMP_LT_OQ>(a[q], splat(0.625)),
        ))
    }

    /// [`super::tanh`] on eight lanes.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn tanh8(x: __m256) -> __m256 {
        tanh8n([x])[0]
    }

    /// Lanes `0..n` set.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) fn lane_mask(n: usize) -> __m256i {
        _mm256_cmpgt_epi32(
            _mm256_set1_epi32(n as i32),
            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
        )
    }

    /// Eight lanes from `p`, or only the lanes of `mask` (the others read as 0) if `PARTIAL`.
    ///
    /// # Safety
    /// The eight (or masked) `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn load<const PARTIAL: bool>(p: *const f32, mask: __m256i) -> __m256 {
        // SAFETY: the caller's contract.
        unsafe {
            if PARTIAL {
                _mm256_maskload_ps(p, mask)
            } else {
                _mm256_loadu_ps(p)
            }
        }
    }

    /// Stores `v` at `p`: all eight lanes, or only the first `n` if `PARTIAL` (through a buffer:
    /// AVX2's masked store is slow on some CPUs).
    ///
    /// # Safety
    /// The eight (or `n`) `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(crate) unsafe fn store<const PARTIAL: bool>(p: *mut f32, v: __m256, n: usize) {
        // SAFETY: the caller's contract; `buf` holds eight `f32`.
        unsafe {
            if PARTIAL {
                let mut buf = [0.0f32; 8];
                _mm256_storeu_ps(buf.as_mut_ptr(), v);
                core::ptr::copy_nonoverlapping(buf.as_ptr(), p, n);
            } else {
                _mm256_storeu_ps(p, v);
            }
        }
    }

    /// A group of `NG` blocks of eight units of a recurrent cell, in column `b` from unit `j`;
    /// its last block ends at `H` (masked) if `LAST_PARTIAL`. See [`unit_groups`].
    #[derive(Clone, Copy)]
    pub(crate) struct UnitGroup<const H: usize, const NG: usize, const LAST_PARTIAL: bool> {
        /// The column (sample of the batch).
        pub(crate) b: usize,
        /// The first unit.
        pub(crate) j: usize,
    }

    impl<const H: usize, const NG: usize, const LAST_PARTIAL: bool> UnitGroup<H, NG, LAST_PARTIAL> {
        /// Block `q` of a per-unit matrix (`H` rows per column) at `base`.
        ///
        /// # Safety
        /// `base` points to an `H x B` matrix with `b < B`.
        #[inline(always)]
        pub(crate) unsafe fn unit(self, base: *mut f32, q: usize) -> *mut f32 {
            // SAFETY: the caller's contract; the group's blocks are inside `H`.
            unsafe { base.add(self.b * H + self.j + 8 * q) }
        }

        /// Block `q` of gate `k` of a gate matrix (`K` gates of `H` rows per column) at `base`.
        ///
        /// # Safety
        /// `base` points to a `K H x B` matrix with `b < B`, and `k < K`.
        #[inline(always)]
        pub(crate) unsafe fn gate<const K: usize>(
            self,
            base: *mut f32,
            k: usize,
            q: usize,
        ) -> *mut f32 {
            // SAFETY: the caller's contract; the group's blocks are inside `H`.
            unsafe { base.add(self.b * K * H + k * H + self.j + 8 * q) }
        }

        /// The eight lanes of block `q` at `p` (a partial block's masked lanes read as 0).
        ///
        /// # Safety
        /// The block's units at `p` are readable.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        pub(crate) unsafe fn get(self, p: *const f32, q: usize) -> __m256 {
            // SAFETY: the caller's contract; a partial block's masked lanes are not read.
            unsafe {
                if LAST_PARTIAL && q == NG - 1 {
                    load::<true>(p, lane_mask(H % 8))
                } else {
                    load::<false>(p, lane_mask(8))
                }
            }
        }

        /// Stores block `q` at `p` (not a partial block's masked lanes).
        ///
        /// # Safety
        /// The block's units at `p` are writable.
        #[inline]
        #[target_feature(enable = "avx2,fma")]
        pub(crate) unsafe fn put(self, p: *mut f32, q: usize, v: __m256) {
            // SAFETY: the caller's contract; a partial block's masked lanes are not written.
            unsafe {
                if LAST_PARTIAL && q == NG - 1 {
                    store::<true>(p, v, H % 8);
                } else {
                    store::<false>(p, v, 8);
                }
            }
        }
    }

    /// Runs `$group::<H, NG, LAST_PARTIAL>($args.., UnitGroup { b, j })` over the units of a
    /// recurrent cell:
    /// for each of the `$b` columns, groups of four blocks of eight units from unit `j`, then
    /// one last group of one to four blocks, its last block partial if `H % 8 != 0`. A cell's
    /// activations go through each stage for all blocks of a group together, so that their
    /// long, independent chains interleave (one block after another, they barely overlapped).
    /// The last group's shape is chosen by a constant (an integer: a constant tuple is not
    /// pruned), so only the group functions a cell needs are generated.
    macro_rules! unit_groups {
        ($group:ident::<$h:ident>($($arg:expr),*), $b:ident) => {{
            let full_groups = const { ($h.div_ceil(8) - 1) / 4 };
            for b in 0..$b {
                let j = 32 * full_groups;
                for g in 0..full_groups {
                    $group::<$h, 4, false>($($arg,)* UnitGroup { b, j: 32 * g });
                }
                // (blocks in the last group) * 2 + (its last block is partial).
                match const { (($h.div_ceil(8) - 1) % 4 + 1) * 2 + !$h.is_multiple_of(8) as usize } {
                    2 => $group::<$h, 1, false>($($arg,)* UnitGroup { b, j }),
                    3 => $group::<$h, 1, true>($($arg,)* UnitGroup { b, j }),
                    4 => $group::<$h, 2, false>($($arg,)* UnitGroup { b, j }),
                    5 => $group::<$h, 2, true>($($arg,)* UnitGroup { b, j }),
                    6 => $group::<$h, 3, false>($($arg,)* UnitGroup { b, j }),
                    7 => $group::<$h, 3, true>($($arg,)* UnitGroup { b, j }),
                    8 => $group::<$h, 4, false>($($arg,)* UnitGroup { b, j }),
                    _ => $group::<$h, 4, true>($($arg,)* UnitGroup { b, j }),
                }
            }
        }};
    }
    pub(crate) use unit_groups;

    /// `x = tanh(x)` (`TANH`) or `x = sigmoid(x)` in groups of eight, the tail padded into a
    /// full group.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn map<const TANH: bool>(xs: &mut [f32]) {
        let f = |v| if TANH { tanh8(v) } else { sigmoid8(v) };
        let mut groups = xs.chunks_exact_mut(8);
        for g in &mut groups {
            // SAFETY: `g` holds exactly 8 f32; unaligned loads and stores.
            unsafe { _mm256_storeu_ps(g.as_mut_ptr(), f(_mm256_loadu_ps(g.as_ptr()))) };
        }
        let tail = groups.into_remainder();
        if !tail.is_empty() {
            let mut buf = [0.0f32; 8];
            buf[..tail.len()].copy_from_slice(tail);
            // SAFETY: `buf` holds exactly 8 f32.
            unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), f(_mm256_loadu_ps(buf.as_ptr()))) };
            tail.copy_from_slice(&buf[..tail.len()]);
        }
    }
}

/// [`sigmoid`] of every element, in place (AVX2 + FMA when the CPU has it).
#[inline]
pub fn sigmoid_slice(xs: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if crate::ops::use_avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
        unsafe { avx2::map::<false>(xs) };
        return;
    }
    for x in xs {
        *x = sigmoid(*x);
    }
}

/// [`tanh`] of every element, in place (AVX2 + FMA when the CPU has it).
#[inline]
pub fn tanh_slice(xs: &mut [f32]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if crate::ops::use_avx2() {
        // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
        unsafe { avx2::map::<true>(xs) };
        return;
    }
    for x in xs {
        *x = tanh(*x);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    /// Distance in units in the last place between two finite `f32` of the same sign.
    fn ulps(a: f32, b: f32) -> u32 {
        if a == b {
            return 0;
        }
        if a.is_sign_negative() != b.is_sign_negative() {
            return u32::MAX;
        }
        a.to_bits().abs_diff(b.to_bits())
    }

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

    /// The slice functions (the AVX2 path on a CPU that has it) over every 1009th bit pattern
    /// and the edges, in one call each, against the same references.
    #[test]
    fn slice_versions_are_within_3_ulp_of_libm() {
        let mut xs = std::vec::Vec::new();
        let mut bits: u32 = 0;
        while bits < 0x7f80_0000 {
            xs.push(f32::from_bits(bits));
            xs.push(-f32::from_bits(bits));
            bits += 1009;
        }
        xs.extend([
            EXP_HIGH,
            EXP_LOW,
            -EXP_HIGH,
            -EXP_LOW,
            0.625,
            -0.625,
            f32::MAX,
            f32::MIN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
        ]);
        type Reference = fn(f64) -> f64;
        type Case = (&'static str, fn(&mut [f32]), Reference);
        let cases: [Case; 2] = [
            ("sigmoid_slice", sigmoid_slice, |x| 1.0 / (1.0 + (-x).exp())),
            ("tanh_slice", tanh_slice, f64::tanh),
        ];
        for (name, f, reference) in cases {
            let mut ys = xs.clone();
            f(&mut ys);
            let mut worst = 0;
            for (&x, &got) in xs.iter().zip(&ys) {
                let want = reference(f64::from(x)) as f32;
                if want.is_nan() || got.is_nan() {
                    assert!(
                        want.is_nan() && got.is_nan(),
                        "{name}({x:e}) = {got:e}, want {want:e}"
                    );
                } else if want.abs() < f32::MIN_POSITIVE {
                    assert!(
                        (got - want).abs() <= f32::MIN_POSITIVE,
                        "{name}({x:e}) = {got:e}"
                    );
                } else {
                    worst = worst.max(ulps(got, want));
                }
            }
            assert!(worst <= 3, "{name}: {worst} ulp");
            std::println!("{name}: worst {worst} ulp");
        }
        // A padded tail gives the same values as full groups.
        let short: std::vec::Vec<f32> = (0..29).map(|k| k as f32 * 0.37 - 5.0).collect();
        let mut a = short.clone();
        tanh_slice(&mut a);
        for (k, x) in short.iter().enumerate() {
            let mut one = [*x; 8];
            tanh_slice(&mut one);
            assert_eq!(a[k], one[0]);
        }
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
