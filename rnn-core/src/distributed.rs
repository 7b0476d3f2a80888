//! Data-parallel training across processes over MPI (feature `mpi`), with results that do not
//! depend on the number of processes.
//!
//! An [`MpiDataParallel`] splits every mini-batch into a fixed number of **shards** (say 4) and
//! gives each of the job's processes (MPI ranks) an equal, contiguous share of them: with 2
//! ranks, rank 0 runs shards 0 and 1, rank 1 shards 2 and 3; with 4 ranks, one each. Inside a
//! process the shards run on a [`DataParallel`] (its threads, its replicas, dropout seeded by
//! the shard's index in the whole job). Then every rank gathers every shard's gradient (an
//! `MPI_Allgather`, in rank order, so in shard order) and adds them up in the same pairwise
//! tree over the shard index as [`DataParallel::accumulate_gradients`]: the sum never depends
//! on which process computed which shard, nor on MPI's reduction order (an `MPI_Allreduce`
//! would leave that to the implementation). So the gradients, and after an optimiser step the
//! parameters, are **bit-identical for 1, 2 or 4 processes**, equal on every rank, and equal
//! to a single process's `DataParallel` over the same shards.
//!
//! Parameters start equal everywhere: [`MpiDataParallel::new`] broadcasts rank 0's. A
//! checkpoint written by rank 0 holds the state of every rank, and resumes on any number of
//! them (each rank loads it before building its trainer).
//!
//! **Failures.** Before the gradients are gathered, the ranks exchange a small status message
//! (each shard's result, or which shard's work panicked) and wait for the others' for at most
//! [`MpiDataParallel::with_timeout`] (60 s by default, counted from the end of this rank's own
//! work). A rank whose work panicked makes every rank return [`MpiError::RankFailed`] naming
//! it and the shard; a rank that does not answer in time (hung, stopped, gone) makes the others
//! return [`MpiError::Timeout`] naming it. After either error the ranks no longer agree on where
//! they are: end the job (e.g. `world.abort(1)`, which `mpirun` reports). A rank that dies
//! outright is usually seen first by the launcher, which ends the job and names it.
//!
//! ```no_run
//! # use rnn_core::prelude::*;
//! # use rnn_core::parallel::Threads;
//! # use rnn_core::distributed::MpiDataParallel;
//! network! {
//!     /// One shard: 4 sequences.
//!     pub Net<seq_len = 5, batch = 4> = Sequential[ LSTM(3, 8), Linear(8, 2) ];
//! }
//! type Shard = ([SMatrix<f32, 3, 4>; 5], [SMatrix<f32, 2, 4>; 5]);
//! let universe = rnn_core::distributed::mpi::initialize().expect("MPI");
//! let world = universe.world();
//! let mut net = Net::new(1);
//! let data = |k: usize| -> Shard {
//!     (
//!         core::array::from_fn(|t| SMatrix::from_fn(|i, b| (i + b + t + k) as f32 * 0.1)),
//!         core::array::from_fn(|_| SMatrix::from_element(0.5)),
//!     )
//! };
//! // A mini-batch of 16 sequences as 4 shards, whatever the number of ranks (1, 2 or 4).
//! let mut par = MpiDataParallel::new(&world, &mut net, 4, Threads::Fixed(1), data, |net: &mut Net, (x, y): &mut Shard| {
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
//!     let loss = par.accumulate_gradients(&mut net)?; // the same sum on every rank
//!     opt.step(&mut net)?;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::parallel::{
    DataParallel, ParallelError, ShardGuard, Threads, add_flat_gradients, store_flat, tree_sum,
};
use crate::{Float, Network};
/// The MPI binding this module is built on (rsmpi), re-exported: `mpi::initialize()`, the
/// communicators, `abort`.
pub use ::mpi;
use ::mpi::datatype::Equivalence;
use ::mpi::topology::{Communicator, SimpleCommunicator};
use ::mpi::traits::{CommunicatorCollectives, Destination, Root, Source};
use core::ops::Range;
use std::fmt;
use std::string::ToString;
use std::time::{Duration, Instant};
use std::vec::Vec;

/// The tag of the status messages (on the trainer's own communicator, a duplicate of the
/// one given, so no other message of the program can match them).
const STATUS: ::mpi::Tag = 1;

/// What a status message says about a rank's work: `OK`, or the job's index of the shard
/// whose work panicked.
const OK: f64 = -1.0;

