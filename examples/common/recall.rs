//! The delayed-recall task of `tagger` and `quickstart`: tag each of 8 steps with the symbol
//! seen two steps earlier. Each step's input has 10 features: a one-hot symbol (5 classes) and
//! 5 features of noise; steps 0 and 1 have no target.

use rnn_core::prelude::*;

/// Steps per sequence.
pub const T: usize = 8;
/// How many steps back the target symbol was seen.
pub const DELAY: usize = 2;

/// One sequence's inputs.
pub type Inputs = [SMatrix<f32, 10, 1>; T];
/// One sequence's targets (none at the first `DELAY` steps).
pub type Targets = [Option<[Class<5>; 1]>; T];

/// A random sequence and its targets.
pub fn sequence(rng: &mut Rng) -> (Inputs, Targets) {
    let symbols: [usize; T] = std::array::from_fn(|_| (rng.next_u64() % 5) as usize);
    let inputs = std::array::from_fn(|t| {
        SMatrix::from_fn(|i, _| {
            if i < 5 {
                f32::from(u8::from(i == symbols[t]))
            } else {
                rng.uniform(-0.5, 0.5) as f32
            }
        })
    });
    let targets = std::array::from_fn(|t| {
        (t >= DELAY).then(|| [Class::new(symbols[t - DELAY]).expect("symbols are below 5")])
    });
    (inputs, targets)
}
