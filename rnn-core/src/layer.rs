//! The step interface every layer implements.

use crate::float::{Columns, ZeroInit};
use crate::onnx::{Cell, Graph, Value};
use crate::{Float, Parameterized};
use nalgebra::SMatrix;

/// One layer, seen one time step at a time, for inputs of `I` features and outputs of `O`
/// features in batches of `B` columns.
///
/// A feed-forward layer has `State = ()`. A recurrent cell carries its state (hidden, and cell
/// for LSTMs) from step `t - 1` to step `t`; the caller owns the per-step states and caches, so a
/// layer has no notion of time itself. A layer computes one step in [`Layer::forward_step`]
/// and [`Layer::backward_step`], and the defaults of the sequence methods
/// ([`Layer::forward_seq`], [`Layer::backward_seq`]) loop over them; the engine calls only the
/// sequence methods, a single step being a sequence of one ([`crate::one_step`]). A container
/// does the opposite: it writes its sequence methods (handing its parts views of each step)
/// and gets its step methods from them ([`crate::one_step::forward_step_by_seq`]).
pub trait Layer<S: Float, const I: usize, const O: usize, const B: usize>:
    Parameterized<S> + Clone
{
    /// The recurrent state carried between steps (`()` for feed-forward layers). Its gradient has
    /// the same type.
    type State: Clone + ZeroInit + Columns + 'static;
    /// What one step keeps for its backward beyond its input, output and states.
    type Cache: ZeroInit + 'static;

    /// Whether the layer can run one step at a time ([`Layer::forward_step`]): `false` for a
    /// `BiSequencer`, whose backward direction needs the whole sequence first, and for any
    /// container holding one. A network runs such a layer through [`Layer::forward_seq`] only.
    const ONLINE: bool = true;

    /// Computes one step: `s.y` from `s.x` and the previous state `s.prev`, writing the new
    /// state to `s.next` and what backward needs to `s.cache`. `training` switches dropout on.
    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        training: bool,
    );

    /// Whether [`Layer::forward_step_skewed`] runs parts of this layer one step apart (a
    /// `Sequential` of two or more layers: its first layer and the rest).
    const SKEWS: bool = false;

    /// One step of a pipeline (`Online::process_block`), for a layer whose [`Layer::SKEWS`]:
    /// the first part runs on step `t + 1` (input `s.x`) while the rest runs on step `t`, its
    /// input the first part's output of step `t` kept in `lag` (a cache used as that storage
    /// only). `s.prev` then holds the first part's state after step `t` and the rest's after
    /// `t - 1`; `s.next` receives them one step on. [`Skew::First`] runs only the first part
    /// (the first step of a block), [`Skew::Rest`] only the rest (the last); `s.y` is the
    /// rest's output of step `t` after [`Skew::Both`] and [`Skew::Rest`]. Each part sees what
    /// it would have seen stepping in order, so the results are the same bits; what changes is
    /// that the two parts of one call do not depend on each other, so the core can overlap
    /// their latency chains (two stacked LSTM cells stepped in order take twice one cell's
    /// time). `s.cache` is left unusable for backward. The default runs
    /// [`Layer::forward_step`] (never called where `SKEWS` is false).
    fn forward_step_skewed(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        lag: &mut Self::Cache,
        part: Skew,
        training: bool,
    ) {
        let _ = (lag, part);
        self.forward_step(s, training);
    }

    /// Back-propagates one step: the layer's one backward.
    ///
    /// `s.x`, `s.y`, `s.prev`, `s.next` and `s.cache` are what the forward of this step saw and
    /// wrote; `s.gy` is the gradient arriving at `s.y` from the layers above; `g_next` the
    /// gradient with respect to `s.next` arriving from step `t + 1` (zero at the last step).
    /// Writes the gradient with respect to `s.prev` to `g_prev` and with respect to `s.x` to
    /// `s.gx`.
    ///
    /// With `defer = false` it also **accumulates** the step's parameter gradients. With
    /// `defer = true` it may leave its weight gradients to [`Layer::accumulate_weight_grads`]
    /// (keeping what they need in `s.cache`), so that the weight gradients of all steps become
    /// one matrix product per sequence instead of one rank-`B` update per step. Whether to defer
    /// is decided in one place, the default [`Layer::backward_seq`] (below batch 8, and at every
    /// batch for `f32` on the AVX2 and AVX-512 paths), which the engine runs for the online
    /// `backward_step` too (a sequence of one step, which does not defer). A container's
    /// step ([`crate::one_step::backward_step_by_seq`]) never defers.
    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        g_next: &Self::State,
        g_prev: &mut Self::State,
        defer: bool,
    );

    /// Adds the weight gradients that [`Layer::backward_step`] deferred, for every step of
    /// `steps`: each the step's input, the state before it and its cache. The default (for
    /// layers that defer nothing) does nothing.
    fn accumulate_weight_grads<'s, It>(&mut self, steps: It)
    where
        It: Iterator<Item = (&'s SMatrix<S, I, B>, &'s Self::State, &'s Self::Cache)> + Clone,
    {
        let _ = steps;
    }

    /// Runs the layer forward over every step of `seq`, in order (layer-major: a network's
    /// whole-sequence `forward` runs its first layer over all steps, then the next layer over
    /// all steps, ...). Step `k` reads its input and the state before it and writes the state
    /// after it, its cache and its output (see [`ForwardStep`]).
    ///
    /// The default calls [`Layer::forward_step`] step after step. A layer may override it to
    /// work on the sequence as a whole (e.g. one product for the input projection of all steps,
    /// or a bidirectional layer), as long as the result equals the step-by-step one bit for bit
    /// when the layer also has an online step.
    #[inline(always)]
    fn forward_seq<V>(&mut self, seq: &mut V, training: bool)
    where
        V: ForwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        forward_each(seq, |s| self.forward_step(s, training));
    }

    /// Back-propagates through every step of `seq`, latest first, and **accumulates** the
    /// parameter gradients. `g.last` is the gradient at the state after the last step;
    /// `g.first` receives the gradient at the state before the first step; `g.scratch` is a
    /// buffer for the steps in between (see [`StateGrads`]).
    ///
    /// The default is the one place that decides whether weight gradients are deferred: below
    /// batch 8, and at every batch for `f32` on the AVX2 and AVX-512 paths
    /// ([`crate::simd_path`]), it calls [`Layer::backward_step`] with `defer` per step and then
    /// [`Layer::accumulate_weight_grads`] once (one product per sequence); otherwise (the
    /// generic kernels from batch 8 up, where each step's update is already an efficient
    /// product, and a sequence of one step) without. The steps' state gradients alternate
    /// between `g.first` and `g.scratch`, chosen by the parity of the length so that the last
    /// lands in `g.first`: no copy, and no scratch for one unmasked step.
    #[inline(always)]
    fn backward_seq<V>(&mut self, seq: &mut V, g: StateGrads<'_, Self::State>)
    where
        V: BackwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        let n = seq.len();
        // Deferring turns the steps' updates into one product: nothing to gain for one step.
        let defer = n > 1 && crate::kernels::defer_weight_grads::<S>(B);
        let StateGrads {
            last,
            first,
            mut scratch,
        } = g;
        if n == 0 {
            first.copy_all(last);
            return;
        }
        let mut spare = if scratch.is_none() {
            spare_scratch(seq)
        } else {
            None
        };
        if spare.is_some() {
            scratch = spare.as_deref_mut();
        }
        // Step `k` writes into `first` if `k` is even, into `scratch` if odd (then `n > 1` and
        // there is one): the first step's gradient lands in `first`. One call of
        // `backward_step`, so that it is inlined once.
        for k in (0..n).rev() {
            let (s, masked) = seq.step_masked(k, Dir::Forward);
            let (into, other) = match (k % 2, scratch.as_deref_mut()) {
                (0, other) => (&mut *first, other),
                (_, Some(odd)) => (odd, Some(&mut *first)),
                (_, None) => (&mut *first, None), // not reached: `k` odd means `n > 1`
            };
            // The gradient at the state after step `k`: `last`, or what step `k + 1` wrote
            // into `other`; the state after a masked step was reset, so nothing flows back
            // through it.
            let g_next: &Self::State = match (k + 1 == n, masked, other) {
                (true, None, _) => last,
                (true, Some(masked), Some(other)) => {
                    other.copy_all(last);
                    zero_masked(other, masked);
                    other
                }
                (false, masked, Some(other)) => {
                    if let Some(masked) = masked {
                        zero_masked(other, masked);
                    }
                    other
                }
                // Not reached: a masked last step and two steps or more have a scratch.
                (_, _, None) => last,
            };
            self.backward_step(s, g_next, into, defer);
        }
        if defer {
            let seq = &*seq;
            self.accumulate_weight_grads((0..n).rev().map(|k| seq.kept(k, Dir::Forward)));
        }
    }

    /// Moves the layer's random streams (dropout masks) onto an independent sequence derived
    /// from their current state and `stream`, so that replicas of one network (one per shard
    /// of a batch, see `rnn_core::parallel`) draw different masks. Deterministic in `stream`.
    /// The default (no randomness) does nothing.
    fn reseed(&mut self, stream: u64) {
        let _ = stream;
    }

    /// Lets (`on`) or forbids an evaluation-mode forward of this layer to use the fast
    /// activations: rational approximations of `tanh` and the sigmoid within 4e-7 of them,
    /// about half the latency of the exact ones (see [`crate::Network::set_fast_activations`]).
    /// A permission, not a promise: the LSTM cell's `f32` kernels (AVX2, AVX-512) have them;
    /// every other layer and path (training, `f64`, other CPUs) stays exact. The default
    /// ignores it; a container passes it to its parts.
    fn set_fast_activations(&mut self, on: bool) {
        let _ = on;
    }

    /// This layer as a stage of a fused block kernel ([`crate::block`]), reading its state
    /// before the block from `prev` and writing the state after it to `next`, if it is a
    /// layer such a kernel knows; `training` as in [`Layer::forward_step`]. The default: not
    /// one (the layer is stepped).
    fn block_stage<'a>(
        &'a self,
        prev: &'a Self::State,
        next: &'a mut Self::State,
        training: bool,
    ) -> Option<crate::block::BlockStage<'a>> {
        let _ = (prev, next, training);
        None
    }

    /// Appends this layer's stages to `out` ([`crate::block`]): its
    /// [`Layer::block_stage`] by default, a container's parts' in order; `false` if a part
    /// has none or there are too many (no fused kernel covers the layer). What
    /// `Online::process_block` asks a network's layer for: a fused kernel runs where one
    /// covers the stages.
    fn block_stages<'a>(
        &'a self,
        prev: &'a Self::State,
        next: &'a mut Self::State,
        training: bool,
        out: &mut crate::block::BlockStages<'a>,
    ) -> bool {
        self.block_stage(prev, next, training)
            .is_some_and(|stage| out.push(stage))
    }

    /// Adds this layer to an ONNX graph (`network.save_onnx`): `x` is its input over a whole
    /// sequence, `[T, B, I]`; returns its output `[T, B, O]`. `initial` is the state
    /// `forget()` returns to (a recurrent layer's default initial state in the graph).
    ///
    /// The default exports [`Layer::onnx_cell`] as ONNX's recurrent operator, and records any
    /// other layer as having no ONNX operator ([`Graph::unsupported`]): the export then fails
    /// naming it, never writing a different graph.
    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, initial: &Self::State) -> Value {
        match self.onnx_cell(initial) {
            Some(cell) => g.recurrent(x, cell),
            None => {
                g.unsupported(
                    short_type_name::<Self>(),
                    "ONNX has no operator for this layer",
                );
                x.clone()
            }
        }
    }

    /// This layer as one ONNX recurrent operator (`LSTM`, `GRU`, `RNN`) from the initial
    /// state `initial`, or `None` (the default) for a layer that is not one. A `BiSequencer`
    /// around such a layer becomes one bidirectional operator.
    fn onnx_cell(&self, initial: &Self::State) -> Option<Cell<S>> {
        let _ = initial;
        None
    }
}

