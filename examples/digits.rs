//! Handwritten digits read row by row: 8 time steps of 8 pixels, a class at the last step.
//!
//! Real data (UCI optical digits, `data/digits.csv`, CC BY 4.0). A sequence-to-one task: the
//! criterion has a target only at the last step. Trains on 1500 images, tests on the other 297.
//!
//! Run: `cargo run --release --example digits` (`-- --help` for the flags).

mod common;

use clap::Parser;
use rnn_core::prelude::*;

const BATCH: usize = 16;
const T: usize = 8;

network! {
    /// Reads an 8x8 digit one row per step and classifies it at the last step.
    pub DigitReader<seq_len = 8, batch = 16> = Sequential[ LSTM(8, 32), Linear(32, 10), LogSoftMax ];
}

struct Digit {
    pixels: [f32; 64],
    class: Class<10>,
}

/// An LSTM reads handwritten 8x8 digits row by row and names them.
#[derive(Parser, Debug)]
struct Args {
    #[command(flatten)]
    common: common::Common,
    /// Passes over the 1500 training digits (default 40, or 3 with --quick).
    #[arg(long)]
    epochs: Option<usize>,
}

fn load() -> Vec<Digit> {
    let text = include_str!("../data/digits.csv");
    text.lines()
        .map(|line| {
            let v: Vec<u32> = line
                .split(',')
                .map(|x| x.trim().parse().expect("an integer"))
                .collect();
            assert_eq!(v.len(), 65, "64 pixels and a class");
            Digit {
                pixels: std::array::from_fn(|i| v[i] as f32 / 16.0),
                class: Class::new(v[64] as usize).expect("class 0..9"),
            }
        })
        .collect()
}

/// A batch: inputs `[8 x BATCH; 8 steps]` and a target at the last step only.
fn batch(digits: &[&Digit]) -> ([SMatrix<f32, 8, BATCH>; T], [Option<[Class<10>; BATCH]>; T]) {
    let inputs = std::array::from_fn(|t| SMatrix::from_fn(|i, b| digits[b].pixels[t * 8 + i]));
    let mut targets = [None; T];
    targets[T - 1] = Some(std::array::from_fn(|b| digits[b].class));
    (inputs, targets)
}

fn accuracy(net: &mut DigitReader, set: &[&Digit]) -> f64 {
    net.evaluate();
    let mut right = 0;
    let chunks = set.chunks_exact(BATCH);
    let n = chunks.len() * BATCH;
    for chunk in chunks {
        let (x, _) = batch(chunk);
        let out = &net.forward(&x)[T - 1];
        for (b, d) in chunk.iter().enumerate() {
            right += usize::from(out.column(b).argmax().0 == d.class.index());
        }
    }
    net.training();
    right as f64 / n as f64
}

fn main() -> std::process::ExitCode {
    common::exit(run())
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let quick = args.common.quick;
    let epochs = args.epochs.unwrap_or(if quick { 3 } else { 40 });
    let mut digits = load();
    // A fixed shuffle, so the split mixes the classes (the same for every seed).
    let mut rng = Rng::new(3);
    for i in (1..digits.len()).rev() {
        digits.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
    }
    let (train, test): (Vec<&Digit>, Vec<&Digit>) = (
        digits[..1500].iter().collect(),
        digits[1500..].iter().collect(),
    );
    let mut net = DigitReader::new(args.common.seed);
    let crit = SequencerCriterion::new(ClassNll::default());
    let opt = Adam::new(0.01)?;
    println!(
        "{} parameters; {} training and {} test digits",
        net.num_parameters(),
        train.len(),
        test.len()
    );
    println!(
        "epoch  0: test accuracy {:.1} %",
        100.0 * accuracy(&mut net, &test)
    );
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut rng = Rng::new(args.common.seed.wrapping_add(1));
    let bar = common::progress((epochs * (train.len() / BATCH) * BATCH) as u64, "digits");
    let start = std::time::Instant::now();
    for epoch in 1..=epochs {
        for i in (1..order.len()).rev() {
            order.swap(i, (rng.next_u64() % (i as u64 + 1)) as usize);
        }
        let mut total = 0.0;
        let batches = order.len() / BATCH;
        for k in 0..batches {
            let picked: Vec<&Digit> = order[k * BATCH..(k + 1) * BATCH]
                .iter()
                .map(|&i| train[i])
                .collect();
            let (x, y) = batch(&picked);
            net.zero_grad_parameters();
            let out = net.forward(&x);
            total += crit.forward(out, &y);
            let g = crit.backward(out, &y);
            net.backward_parameters(&x, &g);
            opt.step(&mut net)?;
            bar.inc(BATCH as u64);
        }
        bar.set_message(format!("loss {:.4}", total / batches as f32));
        if quick || epoch % 5 == 0 {
            let secs = start.elapsed().as_secs_f64();
            common::say(
                &bar,
                format!(
                    "epoch {epoch:>2}: training loss {:.4}, test accuracy {:.1} %, {secs:.2} s, {:.0} digits/s",
                    total / batches as f32,
                    100.0 * accuracy(&mut net, &test),
                    (epoch * batches * BATCH) as f64 / secs
                ),
            );
        }
    }
    bar.finish_and_clear();
    println!("{epochs} epochs in {:.2} s", start.elapsed().as_secs_f64());
    let acc = accuracy(&mut net, &test);
    println!("final test accuracy: {:.1} %", 100.0 * acc);
    let need = 0.9;
    common::check(
        acc > need,
        format!(
            "test accuracy above {:.0} % (chance is 10 %): {:.1} %",
            100.0 * need,
            100.0 * acc
        ),
    )
}
