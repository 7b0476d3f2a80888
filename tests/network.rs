//! Whole generated networks: gradients against finite differences, unrolled and looped code
//! agreeing bit for bit, online stepping, remember/forget, truncated BPTT and misuse errors.

use rnn_core::gradcheck::{assert_parameter_gradients, check_network, parameter_vectors};
use rnn_core::prelude::*;

network! {
    /// The seed network in f64, batch 2, over 4 steps.
    Seed64<seq_len = 4, batch = 2, scalar = f64> =
        Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];

    /// A GRU network.
    GruNet<seq_len = 3, batch = 2, scalar = f64> = Sequential[ GRU(3, 6), Tanh, Linear(6, 2) ];

    /// Every layer, nested.
    Everything<seq_len = 3, batch = 2, scalar = f64> = Sequential[
        RNN(3, 5),
        Sequential[ PeepholeLSTM(5, 4), Sigmoid, Dropout(0.25) ],
        FastLSTM(4, 4), ReLU, Identity, Linear(4, 3), SoftMax
    ];

    /// Same as `Seed64`, time steps unrolled.
    Seed64Unrolled<seq_len = 4, batch = 2, scalar = f64, unroll = full> =
        Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];

    /// Small, for the stepping tests.
    Small<seq_len = 4, scalar = f64> = Sequential[ LSTM(2, 3), Linear(3, 2) ];

    /// Small over 8 steps.
    Small8<seq_len = 8, scalar = f64> = Sequential[ LSTM(2, 3), Linear(3, 2) ];

    /// A small GRU network, batch 2.
    SmallGru<seq_len = 4, batch = 2, scalar = f64> = Sequential[ GRU(2, 3), Linear(3, 2) ];

    /// Batch 8: the whole-sequence backward adds each step's weight gradients as it goes
    /// instead of deferring them.
    Batch8<seq_len = 3, batch = 8, scalar = f64> = Sequential[ LSTM(3, 4), GRU(4, 3), Linear(3, 2) ];

    /// In f32 (the SIMD kernels on x86-64 with AVX2), sizes that reach partial vectors.
    SeedF32<seq_len = 5> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// A GRU network in f32, batch 2.
    GruF32<seq_len = 5, batch = 2> = Sequential[ GRU(3, 11), Linear(11, 2) ];
    /// An Elman network in f32.
    RnnF32<seq_len = 5> = Sequential[ RNN(3, 9), Tanh, Linear(9, 4), LogSoftMax ];
    /// Torch's LSTM with peepholes in f32.
    PeepholeF32<seq_len = 5> = Sequential[ PeepholeLSTM(3, 9), Linear(9, 4) ];
    /// 1024 gate rows at batch 8: the whole-sequence forward reads the LSTM's weights
    /// packed once per sequence (on the AVX2 path), the online step does not.
    PackedF32<seq_len = 3, batch = 8> = Sequential[ LSTM(5, 256), Linear(256, 3) ];
    /// The same for a GRU's two products (288 gate rows, the last block of rows partial).
    PackedGruF32<seq_len = 3, batch = 7> = Sequential[ GRU(5, 96), Linear(96, 3) ];
}

fn rng_matrix<const R: usize, const C: usize>(rng: &mut Rng) -> SMatrix<f64, R, C> {
    SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0))
}

fn inputs<const I: usize, const B: usize, const T: usize>(seed: u64) -> [SMatrix<f64, I, B>; T] {
    let mut rng = Rng::new(seed);
    std::array::from_fn(|_| rng_matrix(&mut rng))
}

#[test]
fn seed_network_gradients_match_finite_differences() {
    let mut net = Seed64::new(3);
    let targets: [[Class<5>; 2]; 4] = std::array::from_fn(|t| {
        [
            Class::new(t % 5).unwrap(),
            Class::new((3 * t + 1) % 5).unwrap(),
        ]
    });
    let crit = SequencerCriterion::new(ClassNll::default());
    let worst = check_network(&mut net, &mut inputs::<10, 2, 4>(1), |ys| {
        (crit.forward(ys, &targets), crit.backward(ys, &targets))
    });
    println!("seed network: worst relative error {worst:e}");
}

#[test]
fn gru_tanh_linear_gradients_match_finite_differences() {
    let mut net = GruNet::new(4);
    let targets: [SMatrix<f64, 2, 2>; 3] = inputs::<2, 2, 3>(9);
    let crit = SequencerCriterion::new(Mse::default());
    check_network(&mut net, &mut inputs::<3, 2, 3>(2), |ys| {
        (crit.forward(ys, &targets), crit.backward(ys, &targets))
    });
}

