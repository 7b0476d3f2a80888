//! A `#![no_std]` crate that builds the seed network and one training step, and a network with
//! its weights compiled in, against `rnn-core` without its `std` feature. CI builds it on its own (`cargo build -p nostd-check`), so that
//! feature unification with the rest of the workspace cannot switch `std` back on.
#![no_std]

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
