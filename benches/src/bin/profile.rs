//! A plain loop over one benchmark case, for `perf record` (divan's own timing loop hides short
//! cases): `cargo run --release --bin profile -- seed_b1_step 2000000`.

use rnn_bench::*;
use rnn_core::prelude::*;
use std::hint::black_box;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let case = args.get(1).map_or("seed_b1_step", String::as_str);
    let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let start = std::time::Instant::now();
    match case {
        "seed_b1_step" => {
            let mut net = SeedB1::new(1);
            net.evaluate();
            let x = inputs::<10, 1>(2)[0];
            for _ in 0..n {
                black_box(net.step(black_box(&x)));
            }
        }
        "seed_b1_train" => {
            let mut net = SeedB1::new(1);
            let crit = SequencerCriterion::new(ClassNll::default());
            let (xs, ys) = (inputs::<10, 1>(2), targets::<5, 1>());
            for _ in 0..n / T {
                net.zero_grad_parameters();
                let out = net.forward(black_box(&xs));
                let g = crit.backward(out, &ys);
                net.backward(&xs, &g);
                net.update_parameters(0.01);
            }
        }
        "tanh20" | "sigmoid80" | "tanh4096" => {
            let len = match case {
                "tanh20" => 20,
                "sigmoid80" => 80,
                _ => 4096,
            };
            let mut rng = Rng::new(1);
            let base: Vec<f32> = (0..len).map(|_| rng.uniform(-3.0, 3.0) as f32).collect();
            let mut v = base.clone();
            for _ in 0..n {
                v.copy_from_slice(&base);
                if case == "sigmoid80" {
                    f32::sigmoid_in_place(black_box(&mut v));
                } else {
                    f32::tanh_in_place(black_box(&mut v));
                }
            }
        }
        other => panic!("unknown case {other}"),
    }
    let per = start.elapsed().as_secs_f64() * 1e9 / n as f64;
    println!("{case}: {per:.1} ns per step");
}
