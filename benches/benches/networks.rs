//! Inference and training time of generated networks, the dynamic-size baseline and (with
//! `--features candle`) candle, side by side in one run:
//!
//! ```sh
//! cd benches && cargo bench --features candle
//! ```
//!
//! Every sequence has 16 steps: divide the sequence and training times by 16 for per-step times.

use divan::{Bencher, black_box};
use nalgebra::DMatrix;
use rnn_bench::dynamic::DynSeed;
use rnn_bench::*;
use rnn_core::prelude::*;

fn main() {
    divan::main();
}

/// `infer_step` (online, one step), `infer_sequence` (16 steps) and `train_step` (16 steps of
/// forward, ClassNll, BPTT and an SGD update) of a generated network.
macro_rules! ours {
    ($module:ident, $net:ident, $i:literal, $o:literal, $b:literal) => {
        mod $module {
            use super::*;

            /// Calls per divan sample. Left to divan, a sample holds one call whenever the
            /// first (cold) call takes over 100x the timer's precision, so a 0.15 us step was
            /// read through the per-sample timer overhead (0.21 us, 2026-12-06, Intel Xeon).
            const STEP_SAMPLE: u32 = if $b == 1 { 1000 } else { 10 };
            /// The same for whole sequences and training steps.
            const SEQUENCE_SAMPLE: u32 = if $b == 1 { 100 } else { 1 };

            #[divan::bench(sample_size = STEP_SAMPLE)]
            fn infer_step(bencher: Bencher) {
                let mut net = $net::new(1);
                net.evaluate();
                let x = inputs::<$i, $b>(2)[0];
                bencher.bench_local(|| *net.step(black_box(&x)));
            }

            #[divan::bench(sample_size = SEQUENCE_SAMPLE)]
            fn infer_sequence(bencher: Bencher) {
                let mut net = $net::new(1);
                net.evaluate();
                let xs = inputs::<$i, $b>(2);
                bencher.bench_local(|| net.forward(black_box(&xs))[T - 1]);
            }

            #[divan::bench(sample_size = SEQUENCE_SAMPLE)]
            fn train_step(bencher: Bencher) {
                let mut net = $net::new(1);
                let xs = inputs::<$i, $b>(2);
                let ys = targets::<$o, $b>();
                bencher.bench_local(|| {
                    net.zero_grad_parameters();
                    let loss = forward_backward(&mut net, &xs, &ys);
                    net.update_parameters(0.01);
                    loss
                });
            }
        }
    };
}

mod ours {
    use super::*;
    ours!(seed_b1, SeedB1, 10, 5, 1);
    ours!(seed_b32, SeedB32, 10, 5, 32);
    ours!(lstm128_b32, Lstm128B32, 64, 10, 32);
    ours!(gru128_b32, Gru128B32, 64, 10, 32);
    ours!(lstm256_b32, Lstm256B32, 32, 10, 32);
    ours!(gru_b1, GruB1, 10, 5, 1);
}

/// The seed network with `mask_zero = true` (inputs never all zero: the cost of checking).
mod masked {
    use super::*;
    ours!(seed_b1, SeedB1Masked, 10, 5, 1);
    ours!(seed_b32, SeedB32Masked, 10, 5, 32);
}

/// The seed network with runtime sizes (`DMatrix`).
mod dynamic {
    use super::*;

    fn setup(b: usize) -> (DynSeed, Vec<DMatrix<f32>>, Vec<DMatrix<f32>>) {
        let net = SeedB1::new(1);
        let dynamic = DynSeed::from_params(&net.parameters());
        let mut rng = Rng::new(2);
        let mut m = |r: usize| DMatrix::from_fn(r, b, |_, _| rng.uniform(-1.0, 1.0) as f32);
        let xs = (0..T).map(|_| m(10)).collect();
        let gys = (0..T).map(|_| m(5)).collect();
        (dynamic, xs, gys)
    }

    #[divan::bench(args = [1, 32])]
    fn seed_infer_sequence(bencher: Bencher, b: usize) {
        let (mut net, xs, _) = setup(b);
        bencher.bench_local(|| net.forward(black_box(&xs)).len());
    }

    #[divan::bench(args = [1, 32])]
    fn seed_train_step(bencher: Bencher, b: usize) {
        let (mut net, xs, gys) = setup(b);
        bencher.bench_local(|| {
            net.zero_grad();
            net.forward(black_box(&xs));
            let g = net.backward(&gys);
            net.update(0.01);
            g.len()
        });
    }
}

#[cfg(feature = "candle")]
mod candle {
    use super::*;
    use rnn_bench::candle_peer::CandleLstm;

    #[divan::bench(args = [(10, 20, 5, 1), (10, 20, 5, 32), (64, 128, 10, 32), (32, 256, 10, 32)])]
    fn lstm_infer_step(bencher: Bencher, (i, h, o, b): (usize, usize, usize, usize)) {
        let net = CandleLstm::new(i, h, o, b);
        let x = net.random_step(2);
        let mut state = net.zero_state();
        bencher.bench_local(|| {
            state = net.step(black_box(&x), &state);
        });
    }

    #[divan::bench(args = [(10, 20, 5, 1), (10, 20, 5, 32), (64, 128, 10, 32), (32, 256, 10, 32)])]
    fn lstm_infer_sequence(bencher: Bencher, (i, h, o, b): (usize, usize, usize, usize)) {
        let net = CandleLstm::new(i, h, o, b);
        let xs = net.random_sequence(2, T);
        bencher.bench_local(|| net.forward(black_box(&xs)));
    }

    #[divan::bench(args = [(10, 20, 5, 1), (10, 20, 5, 32), (64, 128, 10, 32), (32, 256, 10, 32)])]
    fn lstm_train_step(bencher: Bencher, (i, h, o, b): (usize, usize, usize, usize)) {
        let mut net = CandleLstm::new(i, h, o, b);
        let xs = net.random_sequence(2, T);
        let ys = net.targets(T);
        bencher.bench_local(|| net.train_step(black_box(&xs), &ys));
    }
}

/// The activation kernels alone, over 4096 values.
mod activations {
    use super::*;

    fn values() -> Vec<f32> {
        let mut rng = Rng::new(9);
        (0..4096).map(|_| rng.uniform(-6.0, 6.0) as f32).collect()
    }

    #[divan::bench]
    fn sigmoid_fast(bencher: Bencher) {
        let mut v = values();
        bencher.bench_local(|| rnn_core::sigmoid_slice(black_box(&mut v)));
    }

    #[divan::bench]
    fn tanh_fast(bencher: Bencher) {
        let mut v = values();
        bencher.bench_local(|| rnn_core::tanh_slice(black_box(&mut v)));
    }

    #[divan::bench]
    fn tanh_libm(bencher: Bencher) {
        let mut v = values();
        bencher.bench_local(|| black_box(&mut v).iter_mut().for_each(|x| *x = x.tanh()));
    }
}
