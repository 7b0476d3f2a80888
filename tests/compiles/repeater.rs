use rnn_core::prelude::*;

network! {
    /// One input (say, an image's code) fed at every one of 6 steps.
    pub Captioner<seq_len = 6, batch = 2> = Repeater[ GRU(8, 16), Linear(16, 5), LogSoftMax ];
}

pub fn main() {
    let mut net = Captioner::new(1);
    let code = SMatrix::<f32, 8, 2>::from_element(0.3);
    let words = net.forward(&code).to_vec();
    let grads = [SMatrix::<f32, 5, 2>::from_element(0.1); 6];
    let g_code: SMatrix<f32, 8, 2> = *net.backward(&code, &grads);
    assert!(words.iter().all(|w| w.iter().all(|v| v.is_finite())));
    assert!(g_code.iter().all(|v| v.is_finite()));
}
