//! The safetensors format as this crate reads and writes it: what a network's parameters are
//! called and shaped ([`wanted`]), what a file offers and how it maps onto them ([`plan`],
//! every problem listed), the values' checks, applying a plan, and writing a file; with the
//! checkpoint's metadata.

use super::error::{DtypeMismatch, Mismatches, ShapeMismatch, Unexpected, WeightsError};
use super::names::TorchNames;
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
pub(super) type MetaMap = std::collections::HashMap<String, String>;
#[cfg(not(feature = "std"))]
pub(super) type MetaMap = hashbrown::HashMap<String, String>;

/// The largest header (the JSON part of a file) that loading reads: 16 MiB, thousands of times
/// what any network here needs.
pub const HEADER_LIMIT: usize = 16 << 20;

pub(super) const CHECKPOINT_FORMAT: &str = "rnn-checkpoint";
pub(super) const CHECKPOINT_VERSION: &str = "2";

/// What a tensor of a file stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Slot {
    Value,
    M,
    V,
    Steps,
}

/// One tensor that the network expects, in the order of its parameters.
pub(super) struct Wanted {
    name: String,
    param: usize,
    slot: Slot,
    shape: Vec<usize>,
}

pub(super) fn dtype_of<S: Float>() -> Dtype {
    if S::DTYPE == "F64" {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

pub(super) fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// Every tensor `params` has under `names` (with the optimiser state for a checkpoint), or an
/// error if two of them would share a name.
pub(super) fn wanted<S: Float, P: Parameterized<S> + ?Sized>(
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
pub(super) struct Offered<'a, S: Float> {
    name: Cow<'a, str>,
    dtype: Dtype,
    shape: Vec<usize>,
    data: Data<'a, S>,
}

pub(super) enum Data<'a, S: Float> {
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
pub(super) fn plan<S: Float>(
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
            super::error::nearest(&o.name, &missing).map(ToString::to_string)
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
pub(super) fn check_values<S: Float>(
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
pub(super) fn apply<S: Float, P: Parameterized<S> + ?Sized>(
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
pub(super) struct Keys(Vec<String>);

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
pub(super) struct Parsed<'a, S: Float> {
    tensors: Vec<Offered<'a, S>>,
    metadata: Option<MetaMap>,
}

pub(super) fn format_err(e: impl core::fmt::Display) -> WeightsError {
    WeightsError::Format(e.to_string())
}

pub(super) fn parse<S: Float>(bytes: &[u8]) -> Result<Parsed<'_, S>, WeightsError> {
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

pub(super) fn load<S: Float, P: Parameterized<S> + ?Sized>(
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
pub(super) fn kind_key(name: &str) -> String {
    format!("optim.kind.{name}")
}

/// The optimiser recorded for each parameter (by parameter index) in a checkpoint's metadata:
/// [`OptimKind::None`] where a version-1 checkpoint did not record one.
pub(super) fn optimizer_kinds(
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
pub(super) struct Tensor {
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

pub(super) fn save<S: Float, P: Parameterized<S> + ?Sized>(
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
