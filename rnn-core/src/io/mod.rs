//! Weights in and out: [safetensors](https://github.com/huggingface/safetensors) files by
//! PyTorch-style name, PyTorch `state_dict` files as saved, checkpoints with optimiser state,
//! and copies between networks of the same layout.
//!
//! Tensors are stored as PyTorch stores them: row-major, little-endian, every weight 2-D
//! `[out, in]` (also when `in` or `out` is 1), biases and peephole vectors 1-D `[n]`. Reading
//! and validating the container is the `safetensors` crate's (bounded header, offsets that
//! tile the data exactly, no trailing bytes); this module adds a header cap, a check for
//! duplicate names, and the match against the network.
//!
//! **Loading never half-happens.** Every name, dtype and shape is checked before anything is
//! written; on any error the network is bit-identical to before, and a
//! [`WeightsError::Mismatch`] lists every missing, unexpected (with the nearest expected name
//! as a hint), wrongly typed and wrongly shaped tensor at once.
//!
//! | what | bytes | file | `Network` method |
//! |---|---|---|---|
//! | our names (`0.weight_ih`) | [`to_safetensors`], [`load_safetensors`] | [`save_file`], [`load_file`] | `save_safetensors`, `load_safetensors` |
//! | a PyTorch `state_dict` | [`to_state_dict`], [`load_state_dict`] | [`save_state_dict_file`], [`load_state_dict_file`] | `save_state_dict`, `load_state_dict` |
//! | a checkpoint | [`to_checkpoint`], [`load_checkpoint`] | [`save_checkpoint_file`], [`load_checkpoint_file`] | `save_checkpoint`, `load_checkpoint` |
//! | another network | [`copy_parameters`] | - | `copy_parameters_from` |
//! | a Neural Amp Modeler model (`.nam`, LSTM) | [`to_nam`], [`load_nam`], [`read_nam`] | - | `save_nam`, `load_nam` (on `Online`) |
//! | an ONNX model (see [below](#onnx)) | [`to_onnx`], [`to_onnx_with`], [`load_onnx`] | - | `save_onnx`, `load_onnx` |
//!
//! # PyTorch `state_dict`s
//!
//! A model saved with `safetensors.torch.save_file(model.state_dict(), "m.safetensors")`
//! loads with a [`TorchNames`] map from its module names to layer indices, and a file saved
//! with the same map loads into the module with `model.load_state_dict(load_file(...))`:
//!
//! ```
//! use rnn_core::io::{TorchNames, load_state_dict, to_state_dict};
//! use rnn_core::prelude::*;
//!
//! network! {
//!     // class Model(nn.Module):
//!     //     self.rnn = nn.LSTM(1, 16, num_layers=2); self.head = nn.Linear(16, 1)
//!     pub Model<seq_len = 4> = Sequential[ LSTM(1, 16), LSTM(16, 16), Linear(16, 1) ];
//! }
//! let names = TorchNames::new().recurrent("rnn", 0, 2).module("head", 2);
//! let bytes = to_state_dict(&Model::new(1), &names)?;
//! let mut net = Model::new(2);
//! load_state_dict(&mut net, &bytes, &names)?;
//! assert_eq!(net.parameters()[0].value.shape(), (64, 1)); // rnn.weight_ih_l0: [64, 1]
//! # Ok::<(), rnn_core::io::WeightsError>(())
//! ```
//!
//! # ONNX
//!
//! [`to_onnx`] writes a network as an ONNX model; [`load_onnx`] reads an ONNX model's weights
//! (ours, or `torch.onnx.export`'s) into a network of the same structure.
//!
//! Operator set [`OPSET`](crate::onnx::OPSET) (IR version 8). Input `input`: `[T, B, I]` in
//! the network's scalar type (`int64 [T, B]` token indices for a network that starts with a
//! `LookupTable`; `[B, I]` for a `Repeater`, whose `T` is its `seq_len`); output `output`:
//! `[T, B, O]`. `T` and `B` are free. Each layer becomes ONNX's own operator: `LSTM`
//! (peepholes as its `P` for `PeepholeLSTM`), `GRU` (`linear_before_reset = 1`, PyTorch's
//! form), `RNN`, each with `direction = "bidirectional"` for a `BiSequencer` around one of
//! them; `MatMul` + `Add` for `Linear`; `Gather` for `LookupTable`; `LogSoftmax`, `Softmax`,
//! `Tanh`, `Sigmoid`, `Relu`; `Add` for `Residual`; nothing for `Dropout` (the identity outside
//! training); `Conv` between two `Transpose`s for `Conv1d`, padded with `(kernel - 1) *
//! dilation` zeros on the left (its window of past inputs is not a graph input or output: each
//! run starts from zeros, so a signal streamed in pieces differs from one run at each piece's
//! first `(kernel - 1) * dilation` steps; an initial window that is not zero is an error).
//! Reading ONNX's `Conv` back is not supported (an error naming it). A `BiSequencer` around several layers runs its backward copy on the sequence
//! reversed in time (`Slice` with step -1).
//!
//! Every recurrent layer's initial state is a graph input named after its place (`0.h0`,
//! `0.c0`; `[D, B, H]`, `D` = 2 for a bidirectional one) and its final state a graph output
//! (`0.hn`, `0.cn`), so a runtime can stream a long signal in pieces. By default
//! ([`StateInputs::Optional`](crate::onnx::StateInputs)) an initial state that is not fed is
//! the one `forget()` returns to (an initializer of the same name, ONNX's default for an
//! input); [`StateInputs::Required`](crate::onnx::StateInputs) makes them inputs to feed
//! (tract folds an input with an initializer into a constant).
//!
//! A layer or option ONNX cannot express (`mask_zero`: ONNX's recurrent operators have no
//! per-step mask) is a [`WeightsError::Onnx`] naming it; nothing is silently changed.
//! A bidirectional layer's `hn` holds, for its backward direction, the state after the
//! sequence's first step (ONNX's meaning), where [`crate::Network::state`] holds that
//! direction's start.
//!
//! [`load_onnx`] pairs the model's layers with weights (`LSTM`/`GRU`/`RNN` nodes, one layer
//! per direction; `Gemm` or `MatMul` + `Add` as `Linear`; `Gather` from a table as
//! `LookupTable`), in graph order, with the network's layers with parameters, in order: what
//! `torch.onnx.export` writes for `nn.LSTM`/`nn.GRU`/`nn.RNN` (any `num_layers`,
//! `bidirectional`), `nn.Linear`, `nn.Embedding` and `log_softmax` loads into the matching
//! network, as do our own files. An operator no layer here computes is named in the error.
//!
//! ```
//! use rnn_core::io::{load_onnx, to_onnx};
//! use rnn_core::prelude::*;
//!
//! network! {
//!     pub Tagger<seq_len = 8> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
//! }
//! let bytes = to_onnx(&Tagger::new(1))?; // a file: net.save_onnx("tagger.onnx")
//! let mut net = Tagger::new(2);
//! load_onnx(&mut net, &bytes)?; // a file: net.load_onnx("tagger.onnx")
//! assert_eq!(net.parameters()[0].value, Tagger::new(1).parameters()[0].value);
//! # Ok::<(), rnn_core::io::WeightsError>(())
//! ```
//!
//! # Checkpoint format
//!
//! A checkpoint is a safetensors file whose `__metadata__` has `"format": "rnn-checkpoint"`
//! and `"version": "2"`. For every parameter `name` (our names) it holds four tensors:
//! `name` (the value), `optim.m.name` and `optim.v.name` (the optimiser's first and second
//! moment buffers, same shape and dtype as the value: SGD's momentum buffer is `m`, Adam uses
//! both) and `optim.step.name` (`U64`, shape `[]`: how many optimiser steps have touched the
//! parameter), and its metadata has `optim.kind.name`: the optimiser of the last step and its
//! hyper-parameters ([`crate::optim::OptimKind`], e.g. `adam lr=0.001 beta1=0.9 beta2=0.999
//! eps=1e-8`; `none` before any step). Gradients and the recurrent state are not stored.
//! Loading a checkpoint and stepping the same optimiser continues training bit for bit as if
//! it had never stopped; stepping another optimiser is an error
//! ([`crate::optim::OptimError::OtherOptimizer`]). Version-1 files (without the optimiser)
//! still load. Loading refuses moments that are NaN or infinite, and negative second moments
//! ([`WeightsError::Values`]).
//!
//! Every file is written atomically (a temporary file in the same directory, flushed, then
//! renamed over the target; [`write_atomic`]): a save that fails leaves the previous file.

