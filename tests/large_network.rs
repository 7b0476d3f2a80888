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
