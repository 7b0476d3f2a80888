//! A `#![no_std]` crate that builds the seed network and one training step, and a network with
//! its weights compiled in, against `rnn-core` without its `std` feature. CI builds and tests it
//! on its own (`cargo build -p nostd-check`, `cargo test -p nostd-check`), so that feature
//! unification with the rest of the workspace cannot switch `std` back on.
//!
//! [`seed_sgd_bits`] is the generic path's reference run: its unit test (no `std`: the generic
//! kernels, there being no run-time CPU detection) and `tests/generic_bits.rs` (with `std`,
//! `RNN_SIMD=baseline`) compare it with the same committed bits.
#![no_std]

extern crate alloc;

use rnn_core::prelude::*;

network! {
    /// The seed network.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}

network! {
    /// The seed network for inference on a device: weights compiled in (the state_dict of
    /// `tests/state_dicts.rs`), stepped online one input at a time.
    pub SeedRun<seq_len = 1, weights = "../tests/fixtures/state_dicts/seed.safetensors",
                names = [recurrent("rnn", 0, 1), module("head", 1)]> =
        Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}

network! {
    /// `LSTM(1, 16) -> Linear(16, 1)`, the shape of a small amp model, for inference on a
    /// device, weights compiled in (the LSTM and head of the README's residual amp).
    pub AmpRun<seq_len = 1, weights = "../tests/fixtures/state_dicts/amp_residual.safetensors",
               names = [recurrent("rec", 0, 1), module("lin", 1)]> =
        Sequential[ LSTM(1, 16), Linear(16, 1) ];
}

/// [`SeedRun`] built for inference, stepped over 8 inputs drawn from `Rng::new(7)` (the
/// inputs of [`seed_sgd_bits`]): its 40 outputs, as `f32` bits.
#[must_use]
pub fn seed_inference_bits() -> alloc::vec::Vec<u32> {
    let mut bits = [0; 40];
    seed_inference(&mut SeedRun::pretrained_for_inference(), &mut bits);
    bits.to_vec()
}

/// [`seed_inference_bits`] on a network given, into `bits` (allocates nothing).
pub fn seed_inference(net: &mut SeedRun, bits: &mut [u32; 40]) {
    let mut rng = Rng::new(7);
    for out in bits.chunks_exact_mut(5) {
        let x: SMatrix<f32, 10, 1> = SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32);
        for (o, y) in out.iter_mut().zip(net.step(&x).iter()) {
            *o = y.to_bits();
        }
    }
}

/// [`AmpRun`] built for inference, stepped over 64 samples of a decaying triangle wave (period
/// 16 samples): its 64 outputs, as `f32` bits.
#[must_use]
pub fn amp_inference_bits() -> alloc::vec::Vec<u32> {
    let mut bits = [0; 64];
    amp_inference(&mut AmpRun::pretrained_for_inference(), &mut bits);
    bits.to_vec()
}

/// [`amp_inference_bits`] on a network given, into `bits` (allocates nothing).
pub fn amp_inference(net: &mut AmpRun, bits: &mut [u32; 64]) {
    let mut gain = 0.9f32;
    for (t, out) in (0..64u8).zip(bits.iter_mut()) {
        let phase = f32::from(t % 16) / 16.0;
        let x = gain * (1.0 - 4.0 * (phase - 0.5).abs());
        gain *= 0.97;
        *out = net.step(&SMatrix::<f32, 1, 1>::new(x))[(0, 0)].to_bits();
    }
}

/// The committed bits of [`seed_inference_bits`] then [`amp_inference_bits`] on the generic
/// path (hex, one per line).
pub const INFERENCE_BITS: &str = include_str!("../../tests/fixtures/generic_path/inference.txt");

/// [`SEED_SGD_BITS`] or [`INFERENCE_BITS`] parsed.
#[must_use]
pub fn parse_bits(text: &str) -> alloc::vec::Vec<u32> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| u32::from_str_radix(l.trim(), 16).ok())
        .collect()
}

