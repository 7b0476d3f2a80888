use rnn_core::prelude::*;

// A size naming no constant in scope is the compiler's own error, at the name.
network! {
    pub D<seq_len = 8> = Sequential[ Linear(10, UNDEFINED), Tanh ];
}

fn main() {}
