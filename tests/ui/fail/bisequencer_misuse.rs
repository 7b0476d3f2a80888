use rnn_core::prelude::*;

network! {
    // What steps the network one step at a time cannot hold a BiSequencer.
    pub B<seq_len = 4, unroll = full> = Sequential[ Linear(2, 3), Sequential[ BiSequencer[ GRU(3, 3) ] ] ];
    pub C<seq_len = 4> = Repeater[ BiSequencer[ LSTM(3, 3) ] ];
    // Not the outermost container.
    pub D<seq_len = 4> = BiSequencer[ LSTM(3, 3) ];
    // It gives both directions: 2 x 20 = 40 outputs.
    pub E<seq_len = 4> = Sequential[ BiSequencer[ LSTM(10, 20) ], Linear(20, 5) ];
}

fn main() {}
