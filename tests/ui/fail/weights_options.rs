use rnn_core::prelude::*;

const HIDDEN: usize = 16;

network! {
    // `names` without `weights`.
    pub A<seq_len = 8, names = [module("head", 1)]> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
    // Not a list of rules.
    pub B<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp.safetensors", names = head> =
        Sequential[ GRU(1, 16), Linear(16, 1) ];
    // An unknown rule.
    pub C<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp.safetensors", names = [layer("gru", 0)]> =
        Sequential[ GRU(1, 16), Linear(16, 1) ];
    // A rule's argument of the wrong kind.
    pub D<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp.safetensors", names = [module(gru, 0)]> =
        Sequential[ GRU(1, 16), Linear(16, 1) ];
    // Not a string literal.
    pub E<seq_len = 8, weights = amp> = Sequential[ GRU(1, 16), Linear(16, 1) ];
    // A size the macro cannot see.
    pub F<seq_len = 8, weights = "../../../../tests/fixtures/state_dicts/amp.safetensors",
          names = [recurrent("gru", 0, 1), module("dense", 1)]> =
        Sequential[ GRU(1, HIDDEN), Linear(HIDDEN, 1) ];
}

fn main() {}
