// `weights` paths are relative to the crate's directory; trybuild builds these in
// target/tests/trybuild/rnn, four levels below the workspace.
use rnn_core::prelude::*;

network! {
    // An f32 file into an f64 network without `convert_dtype`.
    pub Amp<seq_len = 8, scalar = f64, weights = "../../../../tests/fixtures/state_dicts/amp_residual.safetensors",
            names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1")]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}

fn main() {}