#[test]
fn batch_8_gradients_match_finite_differences_and_online_steps() {
    let mut net = Batch8::new(6);
    let targets: [SMatrix<f64, 2, 8>; 3] = inputs::<2, 8, 3>(11);
    let crit = SequencerCriterion::new(Mse::default());
    check_network(&mut net, &mut inputs::<3, 8, 3>(12), |ys| {
        (crit.forward(ys, &targets), crit.backward(ys, &targets))
    });
    assert_online_equals_whole(
        Batch8::new(6),
        Batch8::new(6),
        inputs::<3, 8, 3>(13),
        inputs(14),
    );
}

#[test]
fn every_layer_nested_gradients_match_finite_differences() {
    let mut net = Everything::new(5);
    let targets: [SMatrix<f64, 3, 2>; 3] = inputs::<3, 2, 3>(10);
    let crit = SequencerCriterion::new(Mse::default());
    check_network(&mut net, &mut inputs::<3, 2, 3>(3), |ys| {
        (crit.forward(ys, &targets), crit.backward(ys, &targets))
    });
    let names: Vec<String> = net
        .parameters()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(names[4..7], ["1.0.weight_ih", "1.0.weight_hh", "1.0.bias"]);
    assert_eq!(
        names[7..10],
        ["1.0.peephole_i", "1.0.peephole_f", "1.0.peephole_o"]
    );
    assert_eq!(names.last().map(String::as_str), Some("5.bias"));
}

#[test]
fn unrolled_and_looped_networks_are_bit_identical() {
    let (mut a, mut b) = (Seed64::new(11), Seed64Unrolled::new(11));
    let xs = inputs::<10, 2, 4>(12);
    let gys = inputs::<5, 2, 4>(13);
    assert_eq!(a.forward(&xs), b.forward(&xs));
    assert_eq!(a.backward(&xs, &gys), b.backward(&xs, &gys));
    assert_eq!(parameter_vectors(&a, true), parameter_vectors(&b, true));
    // And again with remembered state, so the state ring wraps.
    a.remember(Remember::Both);
    b.remember(Remember::Both);
    for _ in 0..3 {
        assert_eq!(a.forward(&xs), b.forward(&xs));
        assert_eq!(a.backward(&xs, &gys), b.backward(&xs, &gys));
    }
    assert_eq!(parameter_vectors(&a, true), parameter_vectors(&b, true));
    // Shorter sequences: the unrolled network runs its loop.
    a.remember(Remember::Neither);
    b.remember(Remember::Neither);
    assert_eq!(a.forward(&xs[..3]), b.forward(&xs[..3]));
    assert_eq!(
        a.backward(&xs[..3], &gys[..3]),
        b.backward(&xs[..3], &gys[..3])
    );
    assert_eq!(parameter_vectors(&a, true), parameter_vectors(&b, true));
}

/// Every parameter gradient, flattened, in visiting order.
fn gradients<S: Float, P: Parameterized<S>>(p: &P) -> Vec<Vec<S>> {
    let mut out = Vec::new();
    p.visit_parameters(&mut |q| out.push(q.grad.expect("gradients").iter().copied().collect()));
    out
}

/// `step` then `backward_step` in reverse give bit for bit the outputs, input gradients,
/// parameter gradients and the gradient at the initial state of `forward` then `backward` (run
/// layer by layer) on a twin network (whose backward defers
/// the weight gradients to one product per sequence at small batch).
fn assert_online_equals_whole<
    S,
    N,
    const I: usize,
    const O: usize,
    const B: usize,
    const T: usize,
>(
    mut whole: N,
    mut online: N,
    xs: [SMatrix<S, I, B>; T],
    gys: [SMatrix<S, O, B>; T],
) where
    S: Float,
    N: Online<
            Scalar = S,
            Input = SMatrix<S, I, B>,
            Output = SMatrix<S, O, B>,
            Inputs = [SMatrix<S, I, B>],
            Outputs = [SMatrix<S, O, B>],
            GradInput = SMatrix<S, I, B>,
            GradInputs = [SMatrix<S, I, B>],
        >,
    N::State: PartialEq + core::fmt::Debug,
{
    let ys = whole.forward(&xs).to_vec();
    let gxs = whole.backward(&xs, &gys).to_vec();
    online.forget();
    for t in 0..T {
        assert_eq!(*online.step(&xs[t]), ys[t]);
    }
    for t in (0..T).rev() {
        assert_eq!(*online.backward_step(&xs[t], &gys[t]), gxs[t]);
    }
    assert_eq!(gradients(&whole), gradients(&online));
    assert_eq!(whole.grad_initial_state(), online.grad_initial_state());
}