/// The last path segment of `T`'s name without generics (`Relu` for
/// `rnn_core::layers::relu::Relu<f32, 3>`), for messages.
#[must_use]
pub fn short_type_name<T: ?Sized>() -> &'static str {
    let full = core::any::type_name::<T>();
    let bare = full.split('<').next().unwrap_or(full);
    bare.rsplit("::").next().unwrap_or(bare)
}

/// The default [`Layer::forward_seq`] with `step` for [`Layer::forward_step`]: every step of
/// `seq` in order, the states of the samples masked at a step reset after it. For a layer
/// that overrides `forward_seq` to prepare something once per sequence and then step.
#[inline(always)]
pub(crate) fn forward_each<S, St, C, V, const I: usize, const O: usize, const B: usize>(
    seq: &mut V,
    mut step: impl FnMut(ForwardStep<'_, S, St, C, I, O, B>),
) where
    S: Float,
    St: Columns,
    V: ForwardSeq<S, St, C, I, O, B>,
{
    for k in 0..seq.len() {
        match seq.step_masked(k, Dir::Forward) {
            (s, None) => step(s),
            (s, Some(mask)) => {
                let ForwardStep {
                    x,
                    prev,
                    next,
                    cache,
                    y,
                } = s;
                let s = ForwardStep {
                    x,
                    prev,
                    next: &mut *next,
                    cache,
                    y,
                };
                step(s);
                for b in (0..B).filter(|&b| mask.masked[b]) {
                    next.copy_column(mask.initial, b);
                }
            }
        }
    }
}

/// A scratch buffer for a [`Layer::backward_seq`] given none, if `seq` needs one: two steps
/// or more, or a masked last step. Out of line: it is not on the engine's path, which always
/// gives one.
#[cold]
#[inline(never)]
fn spare_scratch<S, St, C, V, const I: usize, const O: usize, const B: usize>(
    seq: &mut V,
) -> Option<alloc::boxed::Box<St>>
where
    S: Float,
    St: ZeroInit,
    V: BackwardSeq<S, St, C, I, O, B>,
{
    let n = seq.len();
    let masked_last = n > 0 && seq.step_masked(n - 1, Dir::Forward).1.is_some();
    (n > 1 || masked_last).then(bytemuck::allocation::zeroed_box)
}

/// Zeroes the columns of the samples `masked` marks.
#[inline(always)]
fn zero_masked<St: Columns, const B: usize>(g: &mut St, masked: &[bool; B]) {
    for b in (0..B).filter(|&b| masked[b]) {
        g.zero_column(b);
    }
}

/// The gradients at the states around the steps of a backward ([`Layer::backward_seq`]).
pub struct StateGrads<'a, St> {
    /// The gradient at the state after the last step (zero, or what arrives from later
    /// steps), read only.
    pub last: &'a St,
    /// Receives the gradient at the state before the first step.
    pub first: &'a mut St,
    /// A second buffer for the steps in between, left unspecified. It is needed for two
    /// steps or more, or a masked last step; `None` (what a one-step call such as a
    /// container's [`Layer::backward_step`] passes) makes the default allocate one in those
    /// cases. The engine always passes one.
    pub scratch: Option<&'a mut St>,
}

