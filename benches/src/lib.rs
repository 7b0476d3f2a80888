//! The networks the benchmarks time, and the baselines they are compared with: a dynamic-size
//! nalgebra implementation of the seed network (what a runtime-shaped library does) and, with
//! the `candle` feature, candle.

use rnn_core::prelude::*;

#[cfg(feature = "candle")]
pub mod candle_peer;
pub mod dynamic;
pub mod signals;

/// Steps per sequence in every benchmark.
pub const T: usize = 16;

network! {
    /// The seed network, batch 1.
    pub SeedB1<seq_len = 16> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network, batch 32.
    pub SeedB32<seq_len = 16, batch = 32> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// A bigger LSTM, batch 32.
    pub Lstm128B32<seq_len = 16, batch = 32> =
        Sequential[ LSTM(64, 128), Linear(128, 10), LogSoftMax ];
    /// A wide LSTM, batch 32: where the large products dominate (issue 10's case).
    pub Lstm256B32<seq_len = 16, batch = 32> =
        Sequential[ LSTM(32, 256), Linear(256, 10), LogSoftMax ];
    /// The seed network with a GRU, batch 1 (real-time use).
    pub GruB1<seq_len = 16> = Sequential[ GRU(10, 20), Linear(20, 5), LogSoftMax ];
    /// The same with a GRU.
    pub Gru128B32<seq_len = 16, batch = 32> =
        Sequential[ GRU(64, 128), Linear(128, 10), LogSoftMax ];
    /// The seed network, batch 32, with masking on (what `mask_zero` costs; no column masked).
    pub SeedB32Masked<seq_len = 16, batch = 32, mask_zero = true> =
        Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network, batch 1, with masking on.
    pub SeedB1Masked<seq_len = 16, mask_zero = true> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network, batch 64 (one network, for the data-parallel comparison).
    pub SeedB64<seq_len = 16, batch = 64> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The bigger LSTM, batch 64 (one network, for the data-parallel comparison).
    pub Lstm128B64<seq_len = 16, batch = 64> =
        Sequential[ LSTM(64, 128), Linear(128, 10), LogSoftMax ];
}

/// Deterministic inputs in `[-1, 1)`.
#[must_use]
pub fn inputs<const I: usize, const B: usize>(seed: u64) -> [SMatrix<f32, I, B>; T] {
    let mut rng = Rng::new(seed);
    std::array::from_fn(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32))
}

/// Deterministic class targets.
#[must_use]
pub fn targets<const C: usize, const B: usize>() -> [[Class<C>; B]; T] {
    std::array::from_fn(|t| std::array::from_fn(|b| Class::new((t + b) % C).expect("in range")))
}

/// Forward, ClassNll summed over the steps, and BPTT of one sequence: the body of every
/// training benchmark (the caller zeroes the gradients and updates as it times).
pub fn forward_backward<N, const I: usize, const C: usize, const B: usize>(
    net: &mut N,
    xs: &[SMatrix<f32, I, B>; T],
    ys: &[[Class<C>; B]; T],
) -> f32
where
    N: Network<Scalar = f32, Inputs = [SMatrix<f32, I, B>], Outputs = [SMatrix<f32, C, B>]>,
{
    let crit = SequencerCriterion::new(ClassNll::default());
    let out = net.forward(std::hint::black_box(xs));
    let loss = crit.forward(out, ys);
    let mut g = [SMatrix::zeros(); T];
    crit.backward_into(out, ys, &mut g);
    net.backward_parameters(xs, &g);
    loss
}

/// FLOPs of one training step of an LSTM(I, H) -> Linear(H, O) network over `T` steps with
/// batch `b` (multiply-adds count 2): forward products, then the four backward products of the
/// LSTM (inputs, hidden, two weight gradients) and three of the Linear.
#[must_use]
pub fn lstm_train_flops(i: usize, h: usize, o: usize, b: usize) -> f64 {
    let lstm = 2.0 * (4 * h * (i + h) * b) as f64;
    let linear = 2.0 * (o * h * b) as f64;
    (3.0 * lstm + 3.0 * linear) * T as f64
}
