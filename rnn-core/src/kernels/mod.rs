//! Every kernel in one place, and all the crate's SIMD and `unsafe` code with them: which of
//! them run on this machine (`choice`), the matrix products every layer uses (`products`, on
//! weights packed once per sequence in `packed`), the generic register tiles (`tiles`), the
//! batched `f32` products with intrinsics (`gemm`: AVX2 and AVX-512), the batch-1
//! matrix-vector kernels (`gemv`), the building blocks (`simd`: one register of eight AVX2 or
//! sixteen AVX-512 lanes, activations over it, masked loads and stores), and the fused cells
//! (`lstm_cell`, `gru_cell`: both widths; `logsoftmax`: AVX2). Layers call the safe entry
//! points (`fused`: `lstm_cell_simd`, ...), which check the CPU and fall back by returning
//! `false`. This file holds only the map: the modules and what the crate uses of them.
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
//! Which code runs is chosen once per process ([`simd_path`]): with the `std` feature on x86-64,
//! `f32` products run the intrinsics of `gemm` (AVX-512F where the CPU has it, else AVX2 + FMA) and
//! at batch 1 those of `gemv`; `f64` and the baseline path run the generic register-tiled kernels
//! of `tiles` (written so that LLVM vectorises them), compiled twice: for the baseline target
//! (SSE2, what a default build may assume) and for AVX2 + FMA. So the library is fast without `-C
//! target-cpu=native`. The paths round differently (fused multiply-adds, the order of sums), so
//! results can differ in the last bits between machines, never within one process; `RNN_SIMD` pins
//! the path. On the AVX-512 path the fused cells run 256 or 512 bits wide, whichever measured
//! faster on this CPU at the first detection (`choice`, which holds the detection, says how and
//! what it costs; [`kernel_choice`] reports it): both widths write the same bits.

mod choice;
mod fused;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod gemm;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod gemv;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod gru_cell;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod logsoftmax;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod lstm_block;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod lstm_cell;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod lstm_step;
mod packed;
mod products;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) mod simd;
mod tiles;

pub use choice::{FusedBlock, FusedCell, KernelChoice, SimdPath, kernel_choice, simd_path};
pub(crate) use fused::pointwise;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use fused::{
    gru_cell_simd, log_softmax_backward_avx2, log_softmax_forward_avx2, lstm_block_simd,
    lstm_cell_simd, lstm_stack_simd, lstm_step_simd,
};
pub use fused::{sigmoid_slice, tanh_slice};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use lstm_block::{CellArgs as LstmCellArgs, HeadArgs as LstmHeadArgs};
#[cfg(all(feature = "std", target_arch = "x86_64"))]
pub(crate) use lstm_step::StepArgs as LstmStepArgs;
pub(crate) use packed::{Packed, affine_packed, affine2_packed};
pub(crate) use products::{
    acc_bias, acc_bias_steps, acc_outer, acc_outer_steps, acc_outer_steps2, affine, affine2,
    defer_weight_grads, sub_scaled, transpose_mul, transpose_mul2,
};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use crate::fastmath::{EXP_HIGH, EXP_LOW, ulps};
    use crate::gradcheck::random_matrix;
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    use choice::use_avx2;
    use nalgebra::{SMatrix, SVector};
    use tiles::{NnOps, gemm_nn_body, gemm_tn_body, outer_steps};

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
            let avx512 = std::is_x86_feature_detected!("avx512f")
                && std::is_x86_feature_detected!("avx512vl");
            match (avx2, avx512) {
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

    /// Every 1009th finite `f32` bit pattern of each sign, then `edges`: what the activations'
    /// accuracy tests sweep.
    pub(super) fn every_1009th(edges: &[f32]) -> std::vec::Vec<f32> {
        let mut xs = std::vec::Vec::new();
        let mut bits: u32 = 0;
        while bits < 0x7f80_0000 {
            xs.push(f32::from_bits(bits));
            xs.push(-f32::from_bits(bits));
            bits += 1009;
        }
        xs.extend_from_slice(edges);
        xs
    }

    /// The slice functions (the AVX2 path on a CPU that has it) over every 1009th bit pattern
    /// and the edges, in one call each, against the same references.
    #[test]
    fn slice_versions_are_within_3_ulp_of_libm() {
        let xs = every_1009th(&[
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
