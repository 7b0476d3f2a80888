//! The matrix kernels every layer uses, in one place, on column-major slices.
//!
//! Three product shapes cover every layer: `C = A B` ([`affine`]), `C = Aᵀ B`
//! ([`transpose_mul`]) and `C += A Bᵀ` ([`acc_outer`]). Each runs a register-blocked
//! micro-kernel written so that LLVM vectorises it (fixed-size accumulator arrays, contiguous
//! columns), with plain loops for the edges. No packing, so no scratch memory and no
//! allocation. nalgebra's own fixed-size `gemm` strides through memory element by element and
//! was 2-5x slower here.

use crate::Float;
use nalgebra::{SMatrix, SVector};

/// Rows per micro-tile of the `A B` kernel: two vector registers' worth of `f32`, so that the
/// `MR x NR` accumulators fit the register file (16 registers without AVX, 32 with AVX-512).
const MR: usize = if cfg!(target_feature = "avx512f") {
    32
} else if cfg!(target_feature = "avx") {
    16
} else {
    8
};
/// Columns per micro-tile of the `A B` kernel.
const NR: usize = 4;

/// `c[m x n] (+)= a[m x k] * b`, where `a` is column-major and `b(kk, j) = b[kk * brs + j * bcs]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn gemm_nn<S: Float>(
    m: usize,
    k: usize,
    n: usize,
    a: &[S],
    b: &[S],
    brs: usize,
    bcs: usize,
    c: &mut [S],
    accumulate: bool,
) {
    let mut j = 0;
    while j + NR <= n {
        let mut i = 0;
        while i + MR <= m {
            let mut acc = [[S::zero(); MR]; NR];
            if accumulate {
                for (jj, col) in acc.iter_mut().enumerate() {
                    col.copy_from_slice(&c[(j + jj) * m + i..(j + jj) * m + i + MR]);
                }
            }
            for kk in 0..k {
                let Some(av) = a[kk * m + i..].first_chunk::<MR>() else {
                    unreachable!("i + MR <= m")
                };
                for (jj, col) in acc.iter_mut().enumerate() {
                    let bv = b[kk * brs + (j + jj) * bcs];
                    for (x, &y) in col.iter_mut().zip(av) {
                        *x += y * bv;
                    }
                }
            }
            for (jj, col) in acc.iter().enumerate() {
                c[(j + jj) * m + i..(j + jj) * m + i + MR].copy_from_slice(col);
            }
            i += MR;
        }
        if i < m {
            for jj in j..j + NR {
                edge_column(
                    m,
                    k,
                    i,
                    a,
                    b,
                    brs,
                    jj * bcs,
                    &mut c[jj * m..(jj + 1) * m],
                    accumulate,
                );
            }
        }
        j += NR;
    }
    for jj in j..n {
        edge_column(
            m,
            k,
            0,
            a,
            b,
            brs,
            jj * bcs,
            &mut c[jj * m..(jj + 1) * m],
            accumulate,
        );
    }
}

/// Rows `from..m` of one output column: `c (+)= Σ_kk a[:, kk] b(kk)` as axpys.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn edge_column<S: Float>(
    m: usize,
    k: usize,
    from: usize,
    a: &[S],
    b: &[S],
    brs: usize,
    boff: usize,
    c: &mut [S],
    accumulate: bool,
) {
    let c = &mut c[from..m];
    if !accumulate {
        c.fill(S::zero());
    }
    for kk in 0..k {
        let bv = b[boff + kk * brs];
        for (x, &y) in c.iter_mut().zip(&a[kk * m + from..kk * m + m]) {
            *x += y * bv;
        }
    }
}

/// Lanes of the dot-product accumulators: one vector register of `f32`.
const L: usize = MR / 2;

