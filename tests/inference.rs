//! Networks built for inference (`new_for_inference`, `pretrained_for_inference`): the same
//! weights and outputs as `new` and `pretrained`, without the parameters' gradient and optimiser
//! buffers (a quarter of the parameters' memory); loading weights keeps it so; training one
//! allocates what it needs and gives, bit for bit, what the same training of a `new` network
//! gives.

use rnn_core::prelude::*;

network! {
    /// Containers and several kinds of parameters (matrices, biases, peephole vectors).
    pub Mixed<seq_len = 4, batch = 2> = Sequential[
        LSTM(3, 5),
        Residual[ Linear(5, 5), Tanh ],
        PeepholeLSTM(5, 4),
        Linear(4, 2)
    ];
    /// A BiSequencer and a GRU, in f64.
    pub Bi<seq_len = 4, batch = 2, scalar = f64> =
        Sequential[ BiSequencer[ GRU(3, 4) ], Linear(8, 2) ];
    /// An embedding and the seed's layers, with its weights compiled in.
    pub Emb<seq_len = 5, batch = 3, weights = "tests/fixtures/state_dicts/emb.safetensors",
            names = [module("emb", 0), recurrent("rnn", 1, 1), module("out", 2)]> =
        Sequential[ LookupTable(7, 3, padding = 0), LSTM(3, 5), Linear(5, 7) ];
}

fn inputs<const I: usize, S: Float>(k: usize) -> Vec<SMatrix<S, I, 2>> {
    (0..4)
        .map(|t| SMatrix::from_fn(|i, b| S::cast(((t * 7 + i * 3 + b + k) as f64 * 0.1).sin())))
        .collect()
}

/// Whether every parameter has its training buffers (`Some(true)`), none has (`Some(false)`),
/// or some have and some not (`None`).
fn buffers<S: Float, P: Parameterized<S>>(p: &P) -> Option<bool> {
    let mut with = 0;
    let mut n = 0;
    p.visit_parameters(&mut |q| {
        n += 1;
        if q.grad.is_some() {
            assert_eq!(q.state.m.len(), q.value.len());
            assert_eq!(q.state.v.len(), q.value.len());
            with += 1;
        } else {
            assert!(q.state.m.is_empty() && q.state.v.is_empty());
        }
    });
    match with {
        0 => Some(false),
        w if w == n => Some(true),
        _ => None,
    }
}

/// Every parameter's value, gradient, moments (zeros where there are no buffers), step count
/// and optimiser, as bytes: what a checkpoint holds (its files are not compared byte for byte:
/// their metadata's order varies).
fn everything<S: Float, P: Parameterized<S>>(p: &P) -> Vec<u8> {
    let mut out = Vec::new();
    p.visit_parameters(&mut |q| {
        let n = q.value.len();
        let zeros = vec![S::zero(); n];
        let grad: Vec<S> = q
            .grad
            .map_or(zeros.clone(), |g| g.iter().copied().collect());
        for part in [
            q.value.iter().copied().collect::<Vec<S>>(),
            grad,
            if q.state.m.is_empty() {
                zeros.clone()
            } else {
                q.state.m.to_vec()
            },
            if q.state.v.is_empty() {
                zeros.clone()
            } else {
                q.state.v.to_vec()
            },
        ] {
            out.extend(bits(&part));
        }
        out.extend(q.state.steps.to_le_bytes());
        out.extend(q.state.kind.to_metadata().into_bytes());
    });
    out
}

fn bits<S: Float>(v: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in v {
        x.extend_le_bytes(&mut out);
    }
    out
}

/// One Adam step of a whole-sequence backward with unit output gradients.
fn adam_step<N>(net: &mut N, xs: &N::Inputs, gys: &N::Outputs)
where
    N: Network,
{
    net.zero_grad_parameters();
    net.forward(xs);
    net.backward(xs, gys);
    Adam::default().step(net).expect("valid optimiser");
}

#[test]
fn built_for_inference_the_same_weights_and_outputs_and_no_training_buffers() {
    let (mut full, mut lean) = (Mixed::new(5), Mixed::new_for_inference(5));
    assert_eq!(buffers(&full), Some(true));
    assert_eq!(buffers(&lean), Some(false));
    assert_eq!(bits(&full.flat_parameters()), bits(&lean.flat_parameters()));
    let xs = inputs::<3, f32>(0);
    assert_eq!(full.forward(&xs), lean.forward(&xs));
    // Online steps, and the gradient reads as zero.
    full.forget();
    lean.forget();
    for x in &xs {
        assert_eq!(full.step(x), lean.step(x));
    }
    assert!(lean.flat_gradients().iter().all(|g| *g == 0.0));
    // Reading, zeroing and updating with a zero gradient allocate nothing.
    lean.zero_grad_parameters();
    lean.update_parameters(0.5);
    assert_eq!(buffers(&lean), Some(false));
    assert_eq!(bits(&full.flat_parameters()), bits(&lean.flat_parameters()));
}

