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

mod error;
mod names;

pub use error::{DtypeMismatch, Mismatches, ShapeMismatch, Unexpected, WeightsError};
pub use names::TorchNames;

use crate::param::OptimKind;
use crate::{Float, Parameterized};
use alloc::borrow::Cow;
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use nalgebra::DMatrixView;
use safetensors::{Dtype, SafeTensors, View};

#[cfg(feature = "std")]
type MetaMap = std::collections::HashMap<String, String>;
#[cfg(not(feature = "std"))]
type MetaMap = hashbrown::HashMap<String, String>;

/// The largest header (the JSON part of a file) that loading reads: 16 MiB, thousands of times
/// what any network here needs.
pub const HEADER_LIMIT: usize = 16 << 20;

const CHECKPOINT_FORMAT: &str = "rnn-checkpoint";
const CHECKPOINT_VERSION: &str = "2";

/// What a tensor of a file stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Slot {
    Value,
    M,
    V,
    Steps,
}

/// One tensor that the network expects, in the order of its parameters.
struct Wanted {
    name: String,
    param: usize,
    slot: Slot,
    shape: Vec<usize>,
}

fn dtype_of<S: Float>() -> Dtype {
    if S::DTYPE == "F64" {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// Every tensor `params` has under `names` (with the optimiser state for a checkpoint), or an
/// error if two of them would share a name.
fn wanted<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    names: &TorchNames,
    checkpoint: bool,
) -> Result<Vec<Wanted>, WeightsError> {
    names.check()?;
    let mut out = Vec::new();
    let mut param = 0;
    let mut cut = None;
    let mut layers = alloc::collections::BTreeSet::new();
    params.visit_parameters(&mut |p| {
        if !p.name.is_whole() {
            cut.get_or_insert(p.name);
        }
        // Every layer the parameter is in: its container's path and each one above it.
        let path: Vec<usize> = p.name.path().collect();
        for depth in 1..=path.len() {
            if !layers.contains(&path[..depth]) {
                layers.insert(path[..depth].to_vec());
            }
        }
        let name = names.map(&p.name.to_string());
        let (rows, cols) = p.value.shape();
        let shape = p.kind.torch_shape(rows, cols);
        if checkpoint {
            for (prefix, slot) in [("optim.m.", Slot::M), ("optim.v.", Slot::V)] {
                out.push(Wanted {
                    name: format!("{prefix}{name}"),
                    param,
                    slot,
                    shape: shape.clone(),
                });
            }
            out.push(Wanted {
                name: format!("optim.step.{name}"),
                param,
                slot: Slot::Steps,
                shape: Vec::new(),
            });
        }
        out.push(Wanted {
            name,
            param,
            slot: Slot::Value,
            shape,
        });
        param += 1;
    });
    if let Some(name) = cut {
        return Err(WeightsError::Names(format!(
            "`{name}` is nested deeper than {} levels or past index {}: its name is not whole",
            crate::param::MAX_DEPTH,
            u16::MAX
        )));
    }
    names.check_matches(&layers)?;
    let mut sorted: Vec<&str> = out.iter().map(|w| w.name.as_str()).collect();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(WeightsError::Names(format!(
            "two parameters are both named `{}`",
            w[0]
        )));
    }
    Ok(out)
}

/// A tensor on offer: from a file (row-major little-endian bytes) or another network.
struct Offered<'a, S: Float> {
    name: Cow<'a, str>,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Data<'a, S>,
}

enum Data<'a, S: Float> {
    Bytes(&'a [u8]),
    Matrix(DMatrixView<'a, S>),
}

impl<S: Float> Data<'_, S> {
    /// Element `k` in row-major order (PyTorch's) of a tensor with `cols` columns.
    fn element(&self, dtype: Dtype, k: usize, cols: usize) -> S {
        match self {
            Self::Bytes(_) => S::cast(self.raw(dtype, k, cols)),
            Self::Matrix(m) => m[(k / cols, k % cols)],
        }
    }

    /// [`Data::element`] before it is rounded to `S`, exactly (every source dtype is exact
    /// in `f64`).
    fn raw(&self, dtype: Dtype, k: usize, cols: usize) -> f64 {
        match self {
            Self::Bytes(b) => match dtype {
                Dtype::F64 => {
                    let mut x = [0u8; 8];
                    x.copy_from_slice(&b[8 * k..8 * k + 8]);
                    f64::from_le_bytes(x)
                }
                Dtype::F16 | Dtype::BF16 => {
                    let bits = u16::from_le_bytes([b[2 * k], b[2 * k + 1]]);
                    if dtype == Dtype::F16 {
                        half::f16::from_bits(bits).to_f64()
                    } else {
                        half::bf16::from_bits(bits).to_f64()
                    }
                }
                _ => {
                    let mut x = [0u8; 4];
                    x.copy_from_slice(&b[4 * k..4 * k + 4]);
                    f64::from(f32::from_le_bytes(x))
                }
            },
            Self::Matrix(m) => m[(k / cols, k % cols)].to_f64(),
        }
    }

    /// A `U64` scalar (a checkpoint's step count).
    fn steps(&self) -> u64 {
        match self {
            Self::Bytes(b) => {
                let mut x = [0u8; 8];
                x.copy_from_slice(&b[..8]);
                u64::from_le_bytes(x)
            }
            Self::Matrix(_) => 0,
        }
    }
}

