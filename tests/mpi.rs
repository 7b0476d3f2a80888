//! The MPI trainer (`rnn_core::distributed`, feature `mpi`): this program launches itself under
//! `mpirun` (OpenMPI, oversubscribed: 4 ranks on 2 cores are fine) and checks what the ranks
//! print. Run with `cargo test --features mpi --test mpi`.
//!
//! - 5 Adam steps of a network with dropout over 4 shards on 1, 2 and 4 ranks: the parameters
//!   are bit-identical on every rank, for every rank count, and equal to a `DataParallel` over
//!   the same 4 shards in one process;
//! - a checkpoint written by rank 0 after 3 steps on 2 ranks, resumed for 2 steps on 4 ranks
//!   and on 1: the same parameters as `DataParallel` resumed from its own checkpoint (the
//!   optimiser state comes back; dropout masks start again from each shard's seed);
//! - a rank whose work panics: every other rank reports it by rank and shard;
//! - a rank that stops answering: the others report it by rank within the timeout;
//! - a rank that exits: the job ends with the rank named (by the launcher or the others);
//! - a shard count the ranks cannot share: an error on every rank, before anything is sent.

use rnn_core::distributed::mpi::traits::Communicator;
use rnn_core::distributed::{MpiDataParallel, MpiError, mpi};
use rnn_core::parallel::{DataParallel, Threads};
use rnn_core::prelude::*;
use std::process::Command;
use std::time::{Duration, Instant};

network! {
    /// One shard: 2 sequences of 5 steps, with dropout (masks seeded by the shard's index).
    pub Net<seq_len = 5, batch = 2> = Sequential[ LSTM(3, 8), Dropout(0.3), Linear(8, 2) ];
}

type Shard = ([SMatrix<f32, 3, 2>; 5], [SMatrix<f32, 2, 2>; 5]);

const SHARDS: usize = 4;

/// Shard `k`'s data at training step `step`.
fn data(k: usize, step: usize) -> Shard {
    (
        core::array::from_fn(|t| {
            SMatrix::from_fn(|i, b| (((i + 3 * b + 5 * t + 7 * k + 11 * step) as f32) * 0.37).sin())
        }),
        core::array::from_fn(|t| {
            SMatrix::from_fn(|o, b| (((o + b + t + k + step) as f32) * 0.5).cos())
        }),
    )
}

fn work(net: &mut Net, (x, y): &mut Shard) -> f64 {
    let crit = SequencerCriterion::new(Mse::default());
    let out = net.forward(x);
    let loss = crit.forward(out, y);
    let g = crit.backward(out, y);
    net.backward_parameters(x, &g);
    f64::from(loss)
}

