//! The machine's single-core f32 FMA peak: independent chains of fused multiply-adds on 256-bit
//! (AVX2 + FMA) and, where the CPU has it, 512-bit (AVX-512F) registers. Prints GFLOP/s
//! (a multiply-add is 2 FLOPs); the larger is the peak the benchmarks report shares of.

use std::time::Instant;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma256(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for r in &mut acc {
            *r = _mm256_fmadd_ps(*r, a, b);
        }
    }
    let mut s = acc[0];
    for r in &acc[1..] {
        s = _mm256_add_ps(s, *r);
    }
    let mut out = [0.0f32; 8];
    // SAFETY: `out` holds 8 f32.
    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), s) };
    out.iter().sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
fn fma512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); 12];
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    for _ in 0..iters {
        for r in &mut acc {
            *r = _mm512_fmadd_ps(*r, a, b);
        }
    }
    let mut s = acc[0];
    for r in &acc[1..] {
        s = _mm512_add_ps(s, *r);
    }
    _mm512_reduce_add_ps(s)
}

fn gflops(lanes: u64, run: impl Fn(u64) -> f32) -> f64 {
    let iters = 20_000_000;
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let start = Instant::now();
        std::hint::black_box(run(std::hint::black_box(iters)));
        best = best.min(start.elapsed().as_secs_f64());
    }
    (iters * 12 * lanes * 2) as f64 / best / 1e9
}

fn main() {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected above.
            let g = gflops(8, |n| unsafe { fma256(n) });
            println!("fma256: {g:.1} GFLOP/s (f32, one core)");
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected above.
            let g = gflops(16, |n| unsafe { fma512(n) });
            println!("fma512: {g:.1} GFLOP/s (f32, one core)");
        }
    }
}
