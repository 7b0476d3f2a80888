use rnn_core::prelude::*;

network! {
    /// `unroll = full` past the ~126 steps where a recursive expansion stopped.
    pub Long<seq_len = 300, unroll = full> = Sequential[ RNN(2, 3), Linear(3, 2) ];
}

pub fn main() {
    let mut net = Long::new(0);
    let x = [SMatrix::<f32, 2, 1>::from_element(0.5); 300];
    let g = [SMatrix::<f32, 2, 1>::from_element(1.0); 300];
    net.forward(&x);
    let gx = net.backward(&x, &g);
    assert!(gx.iter().all(|m| m.iter().all(|v| v.is_finite())));
}