/// FNV-1a over the parameters' bits: equal digests, equal parameters.
fn digest(net: &Net) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for v in net.flat_parameters() {
        for byte in v.to_bits().to_le_bytes() {
            h = (h ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{h:016x}")
}

/// The reference: a `DataParallel` over the same shards in this process, steps
/// `start..start + steps` on `net` (its replicas built here, as a resumed run's are).
fn data_parallel(net: &mut Net, start: usize, steps: usize) {
    let mut par = DataParallel::new(
        &*net,
        (0..SHARDS).map(|k| data(k, start)).collect(),
        Threads::Fixed(2),
        work,
    )
    .expect("threads");
    let opt = Adam::new(0.01).expect("valid");
    for step in start..start + steps {
        for k in 0..SHARDS {
            *par.shard(k).data() = data(k, step);
        }
        net.zero_grad_parameters();
        par.accumulate_gradients(net).expect("no panic");
        opt.step(net).expect("finite");
    }
}

// ----- what each rank runs (RNN_MPI_CASE set) -----

/// Trains `steps` steps from `start` (the step counter), on `net`; `fail` makes a rank's work
/// misbehave at a step (`panic` or `hang`).
fn train(
    world: &impl Communicator,
    net: &mut Net,
    (start, steps): (usize, usize),
    fail: Option<(&str, usize, usize)>,
) -> Result<(), MpiError> {
    let rank = world.rank() as usize;
    let failing = fail.is_some_and(|(_, r, _)| r == rank);
    let kind = fail.map(|(k, ..)| k.to_string());
    let at = fail.map_or(usize::MAX, |(.., s)| s);
    let step_of = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(start));
    let seen = step_of.clone();
    let panicky = failing && kind.as_deref() == Some("panic");
    let mut par = MpiDataParallel::new(
        world,
        net,
        SHARDS,
        Threads::Fixed(2),
        |k| data(k, start),
        move |net: &mut Net, shard: &mut Shard| {
            assert!(
                !(panicky && seen.load(std::sync::atomic::Ordering::SeqCst) == at),
                "a failure planted in the test"
            );
            work(net, shard)
        },
    )?
    .with_timeout(Duration::from_secs(3));
    let opt = Adam::new(0.01).expect("valid");
    for step in start..start + steps {
        step_of.store(step, std::sync::atomic::Ordering::SeqCst);
        for k in par.local_shards() {
            *par.shard(k).expect("local").data() = data(k, step);
        }
        if failing && kind.as_deref() == Some("exit") && step == at {
            // Leaves without a word (no MPI_Finalize).
            std::process::exit(7);
        }
        if failing && kind.as_deref() == Some("hang") && step == at {
            // Stops answering (a hung rank): the others must not wait forever.
            std::thread::sleep(Duration::from_secs(30));
        }
        net.zero_grad_parameters();
        par.accumulate_gradients(net)?;
        opt.step(net).expect("finite");
    }
    Ok(())
}

fn rank_main(case: &str) {
    let universe = mpi::initialize().expect("MPI initialises");
    let world = universe.world();
    let rank = world.rank();
    let dir = std::env::var("RNN_MPI_DIR").expect("RNN_MPI_DIR");
    let checkpoint = format!("{dir}/checkpoint.safetensors");
    let mut net = Net::new(1);
    let result = match case {
        "train5" => train(&world, &mut net, (0, 5), None),
        "train3_save" => {
            let r = train(&world, &mut net, (0, 3), None);
            if r.is_ok() && rank == 0 {
                net.save_checkpoint(&checkpoint).expect("written");
            }
            r
        }
        "resume2" => {
            net.load_checkpoint(&checkpoint).expect("read");
            train(&world, &mut net, (3, 2), None)
        }
        "panic" => train(&world, &mut net, (0, 5), Some(("panic", 1, 2))),
        "hang" => train(&world, &mut net, (0, 5), Some(("hang", 1, 2))),
        "exit" => train(&world, &mut net, (0, 5), Some(("exit", 1, 2))),
        "shards" => {
            MpiDataParallel::new(&world, &mut net, 6, Threads::Fixed(1), |k| data(k, 0), work)
                .map(|_| ())
        }
        other => panic!("unknown case {other}"),
    };
    match result {
        Ok(()) => println!("rank {rank}: params {}", digest(&net)),
        Err(e) => {
            println!("rank {rank}: error: {e}");
            // Another rank failed: end the job (the ranks no longer agree on where they are).
            // The rank whose own work failed just returns: MPI's finalisation waits for the
            // others, so the ones reporting it print before the job ends.
            if matches!(e, MpiError::Timeout { .. } | MpiError::RankFailed { .. }) {
                world.abort(3);
            }
        }
    }
}

// ----- the driver (no RNN_MPI_CASE): launches the cases and checks their output -----

struct Run {
    output: String,
    seconds: f64,
}

fn mpirun(ranks: usize, case: &str, dir: &str) -> Run {
    let exe = std::env::current_exe().expect("this test's path");
    let version = Command::new("mpirun")
        .arg("--version")
        .output()
        .expect("mpirun on the PATH (the mpi feature needs an MPI installation)");
    let open_mpi = String::from_utf8_lossy(&version.stdout).contains("Open MPI");
    let mut cmd = Command::new("mpirun");
    if open_mpi {
        // As root (CI), and more ranks than cores; forward the case to the ranks.
        cmd.args([
            "--allow-run-as-root",
            "--oversubscribe",
            "-x",
            "RNN_MPI_CASE",
            "-x",
            "RNN_MPI_DIR",
        ]);
    }
    cmd.args(["-np", &ranks.to_string()])
        .arg(exe)
        .env("RNN_MPI_CASE", case)
        .env("RNN_MPI_DIR", dir);
    let start = Instant::now();
    let out = cmd.output().expect("mpirun runs");
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Run {
        output,
        seconds: start.elapsed().as_secs_f64(),
    }
}

/// The digest every rank printed; fails unless all `ranks` printed the same one.
fn agreed(run: &Run, ranks: usize, what: &str) -> String {
    let digests: Vec<&str> = run
        .output
        .lines()
        .filter_map(|l| l.split_once(": params ").map(|(_, d)| d.trim()))
        .collect();
    assert_eq!(
        digests.len(),
        ranks,
        "{what}: every rank reports\n{}",
        run.output
    );
    assert!(
        digests.iter().all(|d| *d == digests[0]),
        "{what}: the ranks disagree\n{}",
        run.output
    );
    digests[0].to_string()
}

fn driver() {
    let dir = std::env::temp_dir().join(format!("rnn-mpi-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let dir = dir.to_str().expect("a UTF-8 path").to_string();
    let mut net = Net::new(1);
    data_parallel(&mut net, 0, 5);
    let reference = digest(&net);
    println!("DataParallel over {SHARDS} shards, 5 steps: {reference}");
    // Resumed after 3 steps from a checkpoint: the optimiser state comes back; dropout masks
    // start again from each shard's seed (the replicas are new, derived from the network's
    // own dropout stream: it is built as the original was, `Net::new(1)`, as the ranks do).
    let mut net = Net::new(1);
    data_parallel(&mut net, 0, 3);
    let saved = rnn_core::io::to_checkpoint(&net).expect("saved");
    let mut net = Net::new(1);
    rnn_core::io::load_checkpoint(&mut net, &saved).expect("loaded");
    data_parallel(&mut net, 3, 2);
    let resumed = digest(&net);
    println!("DataParallel, 3 steps, checkpoint, 2 steps: {resumed}");

    for ranks in [1, 2, 4] {
        let run = mpirun(ranks, "train5", &dir);
        let d = agreed(&run, ranks, &format!("{ranks} ranks"));
        assert_eq!(
            d, reference,
            "{ranks} ranks against DataParallel\n{}",
            run.output
        );
        println!("{ranks} rank(s), 5 steps: {d} ({:.1} s) ok", run.seconds);
    }

    let run = mpirun(2, "train3_save", &dir);
    agreed(&run, 2, "3 steps on 2 ranks");
    for ranks in [4, 1] {
        let run = mpirun(ranks, "resume2", &dir);
        let d = agreed(&run, ranks, &format!("resumed on {ranks} ranks"));
        assert_eq!(
            d, resumed,
            "checkpoint from 2 ranks resumed on {ranks}\n{}",
            run.output
        );
        println!("checkpoint of 2 ranks resumed on {ranks}: {d} ok");
    }

    let run = mpirun(2, "panic", &dir);
    assert!(
        run.output
            .contains("rank 0: error: rank 1 failed: its work panicked on shard 2"),
        "a panicking rank is named by the others\n{}",
        run.output
    );
    println!(
        "a rank whose work panics: named by the others ({:.1} s) ok",
        run.seconds
    );

    let run = mpirun(2, "hang", &dir);
    assert!(
        run.output
            .contains("rank 0: error: rank 1 sent nothing within 3s"),
        "a silent rank is named by the others\n{}",
        run.output
    );
    assert!(
        run.seconds < 25.0,
        "the job ends within the timeout, not after the hang ({} s)",
        run.seconds
    );
    println!(
        "a rank that stops answering: named after the 3 s timeout ({:.1} s) ok",
        run.seconds
    );

    // A rank that exits: the launcher sees it first and ends the job naming it (OpenMPI:
    // "Process name: [[job,1],1] Exit code: 7"), or the others' timeout does; either way
    // nothing hangs.
    let run = mpirun(2, "exit", &dir);
    let named_by_us = run
        .output
        .contains("rank 0: error: rank 1 sent nothing within 3s");
    // OpenMPI names a process `[[job,1],rank]`; MPICH says "rank 1".
    let named_by_mpirun = run.output.contains("],1]") || run.output.contains("rank 1");
    assert!(
        named_by_us || named_by_mpirun,
        "a rank that exits is named\n{}",
        run.output
    );
    assert!(run.seconds < 25.0, "the job ends ({} s)", run.seconds);
    println!(
        "a rank that exits: named by {} ({:.1} s) ok",
        if named_by_us {
            "the others"
        } else {
            "the launcher"
        },
        run.seconds
    );

    let run = mpirun(4, "shards", &dir);
    let refused = run
        .output
        .lines()
        .filter(|l| l.contains("error: 6 shards cannot be shared equally by 4 ranks"))
        .count();
    assert_eq!(
        refused, 4,
        "every rank refuses 6 shards on 4 ranks\n{}",
        run.output
    );
    println!("6 shards on 4 ranks: refused on every rank ok");
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    match std::env::var("RNN_MPI_CASE") {
        Ok(case) => rank_main(&case),
        Err(_) => driver(),
    }
}
