//! Data-parallel training and inference on every core, with results that do not depend on the
//! number of threads (feature `parallel`).
//!
//! A [`DataParallel`] holds one replica of a network per **shard** of the work (a share of a
//! mini-batch, a group of independent streams), each with a data slot of your type `D`, and a
//! work function `Fn(&mut N, &mut D) -> f64` that runs on one shard: forward, criterion and
//! backward for training, forward only for inference. Shards are spread over `threads`
//! threads (the calling thread is one of them).
//!
//! [`DataParallel::accumulate_gradients`] copies the main network's parameters into every
//! replica, zeroes their gradients, runs the work of every shard, and adds the shards'
//! gradients into the main network's **in a fixed pairwise tree over the shard index**
//! (`((g0 + g1) + (g2 + g3)) + ...`). Which thread ran which shard never enters the sums, so
//! the result is bit-identical for 1, 2, 4 or 8 threads; only the split of the data into
//! shards does. Then step the optimiser on the main network as usual.
//!
//! Each replica's dropout layers draw their own masks ([`Network::reseed`] with the shard
//! index), so shards do not repeat each other's masks; the masks, too, depend on the shard,
//! not on the thread.
//!
//! Nothing allocates per call: the replicas, the flat parameter and gradient buffers and the
//! threads are made in [`DataParallel::new`]. The threads are plain `std` threads that wait on
//! a barrier between calls: a rayon pool allocates a queue block every 63 calls from outside
//! it (measured: 16 allocations per 1000 `install`s), which the zero-allocation guarantee does
//! not allow.
//!
//! Waiting threads spin for 100 us before they park, so back-to-back calls wake them in about a
//! microsecond; a parked thread takes about 35 us to wake (measured on this project's 2-core
//! machine, `benches/benches/parallel.rs`), which small shards do not win back. With
//! [`Threads::Auto`] the shards run on the calling thread when a shard has less than
//! [`AUTO_MIN_WORK`] multiply-adds of estimated work (parameters x batch x steps x 3).
//!
//! ```
//! use rnn_core::parallel::{DataParallel, Threads};
//! use rnn_core::prelude::*;
//!
//! network! {
//!     /// One shard: 4 sequences of the mini-batch.
//!     pub Net<seq_len = 5, batch = 4> = Sequential[ LSTM(3, 8), Linear(8, 2) ];
//! }
//! type Inputs = [SMatrix<f32, 3, 4>; 5];
//! type Targets = [SMatrix<f32, 2, 4>; 5];
//!
//! let mut net = Net::new(1);
//! // Two shards (a mini-batch of 8), each with its own inputs and targets.
//! let shard = |k: usize| -> (Inputs, Targets) {
//!     (
//!         core::array::from_fn(|t| SMatrix::from_fn(|i, b| (i + b + t + k) as f32 * 0.1)),
//!         core::array::from_fn(|_| SMatrix::from_element(0.5)),
//!     )
//! };
//! let mut par = DataParallel::new(&net, vec![shard(0), shard(1)], Threads::Fixed(2), |net: &mut Net, (x, y): &mut (Inputs, Targets)| {
//!     let crit = SequencerCriterion::new(Mse::default());
//!     let out = net.forward(x);
//!     let loss = crit.forward(out, y);
//!     let g = crit.backward(out, y);
//!     net.backward_parameters(x, &g);
//!     f64::from(loss)
//! })?;
//! let opt = Adam::new(0.01)?;
//! for _ in 0..3 {
//!     net.zero_grad_parameters();
//!     let loss = par.accumulate_gradients(&mut net)?; // the sum over both shards
//!     opt.step(&mut net)?;
//!     assert!(loss.is_finite());
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::param::fill_flat;
use crate::{Float, Network, Parameterized};
use std::boxed::Box;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, RwLock};
use std::thread::JoinHandle;
use std::vec::Vec;