/// Matches what is offered against what is wanted: for each wanted tensor, the index of the
/// offered one, or every problem at once.
fn plan<S: Float>(
    wanted: &[Wanted],
    offered: &[Offered<'_, S>],
    convert: bool,
) -> Result<Vec<usize>, WeightsError> {
    let by_name: BTreeMap<&str, usize> = offered
        .iter()
        .enumerate()
        .map(|(k, o)| (o.name.as_ref(), k))
        .collect();
    let mut m = Mismatches::default();
    let mut used = alloc::vec![false; offered.len()];
    let mut plan = Vec::with_capacity(wanted.len());
    // What can be converted on request: into the network's f32 or f64, from f16, bf16, f32
    // or f64 (exact, except f64 -> f32, rounded to nearest).
    let source = |d: Dtype| matches!(d, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64);
    for w in wanted {
        let Some(&k) = by_name.get(w.name.as_str()) else {
            m.missing.push(w.name.clone());
            continue;
        };
        used[k] = true;
        plan.push(k);
        let o = &offered[k];
        let need = if w.slot == Slot::Steps {
            Dtype::U64
        } else {
            dtype_of::<S>()
        };
        let dtype_ok = o.dtype == need || (convert && need != Dtype::U64 && source(o.dtype));
        if !dtype_ok {
            m.dtypes.push(DtypeMismatch {
                name: w.name.clone(),
                expected: dtype_name(need),
                found: dtype_name(o.dtype),
            });
        }
        if o.shape != w.shape {
            m.shapes.push(ShapeMismatch {
                name: w.name.clone(),
                expected: w.shape.clone(),
                found: o.shape.clone(),
            });
        }
    }
    // Hints cost |unexpected| x |missing| edit distances: bounded for hostile files.
    let missing: Vec<&str> = m.missing.iter().take(1024).map(String::as_str).collect();
    for (o, _) in offered.iter().zip(&used).filter(|(_, used)| !**used) {
        let nearest = if m.unexpected.len() < 64 && o.name.len() <= 256 {
            error::nearest(&o.name, &missing).map(ToString::to_string)
        } else {
            None
        };
        m.unexpected.push(Unexpected {
            name: o.name.to_string(),
            nearest,
        });
    }
    if m.is_empty() {
        Ok(plan)
    } else {
        Err(WeightsError::Mismatch(m))
    }
}

/// The values [`apply`] must not write, one line per tensor (see [`WeightsError::Values`]):
/// finite values that become infinite in `S` (a conversion), and optimiser moments that are
/// NaN, infinite or (second moments) negative.
fn check_values<S: Float>(
    wanted: &[Wanted],
    plan: &[usize],
    offered: &[Offered<'_, S>],
) -> Result<(), WeightsError> {
    let mut bad = Vec::new();
    for (w, &k) in wanted.iter().zip(plan) {
        let o = &offered[k];
        // Values of the network's own dtype are loaded as they are: only conversions and
        // moments are looked at.
        if w.slot == Slot::Steps || (w.slot == Slot::Value && o.dtype == dtype_of::<S>()) {
            continue;
        }
        let n: usize = w.shape.iter().product();
        let cols = if w.shape.len() == 2 { w.shape[1] } else { 1 };
        let problem = (0..n).find_map(|e| {
            let raw = o.data.raw(o.dtype, e, cols);
            let value = S::cast(raw).to_f64();
            let why = match w.slot {
                Slot::Value if raw.is_finite() && !value.is_finite() => format!(
                    "is {raw:e}, beyond the range of the network's {} (converted from {})",
                    S::DTYPE,
                    dtype_name(o.dtype)
                ),
                Slot::M | Slot::V if !value.is_finite() => format!(
                    "is {value}: an optimiser moment must be finite (the next step would \
                     spread it into the weights)"
                ),
                Slot::V if value < 0.0 => {
                    format!(
                        "is {value}: a second moment is a running mean of squares, never negative"
                    )
                }
                _ => return None,
            };
            Some(format!("`{}` element {e} {why}", w.name))
        });
        bad.extend(problem);
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(WeightsError::Values(bad))
    }
}

/// Writes the planned tensors into `params`. Only called once [`plan`] has checked everything.
/// `kinds`, if not empty, holds the optimiser recorded for each parameter (a checkpoint's).
fn apply<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    (wanted, plan): (&[Wanted], &[usize]),
    offered: &[Offered<'_, S>],
    kinds: &[OptimKind],
) {
    let mut at = 0;
    let mut param = 0;
    params.visit_parameters_mut(&mut |mut p| {
        let (rows, cols) = p.value.shape();
        if let Some(&kind) = kinds.get(param) {
            *p.state.kind = kind;
        }
        while at < wanted.len() && wanted[at].param == param {
            let o = &offered[plan[at]];
            let get = |k: usize| o.data.element(o.dtype, k, cols);
            match wanted[at].slot {
                Slot::Value => {
                    for k in 0..rows * cols {
                        p.value[(k / cols, k % cols)] = get(k);
                    }
                }
                Slot::M | Slot::V => {
                    let buf = if wanted[at].slot == Slot::M {
                        &mut *p.state.m
                    } else {
                        &mut *p.state.v
                    };
                    for k in 0..rows * cols {
                        buf[(k % cols) * rows + k / cols] = get(k);
                    }
                }
                Slot::Steps => *p.state.steps = o.data.steps(),
            }
            at += 1;
        }
        param += 1;
    });
}

/// The names of a header in file order, to find duplicates (which JSON readers into maps,
/// the `safetensors` crate's too, silently merge).
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Keys;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = a.next_key::<String>()? {
                    a.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// A parsed, validated file: its tensors (sorted by name) and its metadata.
struct Parsed<'a, S: Float> {
    tensors: Vec<Offered<'a, S>>,
    metadata: Option<MetaMap>,
}

fn format_err(e: impl core::fmt::Display) -> WeightsError {
    WeightsError::Format(e.to_string())
}

fn parse<S: Float>(bytes: &[u8]) -> Result<Parsed<'_, S>, WeightsError> {
    if let Some(len) = bytes.get(..8) {
        let mut n = [0u8; 8];
        n.copy_from_slice(len);
        let n = u64::from_le_bytes(n);
        if n > HEADER_LIMIT as u64 {
            return Err(WeightsError::Format(format!(
                "the header is {n} bytes, more than the {HEADER_LIMIT} bytes a weights file may have"
            )));
        }
    }
    let (n, meta) = SafeTensors::read_metadata(bytes).map_err(format_err)?;
    let header = bytes
        .get(8..8 + n)
        .and_then(|h| core::str::from_utf8(h).ok())
        .ok_or_else(|| format_err("header"))?;
    // The format: the header begins with `{` and may be padded at its end with spaces only
    // (JSON readers also take leading whitespace and tabs or newlines).
    if !header.starts_with('{') || !header.trim_end_matches(' ').ends_with('}') {
        return Err(format_err(
            "the header must begin with `{` and end with `}` padded by spaces only",
        ));
    }
    let Keys(mut keys) = serde_json::from_str(header).map_err(format_err)?;
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(WeightsError::Format(format!(
            "the header names `{}` twice",
            w[0]
        )));
    }
    let data = &bytes[8 + n..];
    let mut tensors = Vec::new();
    for (name, info) in meta.tensors() {
        let (s, e) = info.data_offsets;
        let raw = data
            .get(s..e)
            .ok_or_else(|| format_err(format!("data offsets of `{name}`")))?;
        tensors.push(Offered {
            name: Cow::Owned(name),
            dtype: info.dtype,
            shape: info.shape.clone(),
            data: Data::Bytes(raw),
        });
    }
    tensors.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    Ok(Parsed {
        tensors,
        metadata: meta.metadata().clone(),
    })
}

