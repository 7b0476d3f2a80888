use rnn_core::prelude::*;

network! {
    pub Bi<seq_len = 4> = Sequential[ BiSequencer[ LSTM(3, 3) ], Linear(6, 2) ];
}

fn online<N: Online>(_: &mut N) {}

fn main() {
    let mut net = Bi::new(0);
    // No online step: the backward direction needs the whole sequence.
    net.step(&SMatrix::<f32, 3, 1>::zeros());
    online(&mut net);
}
