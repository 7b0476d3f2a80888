//! # rnn-core
//!
//! Recurrent neural networks compiled at build time: you describe a network with the
//! [`network!`] macro and get a plain struct with fixed-size weights, per-step storage made
//! once, and forward and backward-through-time code for that network. It trains as well as
//! it infers, reads and writes PyTorch `state_dict`s, and runs without `std`.
//!
//! ## Start here
//!
//! ```
//! use rnn_core::prelude::*;
//!
//! network! {
//!     /// Tags each of 8 steps of a 10-feature sequence with one of 5 classes.
//!     pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
//! }
//!
//! let mut net = Tagger::new(42); // seeded, Torch's initialisation
//! let crit = SequencerCriterion::new(ClassNll::default());
//! let adam = Adam::new(0.01)?;
//! let inputs = [SMatrix::<f32, 10, 1>::from_element(0.5); 8]; // one matrix per step
//! let targets = [[Class::<5>::new(3).expect("3 < 5")]; 8];   // one class per step
//! for _ in 0..50 {
//!     net.zero_grad_parameters();
//!     let outputs = net.forward(&inputs);
//!     let loss = crit.forward(outputs, &targets);
//!     let grads = crit.backward(outputs, &targets);
//!     net.backward_parameters(&inputs, &grads); // BPTT; backward also returns input gradients
//!     adam.step(&mut net)?;
//!     net.check_finite()?; // stop on NaN, saying where
//!     # let _ = loss;
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Where to go next:
//! - [`Network`]: what every generated struct can do (whole sequences, `remember`/`forget`,
//!   truncated BPTT, training and evaluation modes, weights I/O); [`Online`]: one step at a time.
//! - [`criterion`]: `ClassNll`, `CrossEntropy`, `Mse` per step, summed over a sequence by
//!   [`criterion::SequencerCriterion`]; masking and sequence-to-one targets for sequences of
//!   different lengths ([`criterion::SomeSamples`], `Option` targets).
//! - [`optim`]: `Sgd`, `Adam`, `clip_grad_norm`.
//! - [`io`]: PyTorch `state_dict`s, safetensors files, checkpoints.
//! - `parallel` (feature `parallel`): data-parallel training on every core; `distributed`
//!   (feature `mpi`): the same across MPI processes, bit-identical for any number of them.
//! - [`bisequencer`], [`residual`], [`layers::lookup_table`]: reading both ways, residual
//!   blocks, token inputs.
//!
//! The crate is `no_std` (it needs `alloc`); the `std` feature (default) adds file I/O and
//! run-time CPU detection of the SIMD kernels, the `parallel` feature the data-parallel trainer,
//! the `mpi` feature its MPI counterpart (it needs an MPI library and libclang to build).
//!
//! # The `network!` DSL
//!
//! ```
//! use rnn_core::prelude::*;
//!
//! network! {
//!     /// Tags each of 8 steps of a 10-feature sequence with one of 5 classes.
//!     pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
//!
//!     /// Same shape, mini-batches of 32, double precision.
//!     pub(crate) Tagger64<seq_len = 8, batch = 32, scalar = f64> =
//!         Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
//! }
//!
//! let mut net = Tagger::new(42);
//! let crit = SequencerCriterion::new(ClassNll::default());
//! let inputs = [SMatrix::<f32, 10, 1>::from_element(0.5); 8];
//! let targets = [[Class::<5>::new(3).expect("3 < 5")]; 8];
//! let mut losses = Vec::new();
//! for _ in 0..20 {
//!     net.zero_grad_parameters();
//!     let outputs = net.forward(&inputs);
//!     losses.push(crit.forward(outputs, &targets));
//!     let grads = crit.backward(outputs, &targets);
//!     net.backward(&inputs, &grads);
//!     net.update_parameters(0.1);
//! }
//! assert!(losses[19] < losses[0] / 2.0);
//! assert_eq!(net.parameters()[0].name, "0.weight_ih");
//! assert_eq!(net.num_parameters(), 2665);
//! ```
//!
//! Options inside `< >`, in any order: `seq_len = N` (required), `batch = B` (default 1),
//! `scalar = f32 | f64` (default `f32`), `unroll = full` (at most 1024 time steps as straight-line code
//! instead of a loop), `mask_zero = true` (Torch's `maskZero`: a sample whose input column is
//! exactly zero at a step is masked there: zero output, state reset to the initial state, no
//! gradient; see [`Sequencer::with_mask_zero`]), `weights = "file.safetensors"` with
//! optionally `names = [ ... ]` (trained weights compiled in; see [Weights compiled
//! in](#weights-compiled-in)). Layers with sizes (integer literals, or `usize` constants in scope such
//! as `LSTM(IN, HIDDEN)` after `const HIDDEN: usize = 20;`, checked like literals when the
//! crate compiles): `Linear(in, out)`, `LSTM(in, hidden)` (alias
//! `FastLSTM`), `PeepholeLSTM(in, hidden)`, `GRU(in, hidden)`, `RNN(in, hidden)`,
//! `Conv1d(in, out, kernel)` with option `dilation = d` (a causal convolution over time; see
//! [`layers::conv1d`]). Size-free
//! layers take the previous layer's size: `LogSoftMax`, `SoftMax`, `Tanh`, `Sigmoid`, `ReLU`,
//! `Identity`, `Dropout(p)`. A first layer `LookupTable(vocab, dim)` (alias `Embedding`,
//! optionally `padding = k`) makes the network read token indices (see
//! [`layers::lookup_table`]). `Sequential[ ... ]` nests; `Residual[ ... ]` inside it is
//! `y = f(x) + x` around its layers (see [`residual`]); `BiSequencer[ ... ]` runs its layers
//! both ways and joins the outputs (see [`bisequencer`]). Each generated struct implements
//! [`Network`] (forward, backward, `forget`, `remember`, `training`/`evaluate`, weights I/O)
//! and, unless it holds a `BiSequencer`, [`Online`] (`step`/`backward_step`). Sequences are
//! slices of 1 to `seq_len` steps. A network holds at most 128 layers (nested ones included)
//! and containers nest at most 16 deep; past either the macro says so at the spot.
//!
//! Containers and options for sequences of different lengths and other shapes of data:
//!
//! ```
//! use rnn_core::prelude::*;
//!
//! const HIDDEN: usize = 8;
//!
//! network! {
//!     /// Left-padded batches: all-zero input columns are masked (zero output, state reset,
//!     /// no gradient), so each sample gives what it would alone. Sizes may be constants.
//!     pub Tagger<seq_len = 4, batch = 2, mask_zero = true> =
//!         Sequential[ LSTM(3, HIDDEN), Residual[ Linear(HIDDEN, HIDDEN), Tanh ], Linear(HIDDEN, 2) ];
//!     /// One input fed at every step (Torch's `nn.Repeater`): `forward(&x)`, and `backward`
//!     /// returns the gradient summed over the steps.
//!     pub Decoder<seq_len = 4> = Repeater[ GRU(3, 8), Linear(8, 2) ];
//! }
//!
//! let mut net = Tagger::new(1);
//! let mut x = [SMatrix::<f32, 3, 2>::from_element(0.5); 4];
//! x[0].column_mut(1).fill(0.0); // sample 1 is one step shorter: padded at step 0
//! let y = net.forward(&x);
//! assert_eq!(y[0].column(1).amax(), 0.0);
//!
//! let mut dec = Decoder::new(2);
//! let outputs = dec.forward(&SMatrix::<f32, 3, 1>::from_element(0.1)).to_vec();
//! // The last output alone carries the loss here: a gradient at one step.
//! let mut g = [SMatrix::<f32, 2, 1>::zeros(); 4];
//! g[3] = outputs[3];
//! let dx = dec.backward(&SMatrix::<f32, 3, 1>::from_element(0.1), &g);
//! assert!(dx.iter().all(|v| v.is_finite()));
//! ```
//!
//! A layer whose input size differs from the previous layer's output does not compile:
//!
//! ```compile_fail
//! use rnn_core::prelude::*;
//! network! {
//!     pub Broken<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(30, 5) ];
//! }
//! ```
//!
//! # Weights compiled in
//!
//! `weights = "path"` (relative to the crate's directory, `CARGO_MANIFEST_DIR`) names a
//! safetensors file, e.g. a PyTorch `state_dict`, that the macro reads when the crate builds:
//! every name, dtype and shape is checked against the network, every problem is one compile
//! error at that line (as [`io::load_state_dict`] words it), and the file is embedded in the
//! binary (`include_bytes!`, so the crate rebuilds when the file changes). `Name::pretrained()`
//! (and `try_pretrained()`, which returns the allocation error instead of aborting) builds
//! the network with those weights: no file, no I/O, no parsing at run time, `no_std` too; the
//! same bits as loading the file at run time. `names = [ ... ]` maps a PyTorch module's names
//! as [`io::TorchNames`] does, one rule per builder method: `module("head", 2)`,
//! `module_at("lin", "0.1")`, `recurrent("rnn", 0, 2)`, `recurrent_at("rec", "0.0", 1)`, and
//! `convert_dtype` (f16, bf16, f32 or f64 files into either scalar). Layer sizes must be
//! integer literals (the macro compares them with the file's shapes); files above 64 MiB are
//! refused (load those at run time).
//!
//! ```
//! use rnn_core::prelude::*;
//!
//! network! {
//!     // class Amp(nn.Module): self.rec = nn.LSTM(1, 16); self.lin = nn.Linear(16, 1)
//!     //                       forward: lin(rec(x)) + x
//!     pub Amp<seq_len = 12, batch = 2,
//!             weights = "../tests/fixtures/state_dicts/amp_residual.safetensors",
//!             names = [recurrent_at("rec", "0.0", 1), module_at("lin", "0.1")]> =
//!         Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
//! }
//! let net = Amp::pretrained();
//! assert_eq!(net.num_parameters(), 4 * 16 * (1 + 16) + 8 * 16 + 16 + 1);
//! ```
//!
//! # For layer authors
//!
//! Conventions shared by every layer:
//! - A batch is a const dimension `B`: an input of `I` features is an `SMatrix<S, I, B>`, one
//!   column per sample.
//! - Weights are stored `out x in` as in PyTorch, and `y = W x + b` column by column.
//! - `backward` **accumulates** parameter gradients (Torch's `accGradParameters`); call
//!   `zero_grad_parameters` (or [`Parameterized::zero_grad`]) between updates.
//! - Recurrent cells carry an explicit [`Layer::State`] from step to step and keep what their
//!   backward needs in a per-step [`Layer::Cache`].
//! - A layer is seen two ways ([`Layer`]): one step at a time (`forward_step`/`backward_step`,
//!   taking a [`layer::ForwardStep`]/[`layer::BackwardStep`]: what a layer computes, and what
//!   the defaults of the sequence methods call step after step) and over a sequence
//!   (`forward_seq`/`backward_seq`), which is how the engine runs every layer: whole
//!   sequences layer by layer (so a layer may work on all steps at once; a
//!   [`bisequencer::BiSequencer`] must), and the online `step`, `unroll = full` and a
//!   `Repeater` as sequences of one step ([`one_step`]). A container (`Sequential`,
//!   `Residual`) writes its wiring once, for sequences: its step methods run its sequence
//!   methods on one step. Masking (`mask_zero`) is applied in one place, the default sequence
//!   methods ([`layer::ForwardSeq::step_masked`]). Adding a layer is one file in `layers/`
//!   (`layers/linear.rs` is the one to copy: docs with shapes and equations, the `Layer`
//!   impl, its parameters listed once for `param::parameters!`, a finite-difference test), its
//!   `pub mod` in `layers/mod.rs`, one entry in the table of layers (`rnn_format::layers`,
//!   which `network!` and the weight files read: how the layer is written, the type it
//!   becomes and its tensors with their PyTorch shapes, checked against the layer by a test; a
//!   layer with more sizes or options describes them there, as `Conv1d`'s entry lists its
//!   sizes, its `dilation` option and the products its Rust type takes, and the macro parses,
//!   checks and builds it from that alone) and a marker in [`dsl`] for the compiler's
//!   messages. A `Sequential`'s layers are pipelined by `Online::process_block`
//!   ([`Layer::forward_step_skewed`]), which a layer gets for free; a fused block kernel for
//!   a pair of layers ([`block`]) is the one place that names layers, through
//!   [`Layer::block_stage`] (default: none).
//! - Nothing allocates after construction. Parameters live on the heap (created in place, so
//!   large layers never pass through the stack, each starting on a cache line); per-step values
//!   are plain fixed-size matrices. A network built `new_for_inference` or
//!   `pretrained_for_inference` has no gradient or optimiser buffers (a quarter of the
//!   parameters' memory); if it trains after all, its first backward and optimiser step
//!   allocate them (or `try_reserve_training` does, beforehand).
//!
//! # Layering
//!
//! Modules import only from those listed before or beside them (no import circle: `farm-studio
//! look` draws the graph; the crate root's re-exports aside):
//!
//! 1. [`fastmath`]: the `f32` activations' polynomials, importing nothing of the crate;
//! 2. the scalar: [`float`] (the [`Float`] trait, zeroed allocation) and [`rng`];
//! 3. `kernels`: every product and vector kernel, the choice of path, all `unsafe`
//!    ([`sigmoid_slice`] and [`tanh_slice`] dispatch to the vector code here, not in the
//!    scalar trait);
//! 4. the parameter and layer contracts: [`param`], [`onnx`] (the graph a layer adds itself
//!    to, and the ONNX messages), [`layer`];
//! 5. [`optim`]: the optimisers, over the parameter visitor;
//! 6. weight files: [`io`] (checkpoints record the optimisers' kinds);
//! 7. the engine: [`network`](mod@network) (the sequencer, truncated BPTT, masking);
//! 8. what is built on them: [`layers`], the containers ([`sequential`], [`residual`],
//!    [`bisequencer`]), [`criterion`] (reusing the LogSoftMax column and the engine's length
//!    errors), [`gradcheck`] (the layers' tests use it), `parallel`, then `distributed` on it;
//! 9. the `network!` expansion's support (`__private`).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]

