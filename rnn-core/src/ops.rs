//! The few matrix kernels the layers share. Keeping them in one place is what lets the
//! performance work (fused, vectorised kernels) change one file.

use crate::Float;
use nalgebra::{SMatrix, SVector};

/// `out = w * x + bias` (bias added to every column), or `out += w * x + bias` if `accumulate`.
#[inline]
pub(crate) fn affine<S: Float, const R: usize, const C: usize, const B: usize>(
    out: &mut SMatrix<S, R, B>,
    w: &SMatrix<S, R, C>,
    x: &SMatrix<S, C, B>,
    bias: Option<&SVector<S, R>>,
    accumulate: bool,
) {
    let beta = if accumulate { S::one() } else { S::zero() };
    out.gemm(S::one(), w, x, beta);
    if let Some(bias) = bias {
        for mut col in out.column_iter_mut() {
            col += bias;
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
    let beta = if accumulate { S::one() } else { S::zero() };
    gx.gemm_tr(S::one(), w, g, beta);
}

/// `dw += g * xᵀ` (summed over the batch columns).
#[inline]
pub(crate) fn acc_outer<S: Float, const R: usize, const C: usize, const B: usize>(
    dw: &mut SMatrix<S, R, C>,
    g: &SMatrix<S, R, B>,
    x: &SMatrix<S, C, B>,
) {
    for b in 0..B {
        dw.ger(S::one(), &g.column(b), &x.column(b), S::one());
    }
}

/// `db += Σ_b g[:, b]`.
#[inline]
pub(crate) fn acc_bias<S: Float, const R: usize, const B: usize>(
    db: &mut SVector<S, R>,
    g: &SMatrix<S, R, B>,
) {
    for col in g.column_iter() {
        *db += col;
    }
}
