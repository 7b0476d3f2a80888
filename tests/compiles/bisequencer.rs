//! A bidirectional tagger: whole sequences of any length up to seq_len, parameters named as
//! PyTorch names them, constant sizes inside.
use rnn_core::prelude::*;

const HIDDEN: usize = 6;

network! {
    /// Tags each step from both sides of it.
    pub BiTagger<seq_len = 8, batch = 2> = Sequential[
        BiSequencer[ LSTM(4, HIDDEN) ],
        Linear(12, 3),
        LogSoftMax
    ];
    /// Several layers per direction, nested containers.
    pub Deep<seq_len = 3> = Sequential[
        BiSequencer[ GRU(2, 3), Dropout(0.1), Sequential[ Linear(3, 3), Tanh ] ],
        Residual[ BiSequencer[ RNN(6, 3) ] ]
    ];
}

pub fn main() {
    let mut net = BiTagger::new(1);
    let xs = vec![SMatrix::<f32, 4, 2>::from_element(0.5); 5];
    let ys = net.forward(&xs).to_vec();
    assert_eq!(ys.len(), 5);
    let grads = vec![SMatrix::<f32, 3, 2>::from_element(0.1); 5];
    net.backward(&xs, &grads);
    assert!(
        net.parameters()
            .iter()
            .any(|p| p.name == "0.weight_hh_reverse")
    );
    let mut deep = Deep::new(2);
    let out: &[SMatrix<f32, 6, 1>] = deep.forward(&[SMatrix::from_element(1.0); 3]);
    assert_eq!(out.len(), 3);
}
