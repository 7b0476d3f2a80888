//! Every kernel in one place, and all the crate's SIMD and `unsafe` code with them: which of
//! them run on this machine (`choice`), the matrix products every layer uses (this file), the
//! batched `f32` products with intrinsics (`gemm`: AVX2 and AVX-512), the batch-1
//! matrix-vector kernels (`gemv`), the building blocks (`simd`: one register of eight AVX2 or
//! sixteen AVX-512 lanes, activations over it, masked loads and stores), and the fused cells
//! (`lstm_cell`, `gru_cell`: both widths; `logsoftmax`: AVX2). Layers call the safe entry
//! points (`lstm_cell_simd`, ...), which check the CPU and fall back by returning `false`.
//!
//! The matrix products work on column-major slices.
//!
//! Three product shapes cover every layer: `C = A B` ([`affine`]), `C = Aᵀ B`
//! ([`transpose_mul`]) and `C += A Bᵀ` ([`acc_outer`]). None allocates: the AVX2 and AVX-512
//! `A B` kernels pack blocks of a large `A` into a panel on the stack, and a layer that reuses
//! its weights over a sequence can pack them once into storage it allocated at construction
//! ([`Packed`], [`affine2_packed`]). nalgebra's own fixed-size `gemm` strides through memory
//! element by element and was 2-5x slower here.
//!
//! Which code runs is chosen once per process ([`simd_path`]): with the `std` feature on
//! x86-64, `f32` products run the intrinsics of `gemm` (AVX-512F where the CPU has it, else
//! AVX2 + FMA) and at batch 1 those of `gemv`; `f64` and the baseline path run the generic
//! register-tiled kernels below (written so that LLVM vectorises them), compiled twice: for the
//! baseline target (SSE2, what a default build may assume) and for AVX2 + FMA. So the library
//! is fast without `-C target-cpu=native`. The paths round differently (fused multiply-adds,
//! the order of sums), so results can differ in the last bits between machines, never within
//! one process; `RNN_SIMD` pins the path. On the AVX-512 path the fused cells run 256 or 512
//! bits wide, whichever measured faster on this CPU at the first detection (`choice`, which
//! holds the detection, says how and what it costs; [`kernel_choice`] reports it): both widths
//! write the same bits.

use crate::Float;
use nalgebra::{SMatrix, SVector};

mod choice;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod gemm;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod gemv;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod gru_cell;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod logsoftmax;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod lstm_cell;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod simd;

pub use choice::{FusedCell, KernelChoice, SimdPath, kernel_choice, simd_path};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use choice::{use_avx2, wide_cell};

// Safe entry points of the fused kernels (AVX2, and AVX-512 for the cells): each checks the
// CPU (and the kernel its slice lengths) and returns `false`, doing nothing, where it cannot
// run, so that the layers hold no `unsafe` code.

/// Runs `f` compiled for AVX2 + FMA where the CPU has them, else as it is: for the layers'
/// pointwise loops (a recurrent cell's backward), which a default build compiles for SSE2
/// only. `f` must be an `#[inline(always)]` closure calling `#[inline(always)]` code, so that
/// its loops are inlined into the AVX2 copy and vectorised 8 (`f32`) or 4 (`f64`) wide (a
/// plain closure stayed a call to code compiled without AVX2). Without fast-math LLVM contracts
/// nothing, so both copies compute the same bits. (The batched backward of LSTM(32, 256) and
/// GRU(64, 128) ran 6-17 % slower in the default build than with `-C target-cpu=native`.)
/// At batch 1 (`B == 1`) `f` runs as it is: there the vectorised loop over 20 units, with its
/// remainder and overlap checks, made training steps 5-8 % slower.
#[inline(always)]
pub(crate) fn pointwise<const B: usize, R>(f: impl FnOnce() -> R) -> R {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if B > 1 {
        #[target_feature(enable = "avx2,fma")]
        fn avx2<R>(f: impl FnOnce() -> R) -> R {
            f()
        }
        if use_avx2() {
            // SAFETY: the CPU has AVX2 and FMA (checked by `use_avx2`).
            return unsafe { avx2(f) };
        }
    }
    f()
}

/// Runs `kernel` (which calls AVX2 + FMA code) if this CPU has those features; returns whether
/// it ran. Every entry point below goes through it, so the CPU check is in one place.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline(always)]
fn on_avx2(kernel: impl FnOnce()) -> bool {
    let ok = use_avx2();
    if ok {
        kernel();
    }
    ok
}

/// `sigmoid` (or `tanh`, `TANH`) of every element in place with AVX2 + FMA; `false` if this
/// CPU has not got them.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn activations_avx2<const TANH: bool>(xs: &mut [f32]) -> bool {
    // SAFETY: `on_avx2` runs this only on a CPU with AVX2 and FMA.
    on_avx2(|| unsafe { simd::map::<TANH>(xs) })
}