fn load<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    bytes: &[u8],
    names: &TorchNames,
    checkpoint: bool,
) -> Result<(), WeightsError> {
    let want = wanted(params, names, checkpoint)?;
    let file = parse::<S>(bytes)?;
    if checkpoint {
        let meta = file.metadata.as_ref();
        let get = |k: &str| meta.and_then(|m| m.get(k)).map(String::as_str);
        if get("format") != Some(CHECKPOINT_FORMAT) {
            return Err(WeightsError::Format(
                "not a checkpoint (its metadata has no `format: rnn-checkpoint`); a weights \
                 file loads with `load_safetensors`"
                    .into(),
            ));
        }
        if !matches!(get("version"), Some("1" | CHECKPOINT_VERSION)) {
            return Err(WeightsError::Format(format!(
                "checkpoint version {:?}, this library reads versions 1 and {CHECKPOINT_VERSION}",
                get("version").unwrap_or("(none)")
            )));
        }
    }
    let plan = plan(&want, &file.tensors, names.converts_dtype() && !checkpoint)?;
    check_values(&want, &plan, &file.tensors)?;
    let kinds = if checkpoint {
        optimizer_kinds(&want, file.metadata.as_ref())?
    } else {
        Vec::new()
    };
    apply(params, (&want, &plan), &file.tensors, &kinds);
    Ok(())
}

