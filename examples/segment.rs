//! Word boundaries in text with its spaces removed: where does a word end? A character's answer
//! depends on what follows it, so a network that reads both ways (`BiSequencer`) should beat one
//! that reads forwards only; this example trains both and checks that it does.
//!
//! Real data: the Book of Genesis, King James Version (public domain, `data/genesis_kjv.txt`),
//! lower-cased, spaces and line breaks removed; each remaining character is tagged 1 if a word
//! ended after it. Characters are tokens (`[Class<48>; 16]` per step) looked up in a learned
//! table (`LookupTable(48, 16)`). The models:
//!
//! - `Both`: `LookupTable(48, 16) -> BiSequencer[ LSTM(16, 32) ] -> Linear(64, 2) -> LogSoftMax`
//! - `Forward`: `LookupTable(48, 16) -> LSTM(16, 48) -> Linear(48, 2) -> LogSoftMax` (about as
//!   many parameters)
//!
//! Windows of 32 characters, batches of 16, Adam. Scored by F1 of the "a word ends here" tag on
//! the last tenth of the text.
//!
//! Run: `cargo run --release --example segment` (`-- --help` for the flags).

mod common;

use clap::Parser;
use rnn_core::prelude::*;

const V: usize = 48;
const T: usize = 32;
const B: usize = 16;

network! {
    /// Reads each window both ways.
    pub Both<seq_len = 32, batch = 16> = Sequential[
        LookupTable(48, 16),
        BiSequencer[ LSTM(16, 32) ],
        Linear(64, 2),
        LogSoftMax
    ];
    /// Reads each window forwards only.
    pub Forward<seq_len = 32, batch = 16> =
        Sequential[ LookupTable(48, 16), LSTM(16, 48), Linear(48, 2), LogSoftMax ];
}

/// Trains a forward-only and a bidirectional tagger to find word ends in unspaced text.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Passes over the training text (default 10, or 1 with --quick).
    #[arg(long)]
    epochs: Option<usize>,
}

/// The token of a lower-cased character: letters, digits, ten punctuation marks, `?` for the rest.
fn token(c: char) -> usize {
    const PUNCT: &str = ".,;:?!'()-";
    match c {
        'a'..='z' => c as usize - 'a' as usize,
        '0'..='9' => 26 + (c as usize - '0' as usize),
        _ => PUNCT.find(c).map_or(V - 1, |k| 36 + k),
    }
}

/// The text without spaces as tokens, and for each token whether a word ended after it.
fn unspaced(text: &str) -> Tagged {
    let (mut tokens, mut ends) = (Vec::new(), Vec::new());
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_whitespace() {
            if let Some(last) = ends.last_mut() {
                *last = Class::new(1).expect("1 < 2");
            }
        } else {
            tokens.push(Class::new(token(c)).expect("tokens are below 48"));
            ends.push(Class::new(0).expect("0 < 2"));
        }
    }
    (tokens, ends)
}

/// Batch `k` of `xs`: window `k * B + b` in column `b`, step by step.
fn windows<const N: usize>(xs: &[Class<N>], k: usize) -> Vec<[Class<N>; B]> {
    (0..T)
        .map(|t| std::array::from_fn(|b| xs[(k * B + b) * T + t]))
        .collect()
}

type Step = [Class<V>; B];
type Tags = [Class<2>; B];
/// Tokens and their word-end tags.
type Tagged = (Vec<Class<V>>, Vec<Class<2>>);

