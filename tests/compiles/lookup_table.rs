//! Token inputs: a leading LookupTable (or Embedding), with a padding index, constant sizes,
//! masking and a bidirectional layer after it.
use rnn_core::prelude::*;

const VOCAB: usize = 50;

network! {
    /// A character model over token indices.
    pub CharLm<seq_len = 16, batch = 4> =
        Sequential[ LookupTable(VOCAB, 8), LSTM(8, 32), Linear(32, VOCAB), LogSoftMax ];
    /// A padded, masked tagger reading both ways.
    pub Tagger<seq_len = 10, batch = 2, mask_zero = true> =
        Sequential[ Embedding(20, 6, padding = 0), GRU(6, 6), Linear(6, 3) ];
    /// Bidirectional after the table.
    pub Both<seq_len = 5> = Sequential[ LookupTable(9, 4), BiSequencer[ LSTM(4, 3) ], Linear(6, 9) ];
}

pub fn main() {
    let mut lm = CharLm::new(1);
    let tok = |i: usize| Class::<VOCAB>::new(i % VOCAB).expect("in range");
    let xs: Vec<[Class<VOCAB>; 4]> = (0..16)
        .map(|t| [tok(t), tok(t + 1), tok(t + 2), tok(3)])
        .collect();
    let ys = lm.forward(&xs).to_vec();
    let g: &[SMatrix<f32, 8, 4>] = lm.backward(&xs, &ys);
    assert_eq!(g.len(), 16);
    let mut tagger = Tagger::new(2);
    let pad = Class::<20>::new(0).expect("0");
    tagger.forward(&[[pad, Class::new(3).expect("3")]; 4]);
    let mut both = Both::new(3);
    both.forward(&[[Class::new(8).expect("8")]; 5]);
}

// The README's example, as written there.
network! {
    /// Reads token indices, both ways: step t sees the whole sentence.
    pub BiTagger<seq_len = 40, batch = 16> = Sequential[
        Embedding(5000, 64, padding = 0),   // alias LookupTable; inputs [Class<5000>; 16] per step
        BiSequencer[ LSTM(64, 128) ],        // outputs [forward; backward]: 256 per step
        Linear(256, 12),
        LogSoftMax
    ];
}
