//! The seed network learns a task that needs memory: tag each step of a sequence with the
//! symbol seen two steps earlier ("delayed recall").
//!
//! Each step's input has 10 features: a one-hot symbol (5 classes) and 5 features of noise. The
//! target at step `t >= 2` is the symbol of step `t - 2`; steps 0 and 1 have no target. A
//! feed-forward net cannot beat 20 % accuracy here; the LSTM must carry two symbols in its state.
//!
//! Run: `cargo run --release --example tagger` (`-- --help` for the flags).

mod common;
#[path = "common/recall.rs"]
mod recall;

use clap::Parser;
use recall::{DELAY, T, sequence};
use rnn_core::prelude::*;

/// The seed network learns delayed recall (tag each step with the symbol two steps back).
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Training sequences (default 20000, or 1500 with --quick).
    #[arg(long)]
    steps: Option<usize>,
}

network! {
    /// Tags each of 8 steps of a 10-feature sequence with one of 5 classes.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}

/// Mean loss per sequence and accuracy per target on `sequences` fresh sequences.
fn evaluate(net: &mut Tagger, seed: u64, sequences: usize) -> (f32, f64) {
    let crit = SequencerCriterion::new(ClassNll::default());
    let mut rng = Rng::new(seed);
    net.evaluate();
    let (mut right, mut total, mut loss) = (0, 0, 0.0);
    for _ in 0..sequences {
        let (x, y) = sequence(&mut rng);
        let out = net.forward(&x);
        loss += crit.forward(out, &y);
        for (o, target) in out.iter().zip(&y) {
            if let Some([c]) = target {
                right += usize::from(o.column(0).argmax().0 == c.index());
                total += 1;
            }
        }
    }
    net.training();
    (loss / sequences as f32, right as f64 / total as f64)
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let steps = args
        .steps
        .unwrap_or(if args.common.quick { 1_500 } else { 20_000 });
    let mut net = Tagger::new(args.common.seed);
    let crit = SequencerCriterion::new(ClassNll::default());
    let opt = Adam::new(0.005)?;
    let mut rng = Rng::new(args.common.seed.wrapping_add(1));
    println!(
        "Tagger: {} parameters, delayed recall over {T} steps",
        net.num_parameters()
    );
    let (loss0, acc0) = evaluate(&mut net, 8, 500);
    println!(
        "before training: loss {loss0:.4}, accuracy {:.1} %",
        100.0 * acc0
    );
    let mut window = 0.0;
    let report = (steps / 10).max(1);
    let bar = common::progress(steps as u64, "sequences");
    let start = std::time::Instant::now();
    for i in 1..=steps {
        let (inputs, targets) = sequence(&mut rng);
        net.zero_grad_parameters();
        let outputs = net.forward(&inputs);
        let loss = crit.forward(outputs, &targets);
        let grads = crit.backward(outputs, &targets);
        net.backward_parameters(&inputs, &grads);
        clip_grad_norm(&mut net, 5.0)?;
        opt.step(&mut net)?;
        window += loss;
        bar.inc(1);
        if i % report == 0 {
            let mean = window / report as f32;
            let secs = start.elapsed().as_secs_f64();
            bar.set_message(format!("loss {mean:.4}"));
            common::say(
                &bar,
                format!(
                    "step {i:>6}: mean loss {mean:.4} (sum over {} targets), {secs:.2} s, {:.0} sequences/s",
                    T - DELAY,
                    i as f64 / secs
                ),
            );
            window = 0.0;
        }
    }
    bar.finish_and_clear();
    let elapsed = start.elapsed();
    let (loss1, acc1) = evaluate(&mut net, 8, 500);
    println!(
        "trained {steps} sequences in {:.2} s ({:.2} us per time step)",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1e6 / (steps * T) as f64
    );
    println!(
        "after training: loss {loss1:.4}, accuracy {:.1} % (on 500 fresh sequences)",
        100.0 * acc1
    );
    common::check(
        loss1 < 0.5 * loss0 && acc1 >= 0.9,
        format!(
            "the loss falls below half its start ({loss1:.4} vs {loss0:.4}) and at least 90 % of \
             the recalls are right ({:.1} %; chance is 20 %)",
            100.0 * acc1
        ),
    )
}
