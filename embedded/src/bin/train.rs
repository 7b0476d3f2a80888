//! The seed network trained on a microcontroller: `nostd_check::seed_sgd_bits` (20 SGD steps of
//! `Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ]`) run on the target and compared with
//! the bits the host's generic path gives (`tests/fixtures/generic_path/seed_sgd.txt`).
#![no_std]
#![no_main]

// The heap: parameters with gradients and optimiser moments, per-step storage for 8 steps.
rnn_firmware::firmware!(arena = 64 * 1024, {
    // Everything a network stores is allocated when it is built, nothing after.
    let net = nostd_check::Tagger::new(1);
    let network_heap = rnn_firmware::heap_used();
    drop(net);
    let committed = nostd_check::committed_bits();
    // The run builds its own network (and its inputs, the bits): no allocation check.
    let ours = nostd_check::seed_sgd_bits();
    rnn_firmware::finish(&rnn_firmware::Run {
        what: "train (seed network, 20 SGD steps)",
        ours: &ours,
        committed: &committed,
        network_heap,
        heap_before: None,
        arena: ARENA,
    })
});
