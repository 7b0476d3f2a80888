//! The safe entry points of the pointwise kernels: the activations over a slice, the fused
//! LSTM and GRU cells (AVX2, and AVX-512 where measured faster) and LogSoftMax (AVX2). Each
//! checks the CPU (and the kernel its slice lengths) and returns `false`, doing nothing, where
//! it cannot run, so that the layers hold no `unsafe` code. Also [`pointwise`], which compiles
//! a layer's own pointwise loop a second time for AVX2.

#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::choice::{FusedBlock, FusedCell, use_avx2, use_avx512, wide_block, wide_cell};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use super::{gru_cell, logsoftmax, lstm_block, lstm_cell, lstm_step, simd};
use crate::Float;

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
/// With the fast activations if `fast` (`simd::tanh_fast_n`). Panics if a slice is shorter
/// than its shape.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn lstm_cell_simd<const H: usize, const B: usize>(
    fast: bool,
    [gates, c, tanh_c, h]: [&mut [f32]; 4],
    c_prev: &[f32],
) -> bool {
    let avx512 = wide_cell::<B>(FusedCell::Lstm);
    // SAFETY: `on_avx2` runs this only on a CPU with AVX2 and FMA, and the AVX-512 kernel
    // only where `simd_path` found AVX-512F (`wide_cell` is true only there); the kernels
    // check the lengths.
    on_avx2(|| unsafe {
        if fast {
            lstm_cell::cell_of_width::<H, B, true>(avx512, gates, c_prev, c, tanh_c, h);
        } else {
            lstm_cell::cell_of_width::<H, B, false>(avx512, gates, c_prev, c, tanh_c, h);
        }
    })
}

/// The whole batch-1 step of an LSTM cell of fewer than eight units (`lstm_step`: both
/// products and the cell, the pre-activations kept in registers) with AVX2 + FMA, or
/// AVX-512F where [`kernel_choice`] measured the batch-1 cell faster; `false` if this CPU has
/// not got AVX2 and FMA or `H` is above `lstm_step::MAX_H`. With the fast activations if
/// `fast`. Panics if a slice is shorter than its shape.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn lstm_step_simd<const I: usize, const H: usize>(
    fast: bool,
    args: &mut lstm_step::StepArgs<'_>,
) -> bool {
    if H > lstm_step::MAX_H {
        return false;
    }
    let avx512 = wide_cell::<1>(FusedCell::Lstm);
    // SAFETY: as in `lstm_cell_simd`; the kernel checks the lengths.
    on_avx2(|| unsafe {
        if fast {
            lstm_step::step_of_width::<I, H, true>(avx512, args);
        } else {
            lstm_step::step_of_width::<I, H, false>(avx512, args);
        }
    })
}

