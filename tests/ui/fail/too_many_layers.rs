use rnn_core::prelude::*;

// One layer more than a network may hold: the macro's error, before rustc's limits.
network! {
    pub Deep<seq_len = 2> = Sequential[
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh,
        Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4), Tanh, Linear(4, 4)
    ];
}

fn main() {}
