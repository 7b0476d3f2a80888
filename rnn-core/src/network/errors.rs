//! What goes wrong in a network's passes ([`BpttError`], [`LengthError`]) and the search for
//! values that are not finite ([`NonFinite`]).

use crate::{Float, Parameterized};
use core::fmt;

/// Misuse of backward through time, reported instead of computing a wrong gradient.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BpttError {
    /// `backward` or `backward_step` without a forward since the last `forget`.
    NoForward,
    /// `backward` (whole sequence) when the last forward was `step`, not `forward`.
    NotAfterForward,
    /// More `backward_step` calls than steps kept: only `kept` steps can be back-propagated
    /// (at most `seq_len`, `max_bptt_steps` and the steps since the last `forward`/`forget`).
    StepsExhausted {
        /// How many steps could be back-propagated.
        kept: usize,
    },
    /// The input given to backward for step `step` (0-based since the last `forget`) is not the
    /// one that step was forwarded with: calls out of order, or the wrong data.
    InputMismatch {
        /// The step being back-propagated.
        step: u64,
    },
    /// The parameters were changed (an optimiser step, `update_parameters`, a load, an edit
    /// through `parameters_mut` or `layer_mut`) after the forward of a step that backward
    /// would reach: its gradient would mix the two sets of weights (PyTorch: "modified by an
    /// inplace operation"). Run the forward again.
    ParametersChanged,
    /// `backward` got sequences of another length than the last `forward` ran.
    Length {
        /// Steps of the last forward.
        forward: usize,
        /// Steps given as inputs.
        inputs: usize,
        /// Steps given as output gradients.
        grad_outputs: usize,
    },
}

impl fmt::Display for BpttError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoForward => f.write_str("backward called with no forward since the last forget"),
            Self::NotAfterForward => f.write_str(
                "backward (whole sequence) needs a forward first; after step, use backward_step",
            ),
            Self::StepsExhausted { kept } => write!(
                f,
                "backward_step called more often than steps kept: only {kept} step(s) can be \
                 back-propagated (seq_len, max_bptt_steps and the last forward/forget bound it)"
            ),
            Self::ParametersChanged => f.write_str(
                "the parameters changed after the forward that backward would go through (an \
                 optimiser step, update_parameters, a load or an edit between forward and \
                 backward): forward again with the new weights",
            ),
            Self::InputMismatch { step } => write!(
                f,
                "the input given to backward for step {step} is not the one it was forwarded with \
                 (backward_step must be called in reverse order of the steps)"
            ),
            Self::Length {
                forward,
                inputs,
                grad_outputs,
            } => write!(
                f,
                "backward got {inputs} input(s) and {grad_outputs} output gradient(s), but the last \
                 forward ran {forward} step(s)"
            ),
        }
    }
}

impl core::error::Error for BpttError {}

/// A sequence of a length the call cannot take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthError {
    /// A forward of `len` steps: a network built for `seq_len` runs 1 to `seq_len` steps.
    OutOfRange {
        /// The steps given.
        len: usize,
        /// The network's `seq_len`.
        seq_len: usize,
    },
    /// Sequences that must be equally long are not (a criterion's outputs and targets).
    Unequal {
        /// Steps of outputs.
        outputs: usize,
        /// Steps of targets (or gradients).
        targets: usize,
    },
    /// An average over no steps (a `SequencerCriterion` with `size_average` given empty
    /// sequences): 0 / 0.
    NoSteps,
}

impl fmt::Display for LengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfRange { len, seq_len } => write!(
                f,
                "a sequence of {len} step(s): this network runs 1 to {seq_len} steps (its seq_len)"
            ),
            Self::Unequal { outputs, targets } => write!(
                f,
                "{outputs} output step(s) but {targets} target step(s): they must be equally many"
            ),
            Self::NoSteps => f.write_str(
                "no steps to average over (size_average with empty sequences): give at least one step"
            ),
        }
    }
}

impl core::error::Error for LengthError {}

/// The first NaN or infinity that [`Network::check_finite`](super::Network::check_finite)
/// found: in an output of a recent step, or in a parameter's value or gradient, or in the
/// optimiser's moments beside it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NonFinite {
    /// Output `row` of batch column `sample` at step `step` (counted since the last `forget`).
    Output {
        /// The step.
        step: u64,
        /// The output feature.
        row: usize,
        /// The batch column.
        sample: usize,
        /// The value found (NaN or infinite).
        value: f64,
    },
    /// Element `(row, col)` of a parameter's value, or of its gradient.
    Parameter {
        /// The parameter, e.g. `0.weight_hh`.
        name: crate::ParamName,
        /// `true` if the gradient, not the value, is non-finite.
        gradient: bool,
        /// Row (`out`).
        row: usize,
        /// Column (`in`).
        col: usize,
        /// The value found (NaN or infinite).
        value: f64,
    },
    /// Element `(row, col)` of a parameter's optimiser state: the first moment (SGD's momentum
    /// buffer, Adam's `m`) or the second (Adam's `v`). The next step would spread it into
    /// the value.
    OptimizerState {
        /// The parameter, e.g. `0.weight_hh`.
        name: crate::ParamName,
        /// `true` for the second moment.
        second: bool,
        /// Row (`out`).
        row: usize,
        /// Column (`in`).
        col: usize,
        /// The value found (NaN or infinite).
        value: f64,
    },
}

impl fmt::Display for NonFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Output {
                step,
                row,
                sample,
                value,
            } => write!(
                f,
                "output {row} of sample {sample} at step {step} is {value}"
            ),
            Self::Parameter {
                name,
                gradient,
                row,
                col,
                value,
            } => write!(
                f,
                "{} of `{name}` at ({row}, {col}) is {value}",
                if *gradient {
                    "the gradient"
                } else {
                    "the value"
                }
            ),
            Self::OptimizerState {
                name,
                second,
                row,
                col,
                value,
            } => write!(
                f,
                "the optimiser's {} moment of `{name}` at ({row}, {col}) is {value}",
                if *second { "second" } else { "first" }
            ),
        }
    }
}

impl core::error::Error for NonFinite {}

/// The first non-finite element of `xs` (column-major) and its value.
pub(crate) fn first_non_finite<'a, S: Float + 'a>(
    xs: impl Iterator<Item = &'a S>,
) -> Option<(usize, f64)> {
    xs.enumerate()
        .find(|(_, v)| !v.is_finite())
        .map(|(k, v)| (k, v.to_f64()))
}

/// The first non-finite value of `params`, then gradient, then first and second optimiser
/// moment (each kind over all parameters before the next).
pub(crate) fn non_finite_parameter<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
) -> Option<NonFinite> {
    let mut found = None;
    for part in 0..4 {
        params.visit_parameters(&mut |p| {
            if found.is_some() {
                return;
            }
            let bad = match part {
                0 => first_non_finite(p.value.iter()),
                1 => p.grad.and_then(|g| first_non_finite(g.iter())),
                2 => first_non_finite(p.state.m.iter()),
                _ => first_non_finite(p.state.v.iter()),
            };
            if let Some((k, value)) = bad {
                let (name, rows) = (p.name, p.value.nrows());
                let (row, col) = (k % rows, k / rows);
                found = Some(if part < 2 {
                    NonFinite::Parameter {
                        name,
                        gradient: part == 1,
                        row,
                        col,
                        value,
                    }
                } else {
                    NonFinite::OptimizerState {
                        name,
                        second: part == 3,
                        row,
                        col,
                        value,
                    }
                });
            }
        });
        if found.is_some() {
            break;
        }
    }
    found
}
