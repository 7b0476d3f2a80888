use rnn_core::prelude::*;

network! {
    pub Tagger<seq_len = 8> = Sequential[ Lstm(10, 20), Linear(20, 5), LogSoftMax ];
}

fn main() {}
