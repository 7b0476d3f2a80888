use rnn_core::prelude::*;

network! {
    pub A<seq_len = 8> = Sequential[ LogSoftMax, Linear(5, 5) ];
    pub B<seq_len = 8> = Sequential[ Sequential[ Tanh ], Linear(5, 5) ];
}

fn main() {}