/// The metadata key of the optimiser recorded for parameter `name` (our name).
fn kind_key(name: &str) -> String {
    format!("optim.kind.{name}")
}

/// The optimiser recorded for each parameter (by parameter index) in a checkpoint's metadata:
/// [`OptimKind::None`] where a version-1 checkpoint did not record one.
fn optimizer_kinds(
    wanted: &[Wanted],
    metadata: Option<&MetaMap>,
) -> Result<Vec<OptimKind>, WeightsError> {
    let mut kinds = Vec::new();
    for w in wanted.iter().filter(|w| w.slot == Slot::Value) {
        let text = metadata.and_then(|m| m.get(&kind_key(&w.name)));
        let kind = match text {
            None => OptimKind::None,
            Some(t) => OptimKind::from_metadata(t).ok_or_else(|| {
                WeightsError::Format(format!(
                    "the optimiser recorded for `{}` is not understood: {t:?}",
                    w.name
                ))
            })?,
        };
        debug_assert_eq!(kinds.len(), w.param);
        kinds.push(kind);
    }
    Ok(kinds)
}

/// One tensor to write.
struct Tensor {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Tensor {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn save<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    names: &TorchNames,
    checkpoint: bool,
) -> Result<Vec<u8>, WeightsError> {
    let want = wanted(params, names, checkpoint)?;
    let mut tensors: Vec<(String, Tensor)> = Vec::with_capacity(want.len());
    let mut kinds: Vec<(String, String)> = Vec::new();
    let mut at = 0;
    let mut param = 0;
    params.visit_parameters(&mut |p| {
        let (rows, cols) = p.value.shape();
        while at < want.len() && want[at].param == param {
            let w = &want[at];
            if checkpoint && w.slot == Slot::Value {
                kinds.push((kind_key(&w.name), p.state.kind.to_metadata()));
            }
            let mut data = Vec::with_capacity(rows * cols * core::mem::size_of::<S>());
            let dtype = match w.slot {
                Slot::Steps => {
                    data.extend_from_slice(&p.state.steps.to_le_bytes());
                    Dtype::U64
                }
                slot => {
                    for k in 0..rows * cols {
                        let (r, c) = (k / cols, k % cols);
                        let x = match slot {
                            Slot::M => p.state.m[c * rows + r],
                            Slot::V => p.state.v[c * rows + r],
                            _ => p.value[(r, c)],
                        };
                        x.extend_le_bytes(&mut data);
                    }
                    dtype_of::<S>()
                }
            };
            tensors.push((
                w.name.clone(),
                Tensor {
                    dtype,
                    shape: w.shape.clone(),
                    data,
                },
            ));
            at += 1;
        }
        param += 1;
    });
    let metadata = checkpoint.then(|| {
        let mut m = MetaMap::default();
        m.insert("format".into(), CHECKPOINT_FORMAT.into());
        m.insert("version".into(), CHECKPOINT_VERSION.into());
        m.extend(kinds);
        m
    });
    safetensors::serialize(tensors.iter().map(|(n, t)| (n.as_str(), t)), metadata)
        .map_err(format_err)
}

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

/// Copies every parameter value of `src` into `dst`, by name, without a file: e.g. from a
/// `batch = 64` training network into a `batch = 1` sampling network, or between `seq_len`s.
/// Optimiser state and gradients of `dst` are left as they are.
///
/// # Errors
/// [`WeightsError::Mismatch`] with every name and shape that differs; `dst` is unchanged.
pub fn copy_parameters<S, D, P>(dst: &mut D, src: &P) -> Result<(), WeightsError>
where
    S: Float,
    D: Parameterized<S> + ?Sized,
    P: Parameterized<S> + ?Sized,
{
    let names = TorchNames::new();
    let want = wanted(dst, &names, false)?;
    let mut offered: Vec<Offered<'_, S>> = Vec::new();
    src.visit_parameters(&mut |p| {
        let (rows, cols) = p.value.shape();
        offered.push(Offered {
            name: Cow::Owned(p.name.to_string()),
            dtype: dtype_of::<S>(),
            shape: p.kind.torch_shape(rows, cols),
            data: Data::Matrix(p.value),
        });
    });
    let plan = plan(&want, &offered, false)?;
    apply(dst, (&want, &plan), &offered, &[]);
    Ok(())
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
