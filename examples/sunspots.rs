//! One-step-ahead forecasting of the monthly sunspot number (real data, 1749-2009) with an LSTM
//! trained by truncated backpropagation through time over the whole series.
//!
//! The network keeps its state from one 32-month window to the next (`remember`), so it sees
//! the full 11-year cycle while gradients stop at each window boundary (Torch's
//! `remember('both')` + `Sequencer`). Trains on the first 80 % of the months, reports the
//! root-mean-square error of the next-month forecast on the last 20 % against the naive
//! forecast "next month = this month".
//!
//! Run: `cargo run --release --example sunspots` (add `-- --quick` for a short run).

use rnn_core::prelude::*;

const T: usize = 32;
const SCALE: f32 = 100.0;

network! {
    /// Reads one month at a time and predicts the next.
    pub Forecaster<seq_len = 32> = Sequential[ LSTM(1, 32), Linear(32, 1) ];
}

fn load() -> Vec<f32> {
    include_str!("../data/sunspots_monthly.csv")
        .lines()
        .skip(1)
        .map(|l| {
            l.rsplit(',')
                .next()
                .and_then(|v| v.parse::<f32>().ok())
                .expect("a number")
                / SCALE
        })
        .collect()
}

/// Windows of `T` consecutive months (input) and the month after each (target).
fn windows(
    series: &[f32],
) -> impl Iterator<Item = ([SMatrix<f32, 1, 1>; T], [SMatrix<f32, 1, 1>; T])> + '_ {
    (0..(series.len() - 1) / T).map(move |w| {
        let at = |k: usize| SMatrix::<f32, 1, 1>::new(series[w * T + k]);
        (std::array::from_fn(at), std::array::from_fn(|k| at(k + 1)))
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let epochs = if quick { 5 } else { 60 };
    let series = load();
    let split = series.len() * 4 / 5;
    let (train, test) = (&series[..split], &series[split - 1..]);
    println!(
        "{} months: training on {}, testing on the next {}",
        series.len(),
        split,
        series.len() - split
    );

    let mut net = Forecaster::new(7);
    let crit = SequencerCriterion::new(Mse::default());
    let opt = Adam::new(0.005)?;
    net.remember(Remember::Both);
    let start = std::time::Instant::now();
    for epoch in 1..=epochs {
        net.forget();
        let (mut total, mut count) = (0.0, 0);
        for (x, y) in windows(train) {
            net.zero_grad_parameters();
            let out = net.forward(&x);
            total += crit.forward(out, &y);
            let g = crit.backward(out, &y);
            net.backward(&x, &g);
            clip_grad_norm(&mut net, 1.0)?;
            opt.step(&mut net)?;
            count += 1;
        }
        if quick || epoch % 10 == 0 {
            println!(
                "epoch {epoch:>3}: training loss {:.5} (squared error summed over a window, sunspots/100)",
                total / count as f32
            );
        }
    }
    println!("{epochs} epochs in {:.2} s", start.elapsed().as_secs_f64());

    // Forecast the test months one step at a time, after running through the training months
    // to set the state.
    net.evaluate();
    for &v in &train[..train.len() - 1] {
        net.step(&SMatrix::<f32, 1, 1>::new(v));
    }
    let (mut se, mut se_naive) = (0.0f64, 0.0f64);
    for pair in test.windows(2) {
        let forecast = net.step(&SMatrix::<f32, 1, 1>::new(pair[0]))[0];
        se += f64::from((forecast - pair[1]) * SCALE).powi(2);
        se_naive += f64::from((pair[0] - pair[1]) * SCALE).powi(2);
    }
    let n = (test.len() - 1) as f64;
    let (rmse, naive) = ((se / n).sqrt(), (se_naive / n).sqrt());
    println!(
        "test RMSE: LSTM {rmse:.2}, naive (next = this month) {naive:.2} sunspots ({:.2} of the naive error)",
        rmse / naive
    );
    assert!(
        rmse.is_finite() && rmse < 2.0 * naive,
        "the forecast should be in the naive one's range"
    );
    Ok(())
}
