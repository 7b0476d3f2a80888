//! Latency tails of the online step and of `process_block` on 64-sample blocks, as a real-time
//! audio or control thread sees them: each
//! network is built, put in evaluation mode and warmed up (10 000 steps), then `N` steps
//! (10^6 by default) are timed one by one; the median, p99, p99.9 and the largest, in ns, as
//! a markdown table for BENCHMARKS.md.
//!
//!     cargo run --release --bin latency [-- N]
//!
//! Each step is timed with the time-stamp counter (`rdtsc`, converted to ns against the
//! monotonic clock over the whole run), whose reading costs far less than a clock call; the
//! line "timer alone" is the same measurement around nothing: what every figure includes;
//! "arithmetic alone" times a fixed chain of register arithmetic, whose tails are the
//! machine's (interrupts, a virtual machine's host), not the library's: one as long as an
//! online step, one as long as a block (a longer call is likelier to contain an interruption,
//! so a block's tails are compared with the second).
//! The input changes at every step (a slow sine), so nothing is cached between steps.

use rnn_core::prelude::*;
use std::hint::black_box;
use std::time::Instant;

network! {
    /// The seed network.
    Seed<seq_len = 16> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// The seed network with a GRU.
    SeedGru<seq_len = 16> = Sequential[ GRU(10, 20), Linear(20, 5), LogSoftMax ];
    /// An amp-style GRU: one sample in, one out.
    AmpGru<seq_len = 16> = Sequential[ GRU(1, 16), Linear(16, 1) ];
    /// An amp-style LSTM.
    AmpLstm<seq_len = 16> = Sequential[ LSTM(1, 32), Linear(32, 1) ];
    /// NAM's "feather" preset, for whole audio blocks.
    Feather<seq_len = 16> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
}

/// `process_block` calls of `net` on 64-sample blocks of a slow sine (one timing per block,
/// as an audio callback sees it).
fn blocks(mut net: Feather, n: usize) -> Vec<u64> {
    net.evaluate();
    let mut buf = [0.0f32; 64];
    time(n, |k| {
        for (i, x) in buf.iter_mut().enumerate() {
            *x = ((k * 64 + i) as f32 * 0.01).sin() * 0.5;
        }
        net.process_block(black_box(&mut buf));
        black_box(&buf);
    })
}

/// The time-stamp counter, or the clock in ns where there is none.
#[inline(always)]
fn ticks(origin: Instant) -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        let _ = origin;
        // SAFETY: `rdtsc` is in every x86-64 CPU.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        origin.elapsed().as_nanos() as u64
    }
}

/// A dependent chain of `LEN` multiply-adds in registers (256: about 1000 cycles, an online
/// step's length; 2048: about 8000, a 64-sample block's): what the machine's own
/// interruptions do to a call of that length that touches no memory.
#[inline(never)]
fn spin<const LEN: usize>(k: usize) -> f64 {
    let mut x = k as f64 * 1e-9;
    for _ in 0..LEN {
        x = x.mul_add(0.999, 1e-3);
    }
    x
}

/// `n` timed calls of `step(k)` (after 10 000 untimed ones), in ticks.
fn time(n: usize, mut step: impl FnMut(usize)) -> Vec<u64> {
    let origin = Instant::now();
    for k in 0..10_000 {
        step(k);
    }
    // Written once here, so that no page is first touched while timing.
    let mut out = vec![u64::MAX; n];
    for (k, slot) in out.iter_mut().enumerate() {
        let t0 = ticks(origin);
        step(k);
        let t1 = ticks(origin);
        *slot = t1.wrapping_sub(t0);
    }
    out
}

/// Online steps of `net` in evaluation mode on a slow sine.
fn steps<N, const I: usize, const O: usize>(mut net: N, n: usize) -> Vec<u64>
where
    N: Online<Scalar = f32, Input = SMatrix<f32, I, 1>, Output = SMatrix<f32, O, 1>>
        + Network<Scalar = f32>,
{
    net.evaluate();
    time(n, |k| {
        let x = SMatrix::<f32, I, 1>::from_element((k as f32 * 0.01).sin() * 0.5);
        black_box(net.step(black_box(&x)));
    })
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let (start, t_start) = (Instant::now(), ticks(Instant::now()));
    let cases: Vec<(&str, Vec<u64>)> = vec![
        ("timer alone", time(n, |k| _ = black_box(k))),
        (
            "arithmetic alone (a chain of 256 multiply-adds)",
            time(n, |k| _ = black_box(spin::<256>(k))),
        ),
        (
            "arithmetic alone, a block's length (2048 multiply-adds, n / 64 calls)",
            time(n / 64, |k| _ = black_box(spin::<2048>(k))),
        ),
        (
            "seed: LSTM(10, 20) -> Linear(20, 5) -> LogSoftMax",
            steps(Seed::new(1), n),
        ),
        (
            "GRU(10, 20) -> Linear(20, 5) -> LogSoftMax",
            steps(SeedGru::new(1), n),
        ),
        ("GRU(1, 16) -> Linear(16, 1)", steps(AmpGru::new(1), n)),
        ("LSTM(1, 32) -> Linear(32, 1)", steps(AmpLstm::new(1), n)),
        (
            "process_block of 64 samples, LSTM(1, 16) -> Linear(16, 1) (n / 64 blocks)",
            blocks(Feather::new(1), n / 64),
        ),
    ];
    let ns_per_tick = start.elapsed().as_secs_f64() * 1e9 / (ticks(start) - t_start) as f64;
    println!(
        "online step, evaluation mode, {n} steps after 10 000 of warm-up (ns; kernels: {})\n",
        rnn_core::kernel_choice()
    );
    println!("| network | median | p99 | p99.9 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, mut t) in cases {
        t.sort_unstable();
        let at = |q: f64| t[((t.len() - 1) as f64 * q).round() as usize] as f64 * ns_per_tick;
        println!(
            "| {name} | {:.0} | {:.0} | {:.0} | {:.0} |",
            at(0.5),
            at(0.99),
            at(0.999),
            at(1.0)
        );
    }
}