#[test]
fn online_steps_equal_the_whole_sequence_in_f32_with_the_simd_kernels() {
    fn f32s<const R: usize, const C: usize, const T: usize>(seed: u64) -> [SMatrix<f32, R, C>; T] {
        inputs::<R, C, T>(seed).map(|x| x.cast())
    }
    assert_online_equals_whole(
        SeedF32::new(3),
        SeedF32::new(3),
        f32s::<10, 1, 5>(5),
        f32s::<5, 1, 5>(6),
    );
    assert_online_equals_whole(
        GruF32::new(3),
        GruF32::new(3),
        f32s::<3, 2, 5>(7),
        f32s::<2, 2, 5>(8),
    );
    assert_online_equals_whole(
        RnnF32::new(3),
        RnnF32::new(3),
        f32s::<3, 1, 5>(9),
        f32s::<4, 1, 5>(10),
    );
    assert_online_equals_whole(
        PeepholeF32::new(3),
        PeepholeF32::new(3),
        f32s::<3, 1, 5>(11),
        f32s::<4, 1, 5>(12),
    );
    assert_online_equals_whole(
        PackedF32::new(3),
        PackedF32::new(3),
        f32s::<5, 8, 3>(13),
        f32s::<3, 8, 3>(14),
    );
    assert_online_equals_whole(
        PackedGruF32::new(3),
        PackedGruF32::new(3),
        f32s::<5, 7, 3>(15),
        f32s::<3, 7, 3>(16),
    );
}

#[test]
fn online_steps_equal_the_whole_sequence() {
    assert_online_equals_whole(
        Small::new(7),
        Small::new(7),
        inputs::<2, 1, 4>(1),
        inputs(2),
    );
}

#[test]
fn online_steps_equal_the_whole_sequence_for_a_gru_batch_too() {
    assert_online_equals_whole(
        SmallGru::new(7),
        SmallGru::new(7),
        inputs::<2, 2, 4>(3),
        inputs(4),
    );
}

#[test]
fn remember_continues_the_state_and_truncates_bptt_at_the_call_boundary() {
    let xs = inputs::<2, 1, 8>(3);
    let gys = inputs::<2, 1, 4>(4);
    let (first, second): ([SMatrix<f64, 2, 1>; 4], [SMatrix<f64, 2, 1>; 4]) =
        (xs[..4].try_into().unwrap(), xs[4..].try_into().unwrap());
    let mut long = Small8::new(5);
    let ys_long = long.forward(&xs).to_vec();

    let mut net = Small::new(5);
    net.remember(Remember::Both);
    assert_eq!(net.forward(&first)[..], ys_long[..4]);
    assert_eq!(net.forward(&second)[..], ys_long[4..]);
    net.zero_grad_parameters();
    net.backward(&second, &gys);

    // The same gradient by online steps: eight steps, back-propagate the last four.
    let mut online = Small::new(5);
    for x in &xs {
        online.step(x);
    }
    for t in (0..4).rev() {
        online.backward_step(&second[t], &gys[t]);
    }
    assert_eq!(
        parameter_vectors(&net, true),
        parameter_vectors(&online, true)
    );
    let err = online.try_backward_step(&second[3], &gys[0]).unwrap_err();
    assert_eq!(err, BpttError::StepsExhausted { kept: 4 });

    // Without remember, the second call starts from zero again.
    net.remember(Remember::Neither);
    let fresh = net.forward(&second).to_vec();
    let mut other = Small::new(5);
    assert_eq!(fresh, other.forward(&second).to_vec());
    assert_ne!(fresh[..], ys_long[4..]);
}

#[test]
fn sequences_of_any_length_up_to_seq_len_run_and_train() {
    let xs = inputs::<10, 2, 4>(21);
    let gys = inputs::<5, 2, 4>(22);
    let mut full = Seed64::new(8);
    let ys = full.forward(&xs).to_vec();
    for n in 1..=4 {
        // A shorter sequence is the start of the longer one (from the same initial state) ...
        let mut net = Seed64::new(8);
        assert_eq!(net.forward(&xs[..n]), &ys[..n]);
        // ... and its backward equals a twin stepping the same n steps online.
        net.backward(&xs[..n], &gys[..n]);
        let mut online = Seed64::new(8);
        for x in &xs[..n] {
            online.step(x);
        }
        for t in (0..n).rev() {
            online.backward_step(&xs[t], &gys[t]);
        }
        assert_eq!(gradients(&net), gradients(&online), "n = {n}");
    }
    // Finite differences over a 3-step sequence of a 4-step network.
    let mut net = Seed64::new(3);
    let targets: Vec<[Class<5>; 2]> = (0..3)
        .map(|t| [Class::new(t % 5).unwrap(), Class::new(4 - t).unwrap()])
        .collect();
    let crit = SequencerCriterion::new(ClassNll::default());
    let worst = check_network(&mut net, &mut inputs::<10, 2, 3>(23), |ys| {
        (crit.forward(ys, &targets), crit.backward(ys, &targets))
    });
    assert!(worst <= 1e-6, "{worst}");
}

