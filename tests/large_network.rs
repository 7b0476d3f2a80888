//! Batched networks construct and run without touching the stack in proportion to their size
//! (a debug build of `LSTM(256, 256)` at batch 32 on a 2 MiB thread), and one too large for
//! memory is an error from `try_new`, not an abort.

use rnn_core::prelude::*;

network! {
    /// 256 hidden units at batch 32: one step's LSTM cache alone is 4 x 256 x 32 floats.
    pub Big<seq_len = 4, batch = 32> = Sequential[ LSTM(256, 256), Linear(256, 10), LogSoftMax ];
    /// The case: README-style code with arrays overflowed the 8 MiB main thread here.
    pub Wide<seq_len = 100, batch = 64> = Sequential[ LSTM(96, 256), Linear(256, 96), LogSoftMax ];
    /// 160 GB of input weights: more than this machine (or most) can allocate.
    pub Huge<seq_len = 2> = Sequential[ LSTM(100000, 100000), Linear(100000, 2) ];
}

#[test]
fn a_network_too_large_for_memory_is_an_error_not_an_abort() {
    match Huge::try_new(0) {
        Err(e) => {
            assert!(e.bytes() >= 160_000_000_000, "{e}");
            assert!(e.to_string().starts_with("could not allocate"), "{e}");
        }
        Ok(_) => panic!("160 GB allocated: is memory overcommit set to 'always'?"),
    }
    // A network that fits builds through the same path.
    assert!(Big::try_new(1).is_ok());
}

#[test]
fn a_large_batched_network_builds_and_trains_on_a_2_mib_thread() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut net = Box::new(Big::new(1));
            // Sequences on the heap: a `Vec` (or a slice of a longer buffer) of any length up
            // to seq_len.
            let inputs: Vec<SMatrix<f32, 256, 32>> = (0..4)
                .map(|t| SMatrix::from_element(0.01 * t as f32))
                .collect();
            let grads: Vec<SMatrix<f32, 10, 32>> =
                (0..4).map(|_| SMatrix::from_element(0.1)).collect();
            let out = net.forward(&inputs);
            assert!(out[3].iter().all(|v| v.is_finite()));
            net.backward(&inputs, &grads);
            net.check_finite().expect("finite");
        })
        .expect("spawn");
    worker
        .join()
        .expect("construction and a training step fit in 2 MiB of stack");
}

/// `LSTM(96, 256)` at batch 64 over 100 steps trains on a 2 MiB thread when the sequences live
/// on the heap (`Vec`s, as the README shows): every per-step buffer is the caller's or the
/// network's heap storage. Release only (a debug build takes minutes for this much arithmetic):
/// `.ci/run` runs it with `cargo test --release --test large_network -- --include-ignored`.
#[test]
#[ignore = "release only: cargo test --release --test large_network -- --include-ignored"]
fn lstm_96_256_at_batch_64_over_100_steps_trains_on_a_2_mib_thread() {
    let worker = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| {
            let mut net = Wide::new(1);
            let crit = SequencerCriterion::new(ClassNll::default());
            let adam = Adam::default();
            let class = |t: usize, b: usize| Class::<96>::new((t * 7 + b * 3) % 96).expect("< 96");
            let inputs: Vec<SMatrix<f32, 96, 64>> = (0..100)
                .map(|t| SMatrix::from_fn(|i, b| if i == (t + b) % 96 { 1.0 } else { 0.0 }))
                .collect();
            let targets: Vec<[Class<96>; 64]> = (0..100)
                .map(|t| std::array::from_fn(|b| class(t + 1, b)))
                .collect();
            let mut grads = vec![SMatrix::<f32, 96, 64>::zeros(); 100];
            let mut losses = Vec::new();
            for _ in 0..3 {
                net.zero_grad_parameters();
                let out = net.forward(&inputs);
                losses.push(crit.forward(out, &targets));
                crit.backward_into(out, &targets, &mut grads);
                net.backward(&inputs, &grads);
                adam.step(&mut net).expect("valid Adam");
            }
            net.check_finite().expect("finite");
            assert!(losses[2] < losses[0], "{losses:?}");
        })
        .expect("spawn");
    worker
        .join()
        .expect("100 steps of LSTM(96, 256) at batch 64 fit in 2 MiB of stack");
}

network! {
    /// One LSTM state (`h` and `c`) is 1 MiB: a copy of it through the stack overflows a
    /// 1 MiB thread. (The bytes of 1024 units at batch 128 for an eighth of the arithmetic:
    /// at 1024 units a debug build spent 50 s here.)
    pub WideState<seq_len = 2, batch = 1024> = Sequential[ LSTM(8, 128), Linear(128, 2) ];
    /// The hidden product `W_hh h + b_hh` of one step is `3 x 128 x 1024` floats (1.5 MiB).
    pub WideGru<seq_len = 2, batch = 1024> = Sequential[ GRU(8, 128), Linear(128, 2) ];
    /// Dropout's output is `2048 x 128` floats (1 MiB).
    pub WideDropout<seq_len = 2, batch = 128> = Sequential[ Linear(8, 2048), Dropout(0.5), Linear(2048, 2) ];
}

/// Runs `f` on a thread with 1 MiB of stack: less than one state, one product or one layer
/// output of the networks it runs, so any temporary of that size on the stack overflows.
fn on_a_1_mib_stack(what: &str, f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .expect("spawn")
        .join()
        .unwrap_or_else(|_| panic!("{what} did not fit in 1 MiB of stack"));
}

/// Steps of a network's whole-sequence forward and backward, `n` sequences of 2 steps, on
/// heap-held inputs (`Vec`s).
fn run_sequences<N, const B: usize>(net: &mut N, n: usize)
where
    N: Network<Inputs = [SMatrix<f32, 8, B>], Outputs = [SMatrix<f32, 2, B>]>,
{
    let inputs: Vec<SMatrix<f32, 8, B>> = (0..2)
        .map(|t| SMatrix::from_fn(|i, b| ((i + b + t) % 5) as f32 * 0.1))
        .collect();
    let grads: Vec<SMatrix<f32, 2, B>> = (0..2).map(|_| SMatrix::from_element(0.1)).collect();
    for _ in 0..n {
        let out = net.forward(&inputs);
        assert!(out[1].iter().all(|v| v.is_finite()));
        net.backward(&inputs, &grads);
    }
    net.check_finite().expect("finite");
}

#[test]
fn remembering_and_forgetting_a_large_state_stays_off_the_stack() {
    on_a_1_mib_stack("LSTM(8, 128) at batch 1024, remembering", || {
        let mut net = Box::new(WideState::new(1));
        // Remembering moves the state after the last step to the start of the next call
        // (was `<[T]>::swap`); forgetting copies the initial state in (was `clone_from`).
        net.remember(Remember::Both);
        run_sequences(&mut *net, 2);
        net.forget();
        run_sequences(&mut *net, 1);
        // A clone copies the initial state into its fresh storage (was `clone_from`).
        run_sequences(&mut *Box::new((*net).clone()), 1);
    });
}

#[test]
fn a_large_gru_step_keeps_its_hidden_product_off_the_stack() {
    on_a_1_mib_stack("GRU(8, 128) at batch 1024", || {
        run_sequences(&mut *Box::new(WideGru::new(1)), 1);
    });
}

#[test]
fn dropout_over_a_wide_layer_stays_off_the_stack() {
    on_a_1_mib_stack("Linear(8, 2048), Dropout at batch 128", || {
        run_sequences(&mut *Box::new(WideDropout::new(1)), 1);
    });
}