network! {
    /// The guitar-amp model of the README with its trained weights compiled in: no file
    /// system needed.
    pub Amp<seq_len = 1, weights = "../tests/fixtures/state_dicts/amp_residual.safetensors",
            names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1")]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}

/// The amp with its weights, and its output for one sample.
pub fn amp_sample(x: f32) -> (Amp, f32) {
    let mut amp = Amp::pretrained();
    let y = amp.step(&SMatrix::<f32, 1, 1>::new(x))[(0, 0)];
    (amp, y)
}

/// One training step; returns the loss.
///
/// # Errors
/// If the optimiser refuses its hyper-parameters (Adam's defaults are valid).
pub fn train_step(
    net: &mut Tagger,
    inputs: &[SMatrix<f32, 10, 1>; 8],
    targets: &[[Class<5>; 1]; 8],
) -> Result<f32, OptimError> {
    let crit = SequencerCriterion::new(ClassNll::default());
    net.zero_grad_parameters();
    let outputs = net.forward(inputs);
    let loss = crit.forward(outputs, targets);
    let grads = crit.backward(outputs, targets);
    net.backward(inputs, &grads);
    Adam::default().step(net)?;
    Ok(loss)
}

/// The seed network (`Tagger::new(1)`) trained 20 SGD steps (learning rate 0.1) on fixed
/// inputs and targets drawn from `Rng::new(7)`: each step's loss, then the outputs after
/// training (8 steps x 5 classes), as `f32` bits.
#[must_use]
pub fn seed_sgd_bits() -> alloc::vec::Vec<u32> {
    let mut rng = Rng::new(7);
    let inputs: [SMatrix<f32, 10, 1>; 8] =
        core::array::from_fn(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32));
    let targets: [[Class<5>; 1]; 8] = core::array::from_fn(|_| {
        let k = (rng.next_u64() % 5) as usize;
        [Class::new(k).expect("an index below 5")]
    });
    let mut net = Tagger::new(1);
    let crit = SequencerCriterion::new(ClassNll::default());
    let Ok(sgd) = Sgd::new(0.1) else {
        return alloc::vec::Vec::new();
    };
    let mut bits = alloc::vec::Vec::new();
    for _ in 0..20 {
        net.zero_grad_parameters();
        let outputs = net.forward(&inputs);
        bits.push(crit.forward(outputs, &targets).to_bits());
        let grads = crit.backward(outputs, &targets);
        net.backward(&inputs, &grads);
        if sgd.step(&mut net).is_err() {
            return alloc::vec::Vec::new();
        }
    }
    for y in net.forward(&inputs) {
        bits.extend(y.iter().map(|v| v.to_bits()));
    }
    bits
}

/// The committed bits of [`seed_sgd_bits`] on the generic path (hex, one per line).
pub const SEED_SGD_BITS: &str = include_str!("../../tests/fixtures/generic_path/seed_sgd.txt");

/// [`SEED_SGD_BITS`] parsed.
#[must_use]
pub fn committed_bits() -> alloc::vec::Vec<u32> {
    parse_bits(SEED_SGD_BITS)
}

/// [`INFERENCE_BITS`] parsed: [`seed_inference_bits`] (40) then [`amp_inference_bits`] (64).
#[must_use]
pub fn committed_inference_bits() -> alloc::vec::Vec<u32> {
    parse_bits(INFERENCE_BITS)
}

#[cfg(test)]
mod tests {
    extern crate std;

    /// Without `std` (so on the generic kernels), the seed's training and the two inference
    /// runs give the committed bits:
    /// the ones the `std` build gives on its baseline path (`tests/generic_bits.rs`). In a
    /// workspace test run, features are unified and `rnn-core` has `std`: the baseline path is
    /// then asked for, so that this compares the generic path either way.
    #[test]
    fn the_generic_path_gives_the_committed_bits() {
        // SAFETY: the only test of this binary, run before any thread reads the environment
        // (the kernel path is chosen at the first network).
        unsafe { std::env::set_var("RNN_SIMD", "baseline") };
        let runs = [
            (super::seed_sgd_bits(), super::committed_bits(), 60),
            (
                [super::seed_inference_bits(), super::amp_inference_bits()].concat(),
                super::committed_inference_bits(),
                104,
            ),
        ];
        for (ours, committed, n) in runs {
            assert_eq!(ours.len(), n);
            let differ = ours.iter().zip(&committed).filter(|(a, b)| a != b).count();
            assert!(
                ours == committed,
                "{differ} of {} values differ from the committed bits",
                ours.len()
            );
        }
    }
}