#[test]
fn remembering_across_segments_of_different_lengths_continues_the_state() {
    let xs = inputs::<2, 1, 8>(24);
    let ys_long = Small8::new(5).forward(&xs).to_vec();
    let mut net = Small8::new(5);
    net.remember(Remember::Both);
    let mut at = 0;
    for len in [3, 1, 4] {
        assert_eq!(net.forward(&xs[at..at + len]), &ys_long[at..at + len]);
        at += len;
    }
    // Backward reaches back to the start of the last segment only (truncated BPTT).
    let gys = inputs::<2, 1, 4>(25);
    net.zero_grad_parameters();
    net.backward(&xs[4..], &gys);
    let mut online = Small8::new(5);
    for x in &xs {
        online.step(x);
    }
    for t in (0..4).rev() {
        online.backward_step(&xs[4 + t], &gys[t]);
    }
    assert_eq!(gradients(&net), gradients(&online));
}

#[test]
fn lengths_out_of_range_are_errors_that_change_nothing() {
    let xs = inputs::<2, 1, 8>(26);
    let mut net = Small::new(5);
    net.remember(Remember::Both);
    net.forward(&xs[..2]);
    let state = net.state().clone();
    for bad in [0, 5, 8] {
        assert_eq!(
            net.try_forward(&xs[..bad]).unwrap_err(),
            LengthError::OutOfRange {
                len: bad,
                seq_len: 4
            }
        );
    }
    assert_eq!(*net.state(), state, "a refused forward changes nothing");
    let gys = inputs::<2, 1, 3>(27);
    assert_eq!(
        net.try_backward(&xs[..2], &gys).unwrap_err(),
        BpttError::Length {
            forward: 2,
            inputs: 2,
            grad_outputs: 3
        }
    );
    assert_eq!(
        net.try_backward(&xs[..3], &gys).unwrap_err(),
        BpttError::Length {
            forward: 2,
            inputs: 3,
            grad_outputs: 3
        }
    );
    let msg = LengthError::OutOfRange { len: 5, seq_len: 4 }.to_string();
    assert_eq!(
        msg,
        "a sequence of 5 step(s): this network runs 1 to 4 steps (its seq_len)"
    );
    // The refused calls left the last forward's backward intact.
    assert!(net.try_backward(&xs[..2], &gys[..2]).is_ok());
}

#[test]
#[should_panic(expected = "this network runs 1 to 4 steps")]
fn forward_panics_with_the_error_message_when_too_long() {
    let xs = inputs::<2, 1, 5>(28);
    Small::new(5).forward(&xs);
}

#[test]
fn remember_modes_and_mode_switches_forget() {
    let xs = inputs::<2, 1, 4>(6);
    let mut net = Small::new(8);
    let first = net.forward(&xs).to_vec();
    net.remember(Remember::Train);
    net.forward(&xs);
    assert_ne!(net.forward(&xs).to_vec(), first, "training remembers");
    net.evaluate(); // switching forgets, and Train does not remember in evaluation
    assert_eq!(net.forward(&xs).to_vec(), first);
    assert_eq!(net.forward(&xs).to_vec(), first);
    net.remember(Remember::Eval);
    net.forward(&xs);
    assert_ne!(net.forward(&xs).to_vec(), first, "evaluation remembers");
    net.training();
    assert_eq!(
        net.forward(&xs).to_vec(),
        first,
        "switching to training forgets"
    );
    net.remember(Remember::Both);
    net.forward(&xs);
    net.forget();
    assert_eq!(net.forward(&xs).to_vec(), first, "forget resets the state");
}

#[test]
fn a_set_initial_state_is_where_forget_starts_and_its_gradient_is_reported() {
    let xs = inputs::<2, 1, 8>(12);
    let (first, second): ([SMatrix<f64, 2, 1>; 4], [SMatrix<f64, 2, 1>; 4]) =
        (xs[..4].try_into().unwrap(), xs[4..].try_into().unwrap());
    // An "encoder" runs the first half; a fresh "decoder" starts from its final state.
    let mut encoder = Small::new(3);
    encoder.forward(&first);
    let handed_over = encoder.state().clone();
    let mut decoder = Small::new(3);
    decoder.set_initial_state(handed_over.clone());
    decoder.forget();
    let ys = decoder.forward(&second).to_vec();
    // The same as one network over all eight steps.
    let mut long = Small8::new(3);
    assert_eq!(ys[..], long.forward(&xs)[4..]);
    // Every forward without remember starts from the set state again.
    assert_eq!(decoder.forward(&second).to_vec(), ys);
    // The gradient into the initial state matches finite differences of the loss in it.
    let gys = inputs::<2, 1, 4>(13);
    decoder.backward(&second, &gys);
    let analytic = decoder.grad_initial_state().0.h;
    let loss = |h0: SMatrix<f64, 3, 1>| {
        let mut d = Small::new(3);
        let mut state = handed_over.clone();
        state.0.h = h0;
        d.set_initial_state(state);
        d.forget();
        d.forward(&second)
            .iter()
            .zip(&gys)
            .map(|(y, g)| y.dot(g))
            .sum::<f64>()
    };
    for k in 0..3 {
        let (mut up, mut down) = (handed_over.0.h, handed_over.0.h);
        up[k] += 1e-6;
        down[k] -= 1e-6;
        let numeric = (loss(up) - loss(down)) / 2e-6;
        assert!(
            (numeric - analytic[k]).abs() < 1e-7 * numeric.abs().max(1.0),
            "{numeric} vs {}",
            analytic[k]
        );
    }
}

