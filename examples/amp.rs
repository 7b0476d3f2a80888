//! A guitar amp as a network, the Neural Amp Modeler way: train an `LSTM(1, 16)` to model a
//! circuit, write it as a `.nam` file that NAM's players read, and run `.nam` models over WAV
//! files one sample at a time.
//!
//! By default the example makes its own data: plucked strings (Karplus-Strong, random notes
//! from E2 to E5, random loudness and pauses) at 48 kHz, played through a simulated circuit,
//! a drive stage into a diode clipper (the RC clipper's equation solved by Newton's method at
//! every sample) and a one-pole tone filter. It trains `Sequential[ LSTM(1, 16), Linear(16, 1)
//! ]` on windows of the recording with NAM's training loss (MSE plus the MSE of the
//! pre-emphasised signals, coefficient 0.85), reports the held-out ESR (error-to-signal
//! ratio, NAM's metric) against the do-nothing baseline (the dry signal as the output), writes
//! the model as a `.nam` file, and plays it back in `nam-rs` (an independent runtime) to check
//! that it sounds the same.
//!
//! `--nam model.nam --input in.wav --output out.wav` instead runs a `.nam` model (nano 1x12,
//! feather 1x16, standard 1x24 or lite 2x8: the network types are compiled in, so the
//! presets are) over a mono WAV file and prints the real-time factor; add `--fast` for the
//! fast activations (`set_fast_activations`: within 4e-7 of the exact ones, as NAM Core's
//! `enable_fast_tanh()`).
//!
//! Run: `cargo run --release --example amp` (`-- --help` for the flags).

#[allow(dead_code)] // `say` is for the other examples
mod common;

use clap::Parser;
use rnn_core::io::NamMetadata;
use rnn_core::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

const RATE: f64 = 48_000.0;
/// Samples per training window, and how many of them warm the state up before the loss counts.
const WINDOW: usize = 512;
const BURN_IN: usize = 64;
const BATCH: usize = 16;
/// NAM's pre-emphasis coefficient for LSTM training.
const PRE_EMPHASIS: f32 = 0.85;

network! {
    /// Training: 16 windows of 512 samples at a time.
    pub AmpTrain<seq_len = 512, batch = 16> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
    /// The same model one sample at a time, as a plugin runs it (NAM's "feather" size).
    pub Feather<seq_len = 1> = Sequential[ LSTM(1, 16), Linear(16, 1) ];
    /// NAM's other LSTM presets, for `--nam`.
    pub Nano<seq_len = 1> = Sequential[ LSTM(1, 12), Linear(12, 1) ];
    pub Standard<seq_len = 1> = Sequential[ LSTM(1, 24), Linear(24, 1) ];
    pub Lite<seq_len = 1> = Sequential[ LSTM(1, 8), LSTM(8, 8), Linear(8, 1) ];
}

/// Train a guitar amp model, or run a `.nam` model over a WAV file.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Run this `.nam` model (an LSTM preset) over `--input` instead of training.
    #[arg(long, requires_all = ["input", "output"])]
    nam: Option<PathBuf>,
    /// The mono WAV file to process (with `--nam`).
    #[arg(long)]
    input: Option<PathBuf>,
    /// Where to write the processed WAV (32-bit float).
    #[arg(long)]
    output: Option<PathBuf>,
    /// With `--nam`: the fast activations (`set_fast_activations`).
    #[arg(long, requires = "nam")]
    fast: bool,
    /// Where the trained model's `.nam` file goes.
    #[arg(long, default_value = "target/amp.nam")]
    save: PathBuf,
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    match (&args.nam, &args.input, &args.output) {
        (Some(nam), Some(input), Some(output)) => play(nam, (input, output), args.fast),
        _ => train(&args),
    }
}

/// Plucked strings: random notes and loudness, each ringing for a random time, with pauses.
fn guitar(rng: &mut Rng, seconds: f64) -> Vec<f32> {
    let n = (seconds * RATE) as usize;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        // E2 (82 Hz) to E5 (659 Hz), equal temperament.
        let semitone = (rng.uniform01() * 37.0).floor();
        let freq = 82.41 * 2f64.powf(semitone / 12.0);
        let period = (RATE / freq).round() as usize;
        let loud = 0.1 + 0.8 * rng.uniform01();
        let mut line: Vec<f64> = (0..period).map(|_| rng.uniform(-loud, loud)).collect();
        let ring = ((0.2 + 0.8 * rng.uniform01()) * RATE) as usize;
        for k in 0..ring {
            let i = k % period;
            out.push(line[i] as f32);
            line[i] = 0.997 * 0.5 * (line[i] + line[(i + 1) % period]);
        }
        let pause = (rng.uniform01() * 0.1 * RATE) as usize;
        out.extend(std::iter::repeat_n(0.0, pause));
    }
    out.truncate(n);
    out
}

