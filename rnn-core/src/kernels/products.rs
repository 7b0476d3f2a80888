//! The products every layer uses, on the path this process runs: `C = A B` ([`affine`],
//! [`affine2`]), `C = Aᵀ B` ([`transpose_mul`], [`transpose_mul2`]), `C += A Bᵀ`
//! ([`acc_outer`], over a whole sequence [`acc_outer_steps`]), the bias gradients and the plain
//! gradient step. Batched `f32` products run the intrinsics of `gemm`, batch 1 those of
//! `gemv`, everything else the generic tiles of `tiles`.

#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::choice::use_avx2;
use super::choice::{SimdPath, simd_path};
use super::tiles::{NnOps, gemm_nn_body, gemm_tn_body, outer_steps};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::{gemm, gemv};
use crate::Float;
use nalgebra::{SMatrix, SVector};

// Safe entry points of the fused kernels (AVX2, and AVX-512 for the cells): each checks the
// CPU (and the kernel its slice lengths) and returns `false`, doing nothing, where it cannot
// run, so that the layers hold no `unsafe` code.

/// Compiles `fast` a second time for AVX2 + FMA (as a nested function with those features, so
/// that LLVM vectorises it for them) and runs that copy when the CPU has them; `slow`
/// otherwise. The generic parameters are given twice: declared, then as the list to call with.
macro_rules! with_avx2 {
    (
        [$($generics:tt)*] [$($names:tt)*]
        ($($arg:ident: $ty:ty),* $(,)?) $(where [$($bounds:tt)*])?
        fast: $fast:expr,
        slow: $slow:expr $(,)?
    ) => {{
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        {
            #[target_feature(enable = "avx2,fma")]
            fn avx2<$($generics)*>($($arg: $ty),*) $(where $($bounds)*)? {
                $fast
            }
            if use_avx2() {
                // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
                return unsafe { avx2::<$($names)*>($($arg),*) };
            }
        }
        $slow
    }};
}

/// `c[M x N] (+)= a[M x K] * b` with `b(kk, j) = b[kk * BRS + j * BCS]`: with `BATCHED`, the
/// `f32` intrinsics of `gemm` where the CPU has them, else (and for `f64`) the generic tiles of
/// [`gemm_nn_body`]. Callers pass `BATCHED = B > 1` (batch 1 has its matrix-vector kernels):
/// branches on constants (`BATCHED`, `S::IS_F32`) are not compiled when false, so a batch-1 or
/// `f64` network does not build kernels it cannot use.
///
/// Every size is a const parameter, so that each product of a network is compiled for its exact
/// shape: loops over 5 or 20 rows unroll instead of running a generic edge loop.
#[inline]
pub(super) fn gemm_nn<
    S: Float,
    const M: usize,
    const K: usize,
    const N: usize,
    const BRS: usize,
    const BCS: usize,
    const BATCHED: bool,
>(
    a: &[S],
    b: &[S],
    c: &mut [S],
    accumulate: bool,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if BATCHED
        && S::IS_F32
        && let (Some(av), Some(bv)) = (S::as_f32(a), S::as_f32(b))
        && let Some(cv) = S::as_f32_mut(c)
    {
        match simd_path() {
            // SAFETY (both): the CPU has the kernel's features (checked by `simd_path`).
            SimdPath::Avx512 => unsafe {
                gemm::avx512::nn::<M, K, N, BRS, BCS>(av, bv, cv, accumulate)
            },
            SimdPath::Avx2 => unsafe {
                gemm::avx2::nn::<M, K, N, BRS, BCS>(av, bv, cv, accumulate)
            },
            SimdPath::Baseline => gemm_nn_body::<f32, 8, false>(
                &NnOps::new::<M, K, N, BRS, BCS>(av, bv, accumulate),
                cv,
            ),
        }
        return;
    }
    with_avx2!(
        [S: Float, const M: usize, const K: usize, const N: usize, const BRS: usize, const BCS: usize]
        [S, M, K, N, BRS, BCS]
        (a: &[S], b: &[S], c: &mut [S], accumulate: bool)
        fast: gemm_nn_body::<S, 16, true>(&NnOps::new::<M, K, N, BRS, BCS>(a, b, accumulate), c),
        slow: gemm_nn_body::<S, 8, false>(&NnOps::new::<M, K, N, BRS, BCS>(a, b, accumulate), c),
    )
}

