use rnn_core::prelude::*;

network! {
    pub A<seq_len = 8, batches = 4, scalar = f16, unroll = yes, seq_len = 0> = Sequential[ LSTM(10, 20) ];
}

fn main() {}