impl<'a, A, R> StateGrads<'a, (A, R)> {
    /// The gradients of each part of a pair of states (a container's parts).
    #[inline(always)]
    #[must_use]
    pub fn split(self) -> (StateGrads<'a, A>, StateGrads<'a, R>) {
        let (scratch_a, scratch_r) = match self.scratch {
            Some((a, r)) => (Some(a), Some(r)),
            None => (None, None),
        };
        (
            StateGrads {
                last: &self.last.0,
                first: &mut self.first.0,
                scratch: scratch_a,
            },
            StateGrads {
                last: &self.last.1,
                first: &mut self.first.1,
                scratch: scratch_r,
            },
        )
    }
}

/// What a network takes at each step and turns into the `I x B` matrix its first layer reads:
/// the step input itself ([`Dense`], every network by default), or token indices looked up in
/// an embedding table (`LookupTable`). It runs once per step before the layers and once per
/// step after them in backward; only the network's first item can be one (`network!` makes a
/// leading `LookupTable(vocab, dim)` the encoder).
pub trait Encoder<S: Float, const I: usize, const B: usize>: Parameterized<S> + Clone {
    /// One step's input as the user gives it.
    type Input: 'static;
    /// What a step keeps of its input for backward, beside the matrix it became.
    type Kept: ZeroInit + 'static;

