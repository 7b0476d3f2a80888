use rnn_core::prelude::*;

network! {
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Tanh, Linear(30, 5), LogSoftMax ];
}

fn main() {}
