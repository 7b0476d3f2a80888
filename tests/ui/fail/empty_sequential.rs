use rnn_core::prelude::*;

network! {
    pub A<seq_len = 8> = Sequential[];
    pub B<seq_len = 8> = Sequential[ LSTM(10, 20), Sequential[ ] ];
}

fn main() {}
