//! # rnn-core
//!
//! Everything that computes in `rnn`: layers with their forward and backward maths, criteria,
//! optimisers and weight I/O, on nalgebra's fixed-size matrices.
//!
//! Conventions shared by every layer:
//! - A batch is a const dimension `B`: an input of `I` features is an `SMatrix<S, I, B>`, one
//!   column per sample.
//! - Weights are stored `out x in` as in PyTorch, and `y = W x + b` column by column.
//! - `backward_step` **accumulates** parameter gradients (Torch's `accGradParameters`); call
//!   `zero_grad_parameters` (or [`Parameterized::zero_grad`]) between updates.
//! - Recurrent cells carry an explicit [`Layer::State`] from step to step and keep what their
//!   backward needs in a per-step [`Layer::Cache`].
//! - Nothing allocates after construction. Parameters live on the heap (created in place, so
//!   large layers never pass through the stack); per-step values are plain fixed-size matrices.
//!
//! The crate is `no_std` (it needs `alloc` for the parameter boxes); the `std` feature (default)
//! adds file I/O.
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
pub mod criterion;
pub mod dsl;
pub mod float;
pub mod gradcheck;
pub mod layer;
pub mod layers;
pub mod network;
mod ops;
pub mod optim;
pub mod param;
pub mod rng;
pub mod sequential;

pub use float::{Float, ZeroInit};
pub use layer::Layer;
pub use network::{BpttError, Network, Remember, Sequencer};
pub use param::{ParamMut, ParamName, ParamRef, Parameterized};
pub use rng::Rng;
pub use rnn_macros::network;

/// Re-exports for `use rnn_core::prelude::*;`.
pub mod prelude {
    pub use crate::criterion::{Class, ClassNll, Criterion, CrossEntropy, Mse, SequencerCriterion};
    pub use crate::float::Float;
    pub use crate::layer::Layer;
    pub use crate::layers::*;
    pub use crate::network;
    pub use crate::network::{BpttError, Network, Remember};
    pub use crate::optim::{Adam, Optimizer, Sgd, clip_grad_norm};
    pub use crate::param::{ParamMut, ParamRef, Parameterized};
    pub use crate::rng::Rng;
    pub use nalgebra::{SMatrix, SVector};
}
