use rnn_core::prelude::*;

network! {
    pub A<seq_len = 8> = Sequential[
        Conv1d(3, 4),
        Conv1d(3, 4, 2, dilatation = 2),
        Conv1d(3, 4, 2, dilation = 1, dilation = 2),
        Conv1d(3, 4, 2, dilation = 2, 5),
    ];
}

network! {
    pub B<seq_len = 8> = Sequential[ LSTM(10, 20), Conv1d(3, 4, 2, dilation = 2) ];
}

const ZERO: usize = 0;

network! {
    pub C<seq_len = 8> = Sequential[ Conv1d(3, 4, 2, dilation = ZERO) ];
}

fn main() {}