#[test]
fn max_bptt_steps_limits_how_far_back_gradients_flow() {
    let xs = inputs::<2, 1, 4>(7);
    let gys = inputs::<2, 1, 4>(8);
    let mut net = Small::new(9);
    net.max_bptt_steps(2);
    let ys = net.forward(&xs).to_vec();
    let gxs = net.backward(&xs, &gys).to_vec();
    assert_eq!(gxs[0], SMatrix::<f64, 2, 1>::zeros());
    assert_eq!(gxs[1], SMatrix::<f64, 2, 1>::zeros());
    assert_ne!(gxs[2], SMatrix::<f64, 2, 1>::zeros());
    let mut reference = Small::new(9);
    assert_eq!(
        reference.forward(&xs).to_vec(),
        ys,
        "forward values do not depend on max_bptt_steps"
    );
    reference.zero_grad_parameters();
    reference.forget();
    for x in &xs {
        reference.step(x);
    }
    for t in [3, 2] {
        reference.backward_step(&xs[t], &gys[t]);
    }
    assert_eq!(
        parameter_vectors(&net, true),
        parameter_vectors(&reference, true)
    );
}

#[test]
fn misuse_is_an_error_not_a_wrong_gradient() {
    let xs = inputs::<2, 1, 4>(9);
    let gys = inputs::<2, 1, 4>(10);
    let mut net = Small::new(1);
    assert_eq!(
        net.try_backward(&xs, &gys).unwrap_err(),
        BpttError::NoForward
    );
    assert_eq!(
        net.try_backward_step(&xs[0], &gys[0]).unwrap_err(),
        BpttError::NoForward
    );
    net.step(&xs[0]);
    assert_eq!(
        net.try_backward(&xs, &gys).unwrap_err(),
        BpttError::NotAfterForward
    );
    net.step(&xs[1]);
    let before = parameter_vectors(&net, true);
    assert_eq!(
        net.try_backward_step(&xs[0], &gys[0]).unwrap_err(),
        BpttError::InputMismatch { step: 1 }
    );
    assert_eq!(
        parameter_vectors(&net, true),
        before,
        "an error changes nothing"
    );
    net.backward_step(&xs[1], &gys[1]);
    net.backward_step(&xs[0], &gys[0]);
    assert_eq!(
        net.try_backward_step(&xs[0], &gys[0]).unwrap_err(),
        BpttError::StepsExhausted { kept: 2 }
    );
    net.forward(&xs);
    let mut wrong = xs;
    wrong[2][0] += 1.0;
    assert_eq!(
        net.try_backward(&wrong, &gys).unwrap_err(),
        BpttError::InputMismatch { step: 2 }
    );
}

#[test]
#[should_panic(expected = "backward_step called more often than steps kept: only 1 step(s)")]
fn too_many_backward_steps_panic_with_a_clear_message() {
    let x = SMatrix::<f64, 2, 1>::new(0.5, -0.5);
    let g = SMatrix::<f64, 2, 1>::new(1.0, 0.0);
    let mut net = Small::new(1);
    net.step(&x);
    net.backward_step(&x, &g);
    net.backward_step(&x, &g);
}

#[test]
fn dropout_is_active_in_training_only_and_seeded() {
    let xs = inputs::<3, 2, 3>(11);
    let (mut a, mut b) = (Everything::new(2), Everything::new(2));
    let train_a = a.forward(&xs).to_vec();
    assert_eq!(train_a, b.forward(&xs).to_vec(), "same seed, same masks");
    assert_ne!(train_a, a.forward(&xs).to_vec(), "a new mask each forward");
    a.evaluate();
    let eval = a.forward(&xs).to_vec();
    assert_eq!(eval, a.forward(&xs).to_vec(), "no dropout in evaluation");
}

#[test]
fn new_is_deterministic_per_seed_and_counts_parameters() {
    let (a, b, c) = (Seed64::new(1), Seed64::new(1), Seed64::new(2));
    assert_eq!(parameter_vectors(&a, false), parameter_vectors(&b, false));
    assert_ne!(parameter_vectors(&a, false), parameter_vectors(&c, false));
    assert_eq!(a.num_parameters(), 4 * 20 * (10 + 20 + 2) + 5 * 20 + 5);
    assert_eq!(
        (
            Seed64::SEQ_LEN,
            Seed64::BATCH,
            Seed64::INPUT,
            Seed64::OUTPUT
        ),
        (4, 2, 10, 5)
    );
}