mod codec;
mod nam;
mod onnx;

pub use codec::copy_parameters;
#[doc(hidden)]
pub use codec::{Embedded, load_embedded};
#[doc(hidden)]
pub use nam::load_nam_embedded;
pub use nam::{SETTLE_SAMPLES, load_nam, to_nam};
pub use onnx::{load_onnx, to_onnx, to_onnx_with};
pub use rnn_format::header::HEADER_LIMIT;
pub use rnn_format::nam::{NamFile, NamLstm, NamMetadata, read as read_nam};
pub use rnn_format::{
    DtypeMismatch, Mismatches, ShapeMismatch, TorchNames, Unexpected, WeightsError,
};

use crate::{Float, Parameterized};
#[cfg(feature = "std")]
use alloc::format;
use alloc::vec::Vec;
use codec::{load, save};

/// The parameters of `params` as a safetensors file in memory, by our names (`0.weight_ih`).
///
/// # Errors
/// [`WeightsError::Names`] if two parameters share a name.
pub fn to_safetensors<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
) -> Result<Vec<u8>, WeightsError> {
    save(params, &TorchNames::new(), false)
}

/// Loads `bytes` (a safetensors file with our names) into `params`, checking everything first.
///
/// # Errors
/// [`WeightsError::Format`] for a file that is not valid safetensors,
/// [`WeightsError::Mismatch`] with every difference to the network. `params` is unchanged on
/// any error.
pub fn load_safetensors<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    bytes: &[u8],
) -> Result<(), WeightsError> {
    load(params, bytes, &TorchNames::new(), false)
}