    /// Turns `input` into `x`, keeping what backward needs in `kept`.
    fn encode(&mut self, input: &Self::Input, kept: &mut Self::Kept, x: &mut SMatrix<S, I, B>);

    /// Whether `input` is the one that was encoded into `kept` and `x` (backward checks that
    /// it is given the inputs it forwarded). NaN equals NaN here.
    fn same(input: &Self::Input, kept: &Self::Kept, x: &SMatrix<S, I, B>) -> bool;

    /// Whether [`Encoder::backward`] reads its `gx` (if not, the first layer may skip the input
    /// gradient under [`crate::Network::backward_parameters`]).
    const READS_GRAD: bool = true;

    /// Whether the input is the layer's input matrix as given (`encode` copies it, and
    /// `Input` is `SMatrix<S, I, B>`), so that a fused block may read samples directly
    /// ([`crate::block`]).
    const IDENTITY: bool = false;

    /// **Accumulates** the parameter gradients of one step, given the gradient `gx` at `x`.
    fn backward(&mut self, kept: &Self::Kept, gx: &SMatrix<S, I, B>);

    /// Adds the graph's input to an ONNX graph and what turns it into the first layer's
    /// input, `[T, B, I]` (`repeat`: a `Repeater`'s `seq_len`, the input then having no
    /// sequence axis). The default records that the encoder has no ONNX form.
    fn to_onnx(&self, g: &mut Graph<S>, repeat: Option<usize>) -> Value {
        g.unsupported(
            short_type_name::<Self>(),
            "ONNX has no operator for this encoder",
        );
        g.index_input(repeat)
    }
}

