use rnn_core::prelude::*;

const IN: usize = 10;
const HIDDEN: usize = 20;

mod config {
    pub const CLASSES: usize = 5;
}

network! {
    /// Sizes from constants in scope, mixed with literals.
    pub Tagger<seq_len = 8> = Sequential[
        LSTM(IN, HIDDEN), Dropout(0.1), GRU(HIDDEN, 16), Linear(16, config::CLASSES), LogSoftMax
    ];
}

pub fn main() {
    let mut net = Tagger::new(1);
    assert_eq!(net.parameters()[0].value.shape(), (4 * HIDDEN, IN));
    let x = [SMatrix::<f32, IN, 1>::from_element(0.5); 8];
    let y = net.forward(&x);
    assert_eq!(y[0].nrows(), config::CLASSES);
}