/// The parameters of `params` as a PyTorch `state_dict` file in memory, named by `names`.
///
/// # Errors
/// [`WeightsError::Names`] if the map is inconsistent or gives two parameters one name.
pub fn to_state_dict<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    names: &TorchNames,
) -> Result<Vec<u8>, WeightsError> {
    save(params, names, false)
}

/// Loads a PyTorch `state_dict` file (`bytes`, as `safetensors.torch.save_file` writes it)
/// into `params`, names mapped by `names`; see [`TorchNames`].
///
/// # Errors
/// As [`load_safetensors`]; dtypes must match unless `names` says
/// [`TorchNames::convert_dtype`].
pub fn load_state_dict<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    bytes: &[u8],
    names: &TorchNames,
) -> Result<(), WeightsError> {
    load(params, bytes, names, false)
}

/// The parameters of `params` and their optimiser state as a checkpoint in memory (see the
/// [format](self#checkpoint-format)).
///
/// # Errors
/// [`WeightsError::Names`] if two parameters share a name.
pub fn to_checkpoint<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
) -> Result<Vec<u8>, WeightsError> {
    save(params, &TorchNames::new(), true)
}

/// Loads a checkpoint (parameters and optimiser state) into `params`, checking everything
/// first.
///
/// # Errors
/// As [`load_safetensors`], and [`WeightsError::Format`] for a file that is not a checkpoint.
pub fn load_checkpoint<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    bytes: &[u8],
) -> Result<(), WeightsError> {
    load(params, bytes, &TorchNames::new(), true)
}

/// The most bytes any file for `params` can take: the header cap plus every scalar at 8 bytes,
/// four times over (a checkpoint holds three copies), plus the step counts.
#[cfg(feature = "std")]
fn file_limit<S: Float, P: Parameterized<S> + ?Sized>(params: &P) -> u64 {
    let (mut scalars, mut tensors) = (0u64, 0u64);
    params.visit_parameters(&mut |p| {
        scalars += p.value.len() as u64;
        tensors += 1;
    });
    8 + HEADER_LIMIT as u64 + 32 * scalars + 8 * tensors
}

