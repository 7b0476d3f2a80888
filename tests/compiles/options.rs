#![deny(missing_docs)]
//! Options in any order, several networks per call, attributes passed on, a default doc.
use rnn_core::prelude::*;

network! {
    /// Same shape, mini-batches of 32, double precision.
    pub(crate) Tagger64<seq_len = 8, batch = 32, scalar = f64> =
        Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];

    #[allow(dead_code)]
    pub Reordered<scalar = f32, batch = 2, seq_len = 3> = Sequential[ GRU(4, 4) ];

    pub Undocumented<seq_len = 1> = Sequential[ Linear(1, 1) ];
}

/// Runs the case: builds each network and uses it.
pub fn main() {
    let mut net = Tagger64::new(1);
    let x = [SMatrix::<f64, 10, 32>::zeros(); 8];
    let y: &[SMatrix<f64, 5, 32>] = net.forward(&x);
    assert_eq!(y.len(), 8);
    let _ = Undocumented::new(0);
}