/// How many threads a [`DataParallel`] uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Threads {
    /// Exactly this many (at least 1; the calling thread is one of them). Results do not
    /// depend on it.
    Fixed(usize),
    /// One per available core, capped at the number of shards, or only the calling thread
    /// when a shard's work is too small to pay for waking the others (see [`AUTO_MIN_WORK`]).
    Auto,
}

/// The estimated work of one shard (parameters x batch x steps x 3, in multiply-adds of a
/// training step) below which [`Threads::Auto`] stays on the calling thread: about 60 us, more
/// than the ~35 us it takes to wake a parked thread (the seed network at batch 1, 0.13 M, is
/// below; at batch 4, 0.5 M, above).
pub const AUTO_MIN_WORK: usize = 500_000;

/// Why a [`DataParallel`] could not be built or run.
#[derive(Debug)]
#[non_exhaustive]
pub enum ParallelError {
    /// No shards were given.
    NoShards,
    /// `Threads::Fixed(0)`.
    NoThreads,
    /// A worker thread could not be started.
    Spawn(std::io::Error),
    /// The work function panicked on shard `shard` (its replica and data may be half-updated;
    /// the main network's gradients were not touched).
    Panicked {
        /// The shard whose work panicked.
        shard: usize,
    },
}

impl fmt::Display for ParallelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoShards => f.write_str("DataParallel needs at least one shard"),
            Self::NoThreads => f.write_str("DataParallel needs at least one thread"),
            Self::Spawn(e) => write!(f, "could not start a worker thread: {e}"),
            Self::Panicked { shard } => {
                write!(f, "the work function panicked on shard {shard}")
            }
        }
    }
}

impl std::error::Error for ParallelError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

type Work<N, D> = dyn Fn(&mut N, &mut D) -> f64 + Send + Sync;

/// One shard: its replica, its data, the last result and its gradients, flat.
struct Shard<N: Network, D> {
    net: N,
    data: D,
    result: f64,
    grads: Vec<N::Scalar>,
}

const RUN: u8 = 0;
const TRAIN: u8 = 1;
const EXIT: u8 = 2;

/// Wakes the workers for a call and waits for them: a short spin on atomics first (waking a
/// parked thread costs tens of microseconds, as much as a small shard's work), then a mutex and
/// two condition variables. No allocation per call.
struct Gate {
    /// Bumped once per call, under `lock`.
    generation: AtomicU64,
    command: AtomicU8,
    /// Workers that have not finished this call.
    pending: AtomicUsize,
    lock: Mutex<()>,
    wake: Condvar,
    finished: Condvar,
}

/// How long a waiting thread spins before it parks.
const SPIN: std::time::Duration = std::time::Duration::from_micros(100);

/// Spins until `ready()` or [`SPIN`] has passed; returns whether `ready()` became true.
fn spin_until(ready: impl Fn() -> bool) -> bool {
    let start = std::time::Instant::now();
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            core::hint::spin_loop();
        }
        if start.elapsed() > SPIN {
            return ready();
        }
    }
}

impl Gate {
    fn new() -> Self {
        Self {
            generation: AtomicU64::new(0),
            command: AtomicU8::new(RUN),
            pending: AtomicUsize::new(0),
            lock: Mutex::new(()),
            wake: Condvar::new(),
            finished: Condvar::new(),
        }
    }

    /// Starts a call for `workers` workers.
    fn open(&self, command: u8, workers: usize) {
        self.command.store(command, Ordering::SeqCst);
        self.pending.store(workers, Ordering::SeqCst);
        let _guard = lock(&self.lock);
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.wake.notify_all();
    }