/// The default [`Encoder`]: the step input is the matrix, unchanged.
#[derive(Clone, Copy, Debug, Default)]
pub struct Dense;

impl<S: Float> Parameterized<S> for Dense {
    fn visit_parameters<'a>(&'a self, _f: &mut dyn FnMut(crate::ParamRef<'a, S>)) {}
    fn visit_parameters_mut<'a>(&'a mut self, _f: &mut dyn FnMut(crate::ParamMut<'a, S>)) {}
}

impl<S: Float, const I: usize, const B: usize> Encoder<S, I, B> for Dense {
    type Input = SMatrix<S, I, B>;
    type Kept = ();
    const READS_GRAD: bool = false;
    const IDENTITY: bool = true;

    #[inline(always)]
    fn encode(&mut self, input: &Self::Input, _kept: &mut (), x: &mut SMatrix<S, I, B>) {
        x.copy_from(input);
    }

    fn same(input: &Self::Input, _kept: &(), x: &SMatrix<S, I, B>) -> bool {
        #[allow(clippy::eq_op)]
        input
            .iter()
            .zip(x.iter())
            .all(|(a, b)| a == b || (a != a && b != b))
    }

    #[inline(always)]
    fn backward(&mut self, _kept: &(), _gx: &SMatrix<S, I, B>) {}

    fn to_onnx(&self, g: &mut Graph<S>, repeat: Option<usize>) -> Value {
        g.float_input(I, repeat)
    }
}

/// Which way a step is paired with the states around it: [`Dir::Forward`] reads the state
/// before step `k` and writes the one after it; [`Dir::Reversed`] (the backward direction of a
/// `BiSequencer`, which runs the sequence from its end) reads the state slot after step `k`
/// and writes the one before it, so that one state slot per step serves both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    /// Time runs forwards.
    Forward,
    /// Time runs backwards.
    Reversed,
}

impl Dir {
    /// The other direction.
    #[must_use]
    pub const fn flip(self) -> Self {
        match self {
            Self::Forward => Self::Reversed,
            Self::Reversed => Self::Forward,
        }
    }
}

/// Which parts of a skewed step run (see [`Layer::forward_step_skewed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Skew {
    /// Only the first part, on the block's first step.
    First,
    /// The first part on step `t + 1`, the rest on step `t`.
    Both,
    /// Only the rest, on the block's last step.
    Rest,
}

