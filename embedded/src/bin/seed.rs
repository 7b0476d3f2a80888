//! The seed network for inference on a microcontroller: built `pretrained_for_inference`
//! (weights compiled in, no gradient or optimiser buffers), stepped online over 8 inputs, its
//! outputs compared with the host's generic path (`tests/fixtures/generic_path/inference.txt`).
#![no_std]
#![no_main]

// The heap: the network's weights and the storage of one step.
rnn_firmware::firmware!(arena = 16 * 1024, {
    let committed = nostd_check::committed_inference_bits();
    let before = rnn_firmware::heap_used();
    let mut net = nostd_check::SeedRun::pretrained_for_inference();
    let heap_before = rnn_firmware::heap_used();
    let mut ours = [0; 40];
    nostd_check::seed_inference(&mut net, &mut ours);
    rnn_firmware::finish(&rnn_firmware::Run {
        what: "seed (inference)",
        ours: &ours,
        committed: &committed[..40],
        network_heap: heap_before - before,
        heap_before: Some(heap_before),
        arena: ARENA,
    })
});
