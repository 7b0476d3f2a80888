//! Time per training step of `lstm128_b64` (a mini-batch of 64 as two shards of 32 of
//! `LSTM(64, 128) -> Linear(128, 10) -> LogSoftMax`, 16 steps) across MPI ranks
//! (`rnn_core::distributed`), beside `DataParallel` on 1 and 2 threads in one process.
//! Run under `mpirun` by `bash benches/mpi.sh` (1 and 2 ranks, alternated, three rounds):
//!
//! ```sh
//! cd benches && cargo build --release --features mpi --bin mpi_step
//! mpirun -np 2 target/release/mpi_step
//! ```
//!
//! Each step: parameters synced into the shards' replicas, forward, ClassNll, BPTT, the
//! gradients gathered and summed in the fixed tree, an SGD update. Rank 0 prints the median
//! of 15 timings of 20 steps each; with one rank it also times `DataParallel` (the same shards,
//! the same sums) on 1 and 2 threads. (Not divan: its timing loop runs in one process, and
//! the ranks must step together.)

use rnn_bench::*;
use rnn_core::distributed::mpi::traits::Communicator;
use rnn_core::distributed::{MpiDataParallel, mpi};
use rnn_core::parallel::{DataParallel, Threads};
use rnn_core::prelude::*;
use std::time::Instant;

type Shard = ([SMatrix<f32, 64, 32>; T], [[Class<10>; 32]; T]);

fn work(net: &mut Lstm128B32, (xs, ys): &mut Shard) -> f64 {
    f64::from(forward_backward(net, xs, ys))
}

fn shard(k: usize) -> Shard {
    (inputs::<64, 32>(2 + k as u64), targets::<10, 32>())
}

/// The median over 15 rounds of the mean time of 20 calls of `step`, in ms.
fn median_ms(mut step: impl FnMut()) -> f64 {
    for _ in 0..10 {
        step();
    }
    let mut rounds: Vec<f64> = (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..20 {
                step();
            }
            start.elapsed().as_secs_f64() * 1e3 / 20.0
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[rounds.len() / 2]
}

fn main() {
    let universe = mpi::initialize().expect("MPI");
    let world = universe.world();
    let ranks = world.size();
    let mut net = Lstm128B32::new(1);
    let mut par = MpiDataParallel::new(&world, &mut net, 2, Threads::Fixed(1), shard, work)
        .expect("2 shards on 1 or 2 ranks");
    let ms = median_ms(|| {
        net.zero_grad_parameters();
        par.accumulate_gradients(&mut net).expect("no failure");
        net.update_parameters(0.01);
    });
    if world.rank() == 0 {
        println!("lstm128_b64 over MPI, {ranks} rank(s): {ms:.2} ms per step");
    }
    if ranks == 1 {
        for threads in [1, 2] {
            let mut net = Lstm128B32::new(1);
            let mut par = DataParallel::new(
                &net,
                (0..2).map(shard).collect(),
                Threads::Fixed(threads),
                work,
            )
            .expect("threads");
            let ms = median_ms(|| {
                net.zero_grad_parameters();
                par.accumulate_gradients(&mut net).expect("no panic");
                net.update_parameters(0.01);
            });
            println!("lstm128_b64 DataParallel, {threads} thread(s): {ms:.2} ms per step");
        }
    }
}
