//! Batched `f32` products with intrinsics, once for AVX2 + FMA ([`avx2`]) and once for
//! AVX-512F ([`avx512`]): `C (+)= A B` ([`avx2::nn`]) and `C (+)= Aᵀ B` ([`avx2::tn`]), all
//! column-major, every size a const parameter.
//!
//! The generic register tiles of [`super`] (written for LLVM to vectorise) ran these products
//! at 33-66 GFLOP/s on one Zen 4 core (`A B`, `1024 x 256 x 32` and `512 x 128 x 32`) and the
//! `Aᵀ B` tiles far lower; written out with intrinsics, with the accumulators in named
//! registers and every edge a masked load, the same products run at 79-121 (AVX2) and 110-116
//! (AVX-512, whose 32 registers hold a 32 x 8 tile: a quarter of the passes over `A` instead of
//! a sixth) against an FMA peak of 115 (measured by `benches/src/bin/fma_peak.rs`).
//!
//! Both variants come from one template (`template`): the tile shapes and the few vector
//! primitives (load, masked load and store, fused multiply-add, broadcast, horizontal sum)
//! are what differs. Results equal the generic kernels' up to the order of the sums.

mod template;
#[cfg(test)]
mod tests;

/// The kernels with AVX2 + FMA: `A B` in 16 x 6 tiles (12 accumulators, two loads of `A` and
/// one broadcast of `B`: 15 of the 16 registers), 8 x 12 for outputs of at most 8 rows; `Aᵀ B`
/// in 4 x 3 tiles.
pub(crate) mod avx2 {
    use core::arch::x86_64::*;

