use rnn_core::prelude::*;

network! {
    pub A<batch = 4> = Sequential[ LSTM(10, 20) ];
    pub B = Sequential[ LSTM(10, 20) ];
}

fn main() {}
