//! The signal the Neural Amp Modeler benchmarks run: `benches/nam.rs` and, included by path,
//! the by-hand peer in `peers/neural-amp-modeler-rs` (so both time the same samples).

use rnn_core::Rng;

/// `n` samples of a plucked string (Karplus-Strong, seed 3), as a guitar signal.
#[must_use]
pub fn guitar(n: usize) -> Vec<f32> {
    let mut rng = Rng::new(3);
    let mut line: Vec<f64> = (0..109).map(|_| rng.uniform(-0.8, 0.8)).collect();
    (0..n)
        .map(|k| {
            let i = k % 109;
            let y = line[i];
            line[i] = 0.996 * 0.5 * (line[i] + line[(i + 1) % 109]);
            y as f32
        })
        .collect()
}