/// What step `k` of a whole-sequence forward reads and writes ([`Layer::forward_seq`]).
pub struct ForwardStep<'a, S: Float, St, C, const I: usize, const O: usize, const B: usize> {
    /// The step's input.
    pub x: &'a SMatrix<S, I, B>,
    /// The state before the step.
    pub prev: &'a St,
    /// The state after the step (written).
    pub next: &'a mut St,
    /// What the step keeps for its backward (written).
    pub cache: &'a mut C,
    /// The step's output (written).
    pub y: &'a mut SMatrix<S, O, B>,
}

/// The steps of a whole-sequence forward, as one layer sees them: a view into storage that
/// the engine owns (a container hands its parts views onto its own parts of each step).
pub trait ForwardSeq<S: Float, St, C, const I: usize, const O: usize, const B: usize> {
    /// The number of steps.
    fn len(&self) -> usize;
    /// Whether there are no steps.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Step `k` (`k < len()`), its states paired as `dir` says, and its mask if some samples
    /// are masked at it (`mask_zero`): their state after the step must become the initial
    /// state's column (the default [`Layer::forward_seq`] does it).
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (ForwardStep<'_, S, St, C, I, O, B>, Option<Mask<'_, St, B>>);
    /// Step `k` alone (see [`ForwardSeq::step_masked`]).
    fn step(&mut self, k: usize, dir: Dir) -> ForwardStep<'_, S, St, C, I, O, B> {
        self.step_masked(k, dir).0
    }
}

/// Which samples are masked at a step (Torch's `maskZero`), and the initial state their state
/// resets to.
pub struct Mask<'a, St, const B: usize> {
    /// `masked[b]`: sample `b` is masked at this step.
    pub masked: &'a [bool; B],
    /// The state a masked sample's state becomes after the step.
    pub initial: &'a St,
}

impl<'a, St, const B: usize> Mask<'a, St, B> {
    /// The same mask with the part of the initial state that `part` picks (a container hands
    /// each part its part of the state).
    #[must_use]
    pub fn part<P>(self, part: impl FnOnce(&'a St) -> &'a P) -> Mask<'a, P, B> {
        Mask {
            masked: self.masked,
            initial: part(self.initial),
        }
    }
}

/// What step `k` of a whole-sequence backward reads and writes ([`Layer::backward_seq`]):
/// what its forward saw and wrote, the gradient at its output, and where its input gradient
/// goes.
pub struct BackwardStep<'a, S: Float, St, C, const I: usize, const O: usize, const B: usize> {
    /// The step's input.
    pub x: &'a SMatrix<S, I, B>,
    /// The step's output.
    pub y: &'a SMatrix<S, O, B>,
    /// The state before the step.
    pub prev: &'a St,
    /// The state after the step.
    pub next: &'a St,
    /// The step's cache (a layer that defers weight gradients keeps what they need here).
    pub cache: &'a mut C,
    /// The gradient at the output.
    pub gy: &'a SMatrix<S, O, B>,
    /// The gradient at the input (written if `input_grad`).
    pub gx: &'a mut SMatrix<S, I, B>,
    /// Whether anything reads `gx`. If `false` (the network's first layers under
    /// [`crate::Network::backward_parameters`]) a layer may skip the products that only the input
    /// gradient needs and leave `gx` as it was; writing it anyway is also correct.
    pub input_grad: bool,
}

