//! The seed network trained on a microcontroller: `nostd_check::seed_sgd_bits` (20 SGD steps of
//! `Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ]`) run on the target, printed through
//! semihosting, and compared with the bits the host's generic path gives (committed in
//! `tests/fixtures/generic_path/seed_sgd.txt`). Exit code 0 if every bit matches.
#![no_std]
#![no_main]

extern crate alloc;

use embedded_alloc::LlffHeap as Heap;

#[global_allocator]
static HEAP: Heap = Heap::empty();

/// Heap for the network's parameters (with gradients and optimiser moments) and per-step
/// storage.
const HEAP_BYTES: usize = 256 * 1024;

// The crates that provide the heap's critical section (single core), linked in.
#[cfg(target_arch = "arm")]
use cortex_m as _;
#[cfg(target_arch = "riscv32")]
use riscv as _;

#[cfg(target_arch = "arm")]
use cortex_m_rt::entry;
#[cfg(target_arch = "riscv32")]
use riscv_rt::entry;

/// The heap's memory.
static mut MEMORY: [core::mem::MaybeUninit<u8>; HEAP_BYTES] =
    [core::mem::MaybeUninit::uninit(); HEAP_BYTES];

#[entry]
fn main() -> ! {
    // SAFETY: called once, before any allocation; `MEMORY` is used by nothing else.
    unsafe { HEAP.init(&raw mut MEMORY as usize, HEAP_BYTES) }
    // Everything a network stores is allocated when it is built, nothing after.
    let net = nostd_check::Tagger::new(1);
    let network_heap = HEAP.used();
    drop(net);
    let ours = nostd_check::seed_sgd_bits();
    let host = nostd_check::committed_bits();
    for b in &ours {
        semihosting::println!("{b:08x}");
    }
    let differ = ours.iter().zip(&host).filter(|(a, b)| a != b).count();
    let same = ours.len() == 60 && ours == host;
    semihosting::println!(
        "{differ} of {} values differ from the host's generic path (the seed network's heap: \
         {network_heap} bytes)",
        ours.len()
    );
    semihosting::process::exit(if same { 0 } else { 1 })
}
