use rnn_core::prelude::*;

network! {
    // It reads token indices: only first, and not alone.
    pub A<seq_len = 4> = Sequential[ Linear(3, 3), LookupTable(10, 3) ];
    pub B<seq_len = 4> = Sequential[ BiSequencer[ LookupTable(10, 3), LSTM(3, 3) ] ];
    pub C<seq_len = 4> = Sequential[ Embedding(10, 3) ];
    // The padding index is a token, named.
    pub D<seq_len = 4> = Sequential[ LookupTable(10, 3, padding = 10), LSTM(3, 3) ];
    pub E<seq_len = 4> = Sequential[ LookupTable(10, 3, 0), LSTM(3, 3) ];
    pub F<seq_len = 4> = Sequential[ LookupTable(10), LSTM(3, 3) ];
}

network! {
    pub G<seq_len = 4> = Sequential[ LookupTable(10, 3), LSTM(3, 3) ];
}

fn main() {
    // Tokens, not vectors.
    let mut g = G::new(0);
    g.forward(&[SMatrix::<f32, 10, 1>::zeros(); 4]);
}