/// An `LSTM(1, H)` cell and a `Linear(H, 1)` head over a block of samples in place (`G =
/// 4H`; `lstm_block`): the bits of stepping the two layers, with the fast activations if
/// `fast`, by the kernel [`kernel_choice`] measured fastest for the block's size (the same
/// bits by every one; at 24 units, and at 16 with the fast activations and AVX-512VL,
/// `lstm_block::staged`, measured against the others on a Zen 4, not timed per process: see
/// `lstm_block::staged_runs`); `false` (nothing done) if this CPU has not got AVX2 and FMA or
/// `H` is above `lstm_block::MAX_H`. Panics if a slice is shorter than its shape.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn lstm_block_simd<const H: usize, const G: usize>(
    fast: bool,
    cell: &mut lstm_block::CellArgs<'_>,
    head: &lstm_block::HeadArgs<'_>,
    samples: &mut [f32],
) -> bool {
    if H > lstm_block::MAX_H {
        return false;
    }
    let cell_wide = wide_cell::<1>(FusedCell::Lstm);
    // The 256-bit blocks to eight units with AVX-512VL's 32 registers where the path has it.
    let vl = use_avx512();
    let wide = if H <= lstm_block::MAX_REGISTER_H {
        wide_block(FusedBlock::Small)
    } else if H <= lstm_block::MAX_WIDE_REGISTER_H {
        wide_block(FusedBlock::Medium)
    } else {
        (const { lstm_block::two_part_fits(H) }) && wide_block(FusedBlock::Large)
    };
    // SAFETY: as in `lstm_cell_simd` (`wide` only where the CPU has AVX-512F, `vl` only where
    // it has AVX-512F and AVX-512VL); the kernels check the lengths.
    on_avx2(|| unsafe {
        use lstm_block::{one, one_avx512, steps};
        match (H <= lstm_block::MAX_REGISTER_H, wide, fast) {
            _ if lstm_block::staged_runs(H, fast, vl) => match (vl, fast) {
                (true, false) => lstm_block::staged_vl::<H, false>(cell, head, samples),
                (true, true) => lstm_block::staged_vl::<H, true>(cell, head, samples),
                (false, false) => lstm_block::staged::<H, false>(cell, head, samples),
                (false, true) => lstm_block::staged::<H, true>(cell, head, samples),
            },
            (true, false, false) if vl => lstm_block::one_vl::<H, false>(cell, head, samples),
            (true, false, true) if vl => lstm_block::one_vl::<H, true>(cell, head, samples),
            (true, false, false) => one::<H, false>(cell, head, samples),
            (true, false, true) => one::<H, true>(cell, head, samples),
            (false, true, false) if H > lstm_block::MAX_WIDE_REGISTER_H => {
                lstm_block::two_part_avx512::<H, false>(cell, head, samples);
            }
            (false, true, true) if H > lstm_block::MAX_WIDE_REGISTER_H => {
                lstm_block::two_part_avx512::<H, true>(cell, head, samples);
            }
            (_, true, false) => one_avx512::<H, false>(cell, head, samples),
            (_, true, true) => one_avx512::<H, true>(cell, head, samples),
            (false, false, false) => steps::<H, G, false>(cell_wide, cell, head, samples),
            (false, false, true) => steps::<H, G, true>(cell_wide, cell, head, samples),
        }
    })
}

/// An `LSTM(1, H1)` cell, an `LSTM(H1, H2)` cell and a `Linear(H2, 1)` head over a block of
/// samples in place (`lstm_block::two`), as [`lstm_block_simd`]; `false` (nothing done) if
/// this CPU has not got AVX2 and FMA or a cell is above `lstm_block::MAX_REGISTER_H`.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) fn lstm_stack_simd<const H1: usize, const H2: usize>(
    fast: bool,
    cells: [&mut lstm_block::CellArgs<'_>; 2],
    head: &lstm_block::HeadArgs<'_>,
    samples: &mut [f32],
) -> bool {
    if H1 > lstm_block::MAX_REGISTER_H || H2 > lstm_block::MAX_REGISTER_H {
        return false;
    }
    let (wide, vl) = (wide_block(FusedBlock::Small), use_avx512());
    // SAFETY: as in `lstm_cell_simd` (`vl` only where the CPU has AVX-512F and AVX-512VL);
    // the kernels check the lengths.
    on_avx2(|| unsafe {
        use lstm_block::{two, two_avx512};
        match (wide, fast) {
            (false, false) if vl => lstm_block::two_vl::<H1, H2, false>(cells, head, samples),
            (false, true) if vl => lstm_block::two_vl::<H1, H2, true>(cells, head, samples),
            (false, false) => two::<H1, H2, false>(cells, head, samples),
            (false, true) => two::<H1, H2, true>(cells, head, samples),
            (true, false) => two_avx512::<H1, H2, false>(cells, head, samples),
            (true, true) => two_avx512::<H1, H2, true>(cells, head, samples),
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
    on_avx2(|| unsafe { gru_cell::cell_of_width::<H, B>(avx512, gates, ah, h_prev, hn, h) })
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
