use rnn_core::prelude::*;

// Sizes from constants: a mismatch names both layers with the constants' values, a zero
// constant fails at compile time, and an expression is refused.

const HIDDEN: usize = 20;
const WRONG: usize = 30;
const ZERO: usize = 0;

network! {
    pub A<seq_len = 8> = Sequential[ LSTM(10, HIDDEN), Linear(WRONG, 5) ];
    pub B<seq_len = 8> = Sequential[ LSTM(10, ZERO) ];
    pub C<seq_len = 8> = Sequential[ Linear(10, HIDDEN + 1) ];
}

fn main() {}