#[test]
fn loading_weights_keeps_a_network_lean_and_a_checkpoint_reads_its_moments_as_zero() {
    let donor = Mixed::new(11);
    let file = rnn_core::io::to_safetensors(&donor).expect("saved");
    let mut lean = Mixed::new_for_inference(5);
    rnn_core::io::load_safetensors(&mut lean, &file).expect("loaded");
    assert_eq!(buffers(&lean), Some(false));
    lean.set_flat_parameters(&donor.flat_parameters())
        .expect("the right length");
    assert_eq!(buffers(&lean), Some(false));
    assert_eq!(
        bits(&donor.flat_parameters()),
        bits(&lean.flat_parameters())
    );

    // A lean network's checkpoint is a fresh network's: zero moments, no steps.
    let fresh = rnn_core::io::to_checkpoint(&Mixed::new(11)).expect("saved");
    let mut from_lean = Mixed::new_for_inference(11);
    let lean_file = rnn_core::io::to_checkpoint(&from_lean).expect("saved");
    let mut full = Mixed::new(3);
    rnn_core::io::load_checkpoint(&mut full, &lean_file).expect("loaded");
    assert!(everything(&full) == everything(&Mixed::new(11)));
    // Loading a checkpoint brings the optimiser state, so the buffers.
    rnn_core::io::load_checkpoint(&mut from_lean, &fresh).expect("loaded");
    assert_eq!(buffers(&from_lean), Some(true));
    assert!(everything(&from_lean) == everything(&Mixed::new(11)));
}

#[test]
fn pretrained_for_inference_has_the_compiled_weights_without_buffers() {
    let (full, lean) = (Emb::pretrained(), Emb::pretrained_for_inference());
    assert_eq!(buffers(&full), Some(true));
    assert_eq!(buffers(&lean), Some(false));
    assert_eq!(bits(&full.flat_parameters()), bits(&lean.flat_parameters()));
}

#[test]
fn training_a_lean_network_allocates_and_equals_training_a_full_one() {
    let (mut full, mut lean) = (Mixed::new(2), Mixed::new_for_inference(2));
    let gys = vec![SMatrix::<f32, 2, 2>::repeat(1.0); 4];
    for k in 0..3 {
        let xs = inputs::<3, f32>(k);
        adam_step(&mut full, &xs, &gys);
        adam_step(&mut lean, &xs, &gys);
    }
    assert_eq!(buffers(&lean), Some(true));
    assert_eq!(bits(&full.flat_gradients()), bits(&lean.flat_gradients()));
    assert_eq!(bits(&full.flat_parameters()), bits(&lean.flat_parameters()));
    assert!(everything(&full) == everything(&lean));

    // f64, a BiSequencer and a GRU; reserving first, then SGD with momentum.
    let (mut full, mut lean) = (Bi::new(4), Bi::new_for_inference(4));
    lean.try_reserve_training().expect("memory");
    assert_eq!(buffers(&lean), Some(true));
    let gys = vec![SMatrix::<f64, 2, 2>::repeat(0.5); 4];
    let sgd = Sgd {
        lr: 0.1,
        momentum: 0.9,
        ..Sgd::default()
    };
    for net in [&mut full, &mut lean] {
        for k in 0..3 {
            let xs = inputs::<3, f64>(k);
            net.zero_grad_parameters();
            net.forward(&xs);
            net.backward(&xs, &gys);
            sgd.step(net).expect("valid optimiser");
        }
    }
    assert_eq!(bits(&full.flat_parameters()), bits(&lean.flat_parameters()));
}

#[test]
fn a_lean_embedding_trains_like_a_full_one() {
    let (mut full, mut lean) = (Emb::pretrained(), Emb::pretrained_for_inference());
    let class = |k: usize| Class::<7>::new(k % 7).expect("below 7");
    let tokens: Vec<[Class<7>; 3]> = (0..5)
        .map(|t| [class(t), class(t * 3 + 1), class(0)])
        .collect();
    let gys = vec![SMatrix::<f32, 7, 3>::repeat(0.25); 5];
    for net in [&mut full, &mut lean] {
        net.zero_grad_parameters();
        net.forward(&tokens);
        net.backward(&tokens, &gys);
        net.update_parameters(0.1);
    }
    assert_eq!(bits(&full.flat_gradients()), bits(&lean.flat_gradients()));
    assert_eq!(bits(&full.flat_parameters()), bits(&lean.flat_parameters()));
}
