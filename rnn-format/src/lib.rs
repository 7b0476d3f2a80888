//! What the `network!` macro (at build time) and `rnn_core` (at run time) must agree on about
//! layers and weight files, in one place both depend on: the layers of the DSL, how each is
//! written and built and the tensors it has ([`layers`]), how PyTorch's names map onto ours
//! ([`TorchNames`]), what a safetensors header offers ([`header`]) and how it matches what a
//! network wants, every problem listed ([`plan`], [`WeightsError`]), and the size rules of a
//! layer ([`sizes`]).
//!
//! It exists because the macro cannot depend on `rnn_core` (which re-exports the macro), yet a
//! file whose names or shapes do not fit must be the same error at compile time (`weights =
//! "..."` in a network's header) as at run time (`load_state_dict`). Use it through
//! `rnn_core::io`, which re-exports its public types.

#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
pub mod header;
pub mod layers;
pub mod nam;
mod names;
pub mod plan;
pub mod sizes;

pub use error::{
    DtypeMismatch, Mismatches, ShapeMismatch, Unexpected, WeightsError, edit_distance, nearest,
};
pub use names::TorchNames;
pub use safetensors::Dtype;