/// `c[M x N] (+)= aᵀ b` for `a: K x M`, `b: K x N`: the intrinsics of `gemm` or the generic
/// tiles of [`gemm_tn_body`], chosen as in [`gemm_nn`].
#[inline]
pub(super) fn gemm_tn<
    S: Float,
    const M: usize,
    const K: usize,
    const N: usize,
    const BATCHED: bool,
>(
    a: &[S],
    b: &[S],
    c: &mut [S],
    accumulate: bool,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if BATCHED
        && S::IS_F32
        && let (Some(av), Some(bv)) = (S::as_f32(a), S::as_f32(b))
        && let Some(cv) = S::as_f32_mut(c)
    {
        match simd_path() {
            // SAFETY (both): the CPU has the kernel's features (checked by `simd_path`).
            SimdPath::Avx512 => unsafe { gemm::avx512::tn::<M, K, N>(av, bv, cv, accumulate) },
            SimdPath::Avx2 => unsafe { gemm::avx2::tn::<M, K, N>(av, bv, cv, accumulate) },
            SimdPath::Baseline => gemm_tn_body::<f32, 8, false>(M, K, N, av, bv, cv, accumulate),
        }
        return;
    }
    with_avx2!(
        [S: Float, const M: usize, const K: usize, const N: usize] [S, M, K, N]
        (a: &[S], b: &[S], c: &mut [S], accumulate: bool)
        fast: gemm_tn_body::<S, 16, true>(M, K, N, a, b, c, accumulate),
        slow: gemm_tn_body::<S, 8, false>(M, K, N, a, b, c, accumulate),
    )
}

/// `out = w * x + bias` (bias added to every column), or `out += w * x + bias` if `accumulate`.
#[inline]
pub(crate) fn affine<S: Float, const R: usize, const C: usize, const B: usize>(
    out: &mut SMatrix<S, R, B>,
    w: &SMatrix<S, R, C>,
    x: &SMatrix<S, C, B>,
    bias: Option<&SVector<S, R>>,
    accumulate: bool,
) {
    let (wv, xv) = (w.as_slice(), x.as_slice());
    if B == 1 {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && use_avx2()
            && let (Some(o), Some(wv), Some(xv)) = (
                S::as_f32_mut(out.as_mut_slice()),
                S::as_f32(wv),
                S::as_f32(xv),
            )
        {
            let b = bias.and_then(|b| S::as_f32(b.as_slice()));
            // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
            unsafe { gemv::nn::<R, C, 0>([wv, xv], [&[], &[]], [b, None], o, accumulate) };
            return;
        }
        gemm_nn::<S, R, C, B, 1, C, false>(wv, xv, out.as_mut_slice(), accumulate);
    } else {
        // Batched and not accumulating: the product's tiles start from the bias (no pass of
        // its own over `out`).
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if !accumulate
            && S::IS_F32
            && let (Some(o), Some(wv), Some(xv)) = (
                S::as_f32_mut(out.as_mut_slice()),
                S::as_f32(wv),
                S::as_f32(xv),
            )
        {
            let b = bias.and_then(|b| S::as_f32(b.as_slice()));
            if batched_nn2::<R, C, 0, B>([wv, xv], [&[], &[]], [b, None], o) {
                return;
            }
        }
        gemm_nn::<S, R, C, B, 1, C, true>(wv, xv, out.as_mut_slice(), accumulate);
    }
    if let Some(bias) = bias {
        add_bias(out, bias);
    }
}

/// `out[:, b] += bias` for every column `b`.
#[inline]
pub(super) fn add_bias<S: Float, const R: usize, const B: usize>(
    out: &mut SMatrix<S, R, B>,
    bias: &SVector<S, R>,
) {
    let bias = bias.as_slice();
    for o in out.as_mut_slice().chunks_exact_mut(R) {
        for (ov, &bv) in o.iter_mut().zip(bias) {
            *ov += bv;
        }
    }
}

/// `out = w1 * x1 + b1 + w2 * x2 + b2` (the biases added to every column): the two products of
/// a recurrent cell's pre-activation, in one pass over `out` with the `f32` kernels.
#[inline]
pub(crate) fn affine2<
    S: Float,
    const R: usize,
    const C1: usize,
    const C2: usize,
    const B: usize,
