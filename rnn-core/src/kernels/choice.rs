//! Which kernels run on this machine: the instruction-set path ([`simd_path`]: what the CPU
//! has, capped by `RNN_SIMD`) and, on the AVX-512 path, the register width of each fused cell
//! and fused block, chosen by measurement ([`kernel_choice`]).
//!
//! # Why measure, and what
//!
//! Which width is faster depends on the core, not only on its features. On a Zen 5 the
//! AVX-512 LSTM cell was level with the AVX2 one at batch 1 and 8-10 % faster batched; on an
//! Intel Xeon (family 6 model 167) the seed network's online step ran 1.33x slower with it
//! (204 against 153 ns), while the batched AVX-512 products there are 1.3-1.6x faster than the
//! AVX2 ones. So the first time the kernels are needed (a network's construction), on the
//! AVX-512 path, each fused cell is timed in both widths in the setting it runs in: at batch 1
//! inside a step (the AVX2 matrix-vector product that feeds it, then the cell, the new state
//! feeding the next product: a cell timed alone does not see what mixing 512-bit and 256-bit
//! code costs the core around it), batched alone; seven alternated rounds after a warm-up, the
//! fastest of each. The wide cell is kept where it is at least 2 % faster. The batch-1 LSTM
//! choice also sets the width of the whole fused step of cells under eight units
//! (`lstm_step`), which is not timed itself: on that Xeon it agrees (`LSTM(1, 2)`'s step
//! alone 47-53 ns in 256 bits, 68-72 in 512).
//!
//! The fused blocks of `Online::process_block` ([`FusedBlock`]) are timed on their own, per
//! sample over a block: on a Zen 4 (AMD EPYC, family 25 model 17) the batch-1 LSTM cells
//! measure within noise of each other (121 against 122 ns), so that choice flips between
//! processes, and the blocks of up to eight units that followed it ran 20 % slower when it
//! came out wide (`LSTM(1, 8)`: 47 against 57 ns per sample); cells of nine to sixteen units
//! and of 31-32 have 512-bit register blocks that beat the step's kernels there (12 and 16
//! units summed: 134 against 149-162 ns; 32 units: 155 against 178-182), which nothing else
//! measures.
//!
//! The cost: 0.5-1.5 ms once per process on that Xeon (before the blocks), 0.93-1.02 ms on
//! that Zen 4 (eight pairs of timings, most of it the batched cells;
//! `kernel_choice().cost_us` reports it), nothing after. The cells compute the same
//! bits in both widths (each lane runs the same operations; tested in `lstm_cell`, `lstm_step` and `gru_cell`),
//! so the choice, which can differ between runs when two widths are within noise, never changes a
//! result. The products are not chosen so: their two widths differ in the last bits of the backward
//! pass (the order of sums), and a process must not compute different bits from run to run on one
//! machine. They run the widest path; BENCHMARKS.md's table of paths by case shows that this is the
//! fastest, or level, on the Intel Xeon it was measured on. `RNN_CALIBRATE=off` skips the
//! measurement (every cell then runs the widest path), which is how that table shows what the
//! choice saves.

use core::fmt;
#[cfg(all(feature = "std", target_arch = "x86_64"))]
use core::sync::atomic::{AtomicU16, Ordering};

/// The instruction sets the kernels use on this machine, from the least to the most capable;
/// see [`simd_path`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SimdPath {
    /// What every x86-64 CPU has (SSE2), or another architecture, or a build without `std`:
    /// the generic kernels as the compiler vectorises them for the build's target.
    Baseline,
    /// AVX2 with FMA: intrinsics for the batched products, the batch-1 matrix-vector
    /// products, the fused LSTM and GRU cells and LogSoftMax.
    Avx2,
    /// AVX-512F and AVX-512VL on top of AVX2: the batched products (`W x` for batches above
    /// 1, their transposes and the weight gradients) in 512-bit registers, the fused cells
    /// and blocks in the width measured fastest ([`kernel_choice`]), the blocks of up to eight
    /// units in 256 bits with AVX-512VL's 32 registers; the rest as [`SimdPath::Avx2`].
    Avx512,
}

