//! The safetensors format as this crate reads and writes it: what a network's parameters are
//! called and shaped ([`wanted`]), what a file offers and how it maps onto them ([`plan`],
//! every problem listed), the values' checks, applying a plan, and writing a file; with the
//! checkpoint's metadata.

use crate::param::OptimKind;
use crate::{Float, Parameterized};
use alloc::borrow::Cow;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use nalgebra::{DMatrixView, DMatrixViewMut};
use rnn_format::header::{self, FileTensor, format_err};
use rnn_format::plan::{Offer, Slot, Wanted, check_unique, dtype_name, dtype_named};
use rnn_format::{TorchNames, WeightsError};
use safetensors::{Dtype, View};

#[cfg(feature = "std")]
pub(super) type MetaMap = std::collections::HashMap<String, String>;
#[cfg(not(feature = "std"))]
pub(super) type MetaMap = hashbrown::HashMap<String, String>;

pub(super) const CHECKPOINT_FORMAT: &str = "rnn-checkpoint";
pub(super) const CHECKPOINT_VERSION: &str = "2";

pub(super) fn dtype_of<S: Float>() -> Dtype {
    dtype_named(S::DTYPE)
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
    check_unique(&out)?;
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
            // The network's own dtype is read as it is (no round trip through f64).
            Self::Bytes(b) if dtype == dtype_of::<S>() => {
                let n = core::mem::size_of::<S>();
                S::from_le_bytes_slice(&b[n * k..n * k + n])
            }
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

impl<'a, S: Float> Offered<'a, S> {
    /// A tensor held in a matrix of PyTorch's shape (`[n]` as `n x 1`), dtype `S`.
    pub(super) fn matrix(name: &'a str, shape: Vec<usize>, m: DMatrixView<'a, S>) -> Self {
        Self {
            name: Cow::Borrowed(name),
            dtype: dtype_of::<S>(),
            shape,
            data: Data::Matrix(m),
        }
    }
}

impl<S: Float> Offer for Offered<'_, S> {
    fn name(&self) -> &str {
        &self.name
    }
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// [`rnn_format::plan::plan`] for a network of scalar `S`.
pub(super) fn plan<S: Float>(
    wanted: &[Wanted],
    offered: &[Offered<'_, S>],
    convert: bool,
) -> Result<Vec<usize>, WeightsError> {
    rnn_format::plan::plan(wanted, offered, dtype_of::<S>(), convert)
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
        // Row-major: the elements of one row of the stored matrix are the trailing axes.
        let cols: usize = w.shape.iter().skip(1).product();
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

/// Sets `value` (column-major) from the row-major elements `get(k)`, in blocks of 64 rows:
/// within a block each column is written in one run while the rows read stay in cache (one
/// element at a time, column after column, misses the cache on every write of a large matrix).
fn fill_from_row_major<S: Float>(value: &mut DMatrixViewMut<'_, S>, get: impl Fn(usize) -> S) {
    let (rows, cols) = value.shape();
    for r0 in (0..rows).step_by(64) {
        let block = r0..(r0 + 64).min(rows);
        for c in 0..cols {
            for r in block.clone() {
                value[(r, c)] = get(r * cols + c);
            }
        }
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
    // Through the slots: loading weights alone allocates nothing (a network built for
    // inference keeps no training buffers); a checkpoint's optimiser state asks for them.
    params.visit_slots_mut(&mut |mut slot| {
        let training = !kinds.is_empty()
            || wanted[at..]
                .iter()
                .take_while(|w| w.param == param)
                .any(|w| w.slot != Slot::Value);
        if !training {
            while at < wanted.len() && wanted[at].param == param {
                let o = &offered[plan[at]];
                let mut value = slot.value_mut();
                let cols = value.ncols();
                fill_from_row_major(&mut value, |k| o.data.element(o.dtype, k, cols));
                at += 1;
            }
            param += 1;
            return;
        }
        let mut p = slot.param_mut();
        let (rows, cols) = p.value.shape();
        if let Some(&kind) = kinds.get(param) {
            *p.state.kind = kind;
        }
        while at < wanted.len() && wanted[at].param == param {
            let o = &offered[plan[at]];
            let get = |k: usize| o.data.element(o.dtype, k, cols);
            match wanted[at].slot {
                Slot::Value => fill_from_row_major(&mut p.value, get),
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

/// A parsed, validated file: its tensors (sorted by name) and its metadata.
pub(super) struct Parsed<'a, S: Float> {
    tensors: Vec<Offered<'a, S>>,
    metadata: Option<MetaMap>,
}

pub(super) fn parse<S: Float>(bytes: &[u8]) -> Result<Parsed<'_, S>, WeightsError> {
    let header::Header { tensors, metadata } = header::read(bytes)?;
    let tensors = tensors
        .into_iter()
        .map(
            |FileTensor {
                 name,
                 dtype,
                 shape,
                 bytes: at,
             }| Offered {
                name: Cow::Owned(name),
                dtype,
                shape,
                data: Data::Bytes(&bytes[at]),
            },
        )
        .collect();
    Ok(Parsed {
        tensors,
        metadata: metadata.map(|m| m.into_iter().collect()),
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
                        // Empty moments: no training buffers yet, the moments are zero.
                        let x = match slot {
                            Slot::M => p.state.m.get(c * rows + r).copied().unwrap_or(S::zero()),
                            Slot::V => p.state.v.get(c * rows + r).copied().unwrap_or(S::zero()),
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

/// One parameter's tensor in a weights file embedded by `network!` (`weights = "..."`): the
/// parameter's name (ours), the file's dtype, the shape (PyTorch's) and where the bytes are in
/// the file, all found and checked when the macro expanded.
#[doc(hidden)]
pub struct Embedded {
    /// Our name of the parameter (`0.0.weight_ih`).
    pub name: &'static str,
    /// The tensor's dtype in the file.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: &'static [usize],
    /// Its bytes in the file.
    pub bytes: core::ops::Range<usize>,
}

/// Writes the embedded `tensors` of `file` into `params`, one per parameter in visiting order,
/// converting each element as loading the file at run time does (the same bits).
///
/// # Panics
/// If the tensors do not line up with the parameters: the macro computed them from the same
/// table the layers are tested against, so this is a bug in `rnn`, not a user's mistake.
#[doc(hidden)]
pub fn load_embedded<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    file: &[u8],
    tensors: &[Embedded],
) {
    let mut at = 0;
    params.visit_slots_mut(&mut |p| {
        let mut value = p.store.value_mut();
        let (rows, cols) = value.shape();
        let shape = p.kind.torch_shape(rows, cols);
        let t = tensors
            .get(at)
            .filter(|t| p.name == t.name && t.shape == shape.as_slice());
        let Some(t) = t else {
            panic!(
                "bug in rnn: `network!` embedded tensor {at} as {:?}, the network's parameter is \
                 `{}` {shape:?}; please report it",
                tensors.get(at).map(|t| (t.name, t.shape)),
                p.name
            );
        };
        let data = Data::<S>::Bytes(&file[t.bytes.clone()]);
        fill_from_row_major(&mut value, |k| data.element(t.dtype, k, cols));
        at += 1;
    });
    assert!(
        at == tensors.len(),
        "bug in rnn: `network!` embedded {} tensors for {at} parameters; please report it",
        tensors.len()
    );
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