>(
    out: &mut SMatrix<S, R, B>,
    w1: &SMatrix<S, R, C1>,
    x1: &SMatrix<S, C1, B>,
    b1: Option<&SVector<S, R>>,
    w2: &SMatrix<S, R, C2>,
    x2: &SMatrix<S, C2, B>,
    b2: Option<&SVector<S, R>>,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if S::IS_F32
        && let (Some(o), Some(w1v), Some(x1v), Some(w2v), Some(x2v)) = (
            S::as_f32_mut(out.as_mut_slice()),
            S::as_f32(w1.as_slice()),
            S::as_f32(x1.as_slice()),
            S::as_f32(w2.as_slice()),
            S::as_f32(x2.as_slice()),
        )
    {
        let b1 = b1.and_then(|b| S::as_f32(b.as_slice()));
        let b2 = b2.and_then(|b| S::as_f32(b.as_slice()));
        if B == 1 {
            if use_avx2() {
                // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
                unsafe { gemv::nn::<R, C1, C2>([w1v, x1v], [w2v, x2v], [b1, b2], o, false) };
                return;
            }
        } else {
            // Batched: both products and both biases in one pass over `out`, each tile
            // starting from the biases (LSTM(32, 256) at batch 32 made two products and two
            // bias passes over its 128 KiB of gates per step).
            if batched_nn2::<R, C1, C2, B>([w1v, x1v], [w2v, x2v], [b1, b2], o) {
                return;
            }
        }
    }
    affine(out, w1, x1, b1, false);
    affine(out, w2, x2, b2, true);
}

/// `gemm::nn2` (`out = a1 b1 + a2 b2 + biases`, batched `f32`) on this CPU's intrinsics path;
/// `false`, doing nothing, on the baseline path.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline]
pub(super) fn batched_nn2<const M: usize, const K1: usize, const K2: usize, const N: usize>(
    first: [&[f32]; 2],
    second: [&[f32]; 2],
    biases: [Option<&[f32]>; 2],
    out: &mut [f32],
) -> bool {
    match simd_path() {
        // SAFETY (both): the CPU has the kernel's features (checked by `simd_path`).
        SimdPath::Avx512 => unsafe {
            gemm::avx512::nn2::<M, K1, K2, N>(first, second, biases, out)
        },
        SimdPath::Avx2 => unsafe { gemm::avx2::nn2::<M, K1, K2, N>(first, second, biases, out) },
        SimdPath::Baseline => return false,
    }
    true
}

/// `gx = wᵀ * g`, or `gx += wᵀ * g` if `accumulate`.
#[inline]
pub(crate) fn transpose_mul<S: Float, const R: usize, const C: usize, const B: usize>(
    gx: &mut SMatrix<S, C, B>,
    w: &SMatrix<S, R, C>,
    g: &SMatrix<S, R, B>,
    accumulate: bool,
) {
    if B == 1 {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && use_avx2()
            && let (Some(o), Some(wv), Some(gv)) = (
                S::as_f32_mut(gx.as_mut_slice()),
                S::as_f32(w.as_slice()),
                S::as_f32(g.as_slice()),
            )
        {
            // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
            unsafe { gemv::tn::<C, R>(wv, gv, o, accumulate) };
            return;
        }
        gemm_tn::<S, C, R, B, false>(w.as_slice(), g.as_slice(), gx.as_mut_slice(), accumulate);
    } else {
        gemm_tn::<S, C, R, B, true>(w.as_slice(), g.as_slice(), gx.as_mut_slice(), accumulate);
    }
}

