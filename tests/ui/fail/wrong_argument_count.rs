use rnn_core::prelude::*;

network! {
    pub A<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20), LogSoftMax ];
    pub B<seq_len = 8> = Sequential[ GRU(10, 20, 30), Tanh(20), Dropout ];
}

fn main() {}
