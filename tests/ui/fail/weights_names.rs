// `weights` paths are relative to the crate's directory; trybuild builds these in
// target/tests/trybuild/rnn, four levels below the workspace.
use rnn_core::prelude::*;

network! {
    // The amp module's state_dict (`rec` = nn.LSTM(1, 16), `lin` = nn.Linear(16, 1)) without
    // a name map: every name missing and unexpected, with the nearest as a hint.
    pub NoNames<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp_residual.safetensors"> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
    // A rule on a layer without parameters.
    pub Misplaced<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp_residual.safetensors",
                  names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.2")]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1), Tanh ] ];
    // Two rules claiming one layer.
    pub Overlap<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp_residual.safetensors",
                names = [recurrent_at("rec", "0.0", 2), module_at("lin", "0.1")]> =
        Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
}

fn main() {}
