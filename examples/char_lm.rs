//! A character-level language model: an LSTM reads a text one character at a time and learns
//! to predict the next one, then writes new text in the same style.
//!
//! Training is truncated BPTT over 16 parallel streams of the text: each stream is a
//! contiguous part of the training text, read in chunks of 32 characters, and the network
//! remembers its state from one chunk to the next (`remember(Both)`); gradients stop at chunk
//! boundaries. The 16 streams are two shards of 8 trained on both cores by
//! `rnn_core::parallel::DataParallel` (the result does not depend on the number of threads). Adam, gradient clipping, and the
//! held-out loss in bits per character on the last tenth of the text after every epoch,
//! with a sample (temperature 0.8) drawn by a batch-1 copy of the network
//! (`copy_parameters_from`). Characters are tokens over printable ASCII and newline (96 of
//! them; anything else reads as `?`), looked up in a learned table of 32-wide vectors
//! (`LookupTable(96, 32)`, PyTorch's `nn.Embedding`): the network reads `[Class<96>; 8]` per
//! step, not 96-wide one-hot columns through a full matrix product.
//!
//! The default text is the Book of Genesis, King James Version (public domain,
//! `data/genesis_kjv.txt`); any file works: `-- --text path.txt`.
//!
//! Run: `cargo run --release --example char_lm` (`-- --help` for the flags). Checkpoints:
//! `-- --save lm.safetensors` (after every epoch), `-- --resume lm.safetensors` (continue
//! training from weights and Adam state), `-- --generate lm.safetensors` (sample only).

mod common;

use clap::Parser;
use rnn_core::parallel::{DataParallel, Threads};
use rnn_core::prelude::*;

/// One shard's chunk: input tokens (one per stream) and target tokens, per step.
type Chunk = ([[Class<V>; SHARD]; T], [[Class<V>; SHARD]; T]);

/// Forward, loss and backward of one shard's chunk; returns its loss (mean nats per stream,
/// summed over the 32 steps).
fn train_shard(net: &mut CharLm, (xs, ys): &mut Chunk) -> f64 {
    let crit = SequencerCriterion::new(ClassNll::default());
    let out = net.forward(xs);
    let loss = crit.forward(out, ys);
    let mut g = [SMatrix::zeros(); T];
    crit.backward_into(out, ys, &mut g);
    net.backward_parameters(xs, &g);
    f64::from(loss)
}

const V: usize = 96;
const T: usize = 32;
/// Streams per shard, and shards: 16 streams in all, one shard per core.
const SHARD: usize = 8;
const SHARDS: usize = 2;
const B: usize = SHARD * SHARDS;

network! {
    /// Reads 8 streams of 32 characters at a time (one shard of the 16).
    pub CharLm<seq_len = 32, batch = 8> =
        Sequential[ LookupTable(96, 32), LSTM(32, 128), Linear(128, 96), LogSoftMax ];
    /// The same layers, one character at a time, for sampling and for the held-out loss.
    pub Sampler<seq_len = 1> =
        Sequential[ LookupTable(96, 32), LSTM(32, 128), Linear(128, 96), LogSoftMax ];
}

/// A character-level LSTM language model over a text file.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// The text to learn (default: the Book of Genesis, KJV, shipped in data/).
    #[arg(long)]
    text: Option<std::path::PathBuf>,
    /// Passes over the training text (default 20; with --quick, 4 passes over a part of it).
    #[arg(long)]
    epochs: Option<usize>,
    /// Write a checkpoint (weights and Adam state) here after every epoch.
    #[arg(long)]
    save: Option<std::path::PathBuf>,
    /// Start from this checkpoint instead of a fresh network.
    #[arg(long)]
    resume: Option<std::path::PathBuf>,
    /// Only sample from this checkpoint, then exit.
    #[arg(long)]
    generate: Option<std::path::PathBuf>,
    /// Characters per sample.
    #[arg(long, default_value_t = 300)]
    length: usize,
    /// Threads for the two shards (default: as many as pay, see `Threads::Auto`); the result
    /// is the same whatever the number.
    #[arg(long)]
    threads: Option<usize>,
    /// Sampling temperature (lower is more conservative).
    #[arg(long, default_value_t = 0.8)]
    temperature: f64,
}