/// The steps of a whole-sequence backward, as one layer sees them (see [`ForwardSeq`]).
pub trait BackwardSeq<S: Float, St, C, const I: usize, const O: usize, const B: usize> {
    /// The number of steps.
    fn len(&self) -> usize;
    /// Whether there are no steps.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Step `k` (`k < len()`), its states paired as `dir` says, and which samples are masked
    /// at it: their gradient at the state after the step is zero (the default
    /// [`Layer::backward_seq`] zeroes it) and their output gradient already is.
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (BackwardStep<'_, S, St, C, I, O, B>, Option<&[bool; B]>);
    /// Step `k` alone (see [`BackwardSeq::step_masked`]).
    fn step(&mut self, k: usize, dir: Dir) -> BackwardStep<'_, S, St, C, I, O, B> {
        self.step_masked(k, dir).0
    }
    /// Step `k`'s input, the state it started from (paired as `dir` says) and its cache,
    /// read-only (what [`Layer::accumulate_weight_grads`] takes).
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, I, B>, &St, &C);
}

/// Implements [`Parameterized`] for a layer without parameters.
macro_rules! no_parameters {
    ($ty:ident < $($g:tt),* >) => {
        impl<S: $crate::Float, $(const $g: usize),*> $crate::Parameterized<S> for $ty<S, $($g),*> {
            fn visit_parameters<'a>(&'a self, _f: &mut dyn FnMut($crate::ParamRef<'a, S>)) {}
            fn visit_parameters_mut<'a>(&'a mut self, _f: &mut dyn FnMut($crate::ParamMut<'a, S>)) {}
        }
    };
}
pub(crate) use no_parameters;

/// `out[k] = f(inp[k])` over two equally long slices.
#[inline]
pub(crate) fn map_slices<S: Copy>(inp: &[S], out: &mut [S], f: impl Fn(S) -> S) {
    for (o, &i) in out.iter_mut().zip(inp) {
        *o = f(i);
    }
}

/// `gx[k] = gy[k] * f(y[k])`: the backward of an element-wise activation whose derivative is
/// a function of its output.
#[inline]
pub(crate) fn scale_by_output<S: Float>(y: &[S], gy: &[S], gx: &mut [S], df: impl Fn(S) -> S) {
    for ((g, &yk), &gyk) in gx.iter_mut().zip(y).zip(gy) {
        *g = gyk * df(yk);
    }
}

/// Defines a parameter-free element-wise layer `y = f(x)` whose derivative is a function of its
/// output `y` (true of tanh, sigmoid, ReLU and identity), with its `Layer` impl.
macro_rules! elementwise_layer {
    ($(#[$doc:meta])* $name:ident, forward: $f:expr, derivative_from_output: $df:expr, onnx: $op:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name<S, const N: usize>(core::marker::PhantomData<S>);

        impl<S: $crate::Float, const N: usize> $name<S, N> {
            /// The layer (it has no parameters).
            #[must_use]
            pub fn new() -> Self {
                Self(core::marker::PhantomData)
            }
        }

        $crate::layer::no_parameters!($name<N>);

        impl<S: $crate::Float, const N: usize, const B: usize> $crate::Layer<S, N, N, B>
            for $name<S, N>
        {
            type State = ();
            type Cache = ();

            fn forward_step(
                &mut self,
                s: $crate::layer::ForwardStep<'_, S, (), (), N, N, B>,
                _training: bool,
            ) {
                $crate::layer::map_slices(s.x.as_slice(), s.y.as_mut_slice(), $f);
            }

            fn backward_step(
                &mut self,
                s: $crate::layer::BackwardStep<'_, S, (), (), N, N, B>,
                _g_next: &(),
                _g_prev: &mut (),
                _defer: bool,
            ) {
                $crate::layer::scale_by_output(
                    s.y.as_slice(),
                    s.gy.as_slice(),
                    s.gx.as_mut_slice(),
                    $df,
                );
            }

            fn to_onnx(
                &self,
                g: &mut $crate::onnx::Graph<S>,
                x: &$crate::onnx::Value,
                _initial: &(),
            ) -> $crate::onnx::Value {
                if $op.is_empty() {
                    x.clone()
                } else {
                    g.node($op, &[x], &[])
                }
            }
        }
    };
}
pub(crate) use elementwise_layer;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use crate::gradcheck::{Trace, forward_sequence, parameter_vectors, random_matrix};
    use crate::layers::Lstm;
    use alloc::vec::Vec;

    type Cell = Lstm<f64, 2, 3, 12>;
    type St = <Cell as Layer<f64, 2, 3, 2>>::State;
    type X = SMatrix<f64, 2, 2>;
    type Y = SMatrix<f64, 3, 2>;

    /// The steps of a traced sequence as a whole-sequence backward sees them, with a mask
    /// per step.
    struct Steps<'a> {
        xs: &'a [X],
        trace: &'a mut Trace<f64, Cell, 2, 3, 2>,
        gys: &'a [Y],
        gxs: &'a mut [X],
        masks: &'a [Option<[bool; 2]>],
    }

    impl BackwardSeq<f64, St, <Cell as Layer<f64, 2, 3, 2>>::Cache, 2, 3, 2> for Steps<'_> {
        fn len(&self) -> usize {
            self.xs.len()
        }
        fn step_masked(
            &mut self,
            k: usize,
            _dir: Dir,
        ) -> (
            BackwardStep<'_, f64, St, <Cell as Layer<f64, 2, 3, 2>>::Cache, 2, 3, 2>,
            Option<&[bool; 2]>,
        ) {
            let step = BackwardStep {
                x: &self.xs[k],
                y: &self.trace.ys[k],
                prev: &self.trace.states[k],
                next: &self.trace.states[k + 1],
                cache: &mut self.trace.caches[k],
                gy: &self.gys[k],
                gx: &mut self.gxs[k],
                input_grad: true,
            };
            (step, self.masks[k].as_ref())
        }
        fn kept(&self, k: usize, _dir: Dir) -> (&X, &St, &<Cell as Layer<f64, 2, 3, 2>>::Cache) {
            (&self.xs[k], &self.trace.states[k], &self.trace.caches[k])
        }
    }

    /// The default `backward_seq` over `masks.len()` steps, given a scratch buffer or not:
    /// the input gradients, the gradient at the initial state and the parameter gradients.
    fn backward(
        masks: &[Option<[bool; 2]>],
        with_scratch: bool,
    ) -> (Vec<X>, Vec<f64>, Vec<Vec<f64>>) {
        let rng = &mut Rng::new(5);
        let mut cell = Cell::new(rng);
        let xs: Vec<X> = masks.iter().map(|_| random_matrix(rng)).collect();
        let gys: Vec<Y> = masks.iter().map(|_| random_matrix(rng)).collect();
        let mut last = St::zero_init();
        last.h = random_matrix(rng);
        last.c = random_matrix(rng);
        let mut trace = forward_sequence(&mut cell, &xs, false);
        let mut gxs = alloc::vec![X::zeros(); xs.len()];
        let (mut first, mut scratch) = (St::zero_init(), St::zero_init());
        let g = StateGrads {
            last: &last,
            first: &mut first,
            scratch: with_scratch.then_some(&mut scratch),
        };
        let mut steps = Steps {
            xs: &xs,
            trace: &mut trace,
            gys: &gys,
            gxs: &mut gxs,
            masks,
        };
        cell.backward_seq(&mut steps, g);
        let first = first.h.iter().chain(first.c.iter()).copied().collect();
        (gxs, first, parameter_vectors(&cell, true))
    }

    #[test]
    fn a_backward_without_scratch_gives_the_same_bits_as_with_one() {
        let masked = Some([true, false]);
        let cases: [&[Option<[bool; 2]>]; 6] = [
            &[None],
            &[masked],
            &[None, None],
            &[None, masked],
            &[None, masked, None],
            &[masked, None, None, masked],
        ];
        for masks in cases {
            let with = backward(masks, true);
            assert_eq!(with, backward(masks, false), "{masks:?}");
            // The masked sample's state gradient after a masked step is zero, so the result
            // differs from the unmasked one: the mask was applied.
            if masks.contains(&masked) {
                let unmasked = alloc::vec![None; masks.len()];
                assert_ne!(with.1, backward(&unmasked, true).1, "{masks:?}");
            }
        }
    }
}