/// [`Float::sigmoid`] of every element of `xs`, in place: eight at a time with AVX2 + FMA for
/// `f32` where the CPU has them (the same polynomial as `fastmath::sigmoid`, within its 3
/// ulp of libm), else element by element.
#[inline]
pub fn sigmoid_slice<S: Float>(xs: &mut [S]) {
    activation_slice::<S, false>(xs);
}

/// [`Float::fast_tanh`] of every element of `xs`, in place, as [`sigmoid_slice`].
#[inline]
pub fn tanh_slice<S: Float>(xs: &mut [S]) {
    activation_slice::<S, true>(xs);
}

/// [`sigmoid_slice`], or [`tanh_slice`] if `TANH`.
#[inline(always)]
fn activation_slice<S: Float, const TANH: bool>(xs: &mut [S]) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if let Some(v) = S::as_f32_mut(xs)
        && activations_avx2::<TANH>(v)
    {
        return;
    }
    for x in xs {
        *x = if TANH { x.fast_tanh() } else { x.sigmoid() };
    }
}

/// The LSTM cell's pointwise step (`lstm_cell::cell`) with AVX2 + FMA, or AVX-512F where
/// [`kernel_choice`] measured it faster at this batch (on a Zen 5, alternated with the AVX2
/// cell: whole sequences of LSTM(32, 256) and LSTM(64, 128) at batch 32 0.89-0.92x the time
/// per step, the seed network at batch 1 level online; on an Intel Xeon (family 6 model 167)
/// the seed network's online step 1.33x slower); `false` if this CPU has not got AVX2 and FMA.
/// Panics if a slice is shorter than its shape.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn lstm_cell_simd<const H: usize, const B: usize>(
    gates: &mut [f32],
    c_prev: &[f32],
    c: &mut [f32],
    tanh_c: &mut [f32],
    h: &mut [f32],
) -> bool {
    let avx512 = wide_cell::<B>(FusedCell::Lstm);
    // SAFETY: `on_avx2` runs this only on a CPU with AVX2 and FMA, and the AVX-512 kernel
    // only where `simd_path` found AVX-512F (`wide_cell` is true only there); the kernels
    // check the lengths.
    on_avx2(|| unsafe {
        if avx512 {
            lstm_cell::cell_avx512::<H, B>(gates, c_prev, c, tanh_c, h);
        } else {
            lstm_cell::cell::<H, B>(gates, c_prev, c, tanh_c, h);
        }
    })
}

/// The GRU cell's pointwise step (`gru_cell::cell`) with AVX2 + FMA, or AVX-512F where
/// [`kernel_choice`] measured it faster at this batch (at batch 1, GRU(10, 20) stepped
/// 1.04-1.07x slower with it on a Zen 5: its 20 units are a block of 16 and a masked one of
/// 4); `false` if this CPU has not got AVX2 and FMA. Panics if a slice is shorter than its
/// shape.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn gru_cell_simd<const H: usize, const B: usize>(
    gates: &mut [f32],
    ah: &[f32],
    h_prev: &[f32],
    hn: &mut [f32],
    h: &mut [f32],
) -> bool {
    let avx512 = wide_cell::<B>(FusedCell::Gru);
    // SAFETY: as in `lstm_cell_simd`.
    on_avx2(|| unsafe {
        if avx512 {
            gru_cell::cell_avx512::<H, B>(gates, ah, h_prev, hn, h);
        } else {
            gru_cell::cell::<H, B>(gates, ah, h_prev, hn, h);
        }
    })
}

/// LogSoftMax of every `N`-row column of `x` into `y` with AVX2 + FMA; `false` if this CPU has
/// not got them.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn log_softmax_forward_avx2<const N: usize>(x: &[f32], y: &mut [f32]) -> bool {
    on_avx2(|| {
        for (xc, yc) in x.chunks_exact(N).zip(y.chunks_exact_mut(N)) {
            // SAFETY: `on_avx2` runs this only on a CPU with AVX2 and FMA; the kernel checks
            // the lengths.
            unsafe { logsoftmax::forward::<N>(xc, yc) };
        }
    })
}

/// LogSoftMax's backward for every `N`-row column with AVX2 + FMA; `false` if this CPU has not
/// got them.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn log_softmax_backward_avx2<const N: usize>(
    y: &[f32],
    gy: &[f32],
    gx: &mut [f32],
) -> bool {
    on_avx2(|| {
        let columns = y.chunks_exact(N).zip(gy.chunks_exact(N));
        for ((yc, gyc), gxc) in columns.zip(gx.chunks_exact_mut(N)) {
            // SAFETY: `on_avx2` runs this only on a CPU with AVX2 and FMA; the kernel checks
            // the lengths.
            unsafe { logsoftmax::backward::<N>(yc, gyc, gxc) };
        }
    })
}