#[test]
fn clones_are_deep_copies_with_fresh_step_storage() {
    let mut a = Everything::new(4);
    a.evaluate();
    a.max_bptt_steps(2);
    let x: [SMatrix<f64, 3, 2>; 3] =
        core::array::from_fn(|t| SMatrix::from_fn(|i, b| (i + b + t) as f64 * 0.1));
    // Not a constant gradient: through the SoftMax that would be zero up to rounding.
    let g: [SMatrix<f64, 3, 2>; 3] =
        core::array::from_fn(|t| SMatrix::from_fn(|i, b| (i + 2 * b + t) as f64 * 0.3 - 0.5));
    a.forward(&x);
    a.backward(&x, &g);
    let mut b = a.clone();
    assert_eq!(parameter_vectors(&b, true), parameter_vectors(&a, true));
    assert!(!b.is_training(), "the mode is copied");
    // Fresh per-step storage: the copy has seen no forward.
    assert_eq!(b.try_backward(&x, &g).err(), Some(BpttError::NoForward));
    // Same parameters and settings: same outputs, and changing the copy leaves the original.
    assert_eq!(b.forward(&x), a.forward(&x));
    b.update_parameters(0.5);
    assert_ne!(parameter_vectors(&b, false), parameter_vectors(&a, false));
}

network! {
    /// An encoder: reads 3 steps of 2 features into its state.
    Encoder<seq_len = 3, scalar = f64> = Sequential[ LSTM(2, 3) ];
    /// A decoder starting from the encoder's state.
    Decoder<seq_len = 4, scalar = f64> = Sequential[ LSTM(2, 3), Linear(3, 2) ];
}

type EncIn = [SMatrix<f64, 2, 1>; 3];
type DecIn = [SMatrix<f64, 2, 1>; 4];

/// `Σ r ⊙ decoder(ys | encoder(xs))`: the decoder starts from the encoder's final state (h
/// and c).
fn encoder_decoder_loss(
    enc: &mut Encoder,
    dec: &mut Decoder,
    xs: &EncIn,
    ys: &DecIn,
    r: &DecIn,
) -> f64 {
    enc.forward(xs);
    let mut start = dec.state().clone();
    start.0 = enc.state().clone();
    dec.set_initial_state(start);
    let out = dec.forward(ys);
    out.iter().zip(r).map(|(o, r)| o.dot(r)).sum()
}

#[test]
fn an_encoder_decoder_gradient_passes_the_hand_off_cell_state_included() {
    let mut rng = Rng::new(8);
    let xs: EncIn = core::array::from_fn(|_| rng_matrix(&mut rng));
    let ys: DecIn = core::array::from_fn(|_| rng_matrix(&mut rng));
    let r: DecIn = core::array::from_fn(|_| rng_matrix(&mut rng));
    let (mut enc, mut dec) = (Encoder::new(1), Decoder::new(2));

    // Analytic: the decoder's gradient at its initial state becomes the encoder's gradient at
    // its final state.
    let analytic = |enc: &mut Encoder, dec: &mut Decoder, keep_cell: bool| {
        enc.zero_grad_parameters();
        dec.zero_grad_parameters();
        encoder_decoder_loss(enc, dec, &xs, &ys, &r);
        dec.backward(&ys, &r);
        let mut g = enc.state().clone();
        g.clone_from(&dec.grad_initial_state().0);
        if !keep_cell {
            g.c.fill(0.0);
        }
        enc.set_grad_final_state(g);
        enc.backward(&xs, &[SMatrix::zeros(); 3]);
        parameter_vectors(&*enc, true).concat()
    };
    let with_cell = analytic(&mut enc, &mut dec, true);
    let numeric = rnn_core::gradcheck::numeric_parameter_gradients(&mut enc, |enc| {
        encoder_decoder_loss(enc, &mut dec, &xs, &ys, &r)
    })
    .concat();
    let error = rnn_core::gradcheck::relative_error(&with_cell, &numeric);
    assert!(error <= 1e-6, "relative error {error:e}");
    // Without the cell state's gradient (only h handed back) the gradient is wrong, and
    // without any hand-off the encoder gets none: the hand-off is what the check measures.
    let h_only = analytic(&mut enc, &mut dec, false);
    assert!(rnn_core::gradcheck::relative_error(&h_only, &numeric) > 1e-3);
    enc.zero_grad_parameters();
    encoder_decoder_loss(&mut enc, &mut dec, &xs, &ys, &r);
    enc.backward(&xs, &[SMatrix::zeros(); 3]);
    assert!(
        parameter_vectors(&enc, true)
            .concat()
            .iter()
            .all(|g| *g == 0.0)
    );
}

