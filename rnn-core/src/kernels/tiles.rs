//! The generic register-tiled kernels, written so that LLVM vectorises them: `A B` in `MR x NR`
//! tiles ([`gemm_nn_body`]), `Aᵀ B` as tiled dot products ([`gemm_tn_body`]) and the weight
//! gradient of a sequence ([`outer_steps`]). `f64` and the baseline path run them, compiled
//! twice by the products that call them (for the build's target, and for AVX2 + FMA).

use crate::Float;
use nalgebra::SMatrix;

/// Micro-tiles of the `A B` kernel are `MR x NR`: `MR` rows are two vector registers' worth of
/// `f32` (8 with SSE, 16 with AVX), `NR` columns as many as the register file allows beside them
/// (4 with SSE's 16 registers of 4 lanes; 6 with AVX2, the classic 16 x 6 FMA tile: 12
/// accumulators, 2 loads of `A` and one broadcast of `B`).
pub(super) const fn nr(mr: usize) -> usize {
    if mr == 16 { 6 } else { 4 }
}

/// `acc + a * b`, fused into one rounding (and one instruction) on the FMA path.
#[inline(always)]
pub(super) fn madd<S: Float, const FUSED: bool>(acc: S, a: S, b: S) -> S {
    if FUSED {
        a.mul_add(b, acc)
    } else {
        acc + a * b
    }
}

/// The operands of a generic `A B` product: `c[m x n] (+)= a[m x k] * b`, where `a` is
/// column-major and `b(kk, j) = b[kk * brs + j * bcs]`.
#[derive(Clone, Copy)]
pub(super) struct NnOps<'a, S> {
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
    pub(super) fn new<
        const M: usize,
        const K: usize,
        const N: usize,
        const BRS: usize,
        const BCS: usize,
    >(
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
pub(super) fn gemm_nn_body<S: Float, const MR: usize, const FUSED: bool>(
    p: &NnOps<'_, S>,
    c: &mut [S],
) {
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
pub(super) fn nn_tiles<
    S: Float,
    const MR: usize,
    const NR: usize,
    const TALL: usize,
    const FUSED: bool,
>(
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
pub(super) fn tile<
    S: Float,
    const MR: usize,
    const NT: usize,
    const FULL: bool,
    const FUSED: bool,
>(
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
pub(super) fn column_chunk<'a, S: Float, const MR: usize, const FULL: bool>(
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
pub(super) fn dot<S: Float, const L: usize, const FUSED: bool>(a: &[S], b: &[S]) -> S {
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
pub(super) fn hsum<S: Float, const L: usize>(acc: &[S; L]) -> S {
    acc.iter().fold(S::zero(), |s, &v| s + v)
}

/// [`tn`] with `L = MR / 2` lanes (stable Rust cannot compute `MR / 2` in a type).
#[inline(always)]
pub(super) fn gemm_tn_body<S: Float, const MR: usize, const FUSED: bool>(
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
pub(super) fn tn<S: Float, const L: usize, const FUSED: bool>(
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

/// [`acc_outer_steps`] in `MR x NR` register tiles of `dw` (`R x C`, column-major), each summed
/// over every step and batch column before it is stored. Partial tiles read past their rows
/// like [`tile`].
#[inline(always)]
pub(super) fn outer_steps<
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
pub(super) fn outer_tile<
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
