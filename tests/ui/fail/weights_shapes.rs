// `weights` paths are relative to the crate's directory; trybuild builds these in
// target/tests/trybuild/rnn, four levels below the workspace.
use rnn_core::prelude::*;

network! {
    // The file's LSTM has 16 hidden units, not 8: every tensor of both layers is listed.
    pub Amp<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp_residual.safetensors",
            names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1")]> =
        Sequential[ Residual[ LSTM(1, 8), Linear(8, 1) ] ];
}

fn main() {}