#[test]
fn a_final_state_gradient_is_used_once_and_dropped_by_a_new_forward() {
    let mut rng = Rng::new(9);
    let xs: EncIn = core::array::from_fn(|_| rng_matrix(&mut rng));
    let zeros = [SMatrix::<f64, 3, 1>::zeros(); 3];
    let mut enc = Encoder::new(3);
    let grad = |enc: &mut Encoder| {
        let mut g = enc.state().clone();
        g.h.fill(1.0);
        g
    };
    enc.forward(&xs);
    let g = grad(&mut enc);
    enc.set_grad_final_state(g);
    enc.zero_grad_parameters();
    enc.backward(&xs, &zeros);
    let once = parameter_vectors(&enc, true).concat();
    assert!(once.iter().any(|v| *v != 0.0));
    // A second backward of the same forward starts from zero again.
    enc.zero_grad_parameters();
    enc.backward(&xs, &zeros);
    assert!(
        parameter_vectors(&enc, true)
            .concat()
            .iter()
            .all(|v| *v == 0.0)
    );
    // Set before a forward: dropped by it.
    let g = grad(&mut enc);
    enc.set_grad_final_state(g);
    enc.forward(&xs);
    enc.zero_grad_parameters();
    enc.backward(&xs, &zeros);
    assert!(
        parameter_vectors(&enc, true)
            .concat()
            .iter()
            .all(|v| *v == 0.0)
    );
    // Online: the first backward_step uses it, bit for bit as the whole-sequence backward.
    enc.forget();
    for x in &xs {
        enc.step(x);
    }
    let g = grad(&mut enc);
    enc.set_grad_final_state(g);
    enc.zero_grad_parameters();
    for x in xs.iter().rev() {
        enc.backward_step(x, &SMatrix::zeros());
    }
    assert_eq!(parameter_vectors(&enc, true).concat(), once);
}

network! {
    /// Residual blocks around a recurrent layer and around a stack of layers, in f64.
    Residuals<seq_len = 3, batch = 2, scalar = f64> = Sequential[
        Linear(3, 4),
        Residual[ LSTM(4, 4) ],
        Residual[ Linear(4, 6), Tanh, Linear(6, 4) ],
        Linear(4, 2)
    ];
    /// The same without the skips, for the names and the `y = f(x) + x` check.
    Plain<seq_len = 3, batch = 2, scalar = f64> = Sequential[
        Linear(3, 4),
        Sequential[ LSTM(4, 4) ],
        Sequential[ Linear(4, 6), Tanh, Linear(6, 4) ],
        Linear(4, 2)
    ];
}

#[test]
fn residual_gradients_match_finite_differences() {
    let mut net = Residuals::new(5);
    let targets: [SMatrix<f64, 2, 2>; 3] = inputs::<2, 2, 3>(10);
    let crit = SequencerCriterion::new(Mse::default());
    let worst = check_network(&mut net, &mut inputs::<3, 2, 3>(3), |ys| {
        (crit.forward(ys, &targets), crit.backward(ys, &targets))
    });
    println!("residual network: worst relative error {worst:e}");
}

