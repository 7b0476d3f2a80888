//! The seed network and the seed's training loop, line for line in this API: `forget`, forward
//! over the sequence, the criterion, backward in reverse, `update_parameters`. Then the same
//! gradient from the online API (`step` for each time step, `backward_step` in reverse, as
//! Torch rnn's `backwardOnline`), checked to be bit for bit the whole-sequence one.
//!
//! The task: tag each step with the symbol seen two steps before (see `tagger.rs`).
//!
//! Run: `cargo run --release --example quickstart` (`-- --help` for the flags).

mod common;
#[path = "common/recall.rs"]
mod recall;

use clap::Parser;
use recall::{T, sequence};
use rnn_core::prelude::*;

network! {
    /// Tags each of 8 steps of a 10-feature sequence with one of 5 classes.
    pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}

/// The seed's loop, then the online API giving the same gradient.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Training sequences (default 3000, or 1000 with --quick).
    #[arg(long)]
    steps: Option<usize>,
}

fn gradients(net: &Tagger) -> Vec<f32> {
    net.flat_gradients()
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let steps = args
        .steps
        .unwrap_or(if args.common.quick { 1_000 } else { 3_000 });
    let mut rng = Rng::new(args.common.seed.wrapping_add(1));

    // The seed's loop.
    let mut net = Tagger::new(args.common.seed);
    let crit = SequencerCriterion::new(ClassNll::default());
    let lr = 0.1;
    net.training();
    let bar = common::progress(steps as u64, "sequences");
    let start = std::time::Instant::now();
    let (mut first, mut last) = (None, 0.0);
    let mut window = 0.0;
    for i in 1..=steps {
        let (inputs, targets) = sequence(&mut rng);
        net.zero_grad_parameters();
        net.forget();
        let outputs = net.forward(&inputs);
        let loss = crit.forward(outputs, &targets);
        let grads = crit.backward(outputs, &targets);
        net.backward_parameters(&inputs, &grads);
        net.update_parameters(lr);
        window += loss;
        bar.inc(1);
        if i % (steps / 5).max(1) == 0 {
            let mean = window / (steps / 5).max(1) as f32;
            first.get_or_insert(mean);
            last = mean;
            window = 0.0;
            let secs = start.elapsed().as_secs_f64();
            bar.set_message(format!("loss {mean:.3}"));
            common::say(
                &bar,
                format!(
                    "sequence {i:>5}: mean loss {mean:.3}, {secs:.2} s, {:.0} sequences/s",
                    i as f64 / secs
                ),
            );
        }
    }
    bar.finish_and_clear();
    let first = first.unwrap_or(last);

    // The same gradient, online: one step at a time forward, then backward in reverse.
    let (inputs, targets) = sequence(&mut rng);
    let mut online = net.clone();
    net.zero_grad_parameters();
    net.forget();
    let outputs = net.forward(&inputs);
    let grads = crit.backward(outputs, &targets);
    net.backward(&inputs, &grads);

    let nll = ClassNll::default();
    online.zero_grad_parameters();
    online.forget();
    let mut outs = [SMatrix::<f32, 5, 1>::zeros(); T];
    for t in 0..T {
        outs[t] = *online.step(&inputs[t]);
    }
    for t in (0..T).rev() {
        let g = match &targets[t] {
            Some(target) => nll.backward(&outs[t], target),
            None => SMatrix::zeros(),
        };
        online.backward_step(&inputs[t], &g);
    }
    let (whole, stepwise) = (gradients(&net), gradients(&online));
    let differ = whole
        .iter()
        .zip(&stepwise)
        .filter(|(a, b)| a.to_bits() != b.to_bits())
        .count();
    println!(
        "mean loss {first:.3} -> {last:.3} over {steps} sequences; the online API's gradient \
         equals the whole-sequence one in {} of {} numbers",
        whole.len() - differ,
        whole.len()
    );
    common::check(
        differ == 0,
        "step/backward_step give bit for bit the gradient of forward/backward",
    )?;
    common::check(
        last < 0.5 * first,
        format!("the mean loss falls below half its first value ({last:.3} vs {first:.3})"),
    )
}
