use rnn_core::prelude::*;

// Sizes whose products overflow, or exceed what a platform can address: errors, never a panic
// of the macro.
network! {
    pub A<seq_len = 8> = Sequential[ LSTM(1, 4611686018427387904), Linear(4, 2) ];
    pub B<seq_len = 8, batch = 18446744073709551615> = Sequential[ GRU(3, 4) ];
    pub C<seq_len = 4611686018427387904> = Sequential[ Linear(3, 4) ];
    pub D<seq_len = 2000, unroll = full> = Sequential[ RNN(3, 4) ];
    pub E<seq_len = 8> = Sequential[ Linear(99999999999999999999999, 2) ];
    // Addressable, but past rustc's limit on the size of a type (2^61 bytes): the macro's
    // error, not E0080 inside `core`.
    pub F<seq_len = 8> = Sequential[ Linear(1000000000, 1000000000) ];
}

fn main() {}
