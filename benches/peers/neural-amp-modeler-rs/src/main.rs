//! Ours against NeuralAmpModeler-rs, by hand (see `../README.md`): each NAM LSTM preset's
//! Torch-initialised network (seed 1) written as a `.nam` by `to_nam`, read by both engines,
//! 4800 samples of a plucked string in 64-sample blocks (ours `Online::process_block`, theirs
//! `NamModel::process`), 41 alternated passes, medians in ns per sample, and the largest
//! difference of the two outputs on the first pass; ours also with `set_fast_activations`.
//!
//! ```sh
//! cd benches/peers/neural-amp-modeler-rs
//! RUSTFLAGS=-Ctarget-cpu=x86-64-v3 cargo run --release
//! ```
//!
//! (NeuralAmpModeler-rs requires x86-64-v3 at build time; the flag then applies to ours too,
//! whose kernels choose their instructions at run time anyway.)
use neural_amp_modeler_rs::loader::dispatcher::build_model;
use neural_amp_modeler_rs::loader::nam_json::parse::parse_nam_json;
use neural_amp_modeler_rs::models::NamModel;
use rnn_core::io::{NamMetadata, load_nam, to_nam};
use rnn_core::prelude::*;
use std::hint::black_box;
use std::time::Instant;

/// The signal of `benches/nam.rs`, the same file.
#[path = "../../../src/signals.rs"]
mod signals;
use signals::guitar;

const SAMPLES: usize = 4_800;
const BLOCK: usize = 64;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

macro_rules! preset {
    ($name:literal, $module:ident, [$($layers:tt)*]) => {{
        mod $module {
            use super::*;
            network! { pub Net<seq_len = 1> = Sequential[ $($layers)* ]; }
        }
        let text = to_nam(&$module::Net::new(1), &NamMetadata::default()).unwrap();
        let mut net = $module::Net::new(0);
        load_nam(&mut net, text.as_bytes()).unwrap();
        net.evaluate();
        let mut fast = net.clone();
        fast.set_fast_activations(true);
        let data = parse_nam_json(&text).unwrap();
        let mut model = build_model(&data).unwrap();
        let x = guitar(SAMPLES);
        let (mut ours, mut ours_fast, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
        let mut buf = x.clone();
        let mut buf_fast = x.clone();
        let mut out = vec![0.0f32; SAMPLES];
        let (mut diff, mut diff_fast) = (0.0f32, 0.0f32);
        for pass in 0..41 {
            buf.copy_from_slice(&x);
            let t = Instant::now();
            for block in buf.chunks_mut(BLOCK) {
                net.process_block(black_box(block));
            }
            ours.push(t.elapsed().as_secs_f64() * 1e9 / SAMPLES as f64);
            buf_fast.copy_from_slice(&x);
            let t = Instant::now();
            for block in buf_fast.chunks_mut(BLOCK) {
                fast.process_block(black_box(block));
            }
            ours_fast.push(t.elapsed().as_secs_f64() * 1e9 / SAMPLES as f64);
            let t = Instant::now();
            for (i, o) in x.chunks(BLOCK).zip(out.chunks_mut(BLOCK)) {
                model.process(black_box(i), o);
            }
            theirs.push(t.elapsed().as_secs_f64() * 1e9 / SAMPLES as f64);
            if pass == 0 {
                let largest = |ys: &[f32]| {
                    ys.iter().zip(&out).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max)
                };
                (diff, diff_fast) = (largest(&buf), largest(&buf_fast));
            }
        }
        let (o, f, t) = (median(ours), median(ours_fast), median(theirs));
        println!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.2}x | {:.2}x | {:.1e} | {:.1e} |",
            $name, o, f, t, t / o, t / f, diff, diff_fast
        );
    }};
}

fn main() {
    println!(
        "| NAM LSTM | ours ns/sample | ours fast | NeuralAmpModeler-rs | theirs / ours | theirs / ours fast | max |diff| first pass | fast |"
    );
    preset!("nano 1x12", nano, [LSTM(1, 12), Linear(12, 1)]);
    preset!("feather 1x16", feather, [LSTM(1, 16), Linear(16, 1)]);
    preset!("standard 1x24", standard, [LSTM(1, 24), Linear(24, 1)]);
    preset!("lite 2x8", lite, [LSTM(1, 8), LSTM(8, 8), Linear(8, 1)]);
    preset!("1x32", l32, [LSTM(1, 32), Linear(32, 1)]);
    preset!("1x2", tiny, [LSTM(1, 2), Linear(2, 1)]);
    preset!("1x8", one8, [LSTM(1, 8), Linear(8, 1)]);
}