/// `gx1 = w1ᵀ g` (skipped if `gx1` is `None`: nothing reads the input gradient) and
/// `gx2 = w2ᵀ g`: the input and state gradients of a recurrent cell from its gate gradients.
/// Batched `f32` on the AVX-512 path (within `gemm::TRANSPOSED_MAX`) as two `A B`
/// products of the transposed gradient (`gemm::transposed_products`): W_hhᵀ da of LSTM(32, 256)
/// at batch 32 ran 10-15 % faster so in a scratch harness (the dot-product kernel's columns of
/// `w` and `g` lie 4 KiB apart, on the same L1 sets). From batch 32 only: the transposed
/// products have `B` rows, and below two vectors of them (batch 8: one masked half vector)
/// their tiles load more than they multiply (char_lm, LSTM(32, 128) at batch 8, trained 10 %
/// slower). Elsewhere [`transpose_mul`] twice.
#[inline]
pub(crate) fn transpose_mul2<
    S: Float,
    const R: usize,
    const C1: usize,
    const C2: usize,
    const B: usize,
>(
    gx1: Option<&mut SMatrix<S, C1, B>>,
    w1: &SMatrix<S, R, C1>,
    gx2: &mut SMatrix<S, C2, B>,
    w2: &SMatrix<S, R, C2>,
    g: &SMatrix<S, R, B>,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if B >= 32
        && S::IS_F32
        && const { B * (R + C1 + C2) <= gemm::TRANSPOSED_MAX }
        && simd_path() == SimdPath::Avx512
        && let (Some(w1v), Some(o2), Some(w2v), Some(gv)) = (
            S::as_f32(w1.as_slice()),
            S::as_f32_mut(gx2.as_mut_slice()),
            S::as_f32(w2.as_slice()),
            S::as_f32(g.as_slice()),
        )
    {
        // `S` is `f32` (the casts above succeeded), so this one succeeds too.
        let o1 = gx1.and_then(|gx1| S::as_f32_mut(gx1.as_mut_slice()));
        // SAFETY: the CPU has AVX-512F (checked by `simd_path`).
        unsafe { gemm::transposed_products::<R, C1, C2, B>(o1, w1v, o2, w2v, gv) };
        return;
    }
    if let Some(gx1) = gx1 {
        transpose_mul(gx1, w1, g, false);
    }
    transpose_mul(gx2, w2, g, false);
}

/// `dw += g * xᵀ` (summed over the batch columns).
#[inline]
pub(crate) fn acc_outer<S: Float, const R: usize, const C: usize, const B: usize>(
    dw: &mut SMatrix<S, R, C>,
    g: &SMatrix<S, R, B>,
    x: &SMatrix<S, C, B>,
) {
    // At small batch this is a rank-`B` update: the sequence kernel with one step (the same
    // chain of fused multiply-adds per element as the tiles below, without their edge code).
    // dw[r, c] += Σ_b g[r, b] x[c, b]: an `A B` product with B = xᵀ (strides swapped).
    if B < 8 {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if S::IS_F32
            && use_avx2()
            && let (Some(d), Some(gv), Some(xv)) = (
                S::as_f32_mut(dw.as_mut_slice()),
                S::as_f32(g.as_slice()),
                S::as_f32(x.as_slice()),
            )
        {
            // SAFETY: AVX2 + FMA checked; the pointers come from live `f32` matrices of the
            // shapes `outer_steps` expects.
            unsafe { gemv::outer_steps::<R, C, B>(d, &[(gv.as_ptr(), xv.as_ptr())]) };
            return;
        }
        gemm_nn::<S, R, B, C, C, 1, false>(g.as_slice(), x.as_slice(), dw.as_mut_slice(), true);
    } else {
        gemm_nn::<S, R, B, C, C, 1, true>(g.as_slice(), x.as_slice(), dw.as_mut_slice(), true);
    }
}

/// Whether a layer should leave its weight gradients to one product per sequence
/// ([`acc_outer_steps`]) at batch `b` for scalar `S`. Small batches: a step's update
/// `dw += g xᵀ` is a rank-`b` update that reads and writes all of `dw` for little arithmetic.
/// From batch 8 up the generic kernels ran each step's update as an efficient product whose
/// operands stay in cache, while the sequence-wide product streamed all steps' gradients
/// through every tile (LSTM(64, 128) at batch 32 trained 14 % slower deferred). The `f32`
/// intrinsics (`gemm::nn_steps`) gain from deferring at every batch: a `dw` larger than the
/// core's L2 cache (LSTM(32, 256): 1 MiB) is then read and written once per sequence instead
/// of once per step (that update: 66 -> 95 GFLOP/s with AVX-512 on Zen 4, batch 32, 16 steps).
#[must_use]
#[inline(always)]
pub(crate) fn defer_weight_grads<S: Float>(b: usize) -> bool {
    b < 8 || (S::IS_F32 && simd_path() >= SimdPath::Avx2)
}

