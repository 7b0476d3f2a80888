//! Data-parallel training (`rnn_core::parallel`) on this machine's cores: a mini-batch of 64 as
//! two shards of 32 on 1 and 2 threads (same split, bit-identical results), beside one network
//! of batch 64; and a batch of 2 as two shards of 1, where threads do not pay and
//! `Threads::Auto` stays on one.
//!
//! ```sh
//! cd benches && cargo bench --bench parallel
//! ```
//!
//! Each call is one training step over 16 steps: parameters synced, forward, ClassNll, BPTT,
//! the gradient reduction and an SGD update. `*_after_gap` waits 300 us (untimed) before each
//! call, as a loop that prepares its data between steps does: the workers then have stopped
//! spinning and must be woken, which costs tens of microseconds.

use divan::Bencher;
use rnn_bench::*;
use rnn_core::parallel::{DataParallel, Threads};
use rnn_core::prelude::*;

fn main() {
    // More samples than divan's default 100: the host's bursts of noise move a 100-sample
    // median of the multi-threaded cases by up to 1.8x between runs.
    divan::Divan::from_args().sample_count(400).main();
}

/// `data_parallel` (2 shards of the batch-`$b` network `$shard` on `threads` threads) and
/// `one_network` (the batch-`2 $b` network `$whole`).
macro_rules! case {
    ($module:ident, $shard:ident, $whole:ident, $i:literal, $o:literal, $b:literal, $b2:literal) => {
        mod $module {
            use super::*;

            type Shard = ([SMatrix<f32, $i, $b>; T], [[Class<$o>; $b]; T]);

            fn work(net: &mut $shard, (xs, ys): &mut Shard) -> f64 {
                f64::from(forward_backward(net, xs, ys))
            }

            fn bench(bencher: Bencher, threads: Threads, gap: bool) {
                let mut net = $shard::new(1);
                let shards = vec![
                    (inputs::<$i, $b>(2), targets::<$o, $b>()),
                    (inputs::<$i, $b>(3), targets::<$o, $b>()),
                ];
                let mut par = DataParallel::new(&net, shards, threads, work).expect("threads");
                bencher
                    .with_inputs(|| {
                        if gap {
                            let start = std::time::Instant::now();
                            while start.elapsed() < std::time::Duration::from_micros(300) {
                                std::hint::spin_loop();
                            }
                        }
                    })
                    .bench_local_values(|()| {
                        net.zero_grad_parameters();
                        let loss = par.accumulate_gradients(&mut net).expect("no panic");
                        net.update_parameters(0.01);
                        loss
                    });
            }

            #[divan::bench(args = [1, 2])]
            fn data_parallel(bencher: Bencher, threads: usize) {
                bench(bencher, Threads::Fixed(threads), false);
            }

            #[divan::bench(args = [1, 2])]
            fn data_parallel_after_gap(bencher: Bencher, threads: usize) {
                bench(bencher, Threads::Fixed(threads), true);
            }

            #[divan::bench]
            fn data_parallel_auto(bencher: Bencher) {
                bench(bencher, Threads::Auto, false);
            }

            #[divan::bench]
            fn data_parallel_auto_after_gap(bencher: Bencher) {
                bench(bencher, Threads::Auto, true);
            }

            #[divan::bench]
            fn one_network(bencher: Bencher) {
                let mut net = $whole::new(1);
                let xs = inputs::<$i, $b2>(2);
                let ys = targets::<$o, $b2>();
                bencher.bench_local(|| {
                    net.zero_grad_parameters();
                    let loss = forward_backward(&mut net, &xs, &ys);
                    net.update_parameters(0.01);
                    loss
                });
            }
        }
    };
}

case!(lstm128_b64, Lstm128B32, Lstm128B64, 64, 10, 32, 64);
case!(seed_b64, SeedB32, SeedB64, 10, 5, 32, 64);
case!(seed_b2, SeedB1, SeedB2, 10, 5, 1, 2);

network! {
    /// The seed network at batch 2, for the small case's one-network line.
    SeedB2<seq_len = 16, batch = 2> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}