    /// Waits until every worker has finished the call.
    fn wait_finished(&self) {
        if spin_until(|| self.pending.load(Ordering::SeqCst) == 0) {
            return;
        }
        let mut guard = lock(&self.lock);
        while self.pending.load(Ordering::SeqCst) > 0 {
            guard = self
                .finished
                .wait(guard)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// A worker: waits for the call after generation `seen`; returns its command.
    fn next(&self, seen: &mut u64) -> u8 {
        let moved = || self.generation.load(Ordering::SeqCst) != *seen;
        if !spin_until(moved) {
            let mut guard = lock(&self.lock);
            while !moved() {
                guard = self
                    .wake
                    .wait(guard)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        *seen = self.generation.load(Ordering::SeqCst);
        self.command.load(Ordering::SeqCst)
    }

    /// A worker has finished its share of the call.
    fn done(&self) {
        if self.pending.fetch_sub(1, Ordering::SeqCst) == 1 {
            let _guard = lock(&self.lock);
            self.finished.notify_one();
        }
    }
}

/// What the threads share.
struct Shared<N: Network, D> {
    shards: Vec<Mutex<Shard<N, D>>>,
    work: Box<Work<N, D>>,
    /// The main network's parameters, flat, for the replicas to copy in a training call.
    params: RwLock<Vec<N::Scalar>>,
    gate: Gate,
    /// The lowest shard whose work panicked in this call, or `usize::MAX`.
    panicked: Mutex<usize>,
    any_panic: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic in the work function is reported as `ParallelError::Panicked`; the data behind
    // the lock is still usable (it is plain numbers), so poisoning is not an error here.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Gives `replica` the mode (training or evaluation), `remember` setting and BPTT limit of
/// `main`; a mode switch forgets, as on any network, and only happens when the modes differ.
fn follow_settings<N: Network>(replica: &mut N, main: &N) {
    if replica.is_training() != main.is_training() {
        if main.is_training() {
            replica.training();
        } else {
            replica.evaluate();
        }
    }
    replica.remember(main.remember_mode());
    replica.max_bptt_steps(main.bptt_limit());
}

/// Adds `total` (flat, in parameter order) to the gradients of `net`.
pub(crate) fn add_flat_gradients<S: Float, P: Parameterized<S> + ?Sized>(net: &mut P, total: &[S]) {
    let mut at = 0;
    net.visit_parameters_mut(&mut |mut p| {
        let n = p.grad.len();
        p.grad
            .iter_mut()
            .zip(&total[at..at + n])
            .for_each(|(g, s)| *g += *s);
        at += n;
    });
}

/// The additions of the fixed pairwise tree over `count` shards, in order: `add(to, from)`
/// adds shard `from` into shard `to` (stride 1: 1 into 0, 3 into 2, ...; stride 2: 2 into 0,
/// ...), leaving the sum in shard 0. [`DataParallel::accumulate_gradients`] and [`tree_sum`]
/// both follow it, so they make the same additions in the same order: the same bits.
fn tree_pairs(count: usize, mut add: impl FnMut(usize, usize)) {
    let mut stride = 1;
    while stride < count {
        for k in (0..count).step_by(2 * stride) {
            if k + stride < count {
                add(k, k + stride);
            }
        }
        stride *= 2;
    }
}

/// `to += from`, element by element.
fn add_into<S: Float>(to: &mut [S], from: &[S]) {
    to.iter_mut().zip(from).for_each(|(a, b)| *a += *b);
}

/// Sums the `chunks.len() / n` chunks of `n` values in `chunks` into the first, in the tree of
/// [`tree_pairs`].
#[cfg(feature = "mpi")]
pub(crate) fn tree_sum<S: Float>(chunks: &mut [S], n: usize) {
    if n == 0 {
        return;
    }
    tree_pairs(chunks.len() / n, |to, from| {
        let (low, high) = chunks.split_at_mut(from * n);
        add_into(&mut low[to * n..(to + 1) * n], &high[..n]);
    });
}

/// Copies the parameter values (or gradients) of `net` into `dst`, flat.
pub(crate) fn store_flat<S: Float, P: Parameterized<S> + ?Sized>(
    net: &P,
    dst: &mut [S],
    grads: bool,
) {
    let mut at = 0;
    net.visit_parameters(&mut |p| {
        let n = p.value.len();
        let dst = &mut dst[at..at + n];
        match (grads, &p.grad) {
            (false, _) => dst
                .iter_mut()
                .zip(p.value.iter())
                .for_each(|(d, s)| *d = *s),
            (true, Some(g)) => dst.iter_mut().zip(g.iter()).for_each(|(d, s)| *d = *s),
            // No gradient buffer: a zero gradient.
            (true, None) => dst.fill(S::zero()),
        }
        at += n;
    });
}

impl<N: Network, D> Shared<N, D> {
    /// Runs shard `k` for the current command, recording a panic of its work.
    fn run_shard(&self, k: usize, train: bool) {
        let mut guard = lock(&self.shards[k]);
        let shard = &mut *guard;
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if train {
                fill_flat(
                    &mut shard.net,
                    &self.params.read().unwrap_or_else(PoisonError::into_inner),
                );
                shard.net.zero_grad_parameters();
            }
            shard.result = (self.work)(&mut shard.net, &mut shard.data);
            if train {
                store_flat(&shard.net, &mut shard.grads, true);
            }
        }));
        if let Err(payload) = outcome {
            // Dropping the payload runs its `Drop`, which may panic too: that panic must not
            // unwind out of a worker (which would then never report the call finished, and
            // the caller would wait forever), so it is caught, and its own payload leaked.
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload)));
            if let Err(again) = dropped {
                core::mem::forget(again);
            }
            self.any_panic.store(true, Ordering::SeqCst);
            let mut first = lock(&self.panicked);
            *first = (*first).min(k);
        }
    }

    /// The shards of thread `worker` of `threads`: `worker, worker + threads, ...`.
    fn run_share(&self, worker: usize, threads: usize, train: bool) {
        for k in (worker..self.shards.len()).step_by(threads) {
            self.run_shard(k, train);
        }
    }
}

