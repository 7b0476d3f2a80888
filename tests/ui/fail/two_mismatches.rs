use rnn_core::prelude::*;

network! {
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(30, 5), GRU(4, 8), LogSoftMax ];
}

fn main() {}
