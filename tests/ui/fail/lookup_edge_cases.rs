use rnn_core::prelude::*;

network! {
    pub A<seq_len = 4> = Sequential[ BiSequencer[], Linear(3, 3) ];
    pub B<seq_len = 4> = Sequential[ LookupTable(0, 3), LSTM(3, 3) ];
    pub C<seq_len = 4> = Sequential[ LookupTable(10, 3, padding = 99999999999999999999999), LSTM(3, 3) ];
    pub D<seq_len = 4> = Sequential[ Embedding(10, 3, padding = -1), LSTM(3, 3) ];
    pub E<seq_len = 4> = Sequential[ LookupTable(10, 3, padding = 0, 1), LSTM(3, 3) ];
    pub F<seq_len = 4> = Sequential[ LookupTable(10, 3, pad = 0), LSTM(3, 3) ];
    pub G<seq_len = 4> = Sequential[ LookupTable(18446744073709551615, 4611686018427387904), LSTM(3, 3) ];
    pub H<seq_len = 4> = Sequential[ LookupTable, LSTM(3, 3) ];
}

fn main() {}
