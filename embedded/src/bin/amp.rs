//! `LSTM(1, 16) -> Linear(16, 1)` for inference on a microcontroller: built
//! `pretrained_for_inference` (weights compiled in), stepped over 64 samples, its outputs
//! compared with the host's generic path (`tests/fixtures/generic_path/inference.txt`).
#![no_std]
#![no_main]

// The heap: the network's weights and the storage of one step.
rnn_firmware::firmware!(arena = 8 * 1024, {
    let committed = nostd_check::committed_inference_bits();
    let before = rnn_firmware::heap_used();
    let mut net = nostd_check::AmpRun::pretrained_for_inference();
    let heap_before = rnn_firmware::heap_used();
    let mut ours = [0; 64];
    nostd_check::amp_inference(&mut net, &mut ours);
    rnn_firmware::finish(&rnn_firmware::Run {
        what: "amp LSTM(1, 16) -> Linear(16, 1) (inference)",
        ours: &ours,
        committed: &committed[40..],
        network_heap: heap_before - before,
        heap_before: Some(heap_before),
        arena: ARENA,
    })
});