/// Class of a character: newline 0, printable ASCII 1..=95, anything else `?`.
fn class_of(c: char) -> usize {
    match c {
        '\n' => 0,
        ' '..='~' => c as usize - ' ' as usize + 1,
        _ => '?' as usize - ' ' as usize + 1,
    }
}

fn char_of(k: usize) -> char {
    if k == 0 {
        '\n'
    } else {
        char::from(b' ' + (k - 1) as u8)
    }
}

fn token(k: usize) -> [Class<V>; 1] {
    [Class::new(k).expect("classes are below 96")]
}

/// Draws text from `net` starting after `prime`, at `temperature`.
fn sample(
    net: &mut Sampler,
    prime: &[usize],
    length: usize,
    temperature: f64,
    rng: &mut Rng,
) -> String {
    net.evaluate();
    net.remember(Remember::Both);
    net.forget();
    let mut out = String::new();
    let mut logp = SMatrix::<f32, V, 1>::zeros();
    for &k in prime {
        logp = net.forward(&[token(k)])[0];
    }
    for _ in 0..length {
        // p_k ∝ exp(log p_k / temperature), drawn by inversion.
        let max = logp.max();
        let weights: Vec<f64> = logp
            .iter()
            .map(|&l| (f64::from(l - max) / temperature).exp())
            .collect();
        let mut u = rng.uniform01() * weights.iter().sum::<f64>();
        let mut k = V - 1;
        for (j, w) in weights.iter().enumerate() {
            if u < *w {
                k = j;
                break;
            }
            u -= w;
        }
        out.push(char_of(k));
        logp = net.forward(&[token(k)])[0];
    }
    out
}

/// Mean bits per character of `net` predicting `text` (one stream, state carried through).
fn bits_per_char(net: &mut Sampler, text: &[usize]) -> f64 {
    net.evaluate();
    net.remember(Remember::Both);
    net.forget();
    let mut nats = 0.0f64;
    for pair in text.windows(2) {
        let logp = net.forward(&[token(pair[0])])[0];
        nats -= f64::from(logp[pair[1]]);
    }
    nats / (text.len() - 1) as f64 / std::f64::consts::LN_2
}

