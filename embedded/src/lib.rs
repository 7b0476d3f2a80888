//! What the firmware binaries share: the heap (`embedded-alloc`, each binary gives its arena),
//! the stack's high-water mark (the stack painted with a pattern before the work and scanned
//! after it), and a report through semihosting with the exit code.
//!
//! - `train`: the seed network trained 20 SGD steps on the device;
//! - `seed`: the seed network built for inference, weights compiled in, stepped online;
//! - `amp`: `LSTM(1, 16) -> Linear(16, 1)` the same way.
//!
//! Each compares its outputs with the bits the host's generic path gives (committed in
//! `tests/fixtures/generic_path/`) and exits 0 only if every bit matches.
#![no_std]

extern crate alloc;

use core::mem::MaybeUninit;
use embedded_alloc::LlffHeap as Heap;

#[global_allocator]
static HEAP: Heap = Heap::empty();

// The crates that provide the heap's critical section (single core), linked in.
#[cfg(target_arch = "arm")]
use cortex_m as _;
#[cfg(target_arch = "riscv32")]
use riscv as _;

/// A firmware's `main`: the runtime's entry point with a static heap arena of `$arena` bytes,
/// the stack painted first, then `$body` (which ends the run, e.g. with [`finish`]). The
/// arena's size is in scope as `ARENA`.
#[macro_export]
macro_rules! firmware {
    (arena = $arena:expr, $body:block) => {
        #[cfg(target_arch = "arm")]
        use cortex_m_rt::entry;
        #[cfg(target_arch = "riscv32")]
        use riscv_rt::entry;

        /// The heap arena's size in bytes.
        const ARENA: usize = $arena;
        static mut MEMORY: [core::mem::MaybeUninit<u8>; ARENA] =
            [core::mem::MaybeUninit::uninit(); ARENA];

        #[entry]
        fn main() -> ! {
            $crate::paint_stack();
            // SAFETY: once, before any allocation; `MEMORY` is used by nothing else.
            unsafe { $crate::init_heap(&mut *(&raw mut MEMORY)) }
            $body
        }
    };
}

/// Gives the heap its memory.
///
/// # Safety
/// Called once, before any allocation; `arena` is used by nothing else.
pub unsafe fn init_heap(arena: &'static mut [MaybeUninit<u8>]) {
    // SAFETY: as the caller promises.
    unsafe { HEAP.init(arena.as_mut_ptr() as usize, arena.len()) }
}

/// Bytes of the heap in use.
#[must_use]
pub fn heap_used() -> usize {
    HEAP.used()
}

unsafe extern "C" {
    /// The end of the static data (`.bss` and `.uninit`), where the stack may grow down to:
    /// both runtimes' linker scripts define it.
    static __sheap: u32;
    /// The top of the stack.
    static _stack_start: u32;
}

/// What the painted, unused part of the stack holds.
const PAINT: u32 = 0x5AA5_C33C;
/// The stack below the caller's frame left unpainted for the painting function's own frame.
const MARGIN: usize = 256;

/// Paints the free stack below the caller (down to the end of the static data) so that
/// [`stack_peak`] can find how deep it went. Call it first thing in `main`.
#[inline(never)]
pub fn paint_stack() {
    let here = 0u8;
    let top = (&raw const here as usize).saturating_sub(MARGIN) & !3;
    let mut at = &raw const __sheap as usize;
    while at < top {
        // SAFETY: between the end of the static data and the stack pointer (less a margin for
        // this function's frame): memory nothing uses yet, no interrupts enabled.
        unsafe { (at as *mut u32).write_volatile(PAINT) };
        at += 4;
    }
}

/// The most stack used since [`paint_stack`], in bytes (counting from the top of the stack,
/// so it includes what the runtime used before `main`). At least the depth of `main`'s caller
/// plus the unpainted margin.
#[must_use]
pub fn stack_peak() -> usize {
    let top = &raw const _stack_start as usize;
    let mut at = &raw const __sheap as usize;
    // SAFETY: reads of the region `paint_stack` wrote, below the live stack.
    while at < top && unsafe { (at as *const u32).read_volatile() } == PAINT {
        at += 4;
    }
    top - at
}

/// How many of `ours` differ from `committed` (all, if the lengths differ).
#[must_use]
pub fn differing(ours: &[u32], committed: &[u32]) -> usize {
    if ours.len() == committed.len() {
        ours.iter().zip(committed).filter(|(a, b)| a != b).count()
    } else {
        ours.len().max(committed.len())
    }
}

/// `, N allocated while running` for a run that must allocate nothing; nothing otherwise.
struct Grew(Option<usize>);

impl core::fmt::Display for Grew {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.0 {
            Some(n) => write!(f, ", {n} allocated while running"),
            None => Ok(()),
        }
    }
}

/// A run's result: its values, what the host gives, and the heap it used.
pub struct Run<'a> {
    /// Which run (printed first).
    pub what: &'a str,
    /// The values it computed (`f32` bits).
    pub ours: &'a [u32],
    /// The host's generic path's values.
    pub committed: &'a [u32],
    /// Heap bytes in use once the network was built.
    pub network_heap: usize,
    /// Heap bytes in use just before the work (the network and anything set up beside it),
    /// if the work must allocate nothing; `None` for a run that builds its own network.
    pub heap_before: Option<usize>,
    /// The heap arena's size.
    pub arena: usize,
}

/// Prints the run's line (what differs, the heap and stack it used) and exits: 0 if nothing
/// differs and, where [`Run::heap_before`] is given, nothing was allocated during the work.
pub fn finish(run: &Run<'_>) -> ! {
    let differ = differing(run.ours, run.committed);
    let grew = run
        .heap_before
        .map(|before| heap_used().saturating_sub(before));
    semihosting::println!(
        "{}: {differ} of {} values differ from the host's generic path; network heap {} bytes \
         (arena {}){}; stack peak {} bytes",
        run.what,
        run.ours.len(),
        run.network_heap,
        run.arena,
        Grew(grew),
        stack_peak()
    );
    semihosting::process::exit(if differ == 0 && grew.unwrap_or(0) == 0 {
        0
    } else {
        1
    })
}