/// `dw += Σ_steps g xᵀ` over the `(g, x)` pairs of `steps`: the weight gradient of a whole
/// sequence as one product, so that `dw` is read and written once per tile rather than once per
/// step.
#[inline]
pub(crate) fn acc_outer_steps<'s, S, It, const R: usize, const C: usize, const B: usize>(
    dw: &mut SMatrix<S, R, C>,
    steps: It,
) where
    S: Float,
    It: Iterator<Item = (&'s SMatrix<S, R, B>, &'s SMatrix<S, C, B>)> + Clone,
{
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if S::IS_F32
        && use_avx2()
        && let Some(d) = S::as_f32_mut(dw.as_mut_slice())
    {
        // `S` is `f32` (the cast above succeeded), so every matrix of `steps` holds `f32`.
        let ptrs = steps.map(|(g, x)| (g.as_ptr().cast::<f32>(), x.as_ptr().cast::<f32>()));
        let path = simd_path();
        in_chunks(ptrs, (core::ptr::null(), core::ptr::null()), |chunk| {
            // SAFETY (all three): the CPU has the kernel's features (checked by `use_avx2`
            // and `simd_path`); the pointers come from live `f32` matrices of the shapes the
            // kernels expect (`dw[r, c] += Σ_b g[r, b] x[c, b]`: `A B` with `B = xᵀ`),
            // borrowed for `'s`.
            unsafe {
                if B < 8 {
                    gemv::outer_steps::<R, C, B>(d, chunk);
                } else if path == SimdPath::Avx512 {
                    gemm::avx512::nn_steps::<R, B, C, C, 1>(chunk, d);
                } else {
                    gemm::avx2::nn_steps::<R, B, C, C, 1>(chunk, d);
                }
            }
        });
        return;
    }
    let dw = dw.as_mut_slice();
    with_avx2!(
        ['s, S: Float, It, const R: usize, const C: usize, const B: usize] [S, It, R, C, B]
        (dw: &mut [S], steps: It)
        where [It: Iterator<Item = (&'s SMatrix<S, R, B>, &'s SMatrix<S, C, B>)> + Clone]
        fast: outer_steps::<S, It, R, C, B, 16, 6, true>(dw, steps),
        slow: outer_steps::<S, It, R, C, B, 8, 4, false>(dw, steps),
    )
}

/// [`acc_outer_steps`] for two weight gradients of one gradient `g` per step: `dw1 += Σ g
/// x1ᵀ`, `dw2 += Σ g x2ᵀ` over the `(g, x1, x2)` of `steps` (a recurrent cell's input and
/// hidden weights). On the batched `f32` intrinsics paths both products go through each block
/// of rows of the `g`s together ([`gemm::avx512::nn_steps2`]), so the `g`s are read from memory
/// once; the same bits as two [`acc_outer_steps`] either way.
#[inline]
pub(crate) fn acc_outer_steps2<
    's,
    S,
    It,
    const R: usize,
    const C1: usize,
    const C2: usize,
    const B: usize,
>(
    dw1: &mut SMatrix<S, R, C1>,
    dw2: &mut SMatrix<S, R, C2>,
    steps: It,
) where
    S: Float,
    It: Iterator<
            Item = (
                &'s SMatrix<S, R, B>,
                &'s SMatrix<S, C1, B>,
                &'s SMatrix<S, C2, B>,
            ),
        > + Clone,
{
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if B >= 8
        && S::IS_F32
        && use_avx2()
        && let (Some(d1), Some(d2)) = (
            S::as_f32_mut(dw1.as_mut_slice()),
            S::as_f32_mut(dw2.as_mut_slice()),
        )
    {
        // `S` is `f32` (the casts above succeeded), so every matrix of `steps` holds `f32`.
        let ptrs = steps.map(|(g, x1, x2)| {
            let p = |m: &[S]| m.as_ptr().cast::<f32>();
            (p(g.as_slice()), p(x1.as_slice()), p(x2.as_slice()))
        });
        let null = core::ptr::null();
        let avx512 = simd_path() == SimdPath::Avx512;
        in_chunks(ptrs, (null, null, null), |chunk| {
            let mut pairs = [[(null, null); 32]; 2];
            for (k, &(g, x1, x2)) in chunk.iter().enumerate() {
                pairs[0][k] = (g, x1);
                pairs[1][k] = (g, x2);
            }
            let n = chunk.len();
            let both = [&pairs[0][..n], &pairs[1][..n]];
            // SAFETY: the CPU has the kernel's features (checked by `use_avx2` and
            // `simd_path`); the pointers come from live `f32` matrices of the shapes the
            // kernels expect (`dw[r, c] += Σ_b g[r, b] x[c, b]`: `A B` with `B = xᵀ`),
            // borrowed for `'s`.
            unsafe {
                if avx512 {
                    gemm::avx512::nn_steps2::<R, B, C1, C2>(both, d1, d2);
                } else {
                    gemm::avx2::nn_steps2::<R, B, C1, C2>(both, d1, d2);
                }
            }
        });
        return;
    }
    acc_outer_steps(dw1, steps.clone().map(|(g, x1, _)| (g, x1)));
    acc_outer_steps(dw2, steps.map(|(g, _, x2)| (g, x2)));
}

/// Calls `f` with the items of `items` in order, gathered on the stack in runs of up to 32 (the
/// sequence kernels take slices of step pointers; the steps come from an iterator over the
/// ring of step records). `fill` only initialises the buffer. The last call may be empty.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline(always)]
pub(super) fn in_chunks<T: Copy>(items: impl Iterator<Item = T>, fill: T, mut f: impl FnMut(&[T])) {
    const CHUNK: usize = 32;
    let mut buf = [fill; CHUNK];
    let mut n = 0;
    for item in items {
        buf[n] = item;
        n += 1;
        if n == CHUNK {
            f(&buf);
            n = 0;
        }
    }
    f(&buf[..n]);
}

/// `w -= lr * g`, element by element: the plain gradient step over every weight, compiled for
/// AVX2 too (the baseline build is 4 lanes wide). Multiply then subtract, never fused, so both
/// variants give the same bits.
pub(crate) fn sub_scaled<S: Float>(w: &mut [S], g: &[S], lr: S) {
    #[inline(always)]
    fn body<S: Float>(w: &mut [S], g: &[S], lr: S) {
        for (w, &g) in w.iter_mut().zip(g) {
            *w -= lr * g;
        }
    }
    with_avx2!(
        [S: Float] [S] (w: &mut [S], g: &[S], lr: S)
        fast: body(w, g, lr),
        slow: body(w, g, lr),
    )
}

/// [`acc_bias`] for every matrix of `steps`, in order: a bias gradient of a sequence in one
/// pass (AVX2 for `f32`: the running sums stay in registers; the same additions in the same
/// order, so the same bits as step by step).
#[inline]
pub(crate) fn acc_bias_steps<'s, S, It, const R: usize, const B: usize>(
    db: &mut SVector<S, R>,
    steps: It,
) where
    S: Float,
    It: Iterator<Item = &'s SMatrix<S, R, B>>,
{
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if S::IS_F32
        && use_avx2()
        && let Some(d) = S::as_f32_mut(db.as_mut_slice())
    {
        // `S` is `f32` (the cast above succeeded), so every matrix of `steps` holds `f32`.
        let ptrs = steps.map(|g| g.as_ptr().cast::<f32>());
        in_chunks(ptrs, core::ptr::null(), |chunk| {
            // SAFETY: AVX2 + FMA checked; the pointers come from live `f32` matrices of the
            // shape `bias_steps` expects, borrowed for `'s`.
            unsafe { gemv::bias_steps::<R, B>(d, chunk) }
        });
        return;
    }
    for g in steps {
        acc_bias(db, g);
    }
}

/// `db += Σ_b g[:, b]`.
#[inline]
pub(crate) fn acc_bias<S: Float, const R: usize, const B: usize>(
    db: &mut SVector<S, R>,
    g: &SMatrix<S, R, B>,
) {
    let db = db.as_mut_slice();
    for gc in g.as_slice().chunks_exact(R) {
        for (d, &gv) in db.iter_mut().zip(gc) {
            *d += gv;
        }
    }
}
