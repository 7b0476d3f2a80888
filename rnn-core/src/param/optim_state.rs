//! The optimiser state beside each parameter: views of its buffers and the kind of optimiser
//! that last stepped it.

use core::fmt;

/// Optimiser buffers of one parameter (see [`crate::optim`]).
pub struct OptimState<'a, S> {
    /// First moment (SGD momentum buffer, Adam's `m`).
    pub m: &'a mut [S],
    /// Second moment (Adam's `v`).
    pub v: &'a mut [S],
    /// How many optimiser steps have touched this parameter (Adam's bias correction, SGD's
    /// first momentum step).
    pub steps: &'a mut u64,
    /// The optimiser of the last step (see [`OptimKind`]).
    pub kind: &'a mut OptimKind,
}

/// Read-only [`OptimState`].
#[derive(Clone, Copy)]
pub struct OptimStateRef<'a, S> {
    /// First moment (SGD momentum buffer, Adam's `m`).
    pub m: &'a [S],
    /// Second moment (Adam's `v`).
    pub v: &'a [S],
    /// How many optimiser steps have touched this parameter.
    pub steps: u64,
    /// The optimiser of the last step.
    pub kind: OptimKind,
}

/// Which optimiser last stepped a parameter, with its hyper-parameters: recorded by every
/// step and kept in checkpoints, so that stepping with another optimiser (whose moment
/// buffers mean something else) is an error instead of a silently wrong update. Reset with
/// [`crate::optim::reset_state`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum OptimKind {
    /// Not stepped yet (or loaded from a version-1 checkpoint, which did not record it).
    #[default]
    None,
    /// [`crate::optim::Sgd`].
    Sgd {
        /// Learning rate of the last step.
        lr: f64,
        /// Momentum factor.
        momentum: f64,
        /// L2 penalty.
        weight_decay: f64,
        /// Nesterov momentum.
        nesterov: bool,
    },
    /// [`crate::optim::Adam`].
    Adam {
        /// Learning rate of the last step.
        lr: f64,
        /// Decay of the first moment.
        beta1: f64,
        /// Decay of the second moment.
        beta2: f64,
        /// Added to the denominator.
        eps: f64,
    },
}

impl OptimKind {
    /// `"none"`, `"sgd"` or `"adam"`.
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Sgd { .. } => "sgd",
            Self::Adam { .. } => "adam",
        }
    }

    /// The same optimiser (hyper-parameters may differ: a learning-rate schedule is fine).
    #[must_use]
    pub fn same_optimizer(&self, other: &Self) -> bool {
        core::mem::discriminant(self) == core::mem::discriminant(other)
    }

    /// As stored in a checkpoint's metadata: the name, then `key=value` pairs (`f64`s in
    /// Rust's shortest round-trip form).
    #[must_use]
    pub fn to_metadata(&self) -> alloc::string::String {
        match *self {
            Self::None => "none".into(),
            Self::Sgd {
                lr,
                momentum,
                weight_decay,
                nesterov,
            } => alloc::format!(
                "sgd lr={lr:?} momentum={momentum:?} weight_decay={weight_decay:?} nesterov={nesterov}"
            ),
            Self::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => alloc::format!("adam lr={lr:?} beta1={beta1:?} beta2={beta2:?} eps={eps:?}"),
        }
    }

    /// Reads [`OptimKind::to_metadata`]'s form back; `None` if it is not that form.
    #[must_use]
    pub fn from_metadata(text: &str) -> Option<Self> {
        let mut words = text.split(' ');
        let name = words.next()?;
        let mut values: alloc::vec::Vec<(&str, &str)> = alloc::vec::Vec::new();
        for w in words {
            values.push(w.split_once('=')?);
        }
        let get = |key: &str| -> Option<f64> {
            let v = values
                .iter()
                .find(|(k, _)| *k == key)?
                .1
                .parse::<f64>()
                .ok()?;
            v.is_finite().then_some(v)
        };
        let kind = match name {
            "none" => Self::None,
            "sgd" => Self::Sgd {
                lr: get("lr")?,
                momentum: get("momentum")?,
                weight_decay: get("weight_decay")?,
                nesterov: values
                    .iter()
                    .find(|(k, _)| *k == "nesterov")?
                    .1
                    .parse()
                    .ok()?,
            },
            "adam" => Self::Adam {
                lr: get("lr")?,
                beta1: get("beta1")?,
                beta2: get("beta2")?,
                eps: get("eps")?,
            },
            _ => return None,
        };
        let expected = match kind {
            Self::None => 0,
            Self::Sgd { .. } | Self::Adam { .. } => 4,
        };
        (values.len() == expected).then_some(kind)
    }
}

impl fmt::Display for OptimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::None => f.write_str("no optimiser"),
            Self::Sgd {
                lr,
                momentum,
                weight_decay,
                nesterov,
            } => write!(
                f,
                "Sgd {{ lr: {lr}, momentum: {momentum}, weight_decay: {weight_decay}, nesterov: {nesterov} }}"
            ),
            Self::Adam {
                lr,
                beta1,
                beta2,
                eps,
            } => write!(
                f,
                "Adam {{ lr: {lr}, beta1: {beta1}, beta2: {beta2}, eps: {eps} }}"
            ),
        }
    }
}