extern crate alloc;
// Lets the `network!` expansion name `::rnn_core` inside this crate's own tests too.
extern crate self as rnn_core;
#[cfg(feature = "std")]
extern crate std;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;
pub mod bisequencer;
pub mod block;
pub mod criterion;
pub mod dsl;
pub mod fastmath;
pub mod float;
pub mod gradcheck;
pub mod io;
mod kernels;
pub mod layer;
pub mod layers;
pub mod network;
pub mod one_step;
pub mod onnx;
pub mod optim;
#[cfg(feature = "parallel")]
#[cfg_attr(docsrs, doc(cfg(feature = "parallel")))]
pub mod parallel;

#[cfg(feature = "mpi")]
#[cfg_attr(docsrs, doc(cfg(feature = "mpi")))]
pub mod distributed;
pub mod param;
pub mod residual;
pub mod rng;
pub mod sequential;

/// For `#[derive(bytemuck::Zeroable)]` on the states and caches of your own layers (what
/// [`ZeroInit`] needs): `#[derive(rnn_core::bytemuck::Zeroable)]` with
/// `#[zeroable(crate = "rnn_core::bytemuck")]`.
pub use bytemuck;
pub use float::{AllocError, CacheAligned, Float, ZeroInit};
pub use kernels::{
    FusedBlock, FusedCell, KernelChoice, SimdPath, kernel_choice, sigmoid_slice, simd_path,
    tanh_slice,
};
pub use layer::Layer;
pub use network::{BpttError, LengthError, Network, NonFinite, Online, Remember, Sequencer};
pub use param::{
    FlatLengthError, ParamKind, ParamMut, ParamName, ParamRef, ParamSlot, ParamStore, Parameterized,
};
pub use rng::Rng;
pub use rnn_macros::network;

/// Re-exports for `use rnn_core::prelude::*;`.
pub mod prelude {
    pub use crate::criterion::{
        Class, ClassNll, Criterion, CrossEntropy, MaskZeroCriterion, Mse, SequencerCriterion,
        SomeSamples,
    };
    pub use crate::float::Float;
    pub use crate::layer::Layer;
    pub use crate::layers::*;
    pub use crate::network;
    pub use crate::network::{BpttError, LengthError, Network, NonFinite, Online, Remember};
    pub use crate::optim::{Adam, OptimError, Optimizer, Sgd, clip_grad_norm};
    pub use crate::param::{ParamMut, ParamRef, Parameterized};
    pub use crate::rng::Rng;
    pub use nalgebra::{SMatrix, SVector};
}
