//! A plain loop over one benchmark case, for `perf record` and `valgrind --tool=callgrind`
//! (divan's own timing loop hides short cases): `cargo run --release --bin profile --
//! seed_b1_step 2000000`. Cases: `seed_b1_step`, `seed_b1_train`, `gru_b1_train`,
//! `seed_b1_online_train` and `lstm128_b32_online_train` (`step`s then `backward_step`s),
//! `conv_b1_step` and `conv_b1_online_train` (three causal convolutions, dilations 1, 2, 4),
//! `amp_gru16_step`, `amp_lstm{2,16,32}_step`, `amp_lstm{2,8,16,24,32}_block(_fast)` and
//! `amp_lite_block(_fast)` (`process_block`, 64 samples), `amp_{lstm2,lstm16,lite}_block1`
//! (blocks of `BLOCK_LEN` samples, default 1: a call's fixed cost),
//! `{gru128,lstm128,lstm256}_b32_step` (online, batch 32), `seed_b1_train_split` and
//! `{lstm256,lstm128,gru128,seed}_b32_train_split` (time per phase),
//! `{lstm256,lstm128,gru128,seed}_b32_sequence` (whole forwards, evaluation mode), `seed_b1_zero_grad` and `seed_b1_update` (one
//! parameter pass per "step"), `no_lsm_step` and `lstm_step` (the seed network without its last layers, to see
//! each layer's cost in place), `lstm16_step`/`lstm24_step` (hidden sizes around 20),
//! `tanh20`, `sigmoid80`, `tanh4096`.

use rnn_bench::*;
use rnn_core::prelude::*;
use std::hint::black_box;

network! {
    /// The seed network without its LogSoftMax, to see what each layer costs in place.
    SeedNoLsm<seq_len = 16> = Sequential[ LSTM(10, 20), Linear(20, 5) ];
    /// The seed network's LSTM alone.
    SeedLstm<seq_len = 16> = Sequential[ LSTM(10, 20) ];
    /// Hidden sizes around the seed's 20 (multiples of 8 and not).
    Lstm16<seq_len = 16> = Sequential[ LSTM(10, 16) ];
    Lstm24<seq_len = 16> = Sequential[ LSTM(10, 24) ];
    /// The seed network with a GRU.
    SeedGru<seq_len = 16> = Sequential[ GRU(10, 20), Linear(20, 5), LogSoftMax ];
    /// Amp-style models (one sample in, one out), as in the latency benchmark.
    AmpGru16<seq_len = 16> = Sequential[ GRU(1, 16), Linear(16, 1) ];
    AmpLstm32<seq_len = 16> = Sequential[ LSTM(1, 32), Linear(32, 1) ];
    /// NAM's smallest LSTM shape, run by `process_block`.
    AmpLstm2<seq_len = 1> = Sequential[ LSTM(1, 2), Linear(2, 1) ];
    /// NAM's "lite" shape (two stacked cells), run by `process_block`.
    AmpLite<seq_len = 1> = Sequential[ LSTM(1, 8), LSTM(8, 8), Linear(8, 1) ];
    /// The largest cell of one register per gate in 256 bits, run by `process_block`.
    AmpLstm8<seq_len = 1> = Sequential[ LSTM(1, 8), Linear(8, 1) ];
    /// NAM's "feather" shape, run by `process_block`.
    AmpLstm16<seq_len = 1> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
    /// NAM's "standard" shape, run by `process_block`.
    AmpLstm24<seq_len = 1> = Sequential[ LSTM(1, 24), Linear(24, 1) ];
    /// A small WaveNet-style stack of causal convolutions (dilations 1, 2, 4).
    ConvStack<seq_len = 16> = Sequential[
        Conv1d(10, 16, 3), Tanh, Conv1d(16, 16, 3, dilation = 2), Tanh,
        Conv1d(16, 16, 3, dilation = 4), Tanh, Linear(16, 5)
    ];
}

/// `process_block` over 64-sample blocks in evaluation mode, `n` samples in all, with the
/// fast activations if `fast`.
fn run_blocks<N>(net: N, n: usize, fast: bool)
where
    N: Online + Network<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
{
    run_blocks_of(net, n, 64, fast);
}

/// `BLOCK_LEN` from the environment (default, and in place of 0: 1).
fn block_len() -> usize {
    std::env::var("BLOCK_LEN")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&len| len > 0)
        .unwrap_or(1)
}

/// [`run_blocks`] over blocks of `len` samples.
fn run_blocks_of<N>(mut net: N, n: usize, len: usize, fast: bool)
where
    N: Online + Network<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
{
    net.evaluate();
    net.set_fast_activations(fast);
    let mut block: Vec<f32> = (0..len).map(|k| (k as f32 * 0.1).sin() * 0.5).collect();
    for _ in 0..n / len {
        net.process_block(black_box(&mut block));
        for v in &mut block {
            *v = v.clamp(-0.9, 0.9);
        }
    }
}

