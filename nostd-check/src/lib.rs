//! A `#![no_std]` crate that builds the seed network and one training step against `rnn-core`
//! without its `std` feature. CI builds it on its own (`cargo build -p nostd-check`), so that
//! feature unification with the rest of the workspace cannot switch `std` back on.
#![no_std]

use rnn_core::prelude::*;

network! {
    /// The seed network.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
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
