use rnn_core::prelude::*;

network! {
    /// Tags each of 8 steps of a 10-feature sequence with one of 5 classes.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}

pub fn main() {
    let mut net = Tagger::new(42);
    let crit = SequencerCriterion::new(ClassNll::default());
    let inputs = [SMatrix::<f32, 10, 1>::zeros(); 8];
    let targets = [[Class::<5>::new(0).expect("in range")]; 8];
    net.training();
    net.zero_grad_parameters();
    let outputs = net.forward(&inputs);
    let _loss: f32 = crit.forward(outputs, &targets);
    let grads = crit.backward(outputs, &targets);
    net.backward(&inputs, &grads);
    net.update_parameters(0.1);
    net.forget();
    let _y = net.step(&inputs[0]);
    let _gx = net.backward_step(&inputs[0], &grads[0]);
}