impl SimdPath {
    /// Every path, from the least capable (the order of the variants): what `RNN_SIMD` names.
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    const ALL: [Self; 3] = [Self::Baseline, Self::Avx2, Self::Avx512];

    /// The name `RNN_SIMD` takes: `baseline`, `avx2` or `avx512`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Baseline => "baseline",
            Self::Avx2 => "avx2",
            Self::Avx512 => "avx512",
        }
    }

    /// The path stored as `self as u16 + 1` in the low bits of [`KernelChoice::state`].
    const fn from_code(code: u16) -> Self {
        match code {
            3 => Self::Avx512,
            2 => Self::Avx2,
            _ => Self::Baseline,
        }
    }
}

impl fmt::Display for SimdPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The kernels this process runs: the best this CPU supports (detected at the first call,
/// with the `std` feature on x86-64), capped by the environment variable `RNN_SIMD` if it is
/// set to `baseline`, `avx2` or `avx512` (other values are ignored) when it is first read.
/// Where it is [`SimdPath::Avx512`], the fused cells run in the width [`kernel_choice`]
/// measured fastest.
///
/// Every path computes the same maths; they differ in the last bits (the order of sums, fused
/// multiply-adds), so `RNN_SIMD` pins results across machines with different CPUs and lets the
/// lower paths be tested on a machine that has the higher ones. A build with
/// `-C target-cpu=native` (or `target-feature=+avx2,+fma`) compiles the generic kernels for
/// that CPU, so there `baseline` means "no intrinsics", not SSE2.
///
/// ```
/// let path = rnn_core::simd_path();
/// println!("kernels: {}", path.name());
/// ```
#[must_use]
#[inline]
pub fn simd_path() -> SimdPath {
    // Inlined into every kernel's entry (the kernels are generic, so they are compiled in the
    // user's crate: a call here per kernel cost batch-1 steps 8 %): one relaxed load, decoded
    // by a match (indexing `SimdPath::ALL` took 1 % more instructions per batch-1 step).
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    match STATE.load(Ordering::Relaxed) & PATH_BITS {
        1 => SimdPath::Baseline,
        2 => SimdPath::Avx2,
        3 => SimdPath::Avx512,
        _ => SimdPath::from_code(detect() & PATH_BITS),
    }
    #[cfg(not(all(feature = "std", target_arch = "x86_64")))]
    SimdPath::Baseline
}

/// Whether the AVX2 + FMA kernels run (a relaxed atomic load after the first call).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn use_avx2() -> bool {
    simd_path() >= SimdPath::Avx2
}

/// Whether the path is [`SimdPath::Avx512`], whose CPU has AVX-512F and AVX-512VL (the
/// 256-bit blocks then run in AVX-512VL's encoding); a relaxed atomic load after the first
/// call.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn use_avx512() -> bool {
    simd_path() == SimdPath::Avx512
}

/// A fused recurrent cell whose register width is chosen by measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FusedCell {
    /// The LSTM cell (`LSTM`; PeepholeLSTM runs its own generic cell).
    Lstm,
    /// The GRU cell.
    Gru,
}

impl FusedCell {
    /// Both cells.
    pub const ALL: [Self; 2] = [Self::Lstm, Self::Gru];

    /// The bit of [`KernelChoice::state`] that says the cell runs 512 bits wide at batch 1
    /// (`batched` false) or above.
    const fn wide_bit(self, batched: bool) -> u16 {
        WIDE_SHIFT << ((self as u16) * 2 + batched as u16)
    }

    /// `LSTM` or `GRU`.
    const fn name(self) -> &'static str {
        match self {
            Self::Lstm => "LSTM",
            Self::Gru => "GRU",
        }
    }
}

/// A fused block of `Online::process_block` (an `LSTM(1, H)` cell or two and a one-output
/// head over a block of samples) whose kernel is chosen by measurement on the AVX-512 path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FusedBlock {
    /// Cells of up to eight units, one register per gate: 256 bits wide (with AVX-512VL's 32
    /// registers where the path is [`SimdPath::Avx512`]) or 512 (the same bits).
    Small,
    /// A cell of nine to sixteen units: the step's own kernels (the AVX2 matrix-vector
    /// product, the fused cell, the head's product) per sample, or one 512-bit register per
    /// gate with the state kept in registers across the block (the same bits).
    Medium,
    /// A cell of 31 or 32 units: the step's own kernels per sample, or two 512-bit registers
    /// per gate with the state kept in registers across the block (the same bits).
    Large,
}