fn run_steps<N: Online<Scalar = f32, Input = SMatrix<f32, I, 1>>, const I: usize>(
    mut net: N,
    n: usize,
) {
    net.evaluate();
    let x = inputs::<I, 1>(2)[0];
    for _ in 0..n {
        black_box(net.step(black_box(&x)));
    }
}

/// Training steps of whole `T`-step sequences at batch 1 (zero, forward, criterion, BPTT,
/// update), `n` time steps in all.
fn train<N>(mut net: N, n: usize)
where
    N: Network<Scalar = f32, Inputs = [SMatrix<f32, 10, 1>], Outputs = [SMatrix<f32, 5, 1>]>,
{
    let crit = SequencerCriterion::new(ClassNll::default());
    let (xs, ys) = (inputs::<10, 1>(2), targets::<5, 1>());
    for _ in 0..n / T {
        net.zero_grad_parameters();
        let out = net.forward(black_box(&xs));
        let g = crit.backward(out, &ys);
        net.backward_parameters(&xs, &g);
        net.update_parameters(0.01);
    }
}

/// Online training: `T` steps, their backward steps latest first (output gradient 0.1), an
/// update; `n` time steps in all.
fn online_train<N, const I: usize, const O: usize, const B: usize>(mut net: N, n: usize)
where
    N: Online<
            Scalar = f32,
            Input = SMatrix<f32, I, B>,
            Output = SMatrix<f32, O, B>,
            GradInput = SMatrix<f32, I, B>,
        >,
{
    let xs = inputs::<I, B>(2);
    let g = SMatrix::<f32, O, B>::from_element(0.1);
    for _ in 0..n / T {
        net.forget();
        for x in &xs {
            black_box(net.step(black_box(x)));
        }
        for x in xs.iter().rev() {
            black_box(net.backward_step(x, &g));
        }
        net.update_parameters(0.01);
    }
}

/// Whole `T`-step forwards in evaluation mode (`infer_sequence`), `n` steps in all.
fn sequence<N, const I: usize, const B: usize>(mut net: N, xs: &[SMatrix<f32, I, B>; T], n: usize)
where
    N: Network<Scalar = f32, Inputs = [SMatrix<f32, I, B>]>,
{
    net.evaluate();
    for _ in 0..n / T {
        black_box(net.forward(black_box(xs)));
    }
}