/// Data-parallel work over shards; see the [module docs](self).
pub struct DataParallel<N: Network, D> {
    shared: Arc<Shared<N, D>>,
    workers: Vec<JoinHandle<()>>,
    /// Threads used per call, the calling one included.
    threads: usize,
    /// The index of the first shard in the whole job (0 unless the shards are one process's
    /// share of an MPI job's): dropout seeds and error reports use the job's indices.
    first: usize,
}

impl<N, D> DataParallel<N, D>
where
    N: Network + Clone + Send + Sync + 'static,
    N::Scalar: Send + Sync,
    D: Send + 'static,
{
    /// One replica of `net` (a clone: same parameters) per element of `shards`, the work
    /// function, and the threads (started here, waiting until a call).
    ///
    /// # Errors
    /// [`ParallelError::NoShards`], [`ParallelError::NoThreads`] or
    /// [`ParallelError::Spawn`].
    pub fn new<W>(net: &N, shards: Vec<D>, threads: Threads, work: W) -> Result<Self, ParallelError>
    where
        W: Fn(&mut N, &mut D) -> f64 + Send + Sync + 'static,
    {
        Self::new_from(net, shards, 0, threads, work)
    }

    /// [`DataParallel::new`] for shards `first..first + shards.len()` of a larger job: the
    /// replicas are seeded, and panics reported, by those indices.
    pub(crate) fn new_from<W>(
        net: &N,
        shards: Vec<D>,
        first: usize,
        threads: Threads,
        work: W,
    ) -> Result<Self, ParallelError>
    where
        W: Fn(&mut N, &mut D) -> f64 + Send + Sync + 'static,
    {
        if shards.is_empty() {
            return Err(ParallelError::NoShards);
        }
        let count = shards.len();
        let threads = match threads {
            Threads::Fixed(0) => return Err(ParallelError::NoThreads),
            Threads::Fixed(n) => n.min(count),
            Threads::Auto => {
                let work_per_shard = net
                    .num_parameters()
                    .saturating_mul(N::BATCH)
                    .saturating_mul(N::SEQ_LEN)
                    .saturating_mul(3);
                if work_per_shard < AUTO_MIN_WORK {
                    1
                } else {
                    std::thread::available_parallelism()
                        .map_or(1, std::num::NonZero::get)
                        .min(count)
                }
            }
        };
        let n_params = net.num_parameters();
        let shared = Arc::new(Shared {
            shards: shards
                .into_iter()
                .enumerate()
                .map(|(k, data)| {
                    let mut replica = net.clone();
                    replica.reseed((first + k) as u64);
                    Mutex::new(Shard {
                        net: replica,
                        data,
                        result: 0.0,
                        grads: std::vec![<N::Scalar as Float>::cast(0.0); n_params],
                    })
                })
                .collect(),
            work: Box::new(work),
            params: RwLock::new(std::vec![<N::Scalar as Float>::cast(0.0); n_params]),
            gate: Gate::new(),
            panicked: Mutex::new(usize::MAX),
            any_panic: AtomicBool::new(false),
        });
        let mut workers = Vec::with_capacity(threads - 1);
        for worker in 1..threads {
            let mine = Arc::clone(&shared);
            let spawned = std::thread::Builder::new()
                .name(std::format!("rnn-parallel-{worker}"))
                .spawn(move || {
                    let mut seen = 0;
                    loop {
                        let command = mine.gate.next(&mut seen);
                        if command == EXIT {
                            break;
                        }
                        mine.run_share(worker, threads, command == TRAIN);
                        mine.gate.done();
                    }
                });
            match spawned {
                Ok(handle) => workers.push(handle),
                Err(e) => {
                    // Stop the workers already started (dropping `par` does), then report.
                    let par = Self {
                        shared,
                        workers,
                        threads,
                        first,
                    };
                    drop(par);
                    return Err(ParallelError::Spawn(e));
                }
            }
        }
        Ok(Self {
            shared,
            workers,
            threads,
            first,
        })
    }

    /// The threads used per call, the calling one included.
    #[must_use]
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// The number of shards.
    #[must_use]
    pub fn shards(&self) -> usize {
        self.shared.shards.len()
    }

    /// Shard `k`'s replica and data, to fill its inputs before a call or read its outputs
    /// after one.
    ///
    /// # Panics
    /// If `k >= self.shards()`.
    pub fn shard(&mut self, k: usize) -> ShardGuard<'_, N, D> {
        ShardGuard(lock(&self.shared.shards[k]))
    }

    /// Runs the work on every shard with the replicas' own parameters (inference: streams keep
    /// their state in their replica between calls) and returns the sum of the work results, in
    /// shard order.
    ///
    /// # Errors
    /// [`ParallelError::Panicked`] if the work panicked on a shard.
    pub fn run(&mut self) -> Result<f64, ParallelError> {
        self.call(RUN)?;
        Ok(self.results())
    }

    /// Copies the parameters of `net` into every replica, and its settings: training or
    /// evaluation mode (a replica that changes mode forgets its state, as any network does),
    /// [`Network::remember`] and [`Network::max_bptt_steps`] (for [`DataParallel::run`] after
    /// an update or a change of mode of the main network).
    pub fn sync_parameters(&mut self, net: &N) {
        let flat = self.publish_parameters(net);
        for shard in &self.shared.shards {
            let replica = &mut lock(shard).net;
            fill_flat(replica, &flat);
            follow_settings(replica, net);
        }
    }

    /// One data-parallel gradient: the replicas take the parameters and the settings of `net`
    /// (mode, `remember`, `max_bptt_steps`, as [`DataParallel::sync_parameters`]), every shard's
    /// work runs (forward, criterion, backward) from zero gradients, and the shards' gradients
    /// are **added** to those of `net` in a fixed pairwise tree over the shard index.
    /// Returns the sum of the work results (e.g. the losses) in shard order.
    ///
    /// # Errors
    /// [`ParallelError::Panicked`] if the work panicked on a shard; `net` is then unchanged.
    pub fn accumulate_gradients(&mut self, net: &mut N) -> Result<f64, ParallelError> {
        self.compute_gradients(net)?;
        tree_pairs(self.shared.shards.len(), |to, from| {
            let from = lock(&self.shared.shards[from]);
            let mut to = lock(&self.shared.shards[to]);
            add_into(&mut to.grads, &from.grads);
        });
        let total = lock(&self.shared.shards[0]);
        add_flat_gradients(net, &total.grads);
        drop(total);
        Ok(self.results())
    }

    /// Every shard's gradient from the parameters and settings of `net`, left in the shards
    /// (flat, from zero): the first half of [`DataParallel::accumulate_gradients`].
    pub(crate) fn compute_gradients(&mut self, net: &N) -> Result<(), ParallelError> {
        drop(self.publish_parameters(net));
        for shard in &self.shared.shards {
            follow_settings(&mut lock(shard).net, net);
        }
        self.call(TRAIN)
    }

    /// Copies each shard's gradient (from [`DataParallel::compute_gradients`]) into its chunk of
    /// `dst` (`shards x parameters`, shard by shard), and each shard's work result into
    /// `results`.
    #[cfg(feature = "mpi")]
    pub(crate) fn copy_shards(&self, dst: &mut [N::Scalar], results: &mut [f64]) {
        for (k, (shard, r)) in self.shared.shards.iter().zip(results).enumerate() {
            let shard = lock(shard);
            let n = shard.grads.len();
            dst[k * n..(k + 1) * n].copy_from_slice(&shard.grads);
            *r = shard.result;
        }
    }

    /// Copies the parameters of `net` into the flat vector the replicas load from; returns it
    /// still locked.
    fn publish_parameters(&self, net: &N) -> std::sync::RwLockWriteGuard<'_, Vec<N::Scalar>> {
        let mut flat = self
            .shared
            .params
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        store_flat(net, &mut flat, false);
        flat
    }

    fn results(&self) -> f64 {
        self.shared.shards.iter().map(|s| lock(s).result).sum()
    }

    /// Runs one command on every shard, on all threads, and waits for it.
    fn call(&mut self, command: u8) -> Result<(), ParallelError> {
        let shared = &self.shared;
        shared.any_panic.store(false, Ordering::SeqCst);
        *lock(&shared.panicked) = usize::MAX;
        let train = command == TRAIN;
        shared.gate.open(command, self.workers.len());
        shared.run_share(0, self.threads, train);
        shared.gate.wait_finished();
        if shared.any_panic.load(Ordering::SeqCst) {
            return Err(ParallelError::Panicked {
                shard: self.first + *lock(&shared.panicked),
            });
        }
        Ok(())
    }
}

impl<N: Network, D> Drop for DataParallel<N, D> {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.shared.gate.open(EXIT, 0);
            for w in self.workers.drain(..) {
                // A worker's panics are caught inside; a join error cannot carry one.
                let _ = w.join();
            }
        }
    }
}

/// Access to one shard's replica and data (a lock held while it lives).
pub struct ShardGuard<'a, N: Network, D>(std::sync::MutexGuard<'a, Shard<N, D>>);

impl<N: Network, D> ShardGuard<'_, N, D> {
    /// The shard's data.
    pub fn data(&mut self) -> &mut D {
        &mut self.0.data
    }

    /// The shard's replica (its outputs, its recurrent state).
    pub fn net(&mut self) -> &mut N {
        &mut self.0.net
    }

    /// What the work function returned on this shard in the last call.
    #[must_use]
    pub fn result(&self) -> f64 {
        self.0.result
    }
}