impl FusedBlock {
    /// Every block.
    pub const ALL: [Self; 3] = [Self::Small, Self::Medium, Self::Large];

    /// The bit of [`KernelChoice::state`] that says the block runs 512 bits wide.
    const fn wide_bit(self) -> u16 {
        WIDE_SHIFT << (4 + self as u16)
    }

    /// What the block is, for `Display`.
    const fn name(self) -> &'static str {
        match self {
            Self::Small => "LSTM blocks to 8 units",
            Self::Medium => "9-16 units",
            Self::Large => "31-32 units",
        }
    }
}

/// The low bits of [`KernelChoice::state`]: the path as `SimdPath as u16 + 1` (0: not chosen).
const PATH_BITS: u16 = 0b11;
/// The first of the "runs wide" bits of [`KernelChoice::state`] (see [`FusedCell::wide_bit`]).
const WIDE_SHIFT: u16 = 0b100;

/// What runs in this process: the path and, for each fused cell at batch 1 and above, the
/// register width; with the measurement it was chosen by (see the `kernels::choice` module's
/// docs and [`kernel_choice`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KernelChoice {
    /// The path and the width bits, as the kernels read them.
    state: u16,
    /// The CPU's best path, before `RNN_SIMD` capped it.
    best: SimdPath,
    /// Nanoseconds per call of each cell `[AVX2, AVX-512]`, in the order `[LSTM at batch 1,
    /// LSTM batched, GRU at batch 1, GRU batched]`, where they were measured.
    pub timings_ns: Option<[[f32; 2]; 4]>,
    /// Nanoseconds per sample of each fused block `[256-bit, 512-bit]` (for
    /// [`FusedBlock::Medium`] and [`FusedBlock::Large`]: `[the step's kernels, 512-bit
    /// registers]`; Medium's the sum of 12 and 16 units), in the order of
    /// [`FusedBlock::ALL`], where they were measured.
    pub block_timings_ns: Option<[[f32; 2]; 3]>,
    /// What the measurement took, in microseconds (0 where nothing was measured).
    pub cost_us: f32,
}

impl KernelChoice {
    /// The instruction-set path ([`simd_path`]).
    #[must_use]
    pub const fn path(&self) -> SimdPath {
        SimdPath::from_code(self.state & PATH_BITS)
    }

    /// The CPU's best path (what [`KernelChoice::path`] is unless `RNN_SIMD` capped it).
    #[must_use]
    pub const fn best(&self) -> SimdPath {
        self.best
    }

    /// Why the kernels are these: `"measured"` (the cells' widths were timed),
    /// `"RNN_CALIBRATE=off"`, `"capped by RNN_SIMD"` or `"the CPU's best"` (no choice to make
    /// below AVX-512).
    #[must_use]
    pub const fn why(&self) -> &'static str {
        if self.timings_ns.is_some() {
            "measured"
        } else if (self.path() as u8) < self.best as u8 {
            "capped by RNN_SIMD"
        } else if matches!(self.path(), SimdPath::Avx512) {
            "RNN_CALIBRATE=off"
        } else {
            "the CPU's best"
        }
    }

    /// The path of the `f32` matrix products of a layer at batch `batch`: the batched kernels
    /// of [`KernelChoice::path`] above batch 1, the AVX2 matrix-vector kernels at batch 1
    /// (where the path has AVX2). (`f64` networks run the generic kernels, compiled for AVX2
    /// where the path has it.) With [`KernelChoice::cell`], what each layer of a network runs:
    /// an `LSTM(i, h)` at batch `b` runs `products(b)` and `cell(FusedCell::Lstm, b)`.
    #[must_use]
    pub const fn products(&self, batch: usize) -> SimdPath {
        if batch == 1 && matches!(self.path(), SimdPath::Avx512) {
            SimdPath::Avx2
        } else {
            self.path()
        }
    }

    /// The path `cell` runs at batch `batch`: [`SimdPath::Avx512`] where it runs 512 bits wide,
    /// else the process's path capped at [`SimdPath::Avx2`].
    #[must_use]
    pub const fn cell(&self, cell: FusedCell, batch: usize) -> SimdPath {
        if self.state & cell.wide_bit(batch > 1) != 0 {
            SimdPath::Avx512
        } else if (self.path() as u8) < SimdPath::Avx2 as u8 {
            self.path()
        } else {
            SimdPath::Avx2
        }
    }
}

