//! AVX2 loads and stores of the first `n` lanes of a register (masked: memory outside the
//! mask is never touched).

use core::arch::x86_64::*;

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
