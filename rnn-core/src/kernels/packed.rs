//! Weights packed once for the products of a whole sequence ([`Packed`]), and the affine maps
//! that read them ([`affine_packed`], [`affine2_packed`]).

use super::choice::{SimdPath, simd_path};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::gemm;
use super::products::{affine, affine2};
use crate::Float;
use nalgebra::{SMatrix, SVector};

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
