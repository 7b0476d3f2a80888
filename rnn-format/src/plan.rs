//! What a network wants ([`Wanted`], in the order of its parameters) against what a file or
//! another network offers ([`Offer`]): [`plan`] pairs them by name or lists every problem.

use crate::error::{DtypeMismatch, Mismatches, ShapeMismatch, Unexpected, WeightsError, nearest};
use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use safetensors::Dtype;

/// What a tensor of a file stands for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Slot {
    /// A parameter's value.
    Value,
    /// A checkpoint's first optimiser moment.
    M,
    /// A checkpoint's second optimiser moment.
    V,
    /// A checkpoint's step count (`U64`, shape `[]`).
    Steps,
}

/// One tensor that the network expects, in the order of its parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Wanted {
    /// Its name in the file (after the name map).
    pub name: String,
    /// The index of its parameter in visiting order.
    pub param: usize,
    /// What it stands for.
    pub slot: Slot,
    /// Its shape as PyTorch has it: `[out, in]` for a weight, `[n]` for a vector.
    pub shape: Vec<usize>,
}

/// A tensor on offer: its name, dtype and shape.
pub trait Offer {
    /// The tensor's name.
    fn name(&self) -> &str;
    /// Its element type.
    fn dtype(&self) -> Dtype;
    /// Its shape.
    fn shape(&self) -> &[usize];
}

/// The dtype of a network whose scalar type is named `scalar` (`"F64"` or `"F32"`).
#[must_use]
pub fn dtype_named(scalar: &str) -> Dtype {
    if scalar == "F64" {
        Dtype::F64
    } else {
        Dtype::F32
    }
}

/// A dtype as files and messages write it (`F32`, `BF16`).
#[must_use]
pub fn dtype_name(d: Dtype) -> String {
    format!("{d:?}")
}

/// Whether `d` converts into an `f32` or `f64` network on request (exact, except `f64` into
/// `f32`, rounded to nearest).
#[must_use]
pub fn converts(d: Dtype) -> bool {
    matches!(d, Dtype::F16 | Dtype::BF16 | Dtype::F32 | Dtype::F64)
}

/// Matches what is offered against what is wanted (values of dtype `value`): for each wanted
/// tensor, the index of the offered one, or every problem at once.
///
/// # Errors
/// [`WeightsError::Mismatch`] listing every missing, unexpected (with the nearest missing name),
/// wrongly typed and wrongly shaped tensor.
pub fn plan<O: Offer>(
    wanted: &[Wanted],
    offered: &[O],
    value: Dtype,
    convert: bool,
) -> Result<Vec<usize>, WeightsError> {
    let by_name: BTreeMap<&str, usize> = offered
        .iter()
        .enumerate()
        .map(|(k, o)| (o.name(), k))
        .collect();
    let mut m = Mismatches::default();
    let mut used = alloc::vec![false; offered.len()];
    let mut plan = Vec::with_capacity(wanted.len());
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
            value
        };
        let dtype_ok = o.dtype() == need || (convert && need != Dtype::U64 && converts(o.dtype()));
        if !dtype_ok {
            m.dtypes.push(DtypeMismatch {
                name: w.name.clone(),
                expected: dtype_name(need),
                found: dtype_name(o.dtype()),
            });
        }
        if o.shape() != w.shape.as_slice() {
            m.shapes.push(ShapeMismatch {
                name: w.name.clone(),
                expected: w.shape.clone(),
                found: o.shape().to_vec(),
            });
        }
    }
    // Hints cost |unexpected| x |missing| edit distances: bounded for hostile files.
    let missing: Vec<&str> = m.missing.iter().take(1024).map(String::as_str).collect();
    for (o, _) in offered.iter().zip(&used).filter(|(_, used)| !**used) {
        let nearest = if m.unexpected.len() < 64 && o.name().len() <= 256 {
            nearest(o.name(), &missing).map(ToString::to_string)
        } else {
            None
        };
        m.unexpected.push(Unexpected {
            name: o.name().to_string(),
            nearest,
        });
    }
    if m.is_empty() {
        Ok(plan)
    } else {
        Err(WeightsError::Mismatch(m))
    }
}

/// An error if two wanted tensors share a name (two rules mapping onto one file name).
///
/// # Errors
/// [`WeightsError::Names`] naming the first duplicate.
pub fn check_unique(wanted: &[Wanted]) -> Result<(), WeightsError> {
    let mut sorted: Vec<&str> = wanted.iter().map(|w| w.name.as_str()).collect();
    sorted.sort_unstable();
    match sorted.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(WeightsError::Names(format!(
            "two parameters are both named `{}`",
            w[0]
        ))),
        None => Ok(()),
    }
}
