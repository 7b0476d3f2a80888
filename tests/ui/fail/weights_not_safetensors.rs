// `weights` paths are relative to the crate's directory; trybuild builds these in
// target/tests/trybuild/rnn, four levels below the workspace.
use rnn_core::prelude::*;

network! {
    // This source file is not a safetensors file.
    pub Amp<seq_len = 8, weights = "../../../../tests/ui/fail/weights_not_safetensors.rs"> =
        Sequential[ LSTM(1, 16), Linear(16, 1) ];
}

fn main() {}
