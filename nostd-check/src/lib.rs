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
    SEED_SGD_BITS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| u32::from_str_radix(l.trim(), 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    extern crate std;

    /// Without `std` (so on the generic kernels), the seed's training gives the committed bits:
    /// the ones the `std` build gives on its baseline path (`tests/generic_bits.rs`). In a
    /// workspace test run, features are unified and `rnn-core` has `std`: the baseline path is
    /// then asked for, so that this compares the generic path either way.
    #[test]
    fn the_generic_path_gives_the_committed_bits() {
        // SAFETY: the only test of this binary, run before any thread reads the environment
        // (the kernel path is chosen at the first network).
        unsafe { std::env::set_var("RNN_SIMD", "baseline") };
        let ours = super::seed_sgd_bits();
        let committed = super::committed_bits();
        assert_eq!(ours.len(), 60);
        let differ = ours.iter().zip(&committed).filter(|(a, b)| a != b).count();
        assert!(
            ours == committed,
            "{differ} of {} values differ from the committed bits",
            ours.len()
        );
    }
}
