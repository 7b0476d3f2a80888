use rnn_core::prelude::*;

network! {
    /// A nested Sequential: parameters are named `1.0.weight`, ...
    pub Nested<seq_len = 4> = Sequential[
        LSTM(3, 8),
        Sequential[ Linear(8, 6), Tanh, Sequential[ Linear(6, 4) ] ],
        LogSoftMax
    ];
}

pub fn main() {
    let net = Nested::new(0);
    let names: Vec<String> = net
        .parameters()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(
        names[4..],
        ["1.0.weight", "1.0.bias", "1.2.0.weight", "1.2.0.bias"]
    );
}
