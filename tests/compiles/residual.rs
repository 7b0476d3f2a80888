use rnn_core::prelude::*;

const HIDDEN: usize = 16;

network! {
    /// A guitar-amp style model: the network learns what to add to the dry signal.
    pub Amp<seq_len = 32> = Sequential[ Residual[ LSTM(1, HIDDEN), Linear(HIDDEN, 1) ] ];
    /// Residual blocks between other layers, nested, in f64 at batch 4.
    pub Deep<seq_len = 4, batch = 4, scalar = f64> = Sequential[
        Linear(3, 8), Residual[ GRU(8, 8), Residual[ Linear(8, 8), ReLU ] ], Linear(8, 2), LogSoftMax
    ];
}

pub fn main() {
    let mut amp = Amp::new(1);
    let dry = [SMatrix::<f32, 1, 1>::from_element(0.1); 32];
    let wet = amp.forward(&dry);
    assert!(wet.iter().all(|w| w[0].is_finite()));
    let deep = Deep::new(2);
    assert_eq!(deep.parameters()[6].name, "1.1.0.weight");
}