/// `Σ_k a[k] b[k]` with `L` independent partial sums, so that it vectorises.
#[inline(always)]
fn dot<S: Float>(a: &[S], b: &[S]) -> S {
    let mut acc = [S::zero(); L];
    let (ac, bc) = (a.chunks_exact(L), b.chunks_exact(L));
    let tail: S = ac
        .remainder()
        .iter()
        .zip(bc.remainder())
        .fold(S::zero(), |t, (&x, &y)| t + x * y);
    for (x, y) in ac.zip(bc) {
        for l in 0..L {
            acc[l] += x[l] * y[l];
        }
    }
    hsum(&acc) + tail
}

#[inline(always)]
fn hsum<S: Float>(acc: &[S; L]) -> S {
    acc.iter().fold(S::zero(), |s, &v| s + v)
}

/// `c[m x n] (+)= aᵀ b`, where `a` is `k x m` and `b` is `k x n`, both column-major: every output
/// is a dot product of two contiguous columns. Tiles of 4 x 2 outputs share their loads.
#[inline(always)]
fn gemm_tn<S: Float>(
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
                        acc[q][0][l] += w[l] * x0[l];
                        acc[q][1][l] += w[l] * x1[l];
                    }
                }
                kk += L;
            }
            for (q, col) in cols.iter().enumerate() {
                let (t0, t1) = col[full..]
                    .iter()
                    .zip(&b0[full..])
                    .zip(&b1[full..])
                    .fold((S::zero(), S::zero()), |(s0, s1), ((&w, &x0), &x1)| {
                        (s0 + w * x0, s1 + w * x1)
                    });
                put(&mut c[j * m + i + q], hsum(&acc[q][0]) + t0);
                put(&mut c[(j + 1) * m + i + q], hsum(&acc[q][1]) + t1);
            }
            i += 4;
        }
        for ii in i..m {
            let col = &a[ii * k..(ii + 1) * k];
            put(&mut c[j * m + ii], dot(col, b0));
            put(&mut c[(j + 1) * m + ii], dot(col, b1));
        }
        j += 2;
    }
    for jj in j..n {
        let bj = &b[jj * k..(jj + 1) * k];
        for ii in 0..m {
            put(&mut c[jj * m + ii], dot(&a[ii * k..(ii + 1) * k], bj));
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
    gemm_nn(
        R,
        C,
        B,
        w.as_slice(),
        x.as_slice(),
        1,
        C,
        out.as_mut_slice(),
        accumulate,
    );
    if let Some(bias) = bias {
        let bias = bias.as_slice();
        for o in out.as_mut_slice().chunks_exact_mut(R) {
            for (ov, &bv) in o.iter_mut().zip(bias) {
                *ov += bv;
            }
        }
    }
}

/// `gx = wᵀ * g`, or `gx += wᵀ * g` if `accumulate`.
#[inline]
pub(crate) fn transpose_mul<S: Float, const R: usize, const C: usize, const B: usize>(
    gx: &mut SMatrix<S, C, B>,
    w: &SMatrix<S, R, C>,
    g: &SMatrix<S, R, B>,
    accumulate: bool,
) {
    gemm_tn(
        C,
        R,
        B,
        w.as_slice(),
        g.as_slice(),
        gx.as_mut_slice(),
        accumulate,
    );
}

/// `dw += g * xᵀ` (summed over the batch columns).
#[inline]
pub(crate) fn acc_outer<S: Float, const R: usize, const C: usize, const B: usize>(
    dw: &mut SMatrix<S, R, C>,
    g: &SMatrix<S, R, B>,
    x: &SMatrix<S, C, B>,
) {
    // dw[r, c] += Σ_b g[r, b] x[c, b]: an `A B` product with B = xᵀ (strides swapped).
    gemm_nn(
        R,
        B,
        C,
        g.as_slice(),
        x.as_slice(),
        C,
        1,
        dw.as_mut_slice(),
        true,
    );
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

    #[test]
    fn kernels_match_nalgebra_at_full_tiles_and_edges() {
        check::<3, 5, 1>();
        check::<80, 30, 1>();
        check::<80, 30, 32>();
        check::<64, 64, 8>();
        check::<17, 9, 2>();
        check::<35, 21, 7>();
        check::<5, 20, 3>();
    }
}
