//! The seed network for inference on a microcontroller: built `pretrained_for_inference`
//! (weights compiled in, no gradient or optimiser buffers), stepped online over 8 inputs, its
//! outputs compared with the host's generic path (`tests/fixtures/generic_path/inference.txt`).
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
#[cfg(target_arch = "arm")]
use cortex_m_rt::entry;
#[cfg(target_arch = "riscv32")]
use riscv_rt::entry;

/// The heap: the network's weights and the storage of one step.
const ARENA: usize = 16 * 1024;
static mut MEMORY: [MaybeUninit<u8>; ARENA] = [MaybeUninit::uninit(); ARENA];

#[entry]
fn main() -> ! {
    rnn_firmware::paint_stack();
    // SAFETY: once, before any allocation; `MEMORY` is used by nothing else.
    unsafe { rnn_firmware::init_heap(&mut *(&raw mut MEMORY)) }
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
        heap_before,
        arena: ARENA,
    })
}