/// The time of each phase of `n / T` training steps, per time step: zeroing and forward, the
/// criterion, BPTT, the update.
fn train_split<N, const I: usize, const C: usize, const B: usize>(
    mut net: N,
    xs: &[SMatrix<f32, I, B>; T],
    n: usize,
) where
    N: Network<Scalar = f32, Inputs = [SMatrix<f32, I, B>], Outputs = [SMatrix<f32, C, B>]>,
{
    let crit = SequencerCriterion::new(ClassNll::default());
    let ys = targets::<C, B>();
    let mut g = [SMatrix::zeros(); T];
    let mut t = [std::time::Duration::ZERO; 4];
    for _ in 0..n / T {
        let t0 = std::time::Instant::now();
        net.zero_grad_parameters();
        let out = net.forward(black_box(xs));
        let t1 = std::time::Instant::now();
        crit.backward_into(out, &ys, &mut g);
        let t2 = std::time::Instant::now();
        net.backward_parameters(xs, &g);
        let t3 = std::time::Instant::now();
        net.update_parameters(0.01);
        let t4 = std::time::Instant::now();
        for (k, (a, b)) in [(t0, t1), (t1, t2), (t2, t3), (t3, t4)]
            .into_iter()
            .enumerate()
        {
            t[k] += b - a;
        }
    }
    for (name, d) in ["zero+forward", "criterion", "backward", "update"]
        .iter()
        .zip(t)
    {
        println!(
            "{name}: {:.1} ns per step",
            d.as_secs_f64() * 1e9 / n as f64
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map_or("seed_b1_step", String::as_str);
    let n: usize = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let start = std::time::Instant::now();
    match case {
        "seed_b1_step" => {
            let mut net = SeedB1::new(1);
            net.evaluate();
            let x = inputs::<10, 1>(2)[0];
            for _ in 0..n {
                black_box(net.step(black_box(&x)));
            }
        }
        "no_lsm_step" => run_steps(SeedNoLsm::new(1), n),
        "lstm_step" => run_steps(SeedLstm::new(1), n),
        "lstm16_step" => run_steps(Lstm16::new(1), n),
        "lstm24_step" => run_steps(Lstm24::new(1), n),
        "gru_step" => run_steps(SeedGru::new(1), n),
        "seed_b1_train" => train(SeedB1::new(1), n),
        "seed_b1_online_train" => online_train::<_, 10, 5, 1>(SeedB1::new(1), n),
        "conv_b1_step" => run_steps(ConvStack::new(1), n),
        "conv_b1_online_train" => online_train::<_, 10, 5, 1>(ConvStack::new(1), n),
        "lstm128_b32_online_train" => online_train::<_, 64, 10, 32>(Lstm128B32::new(1), n),
        "gru_b1_train" => train(GruB1::new(1), n),
        "lstm256_b32_step" => {
            let x = inputs::<32, 32>(2)[0];
            let mut net = Lstm256B32::new(1);
            net.evaluate();
            for _ in 0..n {
                black_box(net.step(black_box(&x)));
            }
        }
        "gru128_b32_step" | "lstm128_b32_step" => {
            // Online steps at batch 32 (`infer_step`: nothing packed once).
            let x = inputs::<64, 32>(2)[0];
            if case == "gru128_b32_step" {
                let mut net = Gru128B32::new(1);
                net.evaluate();
                for _ in 0..n {
                    black_box(net.step(black_box(&x)));
                }
            } else {
                let mut net = Lstm128B32::new(1);
                net.evaluate();
                for _ in 0..n {
                    black_box(net.step(black_box(&x)));
                }
            }
        }
        "amp_gru16_step" => run_steps(AmpGru16::new(1), n),
        "amp_lstm32_step" => run_steps(AmpLstm32::new(1), n),
        "amp_lstm2_step" => run_steps(AmpLstm2::new(1), n),
        "amp_lstm16_step" => run_steps(AmpLstm16::new(1), n),
        "amp_lstm2_block1" => run_blocks_of(AmpLstm2::new(1), n, block_len(), false),
        "amp_lstm16_block1" => run_blocks_of(AmpLstm16::new(1), n, block_len(), false),
        "amp_lite_block1" => run_blocks_of(AmpLite::new(1), n, block_len(), false),
        "amp_lstm2_block" => run_blocks(AmpLstm2::new(1), n, false),
        "amp_lstm2_block_fast" => run_blocks(AmpLstm2::new(1), n, true),
        "amp_lite_block" => run_blocks(AmpLite::new(1), n, false),
        "amp_lite_block_fast" => run_blocks(AmpLite::new(1), n, true),
        "amp_lstm8_block" => run_blocks(AmpLstm8::new(1), n, false),
        "amp_lstm8_block_fast" => run_blocks(AmpLstm8::new(1), n, true),
        "amp_lstm16_block" => run_blocks(AmpLstm16::new(1), n, false),
        "amp_lstm16_block_fast" => run_blocks(AmpLstm16::new(1), n, true),
        "amp_lstm24_block" => run_blocks(AmpLstm24::new(1), n, false),
        "amp_lstm24_block_fast" => run_blocks(AmpLstm24::new(1), n, true),
        "amp_lstm32_block" => run_blocks(AmpLstm32::new(1), n, false),
        "amp_lstm32_block_fast" => run_blocks(AmpLstm32::new(1), n, true),
        "seed_b1_train_split" => train_split(SeedB1::new(1), &inputs::<10, 1>(2), n),
        "seed_b1_zero_grad" | "seed_b1_update" => {
            // One call per step of n: the parameter passes of a training step alone.
            let mut net = SeedB1::new(1);
            for _ in 0..n {
                if case == "seed_b1_zero_grad" {
                    net.zero_grad_parameters();
                } else {
                    net.update_parameters(black_box(0.0));
                }
            }
        }
        "lstm256_b32_sequence" => sequence(Lstm256B32::new(1), &inputs::<32, 32>(2), n),
        "lstm256_b32_train_split" => train_split(Lstm256B32::new(1), &inputs::<32, 32>(2), n),
        "lstm128_b32_sequence" => sequence(Lstm128B32::new(1), &inputs::<64, 32>(2), n),
        "lstm128_b32_train_split" => train_split(Lstm128B32::new(1), &inputs::<64, 32>(2), n),
        "gru128_b32_sequence" => sequence(Gru128B32::new(1), &inputs::<64, 32>(2), n),
        "gru128_b32_train_split" => train_split(Gru128B32::new(1), &inputs::<64, 32>(2), n),
        "seed_b32_sequence" => sequence(SeedB32::new(1), &inputs::<10, 32>(2), n),
        "seed_b32_train_split" => train_split(SeedB32::new(1), &inputs::<10, 32>(2), n),
        "tanh20" | "sigmoid80" | "tanh4096" => {
            let len = match case {
                "tanh20" => 20,
                "sigmoid80" => 80,
                _ => 4096,
            };
            let mut rng = Rng::new(1);
            let base: Vec<f32> = (0..len).map(|_| rng.uniform(-3.0, 3.0) as f32).collect();
            let mut v = base.clone();
            for _ in 0..n {
                v.copy_from_slice(&base);
                if case == "sigmoid80" {
                    rnn_core::sigmoid_slice(black_box(&mut v));
                } else {
                    rnn_core::tanh_slice(black_box(&mut v));
                }
            }
        }
        other => panic!("unknown case {other}"),
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("{case}: {per:.1} ns per step");
    if std::env::var_os("SHOW_KERNELS").is_some() {
        println!("kernels: {}", rnn_core::kernel_choice());
    }
}
