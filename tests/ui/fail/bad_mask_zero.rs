use rnn_core::prelude::*;

network! {
    pub A<seq_len = 8, mask_zero = yes> = Sequential[ LSTM(10, 20) ];
}

fn main() {}
