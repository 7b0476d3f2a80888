use rnn_core::prelude::*;

network! {
    /// Time steps as straight-line code.
    pub Unrolled<seq_len = 5, unroll = full> = Sequential[ GRU(2, 3), Linear(3, 2) ];
}

pub fn main() {
    let mut net = Unrolled::new(0);
    let x = [SMatrix::<f32, 2, 1>::zeros(); 5];
    let g = [SMatrix::<f32, 2, 1>::zeros(); 5];
    net.forward(&x);
    net.backward(&x, &g);
}
