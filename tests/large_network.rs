//! Batched networks construct and run without touching the stack in proportion to their size
//! (a debug build of `LSTM(256, 256)` at batch 32 on a 2 MiB thread), and one too large for
//! memory is an error from `try_new`, not an abort.

use rnn_core::prelude::*;

network! {
    /// 256 hidden units at batch 32: one step's LSTM cache alone is 4 x 256 x 32 floats.
    pub Big<seq_len = 4, batch = 32> = Sequential[ LSTM(256, 256), Linear(256, 10), LogSoftMax ];
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