/// Trains `net` for `epochs` over `train`, then returns the F1 (in %) of its word ends on
/// `test` and the last epoch's mean loss per character.
fn train_and_score<N>(
    name: &str,
    net: &mut N,
    (train, test): (&Tagged, &Tagged),
    epochs: usize,
) -> Result<(f64, f64), Box<dyn std::error::Error>>
where
    N: Network<Scalar = f32, Inputs = [Step], Outputs = [SMatrix<f32, 2, B>]>,
{
    let crit = SequencerCriterion::new(ClassNll::default());
    let adam = Adam::new(0.01)?;
    let mut grads = vec![SMatrix::<f32, 2, B>::zeros(); T];
    let batches = train.0.len() / (T * B);
    let bar = common::progress((epochs * batches * T * B) as u64, "chars");
    let start = std::time::Instant::now();
    let mut loss = f64::NAN;
    for epoch in 1..=epochs {
        net.training();
        let mut sum = 0.0f64;
        for k in 0..batches {
            let (xs, ys): (Vec<Step>, Vec<Tags>) =
                (windows::<V>(&train.0, k), windows::<2>(&train.1, k));
            net.zero_grad_parameters();
            let out = net.forward(&xs);
            sum += f64::from(crit.forward(out, &ys));
            crit.backward_into(out, &ys, &mut grads);
            net.backward_parameters(&xs, &grads);
            clip_grad_norm(net, 5.0)?;
            adam.step(net)?;
            bar.inc((T * B) as u64);
        }
        loss = sum / (batches * T) as f64;
        let secs = start.elapsed().as_secs_f64();
        common::say(
            &bar,
            format!(
                "{name} epoch {epoch}: loss {loss:.4} per character, {secs:.1} s, {:.0} chars/s",
                (epoch * batches * T * B) as f64 / secs
            ),
        );
    }
    bar.finish_and_clear();
    net.evaluate();
    let (mut tp, mut fp, mut fnn) = (0usize, 0usize, 0usize);
    for k in 0..test.0.len() / (T * B) {
        let xs = windows::<V>(&test.0, k);
        let ys = windows::<2>(&test.1, k);
        for (y, want) in net.forward(&xs).iter().zip(&ys) {
            for b in 0..B {
                let said = y[(1, b)] > y[(0, b)];
                match (said, want[b].index() == 1) {
                    (true, true) => tp += 1,
                    (true, false) => fp += 1,
                    (false, true) => fnn += 1,
                    (false, false) => {}
                }
            }
        }
    }
    let f1 = 200.0 * tp as f64 / (2 * tp + fp + fnn).max(1) as f64;
    Ok((f1, loss))
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let quick = args.common.quick;
    let epochs = args.epochs.unwrap_or(if quick { 1 } else { 10 });
    let (tokens, ends) = unspaced(include_str!("../data/genesis_kjv.txt"));
    let cut = tokens.len() * 9 / 10;
    let train = (tokens[..cut].to_vec(), ends[..cut].to_vec());
    let test = (tokens[cut..].to_vec(), ends[cut..].to_vec());
    let words = ends.iter().filter(|e| e.index() == 1).count();
    let mut both = Both::new(args.common.seed);
    let mut forward = Forward::new(args.common.seed);
    println!(
        "{} characters without spaces ({} training, {} held out), {words} word ends; parameters: \
         both ways {}, forwards {}",
        tokens.len(),
        train.0.len(),
        test.0.len(),
        both.num_parameters(),
        forward.num_parameters()
    );
    let (f1_fwd, _) = train_and_score("forwards", &mut forward, (&train, &test), epochs)?;
    let (f1_both, _) = train_and_score("both ways", &mut both, (&train, &test), epochs)?;
    println!(
        "held-out F1 of word ends: forwards {f1_fwd:.1} %, both ways {f1_both:.1} % \
         ({epochs} epoch(s) each)"
    );
    let sample = both.forward(&windows::<V>(&test.0, 0)).to_vec();
    let text: String = (0..T)
        .map(|t| {
            let c = CHARS.chars().nth(test.0[t].index()).unwrap_or('?');
            let end = sample[t][(1, 0)] > sample[t][(0, 0)];
            if end { format!("{c} ") } else { c.to_string() }
        })
        .collect();
    println!(
        "both ways, the first held-out window respaced: {}",
        text.trim_end()
    );
    common::check(
        f1_both > f1_fwd + 10.0,
        format!(
            "reading both ways finds word ends better than reading forwards (F1 {f1_both:.1} % \
             against {f1_fwd:.1} %, needs a 10-point lead)"
        ),
    )
}

/// The characters of the tokens, in token order (for printing; the last token prints as `?`).
const CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789.,;:?!'()-";
