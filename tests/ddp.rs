//! The PyTorch route beyond one machine, run: a tagger trained by `tools/ddp_train.py` with
//! `DistributedDataParallel` under `torchrun --nproc_per_node 2` (gloo, CPU), saved on rank 0
//! as `model.module.state_dict()`, loads here through `TorchNames` and gives PyTorch's outputs.

use rnn_core::gradcheck::Fixture;
use rnn_core::io::TorchNames;
use rnn_core::prelude::*;

network! {
    /// The model of tools/ddp_train.py: `rnn = nn.LSTM(10, 20)`, `head = nn.Linear(20, 5)`,
    /// log-softmax; 8 steps, the fixture's 4 held-out sequences.
    pub Tagger<seq_len = 8, batch = 4> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ddp");

#[test]
fn a_ddp_trained_state_dict_loads_and_gives_torchs_outputs() {
    let fx = Fixture::parse(include_str!("fixtures/ddp/outputs.txt"));
    let mut net = Tagger::new_for_inference(0);
    net.load_state_dict(
        format!("{DIR}/tagger.safetensors"),
        &TorchNames::new().recurrent("rnn", 0, 1).module("head", 1),
    )
    .expect("the state_dict of model.module");
    let x = fx.get("x");
    let inputs: Vec<SMatrix<f32, 10, 4>> = (0..8)
        .map(|t| SMatrix::from_fn(|i, b| x[(t * 4 + b) * 10 + i] as f32))
        .collect();
    net.evaluate();
    let ys = net.forward(&inputs);
    let want = fx.get("y");
    let mut right = 0;
    for (t, y) in ys.iter().enumerate() {
        for b in 0..4 {
            for o in 0..5 {
                let (ours, torch) = (f64::from(y[(o, b)]), want[(t * 4 + b) * 5 + o]);
                assert!(
                    (ours - torch).abs() <= 1e-5 * torch.abs().max(1.0),
                    "step {t}, sequence {b}, class {o}: ours {ours}, PyTorch {torch}"
                );
            }
            // What it learned: the symbol seen two steps before (one-hot in inputs 0..5).
            if t >= 2 {
                let seen = (0..5).find(|&i| x[((t - 2) * 4 + b) * 10 + i] == 1.0);
                let tagged = y.column(b).argmax().0;
                right += usize::from(seen == Some(tagged));
            }
        }
    }
    assert_eq!(right, 6 * 4, "the trained tagger recalls every symbol");
}