impl KernelChoice {
    /// The path `block` runs: [`SimdPath::Avx512`] where it runs 512 bits wide, else the
    /// process's path capped at [`SimdPath::Avx2`] (for [`FusedBlock::Medium`] and
    /// [`FusedBlock::Large`], the step's kernels; [`FusedBlock::Small`] runs its 256-bit
    /// registers with AVX-512VL's encoding where the process's path is `Avx512`).
    #[must_use]
    pub const fn block(&self, block: FusedBlock) -> SimdPath {
        if self.state & block.wide_bit() != 0 {
            SimdPath::Avx512
        } else if (self.path() as u8) < SimdPath::Avx2 as u8 {
            self.path()
        } else {
            SimdPath::Avx2
        }
    }
}

impl fmt::Display for KernelChoice {
    /// One line: `avx512, measured (products avx2 at batch 1, avx512 batched; LSTM cell avx2
    /// at batch 1, avx512 batched; GRU cell ...)`, and the measurement where there was one.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, {} (products {} at batch 1, {} batched",
            self.path(),
            self.why(),
            self.products(1),
            self.products(2)
        )?;
        for cell in FusedCell::ALL {
            write!(
                f,
                "; {} cell {} at batch 1, {} batched",
                cell.name(),
                self.cell(cell, 1),
                self.cell(cell, 2)
            )?;
        }
        for block in FusedBlock::ALL {
            write!(f, "; {} {}", block.name(), self.block(block))?;
        }
        f.write_str(")")?;
        if let Some(t) = self.timings_ns {
            write!(
                f,
                ", measured in {:.0} us [AVX2, AVX-512 ns per call:",
                self.cost_us
            )?;
            for (name, [narrow, wide]) in ["LSTM b1", "LSTM batched", "GRU b1", "GRU batched"]
                .iter()
                .zip(t)
            {
                write!(f, " {name} {narrow:.0}/{wide:.0}")?;
            }
            f.write_str("]")?;
        }
        if let Some(t) = self.block_timings_ns {
            f.write_str(" [ns per sample:")?;
            for (name, [narrow, wide]) in ["blocks to 8 units", "12 + 16 units", "32 units"]
                .iter()
                .zip(t)
            {
                write!(f, " {name} {narrow:.1}/{wide:.1}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

/// Whether a cell runs 512 bits wide from its timings `[narrow, wide]`: where the wide one is
/// at least 2 % faster (within that, the narrow one: it is what the rest of a batch-1 step
/// runs, and noise does not flip the choice).
#[must_use]
#[cfg(any(test, all(feature = "std", target_arch = "x86_64")))]
fn prefer_wide([narrow, wide]: [f32; 2]) -> bool {
    wide <= 0.98 * narrow
}

/// The kernels of this process: [`simd_path`] and the width of each fused cell, measured the
/// first time the kernels are needed (every network's construction asks) unless the
/// environment variable `RNN_CALIBRATE` is `off` then. Only the AVX-512 path has two widths to
/// choose from.
///
/// ```
/// let choice = rnn_core::kernel_choice();
/// println!("kernels: {choice}");
/// assert_eq!(choice.path(), rnn_core::simd_path());
/// ```
#[must_use]
pub fn kernel_choice() -> KernelChoice {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    {
        let _ = simd_path();
        if let Some(choice) = CHOICE.get() {
            return *choice;
        }
    }
    KernelChoice {
        state: SimdPath::Baseline as u16 + 1,
        best: SimdPath::Baseline,
        timings_ns: None,
        block_timings_ns: None,
        cost_us: 0.0,
    }
}

/// Whether `cell` runs 512 bits wide at batch `B` (a relaxed load after the first call).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn wide_cell<const B: usize>(cell: FusedCell) -> bool {
    let state = match STATE.load(Ordering::Relaxed) {
        0 => detect(),
        s => s,
    };
    state & cell.wide_bit(B > 1) != 0
}

/// Whether `block` runs 512 bits wide (a relaxed load after the first call).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn wide_block(block: FusedBlock) -> bool {
    let state = match STATE.load(Ordering::Relaxed) {
        0 => detect(),
        s => s,
    };
    state & block.wide_bit() != 0
}

/// [`KernelChoice::state`] once chosen, 0 before.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
static STATE: AtomicU16 = AtomicU16::new(0);

/// The choice, made once per process (other threads asking meanwhile wait for it).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
static CHOICE: std::sync::OnceLock<KernelChoice> = std::sync::OnceLock::new();

/// The choice the first time: the CPU's best path capped by `RNN_SIMD`, and the cells' widths
/// measured; stored for the next calls. Returns the state.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[cold]
#[inline(never)]
fn detect() -> u16 {
    let choice = CHOICE.get_or_init(|| {
        let (best, path) = cpu_path();
        let measure = path == SimdPath::Avx512
            && std::env::var("RNN_CALIBRATE").ok().as_deref() != Some("off");
        let mut state = path as u16 + 1;
        let (mut timings_ns, mut block_timings_ns, mut cost_us) = (None, None, 0.0);
        if measure {
            let start = std::time::Instant::now();
            let t = calibrate::timings();
            let blocks = calibrate::block_timings();
            cost_us = start.elapsed().as_secs_f32() * 1e6;
            timings_ns = Some(t);
            block_timings_ns = Some(blocks);
            for (k, cell) in FusedCell::ALL.into_iter().enumerate() {
                for batched in [false, true] {
                    if prefer_wide(t[2 * k + usize::from(batched)]) {
                        state |= cell.wide_bit(batched);
                    }
                }
            }
            for (block, t) in FusedBlock::ALL.into_iter().zip(blocks) {
                if prefer_wide(t) {
                    state |= block.wide_bit();
                }
            }
        } else if path == SimdPath::Avx512 {
            for cell in FusedCell::ALL {
                state |= cell.wide_bit(false) | cell.wide_bit(true);
            }
            for block in FusedBlock::ALL {
                state |= block.wide_bit();
            }
        }
        KernelChoice {
            state,
            best,
            timings_ns,
            block_timings_ns,
            cost_us,
        }
    });
    STATE.store(choice.state, Ordering::Relaxed);
    choice.state
}

/// The CPU's best path, and that capped by `RNN_SIMD`.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
fn cpu_path() -> (SimdPath, SimdPath) {
    let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
    let avx512 =
        std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vl");
    let best = if avx2 && avx512 {
        SimdPath::Avx512
    } else if avx2 {
        SimdPath::Avx2
    } else {
        SimdPath::Baseline
    };
    let cap = std::env::var("RNN_SIMD").ok();
    let cap = SimdPath::ALL
        .into_iter()
        .find(|p| cap.as_deref() == Some(p.name()));
    (best, cap.map_or(best, |cap| best.min(cap)))
}

/// The measurement behind the cells' widths (see the module docs).
#[cfg(all(feature = "std", target_arch = "x86_64"))]
mod calibrate {
    use super::super::{gemv, gru_cell, lstm_block, lstm_cell};
    use core::hint::black_box;
    use std::time::Instant;
    use std::{vec, vec::Vec};

    /// Timed rounds per pair, after one untimed round (the first 512-bit instructions of a
    /// process run slowly while the core powers the wide units up).
    const ROUNDS: usize = 7;

    /// `[AVX2, AVX-512]` nanoseconds per call of each cell, in the order of
    /// `KernelChoice::timings_ns`.
    ///
    /// Must run only on a CPU with AVX-512F, AVX-512VL, AVX2 and FMA.
    pub(super) fn timings() -> [[f32; 2]; 4] {
        // The batch-1 pairs first: after heavy 512-bit work a core can stay in a lower power
        // state for a while, which a batch-1 step that runs no such code never sees.
        let [lstm1, gru1] = [lstm_step(), gru_step()];
        [lstm1, lstm_batched(), gru1, gru_batched()]
    }

    /// Small weights and inputs in the range a trained network's are: `n` values.
    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| 0.3 * (((i * 7 + seed * 13) % 23) as f32 / 11.0 - 1.0))
            .collect()
    }

    /// The fastest time per call of `run(wide)` (`iters` calls) over the rounds, each round
    /// timing both widths, in alternating order.
    fn pair(iters: usize, mut run: impl FnMut(bool)) -> [f32; 2] {
        let mut best = [f32::INFINITY; 2];
        for round in 0..=ROUNDS {
            for k in [round % 2, 1 - round % 2] {
                let start = Instant::now();
                for _ in 0..iters {
                    run(k == 1);
                }
                let ns = start.elapsed().as_secs_f32() * 1e9 / iters as f32;
                if round > 0 {
                    best[k] = best[k].min(ns);
                }
            }
        }
        best
    }

    /// The seed network's LSTM(10, 20) step: `W_ih x + W_hh h + b` (AVX2), then the cell,
    /// whose `h` feeds the next step.
    fn lstm_step() -> [f32; 2] {
        const H: usize = 20;
        const I: usize = 10;
        let (w_ih, w_hh, b) = (values(4 * H * I, 1), values(4 * H * H, 2), values(4 * H, 3));
        let (x, c_prev) = (values(I, 4), values(H, 5));
        let (mut gates, mut h) = (vec![0.0; 4 * H], values(H, 6));
        let (mut c, mut tanh_c) = (vec![0.0; H], vec![0.0; H]);
        pair(64, |wide| {
            // SAFETY: `timings`' contract: the CPU has AVX-512F, AVX2 and FMA; the slices
            // have the kernels' shapes.
            unsafe {
                gemv::nn::<{ 4 * H }, I, H>(
                    [&w_ih, &x],
                    [&w_hh, &h],
                    [Some(&b), None],
                    &mut gates,
                    false,
                );
                lstm_cell::cell_of_width::<H, 1, false>(
                    wide,
                    &mut gates,
                    &c_prev,
                    &mut c,
                    &mut tanh_c,
                    &mut h,
                );
            }
            black_box(&mut h);
        })
    }

    /// Nanoseconds per sample `[narrow, wide]` of each [`super::FusedBlock`]: `LSTM(1, 8)`;
    /// `LSTM(1, 12)` and `LSTM(1, 16)` summed (NAM's nano and feather: the register block's
    /// lead over the step's kernels is larger at 12 units, where `gemv` splits each row's
    /// sum in two, than at 16); `LSTM(1, 32)`; each with a `Linear(H, 1)` head, two calls of
    /// 32 samples per timing, with the activations a network has by default.
    pub(super) fn block_timings() -> [[f32; 2]; 3] {
        let ([a, b], [c, d]) = (block::<12, 48>(), block::<16, 64>());
        [block::<8, 32>(), [a + c, b + d], block::<32, 128>()]
    }

    /// [`block_timings`] for `H` units (`G = 4H`).
    fn block<const H: usize, const G: usize>() -> [f32; 2] {
        const N: usize = 32;
        let (w_ih, w_hh, b) = (values(G, 1), values(G * H, 2), values(G, 3));
        let (zero, head) = (vec![0.0; G], values(H, 4));
        let (mut h, mut c) = (values(H, 5), values(H, 6));
        let (mut h_next, mut c_next) = (vec![0.0; H], vec![0.0; H]);
        let signal = values(N, 7);
        let mut samples = signal.clone();
        let [narrow, wide] = pair(2, |wide| {
            samples.copy_from_slice(&signal);
            let mut a = lstm_block::CellArgs {
                w_ih: &w_ih,
                w_hh: &w_hh,
                b_ih: &b,
                b_hh: &zero,
                h_prev: &h,
                c_prev: &c,
                h: &mut h_next,
                c: &mut c_next,
            };
            let head = lstm_block::HeadArgs { w: &head, b: 0.1 };
            // SAFETY: `timings`' contract (the CPU has AVX-512F, AVX-512VL, AVX2 and FMA); the
            // slices have the kernels' shapes.
            unsafe {
                match (H <= lstm_block::MAX_REGISTER_H, wide) {
                    (_, true) if H > lstm_block::MAX_WIDE_REGISTER_H => {
                        lstm_block::two_part_avx512::<H, false>(&mut a, &head, &mut samples);
                    }
                    (_, true) => lstm_block::one_avx512::<H, false>(&mut a, &head, &mut samples),
                    (true, false) => lstm_block::one_vl::<H, false>(&mut a, &head, &mut samples),
                    (false, false) => {
                        lstm_block::steps::<H, G, false>(false, &mut a, &head, &mut samples);
                    }
                }
            }
            black_box(&mut samples);
            h.copy_from_slice(&h_next);
            c.copy_from_slice(&c_next);
        });
        [narrow / N as f32, wide / N as f32]
    }

    /// The LSTM cell alone on 64 units by a batch of 16.
    fn lstm_batched() -> [f32; 2] {
        const H: usize = 64;
        const B: usize = 16;
        let (mut gates, c_prev) = (values(4 * H * B, 1), values(H * B, 2));
        let (mut c, mut tanh_c, mut h) = (vec![0.0; H * B], vec![0.0; H * B], vec![0.0; H * B]);
        pair(4, |wide| {
            // SAFETY: as in `lstm_step`.
            unsafe {
                lstm_cell::cell_of_width::<H, B, false>(
                    wide,
                    &mut gates,
                    &c_prev,
                    &mut c,
                    &mut tanh_c,
                    &mut h,
                );
            }
            black_box(&mut gates);
        })
    }

    /// The GRU(10, 20) step: `W_ih x + b_ih` and `W_hh h + b_hh` (AVX2), then the cell, whose
    /// `h` feeds the next step.
    fn gru_step() -> [f32; 2] {
        const H: usize = 20;
        const I: usize = 10;
        let (w_ih, w_hh) = (values(3 * H * I, 1), values(3 * H * H, 2));
        let (b_ih, b_hh, x) = (values(3 * H, 3), values(3 * H, 4), values(I, 5));
        let (mut gates, mut ah) = (vec![0.0; 3 * H], vec![0.0; 3 * H]);
        let (mut h, mut h_prev, mut hn) = (values(H, 6), values(H, 7), vec![0.0; H]);
        pair(64, |wide| {
            h_prev.copy_from_slice(&h);
            // SAFETY: as in `lstm_step`.
            unsafe {
                gemv::nn::<{ 3 * H }, I, 0>(
                    [&w_ih, &x],
                    [&[], &[]],
                    [Some(&b_ih), None],
                    &mut gates,
                    false,
                );
                gemv::nn::<{ 3 * H }, H, 0>(
                    [&w_hh, &h_prev],
                    [&[], &[]],
                    [Some(&b_hh), None],
                    &mut ah,
                    false,
                );
                gru_cell::cell_of_width::<H, 1>(wide, &mut gates, &ah, &h_prev, &mut hn, &mut h);
            }
            black_box(&mut h);
        })
    }

    /// The GRU cell alone on 64 units by a batch of 16.
    fn gru_batched() -> [f32; 2] {
        const H: usize = 64;
        const B: usize = 16;
        let (mut gates, ah) = (values(3 * H * B, 1), values(3 * H * B, 2));
        let (h_prev, mut hn, mut h) = (values(H * B, 3), vec![0.0; H * B], vec![0.0; H * B]);
        pair(4, |wide| {
            // SAFETY: as in `lstm_step`.
            unsafe {
                gru_cell::cell_of_width::<H, B>(wide, &mut gates, &ah, &h_prev, &mut hn, &mut h);
            }
            black_box(&mut gates);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::string::ToString;

    /// A width made slower than the other is not chosen, either way round; within 2 % the
    /// narrow one is kept.
    #[test]
    fn the_faster_width_is_chosen() {
        assert!(!prefer_wide([100.0, 133.0]), "a slower wide cell");
        assert!(prefer_wide([100.0, 90.0]), "a faster wide cell");
        assert!(!prefer_wide([100.0, 99.0]), "within noise");
        assert!(!prefer_wide([100.0, f32::INFINITY]));
    }

    /// Each cell's width is one bit; the path is read back from the low bits.
    #[test]
    fn the_state_encodes_every_choice_apart() {
        let mut bits = std::vec::Vec::new();
        for cell in FusedCell::ALL {
            for batched in [false, true] {
                let bit = cell.wide_bit(batched);
                assert_eq!(bit & PATH_BITS, 0);
                assert!(!bits.contains(&bit));
                bits.push(bit);
            }
        }
        for block in FusedBlock::ALL {
            let bit = block.wide_bit();
            assert_eq!(bit & PATH_BITS, 0);
            assert!(bit != 0 && !bits.contains(&bit));
            bits.push(bit);
        }
        let choice = KernelChoice {
            state: (SimdPath::Avx512 as u16 + 1) | FusedCell::Gru.wide_bit(true),
            best: SimdPath::Avx512,
            timings_ns: None,
            block_timings_ns: None,
            cost_us: 0.0,
        };
        assert_eq!(choice.why(), "RNN_CALIBRATE=off");
        assert_eq!(choice.products(1), SimdPath::Avx2);
        assert_eq!(choice.products(32), SimdPath::Avx512);
        let capped = KernelChoice {
            state: SimdPath::Avx2 as u16 + 1,
            ..choice
        };
        assert_eq!(capped.why(), "capped by RNN_SIMD");
        assert_eq!(capped.cell(FusedCell::Gru, 32), SimdPath::Avx2);
        assert_eq!(choice.path(), SimdPath::Avx512);
        assert_eq!(choice.cell(FusedCell::Gru, 32), SimdPath::Avx512);
        assert_eq!(choice.cell(FusedCell::Gru, 1), SimdPath::Avx2);
        assert_eq!(choice.cell(FusedCell::Lstm, 32), SimdPath::Avx2);
        let block = KernelChoice {
            state: choice.state | FusedBlock::Medium.wide_bit(),
            ..choice
        };
        assert_eq!(block.block(FusedBlock::Medium), SimdPath::Avx512);
        assert_eq!(block.block(FusedBlock::Small), SimdPath::Avx2);
        assert_eq!(block.cell(FusedCell::Lstm, 1), SimdPath::Avx2);
        assert_eq!(capped.block(FusedBlock::Small), SimdPath::Avx2);
    }

    /// The choice is the path's, cells wide only on the AVX-512 path, wide everywhere there
    /// when `RNN_CALIBRATE=off`, and measured otherwise.
    #[test]
    fn the_choice_follows_the_path_and_the_measurement() {
        let choice = kernel_choice();
        assert_eq!(choice.path(), simd_path());
        assert_eq!(kernel_choice(), choice, "chosen once");
        let off = std::env::var("RNN_CALIBRATE").ok().as_deref() == Some("off");
        for cell in FusedCell::ALL {
            for batch in [1, 16] {
                let ran = choice.cell(cell, batch);
                match choice.path() {
                    SimdPath::Avx512 if off => assert_eq!(ran, SimdPath::Avx512),
                    SimdPath::Avx512 => {
                        let t = choice.timings_ns.expect("measured")
                            [2 * cell as usize + usize::from(batch > 1)];
                        assert_eq!(ran == SimdPath::Avx512, prefer_wide(t), "{t:?}");
                    }
                    path => assert_eq!(ran, path),
                }
            }
        }
        for block in FusedBlock::ALL {
            let ran = choice.block(block);
            match choice.path() {
                SimdPath::Avx512 if off => assert_eq!(ran, SimdPath::Avx512),
                SimdPath::Avx512 => {
                    let t = choice.block_timings_ns.expect("measured")[block as usize];
                    assert_eq!(ran == SimdPath::Avx512, prefer_wide(t), "{t:?}");
                }
                path => assert_eq!(ran, path),
            }
        }
        assert_eq!(
            choice.timings_ns.is_some(),
            choice.path() == SimdPath::Avx512 && !off
        );
        assert_eq!(
            choice.block_timings_ns.is_some(),
            choice.timings_ns.is_some()
        );
        assert!(choice.path() <= choice.best());
        let capped = std::env::var("RNN_SIMD").is_ok_and(|v| v == "avx2" || v == "baseline");
        if choice.path() < choice.best() {
            assert!(capped, "below the CPU's best only when RNN_SIMD asks");
            assert_eq!(choice.why(), "capped by RNN_SIMD");
        }
        assert!(choice.to_string().contains(choice.why()), "{choice}");
    }
}
