//! Data-parallel training (feature `parallel`): results bit-identical whatever the number of
//! threads, equal to the serial computation over the same split, no allocation per call after
//! warm-up, inference over independent streams, a panic reported, small work on one thread.

use rnn_core::parallel::{DataParallel, ParallelError, Threads};
use rnn_core::prelude::*;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

/// Counts the allocations of every thread while `COUNTING` is set.
struct Counting;
static COUNTING: AtomicBool = AtomicBool::new(false);
static COUNT: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(SeqCst) {
            COUNT.fetch_add(1, SeqCst);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(SeqCst) {
            COUNT.fetch_add(1, SeqCst);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The tests of this file run one at a time, so that the allocation count sees only its own.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

network! {
    /// One shard: 4 sequences of 6 steps.
    pub Net<seq_len = 6, batch = 4> = Sequential[ LSTM(4, 8), Dropout(0.25), Linear(8, 3), LogSoftMax ];
    /// The same layers at batch 1, for streams.
    pub Stream<seq_len = 6> = Sequential[ GRU(4, 8), Linear(8, 3) ];
}

type Inputs = [SMatrix<f32, 4, 4>; 6];
type Targets = [[Class<3>; 4]; 6];

fn shard(k: usize, step: usize) -> (Inputs, Targets) {
    let x = core::array::from_fn(|t| {
        SMatrix::from_fn(|i, b| {
            (((i * 5 + b * 3 + t * 7 + k * 11 + step * 13) % 17) as f32) / 8.5 - 1.0
        })
    });
    let y = core::array::from_fn(|t| {
        core::array::from_fn(|b| Class::new((t + b + k + step) % 3).expect("< 3"))
    });
    (x, y)
}

fn work(net: &mut Net, (x, y): &mut (Inputs, Targets)) -> f64 {
    let crit = SequencerCriterion::new(ClassNll::default());
    let out = net.forward(x);
    let loss = crit.forward(out, y);
    let mut g = [SMatrix::zeros(); 6];
    crit.backward_into(out, y, &mut g);
    net.backward(x, &g);
    f64::from(loss)
}

const SHARDS: usize = 8;

fn parallel(threads: usize) -> DataParallel<Net, (Inputs, Targets)> {
    parallel_from(&Net::new(5), threads)
}

fn parallel_from(net: &Net, threads: usize) -> DataParallel<Net, (Inputs, Targets)> {
    let shards = (0..SHARDS).map(|k| shard(k, 0)).collect();
    DataParallel::new(net, shards, Threads::Fixed(threads), work).expect("threads")
}

fn refill(par: &mut DataParallel<Net, (Inputs, Targets)>, step: usize) {
    for k in 0..par.shards() {
        *par.shard(k).data() = shard(k, step);
    }
}

fn bits(net: &Net) -> Vec<u32> {
    net.parameters()
        .iter()
        .flat_map(|p| {
            p.value
                .iter()
                .chain(p.grad.expect("gradients").iter())
                .map(|v| v.to_bits())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Five Adam steps of data-parallel training on `threads` threads.
fn train(threads: usize) -> (Vec<u32>, Vec<f64>) {
    let mut net = Net::new(5);
    let mut par = parallel(threads);
    assert_eq!(par.threads(), threads.min(SHARDS));
    let opt = Adam::new(0.01).expect("valid");
    let mut losses = Vec::new();
    for step in 0..5 {
        refill(&mut par, step);
        net.zero_grad_parameters();
        losses.push(par.accumulate_gradients(&mut net).expect("no panic"));
        opt.step(&mut net).expect("valid");
    }
    (bits(&net), losses)
}

#[test]
fn results_are_bit_identical_whatever_the_number_of_threads() {
    let _one = one_at_a_time();
    let one = train(1);
    for threads in [2, 4, 8] {
        assert!(train(threads) == one, "{threads} threads differ from 1");
    }
    assert!(
        one.1[4] < one.1[0],
        "training lowered the loss: {:?}",
        one.1
    );
}

fn gradients(net: &Net) -> Vec<f32> {
    net.parameters()
        .iter()
        .flat_map(|p| {
            p.grad
                .expect("gradients")
                .iter()
                .copied()
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The tree sum of the replicas' gradients, computed serially by hand (replica `k` is a clone
/// whose dropout is reseeded with `k`).
#[test]
fn the_gradient_is_the_serial_tree_sum_over_the_same_split() {
    let _one = one_at_a_time();
    let main = Net::new(5);
    let mut net = main.clone();
    let mut par = parallel(2);
    refill(&mut par, 3);
    net.zero_grad_parameters();
    par.accumulate_gradients(&mut net).expect("no panic");

    let grads: Vec<Vec<f32>> = (0..SHARDS)
        .map(|k| {
            let mut replica = main.clone();
            replica.reseed(k as u64);
            replica.zero_grad_parameters();
            work(&mut replica, &mut shard(k, 3));
            gradients(&replica)
        })
        .collect();
    let add = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x + y).collect::<Vec<f32>>();
    let pairs: Vec<Vec<f32>> = grads.chunks(2).map(|c| add(&c[0], &c[1])).collect();
    let quads: Vec<Vec<f32>> = pairs.chunks(2).map(|c| add(&c[0], &c[1])).collect();
    let tree = add(&quads[0], &quads[1]);
    assert_eq!(
        gradients(&net)
            .iter()
            .map(|v| v.to_bits())
            .collect::<Vec<_>>(),
        tree.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // Without dropout, to rounding, what one network accumulating shard after shard gives.
    let mut main = main;
    main.evaluate();
    let mut net = main.clone();
    let mut par = parallel_from(&main, 2);
    refill(&mut par, 3);
    net.zero_grad_parameters();
    par.accumulate_gradients(&mut net).expect("no panic");
    let mut one = main.clone();
    one.zero_grad_parameters();
    for k in 0..SHARDS {
        work(&mut one, &mut shard(k, 3));
    }
    for (p, q) in one.parameters().iter().zip(net.parameters().iter()) {
        let (pg, qg) = (p.grad.expect("gradients"), q.grad.expect("gradients"));
        let diff = (pg - qg).amax();
        assert!(diff <= 1e-5 * pg.amax().max(1.0), "{}: {diff}", p.name);
    }
}

#[test]
fn nothing_allocates_per_call_after_warm_up() {
    let _one = one_at_a_time();
    let mut net = Net::new(5);
    let mut par = parallel(2);
    let opt = Adam::new(0.01).expect("valid");
    let step = |net: &mut Net, par: &mut DataParallel<Net, (Inputs, Targets)>, k: usize| {
        refill(par, k);
        net.zero_grad_parameters();
        par.accumulate_gradients(net).expect("no panic");
        opt.step(net).expect("valid");
        par.sync_parameters(net);
        par.run().expect("no panic");
    };
    for k in 0..3 {
        step(&mut net, &mut par, k);
    }
    COUNT.store(0, SeqCst);
    COUNTING.store(true, SeqCst);
    for k in 3..13 {
        step(&mut net, &mut par, k);
    }
    COUNTING.store(false, SeqCst);
    assert_eq!(
        COUNT.load(SeqCst),
        0,
        "allocations in 10 data-parallel steps"
    );
}

#[test]
fn independent_streams_run_in_parallel_and_keep_their_state() {
    let _one = one_at_a_time();
    let net = Stream::new(2);
    let streams = 3;
    let input = |s: usize, t: usize| {
        SMatrix::<f32, 4, 1>::from_fn(|i, _| ((i + s * 3 + t) % 5) as f32 * 0.2 - 0.4)
    };
    // Each stream's data: the next input and the last output.
    let data = (0..streams)
        .map(|s| (input(s, 0), SMatrix::<f32, 3, 1>::zeros()))
        .collect();
    let mut par = DataParallel::new(
        &net,
        data,
        Threads::Fixed(2),
        |n: &mut Stream, (x, y): &mut (SMatrix<f32, 4, 1>, SMatrix<f32, 3, 1>)| {
            *y = *n.step(x);
            0.0
        },
    )
    .expect("threads");
    let mut alone: Vec<Stream> = (0..streams).map(|_| net.clone()).collect();
    for t in 0..5 {
        for s in 0..streams {
            par.shard(s).data().0 = input(s, t);
        }
        par.run().expect("no panic");
        for (s, one) in alone.iter_mut().enumerate() {
            let want = *one.step(&input(s, t));
            assert_eq!(par.shard(s).data().1, want, "stream {s} at step {t}");
        }
    }
}

#[test]
fn a_panic_in_the_work_is_an_error_and_leaves_the_network_alone() {
    let _one = one_at_a_time();
    let mut net = Net::new(5);
    let data: Vec<usize> = (0..4).collect();
    let mut par = DataParallel::new(
        &net,
        data,
        Threads::Fixed(2),
        |n: &mut Net, k: &mut usize| {
            assert!(*k != 2, "shard 2 fails");
            n.forward(&[SMatrix::zeros(); 6]);
            0.0
        },
    )
    .expect("threads");
    let before = bits(&net);
    let e = par
        .accumulate_gradients(&mut net)
        .expect_err("shard 2 panics");
    assert!(matches!(e, ParallelError::Panicked { shard: 2 }), "{e}");
    assert_eq!(bits(&net), before);
    *par.shard(2).data() = 7;
    par.accumulate_gradients(&mut net).expect("fixed");
}

#[test]
fn small_work_stays_on_the_calling_thread_and_bad_arguments_are_errors() {
    let _one = one_at_a_time();
    let net = Stream::new(1);
    let par = DataParallel::new(
        &net,
        vec![(); 4],
        Threads::Auto,
        |_: &mut Stream, (): &mut ()| 0.0,
    )
    .expect("auto");
    assert_eq!(par.threads(), 1, "a batch-1 GRU(4, 8) is too small to pay");
    assert!(matches!(
        DataParallel::new(
            &net,
            Vec::<()>::new(),
            Threads::Auto,
            |_: &mut Stream, (): &mut ()| 0.0
        ),
        Err(ParallelError::NoShards)
    ));
    assert!(matches!(
        DataParallel::new(
            &net,
            vec![()],
            Threads::Fixed(0),
            |_: &mut Stream, (): &mut ()| 0.0
        ),
        Err(ParallelError::NoThreads)
    ));
}

/// A panic payload whose own `Drop` panics.
struct Bomb;

impl Drop for Bomb {
    fn drop(&mut self) {
        panic!("the payload's drop panics too");
    }
}

#[test]
fn a_panic_whose_payload_panics_on_drop_is_an_error_not_a_hang() {
    let _one = one_at_a_time();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut net = Net::new(5);
        let mut par = DataParallel::new(
            &net,
            (0..4).collect::<Vec<usize>>(),
            Threads::Fixed(2),
            |_: &mut Net, k: &mut usize| {
                // Shard 0 runs on the calling thread, shard 1 on the worker.
                if *k < 2 {
                    std::panic::panic_any(Bomb);
                }
                0.0
            },
        )
        .expect("threads");
        let e = par.accumulate_gradients(&mut net).map(|_| ());
        *par.shard(0).data() = 2;
        *par.shard(1).data() = 3;
        let again = par.accumulate_gradients(&mut net).map(|_| ());
        let _ = tx.send((e, again));
    });
    let (e, again) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the call returned (it hung, or the panic escaped, before this fix)");
    assert!(
        matches!(e, Err(ParallelError::Panicked { shard: 0 })),
        "{e:?}"
    );
    assert!(
        again.is_ok(),
        "the trainer works after the panic: {again:?}"
    );
}

#[test]
fn replicas_follow_the_main_networks_mode_and_settings() {
    let _one = one_at_a_time();
    let mut net = Net::new(5);
    let x: Inputs = shard(0, 0).0;
    // Each replica writes its outputs of the last step, for comparison.
    let mut par = DataParallel::new(
        &net,
        vec![(x, [SMatrix::<f32, 3, 4>::zeros(); 2]); 2],
        Threads::Fixed(2),
        |n: &mut Net, (x, out): &mut (Inputs, [SMatrix<f32, 3, 4>; 2])| {
            out[0] = n.forward(&x[..3])[2];
            out[1] = n.forward(&x[3..])[2];
            0.0
        },
    )
    .expect("threads");
    net.evaluate();
    net.remember(Remember::Both);
    net.max_bptt_steps(2);
    par.sync_parameters(&net);
    par.run().expect("no panic");
    // The main network, evaluated (no dropout) and remembering across the two calls.
    let first = net.forward(&x[..3])[2];
    let second = net.forward(&x[3..])[2];
    for k in 0..2 {
        let mut s = par.shard(k);
        assert_eq!(
            s.data().1,
            [first, second],
            "shard {k}: dropout off, state remembered"
        );
        assert!(!s.net().is_training());
        assert_eq!(s.net().remember_mode(), Remember::Both);
        assert_eq!(s.net().bptt_limit(), 2);
    }
    // Back to training: the replicas follow in a training call too.
    net.training();
    net.remember(Remember::Neither);
    net.max_bptt_steps(6);
    net.zero_grad_parameters();
    par.accumulate_gradients(&mut net).expect("no panic");
    for k in 0..2 {
        let mut s = par.shard(k);
        assert!(s.net().is_training());
        assert_eq!(s.net().remember_mode(), Remember::Neither);
        assert_eq!(s.net().bptt_limit(), 6);
    }
}
