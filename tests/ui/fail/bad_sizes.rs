use rnn_core::prelude::*;

network! {
    pub A<seq_len = 8> = Sequential[ LSTM(10, 0), Linear(20.5, 5), Linear(n, 2), Dropout(1.5) ];
}

fn main() {}
