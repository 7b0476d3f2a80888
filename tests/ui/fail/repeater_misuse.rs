use rnn_core::prelude::*;

network! {
    // A Repeater feeds the network's one input to every step: only outermost, and as a loop.
    pub A<seq_len = 4> = Sequential[ Linear(3, 3), Repeater[ LSTM(3, 3) ] ];
    pub B<seq_len = 4, unroll = full> = Repeater[ LSTM(3, 3) ];
}

fn main() {}