/// Micro-tiles of the `A B` kernel are `MR x NR`: `MR` rows are two vector registers' worth of
/// `f32` (8 with SSE, 16 with AVX), `NR` columns as many as the register file allows beside them
/// (4 with SSE's 16 registers of 4 lanes; 6 with AVX2, the classic 16 x 6 FMA tile: 12
/// accumulators, 2 loads of `A` and one broadcast of `B`).
const fn nr(mr: usize) -> usize {
    if mr == 16 { 6 } else { 4 }
}

/// `acc + a * b`, fused into one rounding (and one instruction) on the FMA path.
#[inline(always)]
fn madd<S: Float, const FUSED: bool>(acc: S, a: S, b: S) -> S {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

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
fn gemm_nn<
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
fn gemm_tn<S: Float, const M: usize, const K: usize, const N: usize, const BATCHED: bool>(
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

/// The operands of a generic `A B` product: `c[m x n] (+)= a[m x k] * b`, where `a` is
/// column-major and `b(kk, j) = b[kk * brs + j * bcs]`.
#[derive(Clone, Copy)]
struct NnOps<'a, S> {
    m: usize,
    k: usize,
    n: usize,
    a: &'a [S],
    b: &'a [S],
    brs: usize,
    bcs: usize,
    accumulate: bool,
}

impl<'a, S> NnOps<'a, S> {
    /// The operands of an `M x K` by `K x N` product with `b`'s strides `BRS`, `BCS`.
    #[inline(always)]
    fn new<const M: usize, const K: usize, const N: usize, const BRS: usize, const BCS: usize>(
        a: &'a [S],
        b: &'a [S],
        accumulate: bool,
    ) -> Self {
        Self {
            m: M,
            k: K,
            n: N,
            a,
            b,
            brs: BRS,
            bcs: BCS,
            accumulate,
        }
    }
}

/// `c (+)= a b` of the operands `p`.
#[inline(always)]
fn gemm_nn_body<S: Float, const MR: usize, const FUSED: bool>(p: &NnOps<'_, S>, c: &mut [S]) {
    if nr(MR) == 6 && p.m <= 8 {
        // Short outputs (a 5-class output layer) in half-height tiles: no lanes wasted.
        nn_tiles::<S, 8, 6, 32, FUSED>(p, c)
    } else if nr(MR) == 6 {
        nn_tiles::<S, MR, 6, 64, FUSED>(p, c)
    } else {
        nn_tiles::<S, MR, 4, 32, FUSED>(p, c)
    }
}

/// [`gemm_nn_body`] with `NR` columns per tile (a const parameter: stable Rust cannot compute
/// `nr(MR)` in a type). Single columns (batch 1) use `TALL = 4 MR` rows per tile instead: a
/// column tile has one accumulator chain per vector of rows, so taller tiles give the FMA units
/// independent chains instead of waiting on one (8 chains instead of 2).
#[inline(always)]
fn nn_tiles<S: Float, const MR: usize, const NR: usize, const TALL: usize, const FUSED: bool>(
    p: &NnOps<'_, S>,
    c: &mut [S],
) {
    let (m, n) = (p.m, p.n);
    let mut j = 0;
    while j + NR <= n {
        let mut i = 0;
        while i + MR <= m {
            tile::<S, MR, NR, true, FUSED>(p, [i, MR], j, c);
            i += MR;
        }
        if i < m {
            tile::<S, MR, NR, false, FUSED>(p, [i, m - i], j, c);
        }
        j += NR;
    }
    // Remaining single columns (all of them for batch 1).
    for jj in j..n {
        let mut i = 0;
        while i + TALL <= m {
            tile::<S, TALL, 1, true, FUSED>(p, [i, TALL], jj, c);
            i += TALL;
        }
        while i + MR <= m {
            tile::<S, MR, 1, true, FUSED>(p, [i, MR], jj, c);
            i += MR;
        }
        if i < m {
            tile::<S, MR, 1, false, FUSED>(p, [i, m - i], jj, c);
        }
    }
}

/// One `rows x NT` block of `c` at `(i, j)` (`[i, rows]`) with its accumulators in registers
/// across all of `k`; `FULL` blocks have `rows == MR`. A partial block still computes `MR` lanes: it reads
/// past its rows into the next column of `a` (discarding those lanes), and only the very end of
/// `a` goes through a zero-padded copy. So a 10-row output layer runs as vector code too.
#[inline(always)]
fn tile<S: Float, const MR: usize, const NT: usize, const FULL: bool, const FUSED: bool>(
    p: &NnOps<'_, S>,
    [i, rows]: [usize; 2],
    j: usize,
    c: &mut [S],
) {
    let NnOps {
        m,
        k,
        a,
        b,
        brs,
        bcs,
        accumulate,
        ..
    } = *p;
    let mut acc = [[S::zero(); MR]; NT];
    if accumulate {
        for (jj, col) in acc.iter_mut().enumerate() {
            let at = (j + jj) * m + i;
            col[..rows].copy_from_slice(&c[at..at + rows]);
        }
    }
    let mut pad = [S::zero(); MR];
    for kk in 0..k {
        let av = column_chunk::<S, MR, FULL>(a, kk * m + i, &mut pad);
        for (jj, col) in acc.iter_mut().enumerate() {
            let bv = b[kk * brs + (j + jj) * bcs];
            for (x, &y) in col.iter_mut().zip(av) {
                *x = madd::<S, FUSED>(*x, y, bv);
            }
        }
    }
    for (jj, col) in acc.iter().enumerate() {
        let at = (j + jj) * m + i;
        c[at..at + rows].copy_from_slice(&col[..rows]);
    }
}

/// The `MR` values of `a` from `start`, for a register tile: a slice of `a` (always, for `FULL`
/// tiles), or, past the very end of `a`, its rest copied into `pad` (zero beyond). Partial tiles
/// thus read past their rows into the next column and discard those lanes.
#[inline(always)]
fn column_chunk<'a, S: Float, const MR: usize, const FULL: bool>(
    a: &'a [S],
    start: usize,
    pad: &'a mut [S; MR],
) -> &'a [S; MR] {
    if FULL {
        let Some(av) = a[start..].first_chunk::<MR>() else {
            unreachable!("a full tile lies inside `a`")
        };
        av
    } else if let Some(av) = a.get(start..).and_then(<[S]>::first_chunk::<MR>) {
        av
    } else {
        let rest = &a[start..];
        pad[..rest.len()].copy_from_slice(rest);
        pad
    }
}