/// Why an [`MpiDataParallel`] could not be built or run.
#[derive(Debug)]
#[non_exhaustive]
pub enum MpiError {
    /// The shard count is zero or not a multiple of the number of ranks.
    Shards {
        /// Shards asked for.
        shards: usize,
        /// Ranks in the communicator.
        ranks: usize,
    },
    /// This rank's [`DataParallel`] failed (its threads could not start, or its work
    /// panicked: then the other ranks see [`MpiError::RankFailed`]).
    Parallel(ParallelError),
    /// Another rank's work panicked on shard `shard`.
    RankFailed {
        /// The rank.
        rank: usize,
        /// The shard (the job's index).
        shard: usize,
    },
    /// These ranks sent no status within the timeout.
    Timeout {
        /// The silent ranks.
        ranks: Vec<usize>,
        /// The timeout.
        after: Duration,
    },
    /// An earlier call failed: the ranks no longer agree on where they are.
    Failed,
}

impl fmt::Display for MpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Shards { shards, ranks } => write!(
                f,
                "{shards} shards cannot be shared equally by {ranks} ranks (the shard count must \
                 be a positive multiple of the number of ranks)"
            ),
            Self::Parallel(e) => write!(f, "this rank's data-parallel work failed: {e}"),
            Self::RankFailed { rank, shard } => {
                write!(f, "rank {rank} failed: its work panicked on shard {shard}")
            }
            Self::Timeout { ranks, after } => write!(
                f,
                "rank{} {} sent nothing within {after:?}: stopped, hung or gone",
                if ranks.len() == 1 { "" } else { "s" },
                ranks
                    .iter()
                    .map(usize::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Self::Failed => f.write_str(
                "an earlier call of this MpiDataParallel failed: end the job (the ranks no longer \
                 agree on where they are)",
            ),
        }
    }
}

impl std::error::Error for MpiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Parallel(e) => Some(e),
            _ => None,
        }
    }
}

impl From<ParallelError> for MpiError {
    fn from(e: ParallelError) -> Self {
        Self::Parallel(e)
    }
}

/// Data-parallel training across MPI ranks; see the [module docs](self).
pub struct MpiDataParallel<N: Network, D> {
    comm: SimpleCommunicator,
    local: DataParallel<N, D>,
    /// Shards in the whole job.
    shards: usize,
    /// This rank's shards in the job's numbering.
    mine: Range<usize>,
    timeout: Duration,
    /// This rank's shards' gradients, shard by shard (what it sends).
    grads: Vec<N::Scalar>,
    /// Every shard's gradient, shard by shard (what every rank gathers).
    all: Vec<N::Scalar>,
    /// This rank's status message: `OK` or a panicked shard, then its shards' results.
    status: Vec<f64>,
    /// Every rank's status message.
    statuses: Vec<f64>,
    failed: bool,
}

