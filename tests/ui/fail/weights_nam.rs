// `weights` paths are relative to the crate's directory; trybuild builds these in
// target/tests/trybuild/rnn, four levels below the workspace.
use rnn_core::prelude::*;

network! {
    // NAM Core's example LSTM is 1 x 3, not 1 x 4.
    pub Wider<seq_len = 8, weights = "../../../../tests/fixtures/nam/lstm.nam"> =
        Sequential[ LSTM(1, 4), Linear(4, 1) ];
    // A WaveNet does not map onto a network here.
    pub Conv<seq_len = 8, weights = "../../../../tests/fixtures/nam/wavenet.nam"> =
        Sequential[ LSTM(1, 3), Linear(3, 1) ];
    // A .nam file's names are fixed.
    pub Named<seq_len = 8, weights = "../../../../tests/fixtures/nam/lstm.nam",
              names = [recurrent("rnn", 0, 1)]> =
        Sequential[ LSTM(1, 3), Linear(3, 1) ];
    // A layer after the head would change what the model computes.
    pub Squashed<seq_len = 8, weights = "../../../../tests/fixtures/nam/lstm.nam"> =
        Sequential[ LSTM(1, 3), Linear(3, 1), Tanh ];
}

fn main() {}