/// The circuit: gain 4 into an RC diode clipper (R = 2.2 kOhm, C = 10 nF, two silicon
/// diodes), `C dv/dt = (x - v) / R - 2 Is sinh(v / Vt)`, solved by backward Euler with Newton
/// steps at every sample, then a one-pole low-pass at 3 kHz (the tone control).
fn circuit(x: &[f32]) -> Vec<f32> {
    let (r, c, is, vt) = (2.2e3, 10e-9, 2.52e-9, 25.85e-3);
    let dt = 1.0 / RATE;
    let tone = 1.0 - (-2.0 * std::f64::consts::PI * 3_000.0 * dt).exp();
    let (mut v, mut y) = (0.0f64, 0.0f64);
    x.iter()
        .map(|&s| {
            let u = 4.0 * f64::from(s);
            // Solve g(v') = v' - v - dt/C ((u - v')/R - 2 Is sinh(v'/Vt)) = 0.
            let mut w = v;
            for _ in 0..8 {
                let g = w - v - dt / c * ((u - w) / r - 2.0 * is * (w / vt).sinh());
                let dg = 1.0 + dt / c * (1.0 / r + 2.0 * is / vt * (w / vt).cosh());
                w -= g / dg;
            }
            v = w;
            y += tone * (v - y);
            y as f32
        })
        .collect()
}

/// Error-to-signal ratio: `sum (y - t)^2 / sum t^2` (NAM's validation metric).
fn esr(y: &[f32], t: &[f32]) -> f64 {
    let e: f64 = y.iter().zip(t).map(|(a, b)| f64::from(a - b).powi(2)).sum();
    let s: f64 = t.iter().map(|b| f64::from(*b).powi(2)).sum();
    e / s.max(f64::MIN_POSITIVE)
}

/// NAM's LSTM training loss on one window after the burn-in, per sample: MSE of `y - t` plus
/// MSE of the pre-emphasised `(y - t)[n] - a (y - t)[n - 1]`; writes its gradient into `g`.
fn loss_and_grad(y: &[f32], t: &[f32], g: &mut [f32]) -> f32 {
    let n = (y.len() - BURN_IN) as f32;
    let e: Vec<f32> = y.iter().zip(t).map(|(a, b)| a - b).collect();
    let mut loss = 0.0;
    g.fill(0.0);
    for k in BURN_IN..y.len() {
        loss += e[k] * e[k] / n;
        g[k] += 2.0 * e[k] / n;
        if k > BURN_IN {
            let p = e[k] - PRE_EMPHASIS * e[k - 1];
            loss += p * p / n;
            g[k] += 2.0 * p / n;
            g[k - 1] -= 2.0 * PRE_EMPHASIS * p / n;
        }
    }
    loss
}

fn train(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let quick = args.common.quick;
    let mut rng = Rng::new(args.common.seed);
    let (train_s, steps) = if quick { (20.0, 400) } else { (60.0, 3_000) };
    let dry = guitar(&mut rng, train_s);
    let wet = circuit(&dry);
    let held_dry = guitar(&mut rng, 5.0);
    let held_wet = circuit(&held_dry);
    println!(
        "data: {train_s:.0} s of plucked strings through a diode clipper and tone filter at 48 kHz; \
         {} s held out",
        held_dry.len() as f64 / RATE
    );

    let mut net = AmpTrain::new(args.common.seed);
    let opt = Adam::new(0.004)?;
    let bar = common::progress(steps as u64, "steps");
    let mut inputs = vec![SMatrix::<f32, 1, BATCH>::zeros(); WINDOW];
    let mut targets = vec![[0.0f32; WINDOW]; BATCH];
    let mut grads = vec![SMatrix::<f32, 1, BATCH>::zeros(); WINDOW];
    let (mut y, mut g) = (vec![0.0f32; WINDOW], vec![0.0f32; WINDOW]);
    let start = Instant::now();
    let mut recent = 0.0;
    for step in 0..steps {
        for b in 0..BATCH {
            let at = (rng.uniform01() * (dry.len() - WINDOW) as f64) as usize;
            for k in 0..WINDOW {
                inputs[k][(0, b)] = dry[at + k];
                targets[b][k] = wet[at + k];
            }
        }
        net.zero_grad_parameters();
        let out = net.forward(&inputs);
        let mut loss = 0.0;
        for b in 0..BATCH {
            for k in 0..WINDOW {
                y[k] = out[k][(0, b)];
            }
            loss += loss_and_grad(&y, &targets[b], &mut g) / BATCH as f32;
            for k in 0..WINDOW {
                grads[k][(0, b)] = g[k] / BATCH as f32;
            }
        }
        net.backward_parameters(&inputs, &grads);
        clip_grad_norm(&mut net, 1.0)?;
        opt.step(&mut net)?;
        recent = if step == 0 {
            loss
        } else {
            0.98 * recent + 0.02 * loss
        };
        bar.inc(1);
        bar.set_message(format!("loss {recent:.5}"));
    }
    bar.finish_and_clear();
    let took = start.elapsed().as_secs_f64();
    println!(
        "trained {steps} steps of {BATCH} windows of {WINDOW} samples in {took:.1} s \
         ({:.2} us per sample-step)",
        took * 1e6 / (steps * BATCH * WINDOW) as f64
    );

    // The trained weights into the one-sample-at-a-time network, from a zero state.
    let mut amp = Feather::new(0);
    amp.copy_parameters_from(&net)?;
    amp.evaluate();
    let mut out = held_dry.clone();
    let start = Instant::now();
    amp.process_block(&mut out);
    let rtf = held_dry.len() as f64 / RATE / start.elapsed().as_secs_f64();
    let (trained, baseline) = (esr(&out, &held_wet), esr(&held_dry, &held_wet));
    println!(
        "held-out ESR {trained:.4} (do-nothing baseline {baseline:.4}); one sample at a time: \
         {rtf:.0}x real time"
    );

    // Written as NAM writes it, and played back by nam-rs from the file.
    let meta = NamMetadata {
        name: Some("diode clipper (rnn amp example)".into()),
        gear_type: Some("pedal".into()),
        tone_type: Some("overdrive".into()),
        ..NamMetadata::default()
    };
    if let Some(dir) = args.save.parent() {
        std::fs::create_dir_all(dir)?;
    }
    amp.save_nam(&args.save, &meta)?;
    let mut reread = Feather::new(0);
    reread.load_nam(&args.save)?;
    reread.evaluate();
    let mut ours = held_dry.clone();
    reread.process_block(&mut ours);
    let file = nam_rs::NamModel::from_file(&args.save)?;
    let mut player = nam_rs::Model::from_nam(&file)?;
    let mut theirs = held_dry.clone();
    player.process_buffer(&mut theirs);
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    println!(
        "wrote {}; nam-rs plays it back: largest difference to ours {worst:.1e} over {} samples",
        args.save.display(),
        ours.len()
    );
    common::check(
        trained < baseline / 10.0,
        format!(
            "the model's held-out ESR ({trained:.4}) is below a tenth of the do-nothing baseline's ({baseline:.4})"
        ),
    )?;
    common::check(
        worst <= 1e-5,
        format!("nam-rs plays the written file as we do, to 1e-5 (largest difference {worst:.1e})"),
    )
}

