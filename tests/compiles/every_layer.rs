use rnn_core::prelude::*;

network! {
    /// Every layer of the DSL once.
    pub All<seq_len = 2, batch = 3> = Sequential[
        Linear(4, 5), LSTM(5, 6), FastLSTM(6, 6), PeepholeLSTM(6, 5), GRU(5, 4), RNN(4, 4),
        Tanh, Sigmoid, ReLU, Identity, Dropout(0.5), SoftMax, LogSoftMax
    ];
}

pub fn main() {
    let mut net = All::new(3);
    let y = net.forward(&[SMatrix::<f32, 4, 3>::zeros(); 2]);
    assert!(y.iter().all(|m| m.iter().all(|v| v.is_finite())));
}