impl<N, D> MpiDataParallel<N, D>
where
    N: Network + Clone + Send + Sync + 'static,
    N::Scalar: Send + Sync + Equivalence,
    D: Send + 'static,
{
    /// A trainer over the ranks of `comm` (called on every rank): `shards` shards in the whole
    /// job, this rank's share made by `data(k)` for each of its shards `k` (the job's index),
    /// run on `threads` threads by `work` (as in [`DataParallel::new`]). Rank 0's parameters
    /// are broadcast into `net` on every other rank.
    ///
    /// # Errors
    /// [`MpiError::Shards`] if `shards` is zero or not a multiple of the number of ranks (on
    /// every rank alike, before anything is sent); [`MpiError::Parallel`] if this rank's
    /// threads cannot start.
    pub fn new<W, F>(
        comm: &impl Communicator,
        net: &mut N,
        shards: usize,
        threads: Threads,
        data: F,
        work: W,
    ) -> Result<Self, MpiError>
    where
        W: Fn(&mut N, &mut D) -> f64 + Send + Sync + 'static,
        F: FnMut(usize) -> D,
    {
        let ranks = usize::try_from(comm.size()).unwrap_or(0);
        let rank = usize::try_from(comm.rank()).unwrap_or(0);
        if ranks == 0 || shards == 0 || !shards.is_multiple_of(ranks) {
            return Err(MpiError::Shards { shards, ranks });
        }
        let comm = comm.duplicate();
        let n = net.num_parameters();
        let mut flat = std::vec![<N::Scalar as Float>::cast(0.0); n];
        store_flat(&*net, &mut flat, false);
        comm.process_at_rank(0).broadcast_into(&mut flat[..]);
        crate::param::fill_flat(net, &flat);
        let per_rank = shards / ranks;
        let mine = rank * per_rank..(rank + 1) * per_rank;
        let local = DataParallel::new_from(
            &*net,
            mine.clone().map(data).collect(),
            mine.start,
            threads,
            work,
        )?;
        Ok(Self {
            comm,
            local,
            shards,
            mine,
            timeout: Duration::from_secs(60),
            grads: std::vec![<N::Scalar as Float>::cast(0.0); per_rank * n],
            all: std::vec![<N::Scalar as Float>::cast(0.0); shards * n],
            status: std::vec![OK; 1 + per_rank],
            statuses: std::vec![OK; ranks * (1 + per_rank)],
            failed: false,
        })
    }

    /// How long a rank waits for the others' status after its own work (60 s unless set).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The shards of the whole job.
    #[must_use]
    pub fn shards(&self) -> usize {
        self.shards
    }

    /// This rank's shards, in the job's numbering.
    #[must_use]
    pub fn local_shards(&self) -> Range<usize> {
        self.mine.clone()
    }

    /// Shard `k`'s replica and data (`k` in the job's numbering), to fill its inputs before a
    /// call; `None` if another rank runs it.
    pub fn shard(&mut self, k: usize) -> Option<ShardGuard<'_, N, D>> {
        self.mine
            .contains(&k)
            .then(|| self.local.shard(k - self.mine.start))
    }

    /// One data-parallel gradient over the whole job (call it on every rank): each rank's
    /// shards run from the parameters and settings of its `net` (equal everywhere), and every
    /// shard's gradient is **added** to `net`'s in the fixed pairwise tree over the shard
    /// index. Returns the sum of the work results of every shard, in shard order (the same on
    /// every rank).
    ///
    /// # Errors
    /// See the [module docs](self): [`MpiError::Parallel`] if this rank's work panicked,
    /// [`MpiError::RankFailed`] if another's did, [`MpiError::Timeout`], and
    /// [`MpiError::Failed`] for any call after one of those. `net` is unchanged on error.
    pub fn accumulate_gradients(&mut self, net: &mut N) -> Result<f64, MpiError> {
        if self.failed {
            return Err(MpiError::Failed);
        }
        let own = self.local.compute_gradients(net);
        self.status[0] = match &own {
            Ok(()) => OK,
            Err(ParallelError::Panicked { shard }) => *shard as f64,
            // Threads that could not start are reported at construction, not here.
            Err(_) => self.mine.start as f64,
        };
        if own.is_ok() {
            self.local
                .copy_shards(&mut self.grads, &mut self.status[1..]);
        }
        let exchanged = self.exchange_status();
        if let Err(e) = own {
            self.failed = true;
            return Err(e.into());
        }
        if let Err(e) = exchanged {
            self.failed = true;
            return Err(e);
        }
        let width = 1 + self.mine.len();
        for (rank, status) in self.statuses.chunks_exact(width).enumerate() {
            if status[0] != OK {
                self.failed = true;
                return Err(MpiError::RankFailed {
                    rank,
                    shard: status[0] as usize,
                });
            }
        }
        // Every rank has finished its work: gather every shard's gradient, in rank order.
        self.comm
            .all_gather_into(&self.grads[..], &mut self.all[..]);
        let n = self.grads.len() / self.mine.len();
        tree_sum(&mut self.all, n);
        add_flat_gradients(net, &self.all[..n]);
        let mut loss = 0.0;
        for status in self.statuses.chunks_exact(width) {
            for r in &status[1..] {
                loss += r;
            }
        }
        Ok(loss)
    }

    /// Sends this rank's status to every other rank and receives theirs into `statuses`,
    /// waiting at most the timeout for them.
    fn exchange_status(&mut self) -> Result<(), MpiError> {
        let rank = usize::try_from(self.comm.rank()).unwrap_or(0);
        let width = self.status.len();
        let (comm, status, timeout) = (&self.comm, &self.status, self.timeout);
        self.statuses[rank * width..(rank + 1) * width].copy_from_slice(status);
        let deadline = Instant::now() + timeout;
        ::mpi::request::scope(|scope| {
            let mut receives = Vec::new();
            let mut sends = Vec::new();
            for (r, chunk) in self.statuses.chunks_exact_mut(width).enumerate() {
                if r != rank {
                    let peer = comm.process_at_rank(r as ::mpi::Rank);
                    receives.push((
                        r,
                        peer.immediate_receive_into_with_tag(scope, chunk, STATUS),
                    ));
                    sends.push(peer.immediate_send_with_tag(scope, &status[..], STATUS));
                }
            }
            let mut waited = 0u32;
            while !receives.is_empty() && Instant::now() < deadline {
                receives = receives
                    .into_iter()
                    .filter_map(|(r, req)| req.test().err().map(|req| (r, req)))
                    .collect();
                // Spin briefly, then sleep: on an oversubscribed machine a spinning rank
                // takes the core of one still at work.
                waited += 1;
                if waited > 100 {
                    std::thread::sleep(Duration::from_micros(200));
                } else {
                    std::thread::yield_now();
                }
            }
            let silent: Vec<usize> = receives.iter().map(|(r, _)| *r).collect();
            for (_, req) in receives {
                req.cancel();
                req.wait_without_status();
            }
            // Small messages: sent without waiting for the receiver (MPI's eager protocol).
            for req in sends {
                req.wait_without_status();
            }
            if silent.is_empty() {
                Ok(())
            } else {
                Err(MpiError::Timeout {
                    ranks: silent,
                    after: timeout,
                })
            }
        })
    }
}
