use rnn_core::prelude::*;

network! {
    pub Amp<seq_len = 8, weights = "models/nowhere.safetensors"> =
        Sequential[ LSTM(1, 16), Linear(16, 1) ];
}

fn main() {}