#[test]
fn residual_adds_its_input_and_keeps_the_inner_names() {
    // Same seed, same layers: the same parameters; the skips change the outputs.
    let (res, plain) = (Residuals::new(6), Plain::new(6));
    let names = |p: &[ParamRef<'_, f64>]| p.iter().map(|q| q.name.to_string()).collect::<Vec<_>>();
    assert_eq!(names(&res.parameters()), names(&plain.parameters()));
    assert_eq!(
        parameter_vectors(&res, false),
        parameter_vectors(&plain, false)
    );
    assert_eq!(res.parameters()[2].name, "1.0.weight_ih");
    // Zero the last layer of block 2, so that the block gives 0: with the skip, block 2 is
    // the identity (what reaches the output still varies with the input, and the block's
    // first layer no longer matters); without it, only the output layer's bias is left.
    let (mut res, mut plain) = (res, plain);
    for mut p in res
        .parameters_mut()
        .into_iter()
        .chain(plain.parameters_mut())
    {
        if p.name.to_string().starts_with("2.2.") {
            p.value.fill(0.0);
        }
    }
    res.evaluate();
    plain.evaluate();
    let x: [SMatrix<f64, 3, 2>; 3] = inputs(7);
    let through = res.forward(&x).to_vec();
    let bias_only = plain.forward(&x).to_vec();
    assert!(bias_only.iter().all(|y| *y == bias_only[0]));
    assert!(through.iter().any(|y| *y != through[0]));
    for mut p in res.parameters_mut() {
        if p.name.to_string().starts_with("2.0.") {
            p.value.fill(0.25);
        }
    }
    assert_eq!(
        res.forward(&x).to_vec(),
        through,
        "a block that gives 0 adds nothing"
    );
}

network! {
    /// One input fed at every step (Torch's nn.Repeater), in f64.
    Repeated<seq_len = 4, batch = 2, scalar = f64> = Repeater[ LSTM(3, 4), Linear(4, 2) ];
    /// The same layers over a sequence, for the manual repetition.
    Unrepeated<seq_len = 4, batch = 2, scalar = f64> = Sequential[ LSTM(3, 4), Linear(4, 2) ];
}

#[test]
fn repeater_equals_manual_repetition_and_sums_the_input_gradient() {
    let (mut rep, mut seq) = (Repeated::new(4), Unrepeated::new(4));
    let mut rng = Rng::new(12);
    let x: SMatrix<f64, 3, 2> = rng_matrix(&mut rng);
    let g: [SMatrix<f64, 2, 2>; 4] = core::array::from_fn(|_| rng_matrix(&mut rng));
    assert_eq!(rep.forward(&x), seq.forward(&[x; 4]));
    let summed = *rep.backward(&x, &g);
    let per_step = seq.backward(&[x; 4], &g).to_vec();
    assert_eq!(summed, per_step.iter().fold(SMatrix::zeros(), |a, g| a + g));
    assert_eq!(parameter_vectors(&rep, true), parameter_vectors(&seq, true));
    // The backward checks its input like any other: another input is an error.
    rep.forward(&x);
    let other = x * 2.0;
    assert!(matches!(
        rep.try_backward(&other, &g),
        Err(BpttError::InputMismatch { .. })
    ));
}

#[test]
fn repeater_gradients_match_finite_differences() {
    let mut net = Repeated::new(6);
    let mut rng = Rng::new(13);
    let mut x: SMatrix<f64, 3, 2> = rng_matrix(&mut rng);
    let r: [SMatrix<f64, 2, 2>; 4] = core::array::from_fn(|_| rng_matrix(&mut rng));
    let loss = |net: &mut Repeated, x: &SMatrix<f64, 3, 2>| -> f64 {
        net.forward(x).iter().zip(&r).map(|(y, r)| y.dot(r)).sum()
    };
    net.zero_grad_parameters();
    net.forward(&x);
    let gx = *net.backward(&x, &r);
    assert_parameter_gradients(&mut net, |net| loss(net, &x));
    rnn_core::gradcheck::assert_input_gradient(core::slice::from_mut(&mut x), 0, &gx, |xs| {
        loss(&mut net, &xs[0])
    });
}

network! {
    /// Every kind of parameter owner: an encoder, a BiSequencer, a Residual, a GRU, Linear.
    AllOwners<seq_len = 3, batch = 2, scalar = f64> = Sequential[
        LookupTable(7, 3), BiSequencer[ GRU(3, 2) ], Residual[ Linear(4, 4) ], Linear(4, 2)
    ];
}

/// A network seen only through its parameter views, so that `zero_grad` and `update` run the
/// trait's default (one view per parameter) instead of the layers' own overrides.
struct ViaViews<'n, N>(&'n mut N);

impl<N: Parameterized<f64>> Parameterized<f64> for ViaViews<'_, N> {
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, f64>)) {
        self.0.visit_parameters(f);
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, f64>)) {
        self.0.visit_parameters_mut(f);
    }
}

/// Distinct values and gradients everywhere, then `update` and `zero_grad` through the
/// overrides and through the default: the same parameters, bit for bit.
fn check_overrides<N: Parameterized<f64> + Clone>(mut a: N) {
    let mut k = 0.0;
    a.visit_parameters_mut(&mut |mut p| {
        for (w, g) in p.value.iter_mut().zip(p.grad.iter_mut()) {
            k += 1.0;
            *w = k * 0.01;
            *g = 1.0 - k * 0.003;
        }
    });
    let before = parameter_vectors(&a, false);
    let mut b = a.clone();
    let both = |n: &N| (parameter_vectors(n, false), parameter_vectors(n, true));
    a.update(0.5);
    ViaViews(&mut b).update(0.5);
    assert_eq!(both(&a), both(&b));
    assert_ne!(
        parameter_vectors(&a, false),
        before,
        "update changed the values"
    );
    a.zero_grad();
    ViaViews(&mut b).zero_grad();
    assert_eq!(both(&a), both(&b));
    let grads = parameter_vectors(&a, true);
    assert!(grads.iter().flatten().all(|&g| g == 0.0));
}

#[test]
fn zero_grad_and_update_overrides_touch_every_parameter() {
    check_overrides(Everything::new(1));
    check_overrides(Residuals::new(1));
    check_overrides(AllOwners::new(1));
    check_overrides(Seed64::new(1));
}