    type V = __m256;
    const L: usize = 8;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn zero() -> V {
        _mm256_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(x: f32) -> V {
        _mm256_set1_ps(x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fmadd(a: V, b: V, c: V) -> V {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add(a: V, b: V) -> V {
        _mm256_add_ps(a, b)
    }
    /// # Safety
    /// Eight `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn loadu(p: *const f32) -> V {
        // SAFETY: the caller's contract.
        unsafe { _mm256_loadu_ps(p) }
    }
    /// The first `n < 8` lanes from `p`, the others zero (never reading past them).
    ///
    /// # Safety
    /// `n` `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_part(p: *const f32, n: usize) -> V {
        // SAFETY: the caller's contract; the masked lanes are not read.
        unsafe { super::super::simd::load::<true>(p, super::super::simd::lane_mask(n)) }
    }
    /// # Safety
    /// Eight `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn storeu(p: *mut f32, v: V) {
        // SAFETY: the caller's contract.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    /// # Safety
    /// `n` `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_part(p: *mut f32, v: V, n: usize) {
        // SAFETY: the caller's contract.
        unsafe { super::super::simd::store::<true>(p, v, n) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: V) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    super::template::products!(
        "avx2,fma",
        rv = 2,
        nr = 6,
        short_nr = 12,
        tm = 4,
        tn = 3,
        prepack_min_m = 256,
        steps_pack_min_m = 256
    );
}

/// The kernels with AVX-512F: `A B` in 32 x 8 tiles (16 accumulators of the 32 registers),
/// 16 x 16 for outputs of at most 16 rows; `Aᵀ B` in 4 x 3 tiles of 16 lanes. Masked loads and
/// stores use mask registers.
///
/// They pack `A` as the AVX2 kernels do, from 1024 rows only: on a Zen 5 (512-bit FMA units,
/// 48 KiB L1), alternated with the unpacked kernels (`profile`, 6 rounds), LSTM(32, 256) at
/// batch 32 ran whole sequences at 0.82x the time per step and trained at 0.90-0.92x
/// (forward 0.82-0.83x, backward 0.95-0.97x); LSTM(64, 128) was level with the thresholds at
/// 1024 and 1.01-1.02x slower with AVX2's 256.
pub(crate) mod avx512 {
    use core::arch::x86_64::*;

    type V = __m512;
    const L: usize = 16;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn zero() -> V {
        _mm512_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(x: f32) -> V {
        _mm512_set1_ps(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fmadd(a: V, b: V, c: V) -> V {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add(a: V, b: V) -> V {
        _mm512_add_ps(a, b)
    }
    /// # Safety
    /// Sixteen `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn loadu(p: *const f32) -> V {
        // SAFETY: the caller's contract.
        unsafe { _mm512_loadu_ps(p) }
    }
    /// Lanes `0..n` (`n < 16`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mask(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }
    /// The first `n < 16` lanes from `p`, the others zero (masked lanes are not read).
    ///
    /// # Safety
    /// `n` `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_part(p: *const f32, n: usize) -> V {
        // SAFETY: the caller's contract; masked lanes are not read.
        unsafe { _mm512_maskz_loadu_ps(mask(n), p) }
    }
    /// # Safety
    /// Sixteen `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn storeu(p: *mut f32, v: V) {
        // SAFETY: the caller's contract.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    /// # Safety
    /// `n` `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_part(p: *mut f32, v: V, n: usize) {
        // SAFETY: the caller's contract; masked lanes are not written.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), v) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn hsum(v: V) -> f32 {
        _mm512_reduce_add_ps(v)
    }

    super::template::products!(
        "avx512f",
        rv = 2,
        nr = 8,
        short_nr = 16,
        tm = 4,
        tn = 3,
        prepack_min_m = 1024,
        steps_pack_min_m = 1024
    );
}

/// `dst = srcᵀ` for column-major `src: R x C` (`dst: C x R`, column-major): 8 x 8 blocks
/// through AVX registers, the edges one value at a time.
///
/// # Safety
/// The CPU has AVX; `src` holds `R x C` readable and `dst` `C x R` writable `f32`, apart.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn transpose<const R: usize, const C: usize>(src: *const f32, dst: *mut f32) {
    use core::arch::x86_64::*;
    let (r8, c8) = (R - R % 8, C - C % 8);
    // SAFETY: the caller's contract; every access is inside `R x C` (`C x R` for `dst`).
    unsafe {
        for c in (0..c8).step_by(8) {
            for r in (0..r8).step_by(8) {
                let at = src.add(c * R + r);
                let v: [__m256; 8] = core::array::from_fn(|q| _mm256_loadu_ps(at.add(q * R)));
                let t0 = _mm256_unpacklo_ps(v[0], v[1]);
                let t1 = _mm256_unpackhi_ps(v[0], v[1]);
                let t2 = _mm256_unpacklo_ps(v[2], v[3]);
                let t3 = _mm256_unpackhi_ps(v[2], v[3]);
                let t4 = _mm256_unpacklo_ps(v[4], v[5]);
                let t5 = _mm256_unpackhi_ps(v[4], v[5]);
                let t6 = _mm256_unpacklo_ps(v[6], v[7]);
                let t7 = _mm256_unpackhi_ps(v[6], v[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let out = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                let to = dst.add(r * C + c);
                for (q, v) in out.into_iter().enumerate() {
                    _mm256_storeu_ps(to.add(q * C), v);
                }
            }
            for r in r8..R {
                for q in c..c + 8 {
                    *dst.add(r * C + q) = *src.add(q * R + r);
                }
            }
        }
        for c in c8..C {
            for r in 0..R {
                *dst.add(r * C + c) = *src.add(c * R + r);
            }
        }
    }
}

/// `gx1 = w1ᵀ g` (if `gx1` is given) and `gx2 = w2ᵀ g` for `g: R x B`, `w1: R x C1`, `w2: R x
/// C2` (column-major):
/// the input and state gradients of a recurrent cell from its gate gradients, with AVX-512.
/// Computed transposed, `gxᵀ = gᵀ w`, as `A B` products (no horizontal sums, and `gᵀ`'s short
/// columns instead of the dot-product kernel's 4 KiB-apart columns of `w` and `g`, which share
/// their L1 sets), through `gᵀ`, `gx1ᵀ` and `gx2ᵀ` on this function's stack: `B (R + C1 + C2)`
/// values, which the caller keeps to [`TRANSPOSED_MAX`]. Panics if a slice is shorter than
/// its shape.
///
/// # Safety
/// The CPU has AVX-512F (and so AVX2 and FMA).
#[inline(never)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn transposed_products<
    const R: usize,
    const C1: usize,
    const C2: usize,
    const B: usize,
>(
    gx1: Option<&mut [f32]>,
    w1: &[f32],
    gx2: &mut [f32],
    w2: &[f32],
    g: &[f32],
) {
    use core::mem::MaybeUninit;
    assert!(g.len() >= R * B && w1.len() >= R * C1 && w2.len() >= R * C2);
    assert!(gx1.as_ref().is_none_or(|gx1| gx1.len() >= C1 * B) && gx2.len() >= C2 * B);
    let mut gt = MaybeUninit::<[[f32; B]; R]>::uninit();
    let mut t1 = MaybeUninit::<[[f32; B]; C1]>::uninit();
    let mut t2 = MaybeUninit::<[[f32; B]; C2]>::uninit();
    let (gt, t1, t2) = (
        gt.as_mut_ptr().cast::<f32>(),
        t1.as_mut_ptr().cast::<f32>(),
        t2.as_mut_ptr().cast::<f32>(),
    );
    // SAFETY: the lengths were checked above; `transpose` writes every value of `gt` before
    // the products read it, and the products write every value of `t1`, `t2` (not
    // accumulating) before they are transposed out.
    unsafe {
        transpose::<R, B>(g.as_ptr(), gt);
        let gts = core::slice::from_raw_parts(gt, B * R);
        if let Some(gx1) = gx1 {
            avx512::nn::<B, R, C1, 1, R>(
                gts,
                w1,
                core::slice::from_raw_parts_mut(t1, B * C1),
                false,
            );
            transpose::<B, C1>(t1, gx1.as_mut_ptr());
        }
        avx512::nn::<B, R, C2, 1, R>(gts, w2, core::slice::from_raw_parts_mut(t2, B * C2), false);
        transpose::<B, C2>(t2, gx2.as_mut_ptr());
    }
}

/// The most values (`B (R + C1 + C2)`, 256 KiB of `f32`) that [`transposed_products`] keeps on
/// its stack; larger shapes use the dot-product kernel.
pub(crate) const TRANSPOSED_MAX: usize = 64 * 1024;
