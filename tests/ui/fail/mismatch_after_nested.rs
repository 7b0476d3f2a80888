use rnn_core::prelude::*;

network! {
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Sequential[ Linear(20, 7), ReLU ], Linear(8, 5) ];
}

fn main() {}
