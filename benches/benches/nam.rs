//! Neural Amp Modeler LSTM presets one sample at a time, ours against nam-rs (the committed
//! peer: pure Rust, run-time sizes, exact maths), side by side in one run:
//!
//! ```sh
//! cd benches && cargo bench --bench nam
//! ```
//!
//! Each preset's Torch-initialised network (seed 1) is written as a `.nam` file by
//! `rnn_core::io::to_nam`; both engines read that file and process the same 4800 samples of a
//! plucked string in 64-sample blocks (an audio callback's size): ours with
//! `Online::process_block`, nam-rs with `Model::process_buffer`. Divide the time by 4800 for
//! the time per sample. `ours_fast` is ours with `set_fast_activations(true)` (rational
//! approximations of tanh and the sigmoid, within 4e-7 of them).

use divan::{Bencher, black_box};
use rnn_bench::signals::guitar;
use rnn_core::io::{NamMetadata, load_nam, to_nam};
use rnn_core::prelude::*;

fn main() {
    divan::main();
}

const SAMPLES: usize = 4_800;
const BLOCK: usize = 64;

macro_rules! preset {
    ($module:ident, [$($layers:tt)*]) => {
        mod $module {
            use super::*;

            network! {
                pub Net<seq_len = 1> = Sequential[ $($layers)* ];
            }

            fn file() -> String {
                to_nam(&Net::new(1), &NamMetadata::default()).expect("a NAM-shaped network")
            }

            #[divan::bench(sample_size = 10)]
            fn ours(bencher: Bencher) {
                run_ours(bencher, false);
            }

            /// With `set_fast_activations(true)`.
            #[divan::bench(sample_size = 10)]
            fn ours_fast(bencher: Bencher) {
                run_ours(bencher, true);
            }

            fn run_ours(bencher: Bencher, fast: bool) {
                let mut net = Net::new(0);
                load_nam(&mut net, file().as_bytes()).expect("loads");
                net.evaluate();
                net.set_fast_activations(fast);
                let x = guitar(SAMPLES);
                let mut buf = x.clone();
                bencher.bench_local(|| {
                    buf.copy_from_slice(&x);
                    for block in buf.chunks_mut(BLOCK) {
                        net.process_block(black_box(block));
                    }
                });
            }

            #[divan::bench(sample_size = 10)]
            fn nam_rs(bencher: Bencher) {
                let model = nam_rs::NamModel::from_json_str(&file()).expect("nam-rs reads it");
                let mut runtime = nam_rs::Model::from_nam(&model).expect("nam-rs builds it");
                let x = guitar(SAMPLES);
                let mut buf = x.clone();
                bencher.bench_local(|| {
                    buf.copy_from_slice(&x);
                    for block in buf.chunks_mut(BLOCK) {
                        runtime.process_buffer(black_box(block));
                    }
                });
            }
        }
    };
}

preset!(nano_1x12, [LSTM(1, 12), Linear(12, 1)]);
preset!(feather_1x16, [LSTM(1, 16), Linear(16, 1)]);
preset!(standard_1x24, [LSTM(1, 24), Linear(24, 1)]);
preset!(lite_2x8, [LSTM(1, 8), LSTM(8, 8), Linear(8, 1)]);
preset!(lstm_1x32, [LSTM(1, 32), Linear(32, 1)]);
preset!(tiny_1x2, [LSTM(1, 2), Linear(2, 1)]);
