use rnn_core::prelude::*;

network! {
    // The layers inside give 5 outputs for 4 inputs: y = f(x) + x cannot add them.
    pub A<seq_len = 4> = Sequential[ Linear(3, 4), Residual[ LSTM(4, 6), Linear(6, 5) ], Tanh ];
}

network! {
    // A residual must sit inside a Sequential, and takes its layers in brackets.
    pub B<seq_len = 4> = Residual[ Linear(3, 3) ];
    pub C<seq_len = 4> = Sequential[ Linear(3, 3), Residual(Linear(3, 3)) ];
}

fn main() {}