/// Reads at most `file_limit(params)` bytes of `path`: never all of `/dev/zero`.
#[cfg(feature = "std")]
fn read_bounded<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    path: &std::path::Path,
) -> Result<Vec<u8>, WeightsError> {
    use std::io::Read;
    let limit = file_limit(params);
    let named = |e: std::io::Error| {
        WeightsError::Io(std::io::Error::new(
            e.kind(),
            format!("reading {}: {e}", path.display()),
        ))
    };
    let file = std::fs::File::open(path).map_err(named)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(named)?;
    if bytes.len() as u64 > limit {
        return Err(WeightsError::TooLarge { limit });
    }
    Ok(bytes)
}

/// Writes `bytes` to `path` atomically: into a new temporary file in the same directory,
/// flushed to disk, then renamed over `path`. A write that fails (disk full, a file size
/// limit, an interruption) leaves the previous file at `path` as it was and no temporary
/// behind; `std::fs::write` would have truncated it first.
///
/// # Errors
/// [`WeightsError::Io`] from creating, writing, flushing or renaming the file.
#[cfg(feature = "std")]
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<(), WeightsError> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| {
        WeightsError::Io(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        ))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = path.with_file_name(tmp_name);
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(WeightsError::Io(std::io::Error::new(
            e.kind(),
            format!("writing {}: {e}", path.display()),
        )));
    }
    Ok(())
}

/// Writes the parameters of `params` to a safetensors file at `path`, by our names.
///
/// # Errors
/// As [`to_safetensors`], and [`WeightsError::Io`].
#[cfg(feature = "std")]
pub fn save_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    path: impl AsRef<std::path::Path>,
) -> Result<(), WeightsError> {
    write_atomic(path.as_ref(), &to_safetensors(params)?)?;
    Ok(())
}

/// Loads a safetensors file at `path` into `params`; see [`load_safetensors`].
///
/// # Errors
/// As [`load_safetensors`], [`WeightsError::Io`], and [`WeightsError::TooLarge`] for a file
/// larger than any this network could load (read no further than that).
#[cfg(feature = "std")]
pub fn load_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    path: impl AsRef<std::path::Path>,
) -> Result<(), WeightsError> {
    let bytes = read_bounded(params, path.as_ref())?;
    load_safetensors(params, &bytes)
}

/// Writes `params` as a PyTorch `state_dict` file at `path`; see [`to_state_dict`].
///
/// # Errors
/// As [`to_state_dict`], and [`WeightsError::Io`].
#[cfg(feature = "std")]
pub fn save_state_dict_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    path: impl AsRef<std::path::Path>,
    names: &TorchNames,
) -> Result<(), WeightsError> {
    write_atomic(path.as_ref(), &to_state_dict(params, names)?)?;
    Ok(())
}

/// Loads a PyTorch `state_dict` file at `path`; see [`load_state_dict`].
///
/// # Errors
/// As [`load_state_dict`] and [`load_file`].
#[cfg(feature = "std")]
pub fn load_state_dict_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    path: impl AsRef<std::path::Path>,
    names: &TorchNames,
) -> Result<(), WeightsError> {
    let bytes = read_bounded(params, path.as_ref())?;
    load_state_dict(params, &bytes, names)
}

/// Writes a checkpoint of `params` (values and optimiser state) at `path`.
///
/// # Errors
/// As [`to_checkpoint`], and [`WeightsError::Io`].
#[cfg(feature = "std")]
pub fn save_checkpoint_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    path: impl AsRef<std::path::Path>,
) -> Result<(), WeightsError> {
    write_atomic(path.as_ref(), &to_checkpoint(params)?)?;
    Ok(())
}

/// Loads a checkpoint at `path`; see [`load_checkpoint`].
///
/// # Errors
/// As [`load_checkpoint`] and [`load_file`].
#[cfg(feature = "std")]
pub fn load_checkpoint_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    path: impl AsRef<std::path::Path>,
) -> Result<(), WeightsError> {
    let bytes = read_bounded(params, path.as_ref())?;
    load_checkpoint(params, &bytes)
}