/// `Σ_k a[k] b[k]` with `L` independent partial sums (one vector register), so that it
/// vectorises.
#[inline(always)]
fn dot<S: Float, const L: usize, const FUSED: bool>(a: &[S], b: &[S]) -> S {
    let mut acc = [S::zero(); L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail = ac.remainder().iter().zip(bc.remainder());
    let tail = tail.fold(S::zero(), |t, (&x, &y)| madd::<S, FUSED>(t, x, y));
    for (x, y) in ac.zip(bc) {
        for l in 0..L {
            acc[l] = madd::<S, FUSED>(acc[l], x[l], y[l]);
        }
    }
    hsum(&acc) + tail
}

#[inline(always)]
fn hsum<S: Float, const L: usize>(acc: &[S; L]) -> S {
    acc.iter().fold(S::zero(), |s, &v| s + v)
}

/// [`tn`] with `L = MR / 2` lanes (stable Rust cannot compute `MR / 2` in a type).
#[inline(always)]
fn gemm_tn_body<S: Float, const MR: usize, const FUSED: bool>(
    m: usize,
    k: usize,
    n: usize,
    a: &[S],
    b: &[S],
    c: &mut [S],
    accumulate: bool,
) {
    if MR == 16 {
        tn::<S, 8, FUSED>(m, k, n, a, b, c, accumulate)
    } else {
        tn::<S, 4, FUSED>(m, k, n, a, b, c, accumulate)
    }
}

/// `c[m x n] (+)= aᵀ b`, where `a` is `k x m` and `b` is `k x n`, both column-major: every output
/// is a dot product of two contiguous columns. Tiles of 4 x 2 outputs share their loads.
#[inline(always)]
fn tn<S: Float, const L: usize, const FUSED: bool>(
    m: usize,
    k: usize,
    n: usize,
    a: &[S],
    b: &[S],
    c: &mut [S],
    accumulate: bool,
) {
    let put = |c: &mut S, v: S| *c = if accumulate { *c + v } else { v };
    let full = k - k % L;
    let mut j = 0;
    while j + 2 <= n {
        let (b0, b1) = (&b[j * k..(j + 1) * k], &b[(j + 1) * k..(j + 2) * k]);
        let mut i = 0;
        while i + 4 <= m {
            let cols: [&[S]; 4] = core::array::from_fn(|q| &a[(i + q) * k..(i + q + 1) * k]);
            let mut acc = [[[S::zero(); L]; 2]; 4];
            let mut kk = 0;
            while kk < full {
                let (Some(x0), Some(x1)) =
                    (b0[kk..].first_chunk::<L>(), b1[kk..].first_chunk::<L>())
                else {
                    unreachable!("kk + L <= k")
                };
                for (q, col) in cols.iter().enumerate() {
                    let Some(w) = col[kk..].first_chunk::<L>() else {
                        unreachable!("kk + L <= k")
                    };
                    for l in 0..L {
                        acc[q][0][l] = madd::<S, FUSED>(acc[q][0][l], w[l], x0[l]);
                        acc[q][1][l] = madd::<S, FUSED>(acc[q][1][l], w[l], x1[l]);
                    }
                }
                kk += L;
            }
            for (q, col) in cols.iter().enumerate() {
                let (t0, t1) = col[full..].iter().zip(&b0[full..]).zip(&b1[full..]).fold(
                    (S::zero(), S::zero()),
                    |(s0, s1), ((&w, &x0), &x1)| {
                        (madd::<S, FUSED>(s0, w, x0), madd::<S, FUSED>(s1, w, x1))
                    },
                );
                put(&mut c[j * m + i + q], hsum(&acc[q][0]) + t0);
                put(&mut c[(j + 1) * m + i + q], hsum(&acc[q][1]) + t1);
            }
            i += 4;
        }
        for ii in i..m {
            let col = &a[ii * k..(ii + 1) * k];
            put(&mut c[j * m + ii], dot::<S, L, FUSED>(col, b0));
            put(&mut c[(j + 1) * m + ii], dot::<S, L, FUSED>(col, b1));
        }
        j += 2;
    }
    // A last single column (always the case for batch 1): tiles of 4 dot products sharing the
    // loads of `b`.
    for jj in j..n {
        let bj = &b[jj * k..(jj + 1) * k];
        let mut i = 0;
        while i + 4 <= m {
            let cols: [&[S]; 4] = core::array::from_fn(|q| &a[(i + q) * k..(i + q + 1) * k]);
            let mut acc = [[S::zero(); L]; 4];
            let mut kk = 0;
            while kk < full {
                let Some(x) = bj[kk..].first_chunk::<L>() else {
                    unreachable!("kk + L <= k")
                };
                for (q, col) in cols.iter().enumerate() {
                    let Some(w) = col[kk..].first_chunk::<L>() else {
                        unreachable!("kk + L <= k")
                    };
                    for l in 0..L {
                        acc[q][l] = madd::<S, FUSED>(acc[q][l], w[l], x[l]);
                    }
                }
                kk += L;
            }
            for (q, col) in cols.iter().enumerate() {
                let tail = col[full..].iter().zip(&bj[full..]);
                let t = tail.fold(S::zero(), |s, (&w, &x)| madd::<S, FUSED>(s, w, x));
                put(&mut c[jj * m + i + q], hsum(&acc[q]) + t);
            }
            i += 4;
        }
        for ii in i..m {
            put(
                &mut c[jj * m + ii],
                dot::<S, L, FUSED>(&a[ii * k..(ii + 1) * k], bj),
            );
        }
    }
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
fn add_bias<S: Float, const R: usize, const B: usize>(
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

/// One term `w x + b` of [`affine2_packed`]: the weights (`R x C`), the input (`C x B`), the
/// bias.
pub(crate) type Term<'a, S, const R: usize, const C: usize, const B: usize> = (
    &'a SMatrix<S, R, C>,
    &'a SMatrix<S, C, B>,
    Option<&'a SVector<S, R>>,
);

/// The weights `[w1 w2]` of [`affine2_packed`], packed once for the products of many steps (a
/// whole-sequence forward): the batched `f32` kernels ([`SimdPath::Avx2`] from 256 rows,
/// [`SimdPath::Avx512`] from 1024) otherwise copies every block of rows of the weights
/// into a panel at every step. Holds nothing (and packs nothing) where no kernel reads it:
/// `f64`, fewer rows, the other paths, builds without `std`.
#[derive(Clone)]
pub(crate) struct Packed {
    /// The packed weights (empty where unused).
    buf: alloc::boxed::Box<[f32]>,
    /// The path whose layout `buf` has.
    path: SimdPath,
}

impl Packed {
    /// Storage for `[w1 w2]` (`R x C1`, `R x C2`) as this process's kernels read it (none
    /// where they do not).
    ///
    /// # Errors
    /// [`crate::AllocError`] if the storage cannot be allocated.
    pub(crate) fn try_new<S: Float, const R: usize, const C1: usize, const C2: usize>()
    -> Result<Self, crate::AllocError> {
        const { assert!(C1.checked_add(C2).is_some()) };
        let c = C1 + C2;
        let path = simd_path();
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        let len = match path {
            _ if !S::IS_F32 => 0,
            SimdPath::Avx512 if gemm::avx512::prepacks(R) => gemm::avx512::packed_len(R, c),
            SimdPath::Avx2 if gemm::avx2::prepacks(R) => gemm::avx2::packed_len(R, c),
            _ => 0,
        };
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        let len = {
            let _ = (c, S::IS_F32);
            0
        };
        Ok(Self {
            buf: crate::float::try_zeroed_slice(len)?,
            path,
        })
    }

    /// Whether the kernels of this process read `self` (it holds weights in their layout).
    fn is_used(&self) -> bool {
        !self.buf.is_empty() && self.path == simd_path()
    }

    /// Packs `w1` and `w2` for [`affine2_packed`] at batch `B`, and returns whether it reads
    /// them (if not, nothing was done and [`affine2`] is what it runs).
    pub(crate) fn pack<
        S: Float,
        const R: usize,
        const C1: usize,
        const C2: usize,
        const B: usize,
    >(
        &mut self,
        w1: &SMatrix<S, R, C1>,
        w2: &SMatrix<S, R, C2>,
    ) -> bool {
        self.pack_f32::<R, C1, C2, B>(S::as_f32(w1.as_slice()), S::as_f32(w2.as_slice()))
    }

    /// Packs `w` for [`affine_packed`] at batch `B`, and returns whether it reads it (if not,
    /// nothing was done and [`affine`] is what it runs).
    pub(crate) fn pack1<S: Float, const R: usize, const C: usize, const B: usize>(
        &mut self,
        w: &SMatrix<S, R, C>,
    ) -> bool {
        self.pack_f32::<R, C, 0, B>(S::as_f32(w.as_slice()), Some(&[]))
    }

    /// [`Packed::pack`] of the weights as `f32` (`None` for another scalar).
    fn pack_f32<const R: usize, const C1: usize, const C2: usize, const B: usize>(
        &mut self,
        w1: Option<&[f32]>,
        w2: Option<&[f32]>,
    ) -> bool {
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        if B > 1
            && self.is_used()
            && let (Some(w1), Some(w2)) = (w1, w2)
        {
            match self.path {
                SimdPath::Avx512 => gemm::avx512::pack2::<R, C1, C2>(w1, w2, &mut self.buf),
                SimdPath::Avx2 => gemm::avx2::pack2::<R, C1, C2>(w1, w2, &mut self.buf),
                SimdPath::Baseline => return false,
            }
            return true;
        }
        let _ = (w1, w2, self.is_used());
        false
    }
}

/// [`affine`] (`out = w x + b`, not accumulating) reading the weights from `packed` where it
/// holds them, packed by [`Packed::pack1`] from the same `w`: the same bits.
#[inline]
pub(crate) fn affine_packed<S: Float, const R: usize, const C: usize, const B: usize>(
    out: &mut SMatrix<S, R, B>,
    packed: Option<&Packed>,
    (w, x, b): Term<'_, S, R, C, B>,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if B > 1
        && let Some(packed) = packed.filter(|p| p.is_used())
        && let (Some(o), Some(xv)) = (S::as_f32_mut(out.as_mut_slice()), S::as_f32(x.as_slice()))
    {
        let biases = [b.and_then(|b| S::as_f32(b.as_slice())), None];
        let buf = &packed.buf;
        match packed.path {
            // SAFETY (both): the CPU has the kernel's features (the path is this process's).
            SimdPath::Avx512 => unsafe {
                gemm::avx512::nn2_packed::<R, C, 0, B>(buf, [xv, &[]], biases, o);
            },
            SimdPath::Avx2 => unsafe {
                gemm::avx2::nn2_packed::<R, C, 0, B>(buf, [xv, &[]], biases, o);
            },
            SimdPath::Baseline => affine(out, w, x, b, false),
        }
        return;
    }
    let _ = packed;
    affine(out, w, x, b, false);
}

/// [`affine2`] (`out = w1 x1 + b1 + w2 x2 + b2`) reading the weights from `packed` where it
/// holds them, packed by [`Packed::pack`] from the same `w1`, `w2`: the same bits, without
/// the kernel's copy of the weights at every call.
#[inline]
pub(crate) fn affine2_packed<
    S: Float,
    const R: usize,
    const C1: usize,
    const C2: usize,
    const B: usize,
>(
    out: &mut SMatrix<S, R, B>,
    packed: Option<&Packed>,
    (w1, x1, b1): Term<'_, S, R, C1, B>,
    (w2, x2, b2): Term<'_, S, R, C2, B>,
) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if B > 1
        && let Some(packed) = packed.filter(|p| p.is_used())
        && let (Some(o), Some(x1v), Some(x2v)) = (
            S::as_f32_mut(out.as_mut_slice()),
            S::as_f32(x1.as_slice()),
            S::as_f32(x2.as_slice()),
        )
    {
        let biases = [b1, b2].map(|b| b.and_then(|b| S::as_f32(b.as_slice())));
        let buf = &packed.buf;
        match packed.path {
            // SAFETY (both): the CPU has the kernel's features (the path is this process's).
            SimdPath::Avx512 => unsafe {
                gemm::avx512::nn2_packed::<R, C1, C2, B>(buf, [x1v, x2v], biases, o);
            },
            SimdPath::Avx2 => unsafe {
                gemm::avx2::nn2_packed::<R, C1, C2, B>(buf, [x1v, x2v], biases, o);
            },
            SimdPath::Baseline => affine2(out, w1, x1, b1, w2, x2, b2),
        }
        return;
    }
    let _ = packed;
    affine2(out, w1, x1, b1, w2, x2, b2);
}

/// `gemm::nn2` (`out = a1 b1 + a2 b2 + biases`, batched `f32`) on this CPU's intrinsics path;
/// `false`, doing nothing, on the baseline path.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline]
fn batched_nn2<const M: usize, const K1: usize, const K2: usize, const N: usize>(
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
fn in_chunks<T: Copy>(items: impl Iterator<Item = T>, fill: T, mut f: impl FnMut(&[T])) {
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

/// [`acc_outer_steps`] in `MR x NR` register tiles of `dw` (`R x C`, column-major), each summed
/// over every step and batch column before it is stored. Partial tiles read past their rows
/// like [`tile`].
#[inline(always)]
fn outer_steps<
    's,
    S,
    It,
    const R: usize,
    const C: usize,
    const B: usize,
    const MR: usize,
    const NR: usize,
    const FUSED: bool,
>(
    dw: &mut [S],
    steps: It,
) where
    S: Float,
    It: Iterator<Item = (&'s SMatrix<S, R, B>, &'s SMatrix<S, C, B>)> + Clone,
{
    let mut j = 0;
    while j < C {
        let mut i = 0;
        while i < R {
            // Full tiles take the branch-free path (as in `tile`, a runtime-sized tile stops
            // LLVM from keeping the accumulators in registers).
            match (i + MR <= R, j + NR <= C) {
                (true, true) => outer_tile::<S, It, R, C, B, MR, NR, true, FUSED>(
                    dw,
                    steps.clone(),
                    i,
                    j,
                    MR,
                    NR,
                ),
                _ => outer_tile::<S, It, R, C, B, MR, NR, false, FUSED>(
                    dw,
                    steps.clone(),
                    i,
                    j,
                    MR.min(R - i),
                    NR.min(C - j),
                ),
            }
            i += MR;
        }
        j += NR;
    }
}

/// One `rows x cols` tile of [`outer_steps`]; `FULL` tiles have `rows == MR`, `cols == NR`.
#[inline(always)]
fn outer_tile<
    's,
    S,
    It,
    const R: usize,
    const C: usize,
    const B: usize,
    const MR: usize,
    const NR: usize,
    const FULL: bool,
    const FUSED: bool,
>(
    dw: &mut [S],
    steps: It,
    i: usize,
    j: usize,
    rows: usize,
    cols: usize,
) where
    S: Float,
    It: Iterator<Item = (&'s SMatrix<S, R, B>, &'s SMatrix<S, C, B>)>,
{
    let mut acc = [[S::zero(); MR]; NR];
    for (jj, col) in acc.iter_mut().enumerate().take(cols) {
        let at = (j + jj) * R + i;
        col[..rows].copy_from_slice(&dw[at..at + rows]);
    }
    let mut pad = [S::zero(); MR];
    for (g, x) in steps {
        let (g, x) = (g.as_slice(), x.as_slice());
        for b in 0..B {
            let av = column_chunk::<S, MR, FULL>(g, b * R + i, &mut pad);
            if FULL {
                for (jj, col) in acc.iter_mut().enumerate() {
                    let bv = x[b * C + j + jj];
                    for (v, &w) in col.iter_mut().zip(av) {
                        *v = madd::<S, FUSED>(*v, w, bv);
                    }
                }
            } else {
                for (jj, col) in acc.iter_mut().enumerate().take(cols) {
                    let bv = x[b * C + j + jj];
                    for (v, &w) in col.iter_mut().zip(av) {
                        *v = madd::<S, FUSED>(*v, w, bv);
                    }
                }
            }
        }
    }
    for (jj, col) in acc.iter().enumerate().take(cols) {
        let at = (j + jj) * R + i;
        dw[at..at + rows].copy_from_slice(&col[..rows]);
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use crate::fastmath::{EXP_HIGH, EXP_LOW, ulps};
    use crate::gradcheck::random_matrix;

    /// Every kernel, at sizes that hit the full tiles and every edge, agrees with nalgebra.
    fn check<const R: usize, const C: usize, const B: usize>() {
        let mut rng = Rng::new(R as u64 * 31 + C as u64 * 7 + B as u64);
        let w: SMatrix<f64, R, C> = random_matrix(&mut rng);
        let x: SMatrix<f64, C, B> = random_matrix(&mut rng);
        let g: SMatrix<f64, R, B> = random_matrix(&mut rng);
        let bias: SVector<f64, R> = random_matrix(&mut rng);
        let start: SMatrix<f64, R, B> = random_matrix(&mut rng);
        let close = |a: &[f64], b: &[f64]| a.iter().zip(b).all(|(p, q)| (p - q).abs() < 1e-12);

        let mut out = start;
        affine(&mut out, &w, &x, Some(&bias), true);
        let want = start + w * x + bias * SMatrix::<f64, 1, B>::repeat(1.0);
        assert!(close(out.as_slice(), want.as_slice()), "affine {R}x{C}x{B}");
        affine(&mut out, &w, &x, None, false);
        assert!(close(out.as_slice(), (w * x).as_slice()));

        let mut gx: SMatrix<f64, C, B> = random_matrix(&mut rng);
        let gx0 = gx;
        transpose_mul(&mut gx, &w, &g, true);
        assert!(
            close(gx.as_slice(), (gx0 + w.transpose() * g).as_slice()),
            "transpose_mul {R}x{C}x{B}"
        );
        transpose_mul(&mut gx, &w, &g, false);
        assert!(close(gx.as_slice(), (w.transpose() * g).as_slice()));

        let mut dw = w;
        acc_outer(&mut dw, &g, &x);
        assert!(
            close(dw.as_slice(), (w + g * x.transpose()).as_slice()),
            "acc_outer {R}x{C}x{B}"
        );
    }

    /// Both compiled variants of the kernel bodies (baseline and FMA tiles), called directly.
    #[test]
    fn both_kernel_variants_agree_with_nalgebra() {
        let mut rng = Rng::new(5);
        let a: SMatrix<f64, 37, 19> = random_matrix(&mut rng);
        let b: SMatrix<f64, 19, 6> = random_matrix(&mut rng);
        let g: SMatrix<f64, 37, 6> = random_matrix(&mut rng);
        let want_nn = a * b;
        let want_tn = a.transpose() * g;
        type Nn = fn(&NnOps<'_, f64>, &mut [f64]);
        type Tn = fn(usize, usize, usize, &[f64], &[f64], &mut [f64], bool);
        let nn: [Nn; 2] = [gemm_nn_body::<f64, 8, false>, gemm_nn_body::<f64, 16, true>];
        let tn: [Tn; 2] = [gemm_tn_body::<f64, 8, false>, gemm_tn_body::<f64, 16, true>];
        for (nn, tn) in nn.into_iter().zip(tn) {
            let mut c = SMatrix::<f64, 37, 6>::zeros();
            nn(
                &NnOps::new::<37, 19, 6, 1, 19>(a.as_slice(), b.as_slice(), false),
                c.as_mut_slice(),
            );
            assert!((c - want_nn).amax() < 1e-12);
            let mut d = SMatrix::<f64, 19, 6>::zeros();
            tn(
                19,
                37,
                6,
                a.as_slice(),
                g.as_slice(),
                d.as_mut_slice(),
                false,
            );
            assert!((d - want_tn).amax() < 1e-12);
        }
    }

    #[test]
    fn sequence_outer_products_match_the_step_by_step_sum() {
        fn check<const R: usize, const C: usize, const B: usize>() {
            let mut rng = Rng::new(R as u64 + 100 * C as u64 + B as u64);
            let gs: alloc::vec::Vec<SMatrix<f64, R, B>> =
                (0..5).map(|_| random_matrix(&mut rng)).collect();
            let xs: alloc::vec::Vec<SMatrix<f64, C, B>> =
                (0..5).map(|_| random_matrix(&mut rng)).collect();
            let start: SMatrix<f64, R, C> = random_matrix(&mut rng);
            let mut want = start;
            for (g, x) in gs.iter().zip(&xs) {
                want += g * x.transpose();
            }
            let mut got = start;
            acc_outer_steps(&mut got, gs.iter().zip(&xs));
            assert!((got - want).amax() < 1e-12, "{R}x{C}x{B}");
            // Both compiled variants, called directly.
            for variant in [
                outer_steps::<f64, _, R, C, B, 8, 4, false> as fn(&mut [f64], _),
                outer_steps::<f64, _, R, C, B, 16, 6, true>,
            ] {
                let mut got = start;
                variant(got.as_mut_slice(), gs.iter().zip(&xs));
                assert!((got - want).amax() < 1e-12, "{R}x{C}x{B}");
            }
        }
        check::<80, 20, 1>();
        check::<37, 9, 3>();
        check::<5, 20, 2>();
        check::<64, 13, 32>();
    }

    /// The path is the CPU's best, capped by `RNN_SIMD`: what makes `.ci/run`'s test runs
    /// with `RNN_SIMD=avx2` and `baseline` test those paths and not the default one again.
    #[test]
    fn rnn_simd_caps_the_detected_path() {
        let path = simd_path();
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        let best = {
            let avx2 =
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            match (avx2, std::is_x86_feature_detected!("avx512f")) {
                (true, true) => SimdPath::Avx512,
                (true, false) => SimdPath::Avx2,
                _ => SimdPath::Baseline,
            }
        };
        #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
        let best = SimdPath::Baseline;
        let want = match std::env::var("RNN_SIMD").as_deref() {
            Ok("baseline") => SimdPath::Baseline,
            Ok("avx2") => best.min(SimdPath::Avx2),
            _ => best,
        };
        assert_eq!(path, want, "RNN_SIMD={:?}", std::env::var("RNN_SIMD"));
        assert_eq!(simd_path(), path, "chosen once");
        #[cfg(all(feature = "std", target_arch = "x86_64"))]
        assert_eq!(use_avx2(), path >= SimdPath::Avx2);
    }

    #[test]
    fn kernels_match_nalgebra_at_full_tiles_and_edges() {
        check::<3, 5, 1>();
        check::<80, 30, 1>();
        check::<80, 30, 32>();
        check::<64, 64, 8>();
        check::<17, 9, 2>();
        check::<35, 21, 7>();
        check::<5, 20, 3>();
        check::<75, 9, 1>(); // a tall single-column tile, a full tile and a partial one
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
            ("sigmoid_slice", sigmoid_slice::<f32>, |x| {
                1.0 / (1.0 + (-x).exp())
            }),
            ("tanh_slice", tanh_slice::<f32>, f64::tanh),
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
}