/// The entropy in bits of the characters' frequencies in `text`: what a model that knows
/// only how common each character is would score.
fn unigram_bits(text: &[usize]) -> f64 {
    let mut counts = [0usize; V];
    for &k in text {
        counts[k] += 1;
    }
    let n = text.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let quick = args.common.quick;
    let mut rng = Rng::new(args.common.seed.wrapping_add(1));
    let mut sampler = Sampler::new(args.common.seed);
    let prime: Vec<usize> = "And ".chars().map(class_of).collect();
    if let Some(path) = &args.generate {
        sampler.load_checkpoint(path)?;
        println!(
            "And {}",
            sample(
                &mut sampler,
                &prime,
                args.length,
                args.temperature,
                &mut rng
            )
        );
        return Ok(());
    }

    let raw = match &args.text {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("reading the text {}: {e}", path.display()))?,
        None => include_str!("../data/genesis_kjv.txt").to_string(),
    };
    let text: Vec<usize> = raw.chars().map(class_of).collect();
    let split = text.len() * 9 / 10;
    let (train, held_out) = (&text[..split], &text[split..]);
    // With --quick the held-out loss is measured on a part of it, to stay quick.
    let held_out = if quick {
        &held_out[..held_out.len().min(4000)]
    } else {
        held_out
    };
    let stream_len = train.len() / B;
    // Each of the B streams needs a chunk of T characters and the one after it to predict,
    // and the held-out part two characters at least.
    let chunks = stream_len.saturating_sub(1) / T;
    if chunks == 0 || held_out.len() < 2 {
        let need = (B * (T + 1)).div_ceil(9) * 10;
        return Err(format!(
            "the text is too short: {} characters, {need} at least ({B} streams of {} \
             characters in the first nine tenths)",
            text.len(),
            T + 1
        )
        .into());
    }
    let epochs = args.epochs.unwrap_or(if quick { 4 } else { 20 });
    let chunks_per_epoch = if quick { chunks.min(150) } else { chunks };

    let mut net = CharLm::new(args.common.seed);
    if let Some(path) = &args.resume {
        net.load_checkpoint(path)?;
        println!("resumed from {}", path.display());
    }
    let opt = Adam::new(2e-3)?;
    let unigram = unigram_bits(held_out);
    println!(
        "{} characters ({} training, {} held out), {} parameters; a model of character \
         frequencies alone scores {unigram:.2} bits/char on the held-out text",
        text.len(),
        train.len(),
        held_out.len(),
        net.num_parameters()
    );

    // One replica per shard, each with its chunk buffers (reused: no allocation per chunk).
    net.remember(Remember::Both);
    let shards = (0..SHARDS)
        .map(|_| {
            let zero = [[Class::<V>::new(0).expect("0 < 96"); SHARD]; T];
            (zero, zero)
        })
        .collect();
    let threads = args.threads.map_or(Threads::Auto, Threads::Fixed);
    let mut par = DataParallel::new(&net, shards, threads, train_shard)?;
    println!(
        "{} shards of {SHARD} streams on {} threads",
        SHARDS,
        par.threads()
    );
    let bar = common::progress((epochs * chunks_per_epoch * T * B) as u64, "chars");
    let start = std::time::Instant::now();
    let mut held_out_bits = f64::NAN;
    for epoch in 1..=epochs {
        for k in 0..SHARDS {
            par.shard(k).net().forget();
        }
        let mut nats = 0.0f64;
        for chunk in 0..chunks_per_epoch {
            for k in 0..SHARDS {
                let mut shard = par.shard(k);
                let (xs, ys) = shard.data();
                for j in 0..SHARD {
                    let s = k * SHARD + j;
                    for t in 0..T {
                        let at = s * stream_len + chunk * T + t;
                        xs[t][j] = Class::new(train[at]).expect("classes are below 96");
                        ys[t][j] = Class::new(train[at + 1]).expect("classes are below 96");
                    }
                }
            }
            net.zero_grad_parameters();
            // The sum of the shards' mean losses and gradients: divided by the shards, the
            // mean over all 16 streams.
            nats += par.accumulate_gradients(&mut net)? / SHARDS as f64;
            net.visit_parameters_mut(&mut |mut p| p.grad /= SHARDS as f32);
            clip_grad_norm(&mut net, 5.0)?;
            opt.step(&mut net)?;
            bar.inc((T * B) as u64);
            if chunk % 50 == 49 {
                bar.set_message(format!(
                    "{:.2} bits/char",
                    nats / ((chunk + 1) * T) as f64 / std::f64::consts::LN_2
                ));
            }
        }
        let train_bits = nats / (chunks_per_epoch * T) as f64 / std::f64::consts::LN_2;
        sampler.copy_parameters_from(&net)?;
        held_out_bits = bits_per_char(&mut sampler, held_out);
        let secs = start.elapsed().as_secs_f64();
        common::say(
            &bar,
            format!(
                "epoch {epoch}: training {train_bits:.3} bits/char, held out {held_out_bits:.3} \
                 bits/char, {secs:.1} s, {:.0} chars/s",
                (epoch * chunks_per_epoch * T * B) as f64 / secs
            ),
        );
        common::say(
            &bar,
            format!(
                "sample: And {}\n",
                sample(
                    &mut sampler,
                    &prime,
                    args.length,
                    args.temperature,
                    &mut rng
                )
            ),
        );
        if let Some(path) = &args.save {
            net.save_checkpoint(path)?;
        }
    }
    bar.finish_and_clear();
    println!(
        "{epochs} epochs ({} chars) in {:.1} s: held-out {held_out_bits:.3} bits/char against \
         {unigram:.2} for character frequencies alone",
        epochs * chunks_per_epoch * T * B,
        start.elapsed().as_secs_f64()
    );
    let need = if quick { 0.8 } else { 0.6 };
    common::check(
        held_out_bits < need * unigram,
        format!(
            "the held-out loss is below {need} of the character-frequency entropy \
             ({held_out_bits:.3} vs {unigram:.2} bits/char)"
        ),
    )
}