/// Runs `net` (a `.nam` model loaded into it, with the fast activations if `fast`) over
/// `samples` in 64-sample blocks, as an audio callback would, and returns the seconds it took.
fn render<N>(
    net: &mut N,
    path: &std::path::Path,
    samples: &mut [f32],
    fast: bool,
) -> Result<f64, Box<dyn std::error::Error>>
where
    N: Online<Scalar = f32, Input = SMatrix<f32, 1, 1>, Output = SMatrix<f32, 1, 1>>,
    N::State: rnn_core::float::Columns,
{
    let file = net.load_nam(path)?;
    if (file.metadata.sample_rate - RATE).abs() > 0.5 {
        println!(
            "note: the model was trained at {} Hz; the input is played at its own rate",
            file.metadata.sample_rate
        );
    }
    net.evaluate();
    net.set_fast_activations(fast);
    let bar = common::progress(samples.len() as u64, "samples");
    let start = Instant::now();
    for block in samples.chunks_mut(64) {
        net.process_block(block);
        bar.inc(block.len() as u64);
    }
    bar.finish_and_clear();
    Ok(start.elapsed().as_secs_f64())
}

fn play(
    nam: &std::path::Path,
    (input, output): (&std::path::Path, &std::path::Path),
    fast: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut reader = hound::WavReader::open(input)?;
    let spec = reader.spec();
    if spec.channels != 1 {
        return Err(format!(
            "{} has {} channels: give a mono file",
            input.display(),
            spec.channels
        )
        .into());
    }
    let mut samples: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader.samples::<f32>().collect::<Result<_, _>>()?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<Result<_, _>>()?
        }
    };
    let config = rnn_core::io::read_nam(&std::fs::read(nam)?)?.lstm;
    let took = match (config.input_size, config.hidden_size, config.num_layers) {
        (1, 12, 1) => render(&mut Nano::new(0), nam, &mut samples, fast)?,
        (1, 16, 1) => render(&mut Feather::new(0), nam, &mut samples, fast)?,
        (1, 24, 1) => render(&mut Standard::new(0), nam, &mut samples, fast)?,
        (1, 8, 2) => render(&mut Lite::new(0), nam, &mut samples, fast)?,
        (i, h, l) => {
            return Err(format!(
                "{}: LSTM {l} x {h} with {i} input(s); this example compiles in the presets \
                 nano 1x12, feather 1x16, standard 1x24 and lite 2x8 (add yours as a network)",
                nam.display()
            )
            .into());
        }
    };
    let out_spec = hound::WavSpec {
        channels: 1,
        sample_rate: spec.sample_rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    // Written beside the target, then renamed over it: a failed write leaves no half file.
    let partial = output.with_extension("wav.partial");
    let mut writer = hound::WavWriter::create(&partial, out_spec)?;
    for s in &samples {
        writer.write_sample(*s)?;
    }
    writer.finalize()?;
    std::fs::rename(&partial, output)?;
    let seconds = samples.len() as f64 / f64::from(spec.sample_rate);
    println!(
        "{} -> {}: {seconds:.1} s of audio in {took:.3} s ({:.0}x real time)",
        input.display(),
        output.display(),
        seconds / took
    );
    Ok(())
}
