//! The [`Network`] trait that every `network!` struct implements, and [`Sequencer`], the
//! generic engine behind it: per-step storage for `T` steps, forward and backward through time,
//! online stepping, remember/forget and truncated BPTT.

use crate::float::{AllocError, Columns, try_zeroed_box, try_zeroed_slice, zero_in_place};
use crate::kernels;
use crate::layer::{
    BackwardSeq, BackwardStep, Dense, Dir, Encoder, ForwardSeq, ForwardStep, Layer, Mask,
};
use crate::{Float, ParamMut, ParamRef, Parameterized};
use alloc::boxed::Box;
use core::fmt;
use nalgebra::{DMatrixViewMut, SMatrix};

/// When a network keeps its state from one `forward` call to the next (Torch's `remember`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Remember {
    /// In training and in evaluation mode.
    Both,
    /// In training mode only.
    Train,
    /// In evaluation mode only.
    Eval,
    /// Never: every `forward` starts from the initial state (the default, as Torch's Sequencer).
    #[default]
    Neither,
}

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

/// The first NaN or infinity that [`Network::check_finite`] found: in an output of a recent
/// step, or in a parameter's value or gradient, or in the optimiser's moments beside it.
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
fn first_non_finite<'a, S: Float + 'a>(xs: impl Iterator<Item = &'a S>) -> Option<(usize, f64)> {
    xs.enumerate()
        .find(|(_, v)| !v.is_finite())
        .map(|(k, v)| (k, v.to_f64()))
}

/// The first non-finite value of `params`, then gradient, then first and second optimiser
/// moment (each kind over all parameters before the next).
fn non_finite_parameter<S: Float, P: Parameterized<S> + ?Sized>(params: &P) -> Option<NonFinite> {
    let mut found = None;
    for part in 0..4 {
        params.visit_parameters(&mut |p| {
            if found.is_some() {
                return;
            }
            let bad = match part {
                0 => first_non_finite(p.value.iter()),
                1 => first_non_finite(p.grad.iter()),
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

/// A recurrent network over sequences of `SEQ_LEN` steps: what the `network!` macro generates.
///
/// Inputs are sequences of 1 to `SEQ_LEN` matrices `INPUT x BATCH` (one column per sample; token
/// indices for a network that starts with a `LookupTable`), outputs as many matrices
/// `OUTPUT x BATCH`. Method names follow Torch's `nn`/`rnn`; see each method. The online
/// methods (`step`, `backward_step`) are in [`Online`].
pub trait Network: Parameterized<Self::Scalar> {
    /// `f32` or `f64`.
    type Scalar: Float;
    /// One step's input: `SMatrix<Scalar, INPUT, BATCH>`, or `[Class<VOCAB>; BATCH]` (token
    /// indices) for a network that starts with a `LookupTable`.
    type Input;
    /// One step's output, `SMatrix<Scalar, OUTPUT, BATCH>`.
    type Output;
    /// The gradient at one step's input, `SMatrix<Scalar, INPUT, BATCH>` (for a `LookupTable`
    /// network: at the looked-up vectors, `INPUT` being their size).
    type GradInput;
    /// The input gradients of a sequence, `[GradInput]` (one `GradInput` for a `Repeater`).
    type GradInputs: ?Sized;
    /// A sequence of inputs, `[Input]`: 1 to `SEQ_LEN` steps (an array `[Input; n]`, a `Vec`,
    /// a slice of a longer buffer). One `Input` for a `Repeater[ ... ]` network, which feeds it
    /// to every one of its `SEQ_LEN` steps; its gradient is the sum over the steps.
    type Inputs: ?Sized;
    /// A sequence of outputs, `[Output]`, as many as the inputs had steps.
    type Outputs: ?Sized;
    /// The recurrent state of the whole network: nested pairs following the `Sequential`
    /// (`(first layer's state, (second's, (...)))`, `()` for feed-forward layers), e.g.
    /// `(LstmState<f32, 20, 1>, ((), ()))` for `Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ]`.
    /// A `Sequential` of more than 32 layers is grouped into chains of 32 joined pairwise
    /// (a balanced tree of such pairs).
    type State;
    /// Steps per sequence at most: the capacity the struct is built for.
    const SEQ_LEN: usize;
    /// Samples per batch (columns).
    const BATCH: usize;
    /// Input features.
    const INPUT: usize;
    /// Output features.
    const OUTPUT: usize;

    /// (Torch: `Sequencer:forward`) Runs the whole sequence, of any length from 1 to
    /// `SEQ_LEN`, and returns one output per step. Forgets first unless remembering in the
    /// current mode (see [`Network::remember`]).
    ///
    /// # Panics
    /// If `inputs` is empty or longer than `SEQ_LEN`, with the message of
    /// [`Network::try_forward`]'s error.
    fn forward(&mut self, inputs: &Self::Inputs) -> &Self::Outputs {
        match self.try_forward(inputs) {
            Ok(y) => y,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Network::forward`], or [`LengthError::OutOfRange`] (and nothing changes) if `inputs`
    /// is empty or longer than `SEQ_LEN`.
    fn try_forward(&mut self, inputs: &Self::Inputs) -> Result<&Self::Outputs, LengthError>;

    /// (Torch: `backward`) Back-propagates through the sequence of the last `forward`,
    /// **accumulating** parameter gradients, and returns the gradients of the inputs.
    ///
    /// # Panics
    /// On misuse, with the message of [`Network::try_backward`]'s error.
    fn backward(
        &mut self,
        inputs: &Self::Inputs,
        grad_outputs: &Self::Outputs,
    ) -> &Self::GradInputs {
        match self.try_backward(inputs, grad_outputs) {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Network::backward`] returning misuse as an error: no forward, the last forward was
    /// `step`, `inputs` differ from those forwarded, or the sequences are not as long as the
    /// forward's. Nothing changes on error.
    fn try_backward(
        &mut self,
        inputs: &Self::Inputs,
        grad_outputs: &Self::Outputs,
    ) -> Result<&Self::GradInputs, BpttError>;

    /// [`Network::backward`] for training: accumulates the same parameter gradients (bit for
    /// bit) but does not compute the gradients of the inputs, so the layers skip the products
    /// that only those need (for a first `LSTM(I, H)`, the `I x 4H` one of every step's
    /// backward). PyTorch and JAX skip them the same way for inputs that need no gradient.
    /// [`Network::grad_initial_state`] is still set.
    ///
    /// ```
    /// use rnn_core::prelude::*;
    ///
    /// network! { pub Net<seq_len = 4, batch = 2> = Sequential[ LSTM(3, 5), Linear(5, 2) ]; }
    /// let xs = [SMatrix::<f32, 3, 2>::from_fn(|i, b| (i + 2 * b) as f32 * 0.1); 4];
    /// let gys = [SMatrix::<f32, 2, 2>::from_element(0.5); 4];
    /// let (mut a, mut b) = (Net::new(1), Net::new(1));
    /// a.forward(&xs);
    /// let _input_gradients = a.backward(&xs, &gys);
    /// b.forward(&xs);
    /// b.backward_parameters(&xs, &gys);
    /// for (pa, pb) in a.parameters().iter().zip(&b.parameters()) {
    ///     assert_eq!(pa.grad, pb.grad); // the same gradients, bit for bit
    /// }
    /// ```
    ///
    /// # Panics
    /// On misuse, with the message of [`Network::try_backward`]'s error.
    fn backward_parameters(&mut self, inputs: &Self::Inputs, grad_outputs: &Self::Outputs) {
        if let Err(e) = self.try_backward_parameters(inputs, grad_outputs) {
            panic!("{e}");
        }
    }

    /// [`Network::backward_parameters`] returning misuse as an error, as
    /// [`Network::try_backward`] does. The default calls [`Network::try_backward`].
    fn try_backward_parameters(
        &mut self,
        inputs: &Self::Inputs,
        grad_outputs: &Self::Outputs,
    ) -> Result<(), BpttError> {
        self.try_backward(inputs, grad_outputs).map(|_| ())
    }

    /// (Torch: `backwardUpdate`) Backpropagation through the last forward and `p -= lr * g`
    /// with its gradients, leaving the gradient storage as it was: the weights become those of
    /// `zero_grad_parameters`, [`Network::backward_parameters`] and
    /// `update_parameters(lr)` (bit for bit), while the gradients the network held before the
    /// call are kept (Torch's `backwardUpdate` uses no gradient storage; here the gradients of
    /// one step are needed whole before any weight moves, so they are made in the gradient
    /// storage and the previous contents put back: a buffer of
    /// [`Parameterized::num_parameters`] values is allocated per call).
    ///
    /// ```
    /// use rnn_core::prelude::*;
    ///
    /// network! { pub Net<seq_len = 3> = Sequential[ GRU(2, 4), Linear(4, 1) ]; }
    /// let (xs, gys) = ([SMatrix::<f32, 2, 1>::from_element(0.5); 3], [SMatrix::<f32, 1, 1>::from_element(0.1); 3]);
    /// let (mut a, mut b) = (Net::new(1), Net::new(1));
    /// a.forward(&xs);
    /// a.backward_update(&xs, &gys, 0.1);
    /// b.zero_grad_parameters();
    /// b.forward(&xs);
    /// b.backward_parameters(&xs, &gys);
    /// b.update_parameters(0.1);
    /// assert_eq!(a.flat_parameters(), b.flat_parameters());
    /// assert!(a.flat_gradients().iter().all(|g| *g == 0.0)); // untouched: as `new` left them
    /// ```
    ///
    /// # Panics
    /// On misuse, with the message of [`Network::try_backward`]'s error.
    fn backward_update(
        &mut self,
        inputs: &Self::Inputs,
        grad_outputs: &Self::Outputs,
        lr: Self::Scalar,
    ) {
        if let Err(e) = self.try_backward_update(inputs, grad_outputs, lr) {
            panic!("{e}");
        }
    }

    /// [`Network::backward_update`] returning misuse as an error, as [`Network::try_backward`]
    /// does; on error neither the weights nor the gradients change.
    fn try_backward_update(
        &mut self,
        inputs: &Self::Inputs,
        grad_outputs: &Self::Outputs,
        lr: Self::Scalar,
    ) -> Result<(), BpttError> {
        let mut kept = alloc::vec::Vec::with_capacity(self.num_parameters());
        self.visit_gradients_mut(&mut |mut g| {
            kept.extend(g.iter());
            g.fill(<Self::Scalar as Default>::default()); // zero
        });
        let result = self.try_backward_parameters(inputs, grad_outputs);
        if result.is_ok() {
            self.update(lr);
        }
        let mut at = 0;
        self.visit_gradients_mut(&mut |mut g| {
            let n = g.len();
            for (d, &k) in g.iter_mut().zip(&kept[at..at + n]) {
                *d = k;
            }
            at += n;
        });
        result
    }

    /// (Torch: `zeroGradParameters`) Sets every gradient to zero.
    fn zero_grad_parameters(&mut self) {
        self.zero_grad();
    }

    /// (Torch: `updateParameters`) `p -= lr * g` for every parameter.
    fn update_parameters(&mut self, lr: Self::Scalar) {
        self.update(lr);
    }

    /// (Torch: `forget`) The next step starts from the initial state (zeros unless set with
    /// [`Network::set_initial_state`]).
    fn forget(&mut self);

    /// The state after the most recent step (the initial state right after `forget`). With
    /// [`Network::set_initial_state`] of another network, this couples an encoder to a decoder.
    fn state(&self) -> &Self::State;

    /// (Torch: `userPrevOutput`/`userPrevCell`) The state that `forget` (and every `forward`
    /// that does not remember) starts from. Takes effect at the next forget; call `forget()`
    /// to apply it now.
    fn set_initial_state(&mut self, state: Self::State);

    /// (Torch: `getGradHiddenState(0)`) The gradient with respect to the state before the
    /// earliest step of the last backward pass: the gradient to hand back to an encoder.
    fn grad_initial_state(&self) -> &Self::State;

    /// (Torch: `setGradHiddenState(T, ...)`) The gradient with respect to the state after the
    /// last step, which the next backward (whole-sequence `backward`, or the first
    /// `backward_step` of a sequence) starts from instead of zero. Set it between the forward
    /// and its backward: it is used once, and a new forward, `step` or `forget` drops it. An
    /// encoder receives a decoder's [`Network::grad_initial_state`] this way, cell state
    /// included:
    ///
    /// ```
    /// use rnn_core::prelude::*;
    ///
    /// network! {
    ///     pub Encoder<seq_len = 5> = Sequential[ LSTM(4, 8) ];
    ///     pub Decoder<seq_len = 3> = Sequential[ LSTM(2, 8), Linear(8, 2) ];
    /// }
    /// let (mut enc, mut dec) = (Encoder::new(1), Decoder::new(2));
    /// let (xs, ys) = ([SMatrix::<f32, 4, 1>::from_element(0.5); 5], [SMatrix::<f32, 2, 1>::zeros(); 3]);
    /// enc.forward(&xs);
    /// let mut start = dec.state().clone();
    /// start.0 = enc.state().clone(); // h and c
    /// dec.set_initial_state(start);
    /// let out = dec.forward(&ys).to_vec();
    /// dec.backward(&ys, &out); // d(0.5 |out|^2) / d(out) = out
    /// enc.set_grad_final_state(dec.grad_initial_state().0.clone());
    /// enc.backward(&xs, &[SMatrix::zeros(); 5]);
    /// assert!(enc.parameters()[0].grad.iter().any(|g| *g != 0.0));
    /// ```
    fn set_grad_final_state(&mut self, grad: Self::State);

    /// (Torch: `remember`) Keep the state across `forward` calls in the given modes; gradients stop at
    /// the call boundary (truncated BPTT). The default is [`Remember::Neither`].
    fn remember(&mut self, mode: Remember);

    /// (Torch: `training`) Training mode (dropout on). Switching mode forgets.
    fn training(&mut self);

    /// (Torch: `evaluate`) Evaluation mode (dropout off). Switching mode forgets.
    fn evaluate(&mut self);

    /// `true` in training mode (the default).
    fn is_training(&self) -> bool;

    /// The modes in which the state is kept across `forward` calls (see
    /// [`Network::remember`]).
    fn remember_mode(&self) -> Remember;

    /// How many of the last steps backward goes through at most (see
    /// [`Network::max_bptt_steps`]; `SEQ_LEN` unless set).
    fn bptt_limit(&self) -> usize;

    /// Writes every parameter to a safetensors file, by PyTorch-style name (see [`crate::io`]).
    #[cfg(feature = "std")]
    fn save_safetensors(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), crate::io::WeightsError> {
        crate::io::save_file(self, path)
    }

    /// Reads every parameter from a safetensors file. Checks every name, shape and dtype first
    /// and changes nothing if any is wrong (see [`crate::io`]).
    #[cfg(feature = "std")]
    fn load_safetensors(
        &mut self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), crate::io::WeightsError> {
        crate::io::load_file(self, path)
    }

    /// Writes every parameter as a PyTorch `state_dict` file that
    /// `model.load_state_dict(safetensors.torch.load_file(path))` accepts, names mapped by
    /// `names` (see [`crate::io::TorchNames`]).
    #[cfg(feature = "std")]
    fn save_state_dict(
        &self,
        path: impl AsRef<std::path::Path>,
        names: &crate::io::TorchNames,
    ) -> Result<(), crate::io::WeightsError> {
        crate::io::save_state_dict_file(self, path, names)
    }

    /// Loads a PyTorch `state_dict` file as `safetensors.torch.save_file` wrote it, names
    /// mapped by `names`. Checks everything first, lists every problem, changes nothing on
    /// error (see [`crate::io`]).
    #[cfg(feature = "std")]
    fn load_state_dict(
        &mut self,
        path: impl AsRef<std::path::Path>,
        names: &crate::io::TorchNames,
    ) -> Result<(), crate::io::WeightsError> {
        crate::io::load_state_dict_file(self, path, names)
    }

    /// Writes a checkpoint: every parameter and its optimiser state (moments, step counts).
    #[cfg(feature = "std")]
    fn save_checkpoint(
        &self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), crate::io::WeightsError> {
        crate::io::save_checkpoint_file(self, path)
    }

    /// Loads a checkpoint written by [`Network::save_checkpoint`]: stepping the same optimiser
    /// afterwards continues training bit for bit.
    #[cfg(feature = "std")]
    fn load_checkpoint(
        &mut self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), crate::io::WeightsError> {
        crate::io::load_checkpoint_file(self, path)
    }

    /// Copies every parameter value of `other` (a network of the same layout: same names and
    /// shapes, any `batch` or `seq_len`) into this one. A mismatch is an error listing every
    /// difference, and changes nothing.
    fn copy_parameters_from<P: Parameterized<Self::Scalar> + ?Sized>(
        &mut self,
        other: &P,
    ) -> Result<(), crate::io::WeightsError> {
        crate::io::copy_parameters(self, other)
    }

    /// (Torch: `maxBPTTstep / rho`) Back-propagate through at most the last `n` steps (clamped to
    /// `1..=SEQ_LEN`). Earlier steps get zero input gradients. Does not change forward values.
    fn max_bptt_steps(&mut self, n: usize);

    /// Gives every dropout layer an independent mask stream derived from its current one and
    /// `stream` (see [`Layer::reseed`]); `rnn_core::parallel` calls it with each shard's index
    /// so that replicas do not repeat each other's masks.
    fn reseed(&mut self, stream: u64);

    /// Numerical health, on request: the first NaN or infinity in the outputs of the steps
    /// kept (the last `SEQ_LEN` since `forget`, earliest first), then in the parameter values,
    /// then in their gradients, then in the optimiser's moments, so that a training loop can
    /// stop on divergence and say where. Costs one pass over outputs and parameters; nothing
    /// is checked unless you call it.
    ///
    /// # Errors
    /// The [`NonFinite`] value found.
    fn check_finite(&self) -> Result<(), NonFinite>;
}

/// The online interface (Torch's `Recursor`): one time step at a time, for networks whose
/// every layer can run step by step. Every `network!` struct implements it except those with a
/// `BiSequencer[ ... ]`, whose backward direction needs the whole sequence first.
///
/// ```
/// use rnn_core::prelude::*;
///
/// network! { pub Amp<seq_len = 4> = Sequential[ LSTM(1, 8), Linear(8, 1) ]; }
///
/// let mut net = Amp::new(1);
/// net.forget();
/// let xs = [0.1f32, 0.4, -0.2].map(|v| SMatrix::<f32, 1, 1>::new(v));
/// let ys: Vec<f32> = xs.iter().map(|x| net.step(x)[0]).collect(); // one sample at a time
/// // Backward in reverse order of the steps (Torch's `backwardOnline`), here for the loss
/// // sum(y).
/// for x in xs.iter().rev() {
///     net.try_backward_step(x, &SMatrix::from_element(1.0))?;
/// }
/// assert_eq!(ys.len(), 3);
/// assert!(net.parameters()[0].grad.iter().any(|g| *g != 0.0));
/// # Ok::<(), BpttError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no online step: it runs whole sequences only",
    label = "no `step`/`backward_step` for this network",
    note = "a network containing `BiSequencer[ ... ]` needs the whole sequence before its first \
            output (the backward direction starts at the last step): use `forward`/`backward`"
)]
pub trait Online: Network {
    /// (Torch: `Recursor/online forward`) Runs one step from the current state. At most `SEQ_LEN` steps
    /// are kept for back-propagation; older ones are dropped.
    fn step(&mut self, input: &Self::Input) -> &Self::Output;

    /// (Torch: `online backward`) Back-propagates the most recent step not yet back-propagated: call it
    /// once per step in reverse order, with that step's input and output gradient.
    ///
    /// # Panics
    /// On misuse, with the message of [`Online::try_backward_step`]'s error.
    fn backward_step(
        &mut self,
        input: &Self::Input,
        grad_output: &Self::Output,
    ) -> &Self::GradInput {
        match self.try_backward_step(input, grad_output) {
            Ok(g) => g,
            Err(e) => panic!("{e}"),
        }
    }

    /// [`Online::backward_step`] returning misuse as an error: too many calls, or an input that
    /// is not the one the step was forwarded with (wrong order). Nothing changes on error.
    fn try_backward_step(
        &mut self,
        input: &Self::Input,
        grad_output: &Self::Output,
    ) -> Result<&Self::GradInput, BpttError>;
}

/// Runs a layer (usually a `Sequential` chain) over sequences of `T` steps: the engine that
/// implements [`Network`] for every `network!` struct.
///
/// Storage for all `T` steps (inputs, outputs, states, caches) is created on the heap in
/// [`Sequencer::new`]; nothing allocates afterwards.
pub struct Sequencer<
    S,
    L,
    const I: usize,
    const O: usize,
    const B: usize,
    const T: usize,
    E = Dense,
> where
    S: Float,
    L: Layer<S, I, O, B>,
    E: Encoder<S, I, B>,
{
    /// Turns each step's input into the layer's input matrix.
    encoder: E,
    layer: L,
    records: Box<[Record<S, L, E, I, O, B>]>,
    /// Ring of `T + 1` states: the state after absolute step `t` is at `(t + 1) % (T + 1)`.
    states: Box<[L::State]>,
    outputs: Box<[SMatrix<S, O, B>; T]>,
    grad_inputs: Box<[SMatrix<S, I, B>; T]>,
    // Boxed like the rest, so that the struct stays small: debug builds copy it by value.
    step_grad_input: Box<SMatrix<S, I, B>>,
    g_state: Box<L::State>,
    g_prev: Box<L::State>,
    /// What `forget` starts from.
    initial: Box<L::State>,
    /// The gradient the next backward starts from, if `has_grad_final`.
    grad_final: Box<L::State>,
    has_grad_final: bool,
    /// Torch's `maskZero`: a sample whose input column is all zero at a step is masked there.
    mask_zero: bool,
    /// The output gradient of a masked step, masked columns zeroed.
    gy_masked: Box<SMatrix<S, O, B>>,
    /// The same for every step of a whole-sequence backward (`T` of them with masking, none
    /// without).
    gy_masked_seq: Box<[SMatrix<S, O, B>]>,
    /// Steps forwarded since the last forget.
    pos: u64,
    /// The step kept at record slot 0 and state slot 0: step `t` is at record
    /// `(t - origin) % T`, the state after it at `(t + 1 - origin) % (T + 1)`. A
    /// whole-sequence forward moves it to its first step, so that its steps are contiguous.
    origin: u64,
    /// `pos` at the start of the last whole-sequence `forward`, if that was the last forward.
    call_start: Option<u64>,
    /// One past the next step to back-propagate.
    cursor: u64,
    /// Bumped by every access that can change the parameters (`visit_parameters_mut`,
    /// `update`, `layer_mut`): backward refuses to go through a step forwarded before.
    version: u64,
    /// The `version` the last forward step saw.
    seen_version: u64,
    /// The first absolute step forwarded with the parameters of `seen_version`.
    fresh_from: u64,
    remember: Remember,
    training: bool,
    max_bptt: usize,
}

/// The record of a step of a sequencer of `L` and `E`.
type Record<S, L, E, const I: usize, const O: usize, const B: usize> =
    StepRecord<S, <L as Layer<S, I, O, B>>::Cache, <E as Encoder<S, I, B>>::Kept, I, O, B>;

#[derive(bytemuck::Zeroable)]
#[zeroable(bound = "S: Float")]
struct StepRecord<S, C, K, const I: usize, const O: usize, const B: usize> {
    /// The layer's input (the encoder's output).
    x: SMatrix<S, I, B>,
    /// What the encoder keeps of the step's input.
    kept: K,
    /// With masking: the samples masked at this step (their input column is all zero).
    masked: [bool; B],
    /// Some sample is masked at this step.
    any_masked: bool,
    y: SMatrix<S, O, B>,
    cache: C,
}

/// The steps of one whole-sequence forward as the outermost layer sees them: records and
/// states from slot 0 (see `Sequencer::origin`).
struct SeqSteps<'a, S: Float, C, K, St, const I: usize, const O: usize, const B: usize> {
    records: &'a mut [StepRecord<S, C, K, I, O, B>],
    /// One more than `records`: the state before each step and after the last.
    states: &'a mut [St],
    /// With masking (`mask_zero`): what a masked sample's state resets to.
    initial: Option<&'a St>,
}

impl<S: Float, C, K, St, const I: usize, const O: usize, const B: usize>
    ForwardSeq<S, St, C, I, O, B> for SeqSteps<'_, S, C, K, St, I, O, B>
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.records.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (ForwardStep<'_, S, St, C, I, O, B>, Option<Mask<'_, St, B>>) {
        let StepRecord {
            x,
            y,
            cache,
            masked,
            any_masked,
            ..
        } = &mut self.records[k];
        let (before, after) = self.states.split_at_mut(k + 1);
        let (prev, next) = match dir {
            Dir::Forward => (&before[k], &mut after[0]),
            Dir::Reversed => (&after[0], &mut before[k]),
        };
        let mask = match self.initial {
            Some(initial) if *any_masked => Some(Mask {
                masked: &*masked,
                initial,
            }),
            _ => None,
        };
        let step = ForwardStep {
            x: &*x,
            prev,
            next,
            cache,
            y,
        };
        (step, mask)
    }
}

/// The steps of one whole-sequence backward as the outermost layer sees them.
struct SeqGrads<'a, S: Float, C, K, St, const I: usize, const O: usize, const B: usize> {
    records: &'a mut [StepRecord<S, C, K, I, O, B>],
    states: &'a [St],
    /// The output gradients (masked samples' columns zeroed when masking).
    gy: &'a [SMatrix<S, O, B>],
    gx: &'a mut [SMatrix<S, I, B>],
    /// Whether `gx` is read (see [`BackwardStep::input_grad`]).
    input_grads: bool,
    /// Masking is on.
    masking: bool,
}

impl<S: Float, C, K, St, const I: usize, const O: usize, const B: usize>
    BackwardSeq<S, St, C, I, O, B> for SeqGrads<'_, S, C, K, St, I, O, B>
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.records.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (BackwardStep<'_, S, St, C, I, O, B>, Option<&[bool; B]>) {
        let StepRecord {
            x,
            y,
            cache,
            masked,
            any_masked,
            ..
        } = &mut self.records[k];
        let (prev, next) = match dir {
            Dir::Forward => (&self.states[k], &self.states[k + 1]),
            Dir::Reversed => (&self.states[k + 1], &self.states[k]),
        };
        let mask = (self.masking && *any_masked).then_some(&*masked);
        let step = BackwardStep {
            x: &*x,
            y: &*y,
            prev,
            next,
            cache,
            gy: &self.gy[k],
            gx: &mut self.gx[k],
            input_grad: self.input_grads,
        };
        (step, mask)
    }
    #[inline(always)]
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, I, B>, &St, &C) {
        let rec = &self.records[k];
        let prev = match dir {
            Dir::Forward => &self.states[k],
            Dir::Reversed => &self.states[k + 1],
        };
        (&rec.x, prev, &rec.cache)
    }
}

/// Where the step-by-step backward puts a step's input gradient.
#[derive(Clone, Copy)]
enum GradInto {
    /// Step `k` of the whole-sequence call's buffer.
    Call(usize),
    /// Step `k` of the call's buffer, which nothing reads unless the encoder does
    /// (`backward_parameters`): the layers may skip it.
    Unread(usize),
    /// The online step's buffer.
    Step,
}

impl<S: Float, C, K, const I: usize, const O: usize, const B: usize> StepRecord<S, C, K, I, O, B> {
    /// Finds the samples masked at this step: those whose input column is exactly zero.
    fn find_masked(&mut self) {
        self.masked = core::array::from_fn(|b| self.x.column(b).iter().all(|v| *v == S::zero()));
        self.any_masked = self.masked.contains(&true);
    }
}

/// Zeroes the columns of `m` that `masked` marks.
fn zero_columns<S: Float, const R: usize, const B: usize>(
    m: &mut SMatrix<S, R, B>,
    masked: &[bool; B],
) {
    for b in (0..B).filter(|&b| masked[b]) {
        m.column_mut(b).fill(S::zero());
    }
}

/// Backward through a step with masking: the masked samples' gradients at the state after the
/// step are zeroed in `g_state` (their state was reset), and the output gradient is returned
/// with their columns zeroed (in `scratch`; `gy` itself if no sample is masked).
fn mask_step<'g, S: Float, St: Columns, const O: usize, const B: usize>(
    (masked, any): (&[bool; B], bool),
    gy: &'g SMatrix<S, O, B>,
    scratch: &'g mut SMatrix<S, O, B>,
    g_state: &mut St,
) -> &'g SMatrix<S, O, B> {
    if !any {
        return gy;
    }
    scratch.copy_from(gy);
    zero_columns(scratch, masked);
    for b in (0..B).filter(|&b| masked[b]) {
        g_state.zero_column(b);
    }
    scratch
}

impl<S, L, const I: usize, const O: usize, const B: usize, const T: usize>
    Sequencer<S, L, I, O, B, T>
where
    S: Float,
    L: Layer<S, I, O, B>,
{
    /// A sequencer around `layer` (inputs are matrices), in training mode, remembering nothing.
    #[must_use]
    pub fn new(layer: L) -> Self {
        Self::try_new(layer).unwrap_or_else(|e| e.abort())
    }

    /// [`Sequencer::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if the per-step storage cannot be allocated.
    pub fn try_new(layer: L) -> Result<Self, AllocError> {
        Self::try_with_encoder(Dense, layer)
    }
}

impl<S, L, E, const I: usize, const O: usize, const B: usize, const T: usize>
    Sequencer<S, L, I, O, B, T, E>
where
    S: Float,
    L: Layer<S, I, O, B>,
    E: Encoder<S, I, B>,
{
    const T_OK: () = assert!(T >= 1, "seq_len must be at least 1");

    /// The record slot of absolute step `t` (see `origin`).
    #[inline(always)]
    const fn record_slot(origin: u64, t: u64) -> usize {
        ((t - origin) % T as u64) as usize
    }

    /// The state slot of the state before absolute step `t` (after step `t - 1`).
    #[inline(always)]
    const fn state_slot(origin: u64, t: u64) -> usize {
        ((t - origin) % (T as u64 + 1)) as usize
    }

    /// A sequencer around `encoder` (what turns each step's input into the layer's input) and
    /// `layer`, in training mode, remembering nothing.
    ///
    /// # Errors
    /// [`AllocError`] if the per-step storage cannot be allocated.
    pub fn try_with_encoder(encoder: E, layer: L) -> Result<Self, AllocError> {
        let () = Self::T_OK;
        // Choose the kernels now: the first detection reads `RNN_SIMD`, which allocates, and
        // nothing may allocate after construction.
        let _ = crate::simd_path();
        // Zeroed on the heap in place: nothing proportional to the network touches the stack.
        Ok(Self {
            encoder,
            layer,
            records: try_zeroed_slice(T)?,
            states: try_zeroed_slice(T + 1)?,
            outputs: try_zeroed_box()?,
            grad_inputs: try_zeroed_box()?,
            step_grad_input: try_zeroed_box()?,
            g_state: try_zeroed_box()?,
            g_prev: try_zeroed_box()?,
            initial: try_zeroed_box()?,
            grad_final: try_zeroed_box()?,
            has_grad_final: false,
            mask_zero: false,
            gy_masked: try_zeroed_box()?,
            gy_masked_seq: try_zeroed_slice(0)?,
            pos: 0,
            origin: 0,
            call_start: None,
            cursor: 0,
            version: 0,
            seen_version: 0,
            fresh_from: 0,
            remember: Remember::Neither,
            training: true,
            max_bptt: T,
        })
    }

    /// With `on`, masking as Torch's `maskZero` (the `network!` option `mask_zero = true`): a
    /// sample whose input column is exactly zero at a step is masked there: its output is
    /// zero, its state resets to the initial state, and it passes no gradient back (neither to
    /// the parameters nor to earlier steps). Off (the default) it costs one branch per step.
    #[must_use]
    pub fn with_mask_zero(self, on: bool) -> Self {
        self.try_with_mask_zero(on).unwrap_or_else(|e| e.abort())
    }

    /// [`Sequencer::with_mask_zero`], or the allocation that failed (masking keeps one more
    /// gradient per step).
    ///
    /// # Errors
    /// [`AllocError`] if that storage cannot be allocated.
    pub fn try_with_mask_zero(mut self, on: bool) -> Result<Self, AllocError> {
        self.mask_zero = on;
        if on && self.gy_masked_seq.is_empty() {
            self.gy_masked_seq = try_zeroed_slice(T)?;
        }
        Ok(self)
    }

    /// The encoder.
    pub fn encoder(&self) -> &E {
        &self.encoder
    }

    /// The wrapped layer.
    pub fn layer(&self) -> &L {
        &self.layer
    }

    /// The wrapped layer, mutably (e.g. to set weights).
    pub fn layer_mut(&mut self) -> &mut L {
        self.version = self.version.wrapping_add(1);
        &mut self.layer
    }

    /// Before forwarding step `pos`: the steps from here on see the current parameters.
    #[inline(always)]
    fn note_version(&mut self) {
        if self.version != self.seen_version {
            self.seen_version = self.version;
            self.fresh_from = self.pos;
        }
    }

    /// `Err` if backward through steps `from..pos` would meet a step forwarded with other
    /// parameters than the current ones.
    #[inline(always)]
    fn check_version(&self, from: u64) -> Result<(), BpttError> {
        if self.version != self.seen_version || from < self.fresh_from {
            Err(BpttError::ParametersChanged)
        } else {
            Ok(())
        }
    }

    /// Stops the build where code that runs the layer step by step (`step`, `backward_step`,
    /// `unroll = full`, `Repeater`) is compiled for a layer that has no steps (a `BiSequencer`).
    const STEPS: () = assert!(
        L::ONLINE,
        "this layer has no online step (it contains a BiSequencer, which needs whole \
         sequences): step, backward_step, unroll and Repeater are not available"
    );

    /// `Ok` if a forward may run `n` steps (1 to `T`).
    ///
    /// # Errors
    /// [`LengthError::OutOfRange`] otherwise.
    pub fn check_len(n: usize) -> Result<(), LengthError> {
        if (1..=T).contains(&n) {
            Ok(())
        } else {
            Err(LengthError::OutOfRange { len: n, seq_len: T })
        }
    }

    /// Forgets unless remembering in the current mode, and starts a whole-sequence forward.
    #[inline(always)]
    pub fn forward_begin(&mut self) {
        let keep = match self.remember {
            Remember::Both => true,
            Remember::Train => self.training,
            Remember::Eval => !self.training,
            Remember::Neither => false,
        };
        if !keep {
            self.forget_state();
        } else if self.pos != self.origin {
            let now = Self::state_slot(self.origin, self.pos);
            // In place: `<[T]>::swap` would move a whole state through the stack.
            if let Some(now) = now.checked_sub(1) {
                let (first, rest) = self.states.split_at_mut(1);
                first[0].swap_all(&mut rest[now]);
            }
            self.origin = self.pos;
        }
        self.has_grad_final = false;
        self.call_start = Some(self.pos);
        self.note_version();
    }

    /// Step `k` of a whole-sequence forward (`forward_begin` first, `k` from 0 up).
    #[inline(always)]
    pub fn forward_at(&mut self, k: usize, x: &E::Input) {
        let slot = self.record_step(x);
        self.outputs[k].copy_from(&self.records[slot].y);
    }

    /// Ends a whole-sequence forward and returns its outputs.
    #[inline(always)]
    pub fn forward_end(&mut self) -> &[SMatrix<S, O, B>; T] {
        self.cursor = self.pos;
        &self.outputs
    }

    /// A whole-sequence forward, layer by layer (see [`Layer::forward_seq`]; masking included:
    /// each layer resets its masked samples' states, see [`ForwardSeq::step_masked`]).
    fn forward_layers(&mut self, inputs: &[E::Input]) -> &[SMatrix<S, O, B>] {
        self.forward_begin();
        let n = inputs.len();
        for (rec, x) in self.records.iter_mut().zip(inputs) {
            self.encoder.encode(x, &mut rec.kept, &mut rec.x);
            if self.mask_zero {
                rec.find_masked();
            }
        }
        if !L::ONLINE {
            // A backward direction starts from the state slot after the last step.
            self.states[n].copy_all(&self.initial);
        }
        let mut steps = SeqSteps {
            records: &mut self.records[..n],
            states: &mut self.states[..=n],
            initial: self.mask_zero.then_some(&*self.initial),
        };
        self.layer.forward_seq(&mut steps, self.training);
        for (y, rec) in self.outputs.iter_mut().zip(&mut self.records[..n]) {
            if self.mask_zero && rec.any_masked {
                zero_columns(&mut rec.y, &rec.masked);
            }
            y.copy_from(&rec.y);
        }
        self.pos += n as u64;
        self.forward_end();
        &self.outputs[..n]
    }

    /// The backward of [`Sequencer::forward_layers`]; the input gradients only if
    /// `input_grads` or the encoder reads them (else the returned ones are unspecified).
    fn backward_layers(
        &mut self,
        inputs: &[E::Input],
        grad_outputs: &[SMatrix<S, O, B>],
        input_grads: bool,
    ) -> Result<&[SMatrix<S, I, B>], BpttError> {
        let range = self.begin_backward((inputs.len(), grad_outputs.len()), |k| &inputs[k])?;
        let n = (self.pos - range.0) as usize;
        // The call's steps are at slots 0..n (`forward_begin` moved the origin there).
        let lo = (range.1 - range.0) as usize;
        let gy = if self.mask_zero {
            // Masked samples pass no gradient back: their output gradients are zeroed here,
            // their state gradients by each layer's backward (`BackwardSeq::step_masked`).
            for ((g, given), rec) in self.gy_masked_seq[lo..n]
                .iter_mut()
                .zip(&grad_outputs[lo..n])
                .zip(&self.records[lo..n])
            {
                g.copy_from(given);
                zero_columns(g, &rec.masked);
            }
            &self.gy_masked_seq[lo..n]
        } else {
            &grad_outputs[lo..n]
        };
        let mut steps = SeqGrads {
            records: &mut self.records[lo..n],
            states: &self.states[lo..=n],
            gy,
            gx: &mut self.grad_inputs[lo..n],
            input_grads: input_grads || E::READS_GRAD,
            masking: self.mask_zero,
        };
        self.layer
            .backward_seq(&mut steps, &mut self.g_state, &mut self.g_prev);
        self.cursor = range.1;
        self.encoder_backward(range);
        Ok(&self.grad_inputs[..n])
    }

    /// The encoder's backward over the steps of `range`'s call from its floor up, latest first
    /// (the order of the online `backward_step`s).
    #[inline(always)]
    fn encoder_backward(&mut self, (start, floor): (u64, u64)) {
        for t in (floor..self.pos).rev() {
            let rec = &self.records[Self::record_slot(self.origin, t)];
            self.encoder
                .backward(&rec.kept, &self.grad_inputs[(t - start) as usize]);
        }
    }

    /// Runs one step from the current state; returns the record slot.
    #[inline(always)]
    fn record_step(&mut self, x: &E::Input) -> usize {
        self.note_version();
        let slot = Self::record_slot(self.origin, self.pos);
        let p = Self::state_slot(self.origin, self.pos);
        let n = if p == T { 0 } else { p + 1 };
        let rec = &mut self.records[slot];
        self.encoder.encode(x, &mut rec.kept, &mut rec.x);
        let [prev, next] = match self.states.get_disjoint_mut([p, n]) {
            Ok(pair) => pair,
            Err(_) => unreachable!("p != n because the ring has T + 1 >= 2 slots"),
        };
        let step = ForwardStep {
            x: &rec.x,
            prev,
            next,
            cache: &mut rec.cache,
            y: &mut rec.y,
        };
        self.layer.forward_step(step, self.training);
        if self.mask_zero {
            rec.find_masked();
            zero_columns(&mut rec.y, &rec.masked);
            for b in (0..B).filter(|&b| rec.masked[b]) {
                next.copy_column(&self.initial, b);
            }
        }
        self.pos += 1;
        slot
    }

    /// The earliest step that backward may reach.
    fn floor(&self) -> u64 {
        let window = self.max_bptt.min(T) as u64;
        self.call_start
            .unwrap_or(self.origin)
            .max(self.origin)
            .max(self.pos.saturating_sub(window))
    }

    /// Checks a whole-sequence backward may run and returns `(start, floor)`.
    #[inline(always)]
    pub fn backward_begin(
        &mut self,
        inputs: &[E::Input],
        grad_outputs: &[SMatrix<S, O, B>],
    ) -> Result<(u64, u64), BpttError> {
        let () = Self::STEPS;
        self.begin_backward((inputs.len(), grad_outputs.len()), |k| &inputs[k])
    }

    /// [`Sequencer::backward_begin`] for `lengths` (of the inputs and the output gradients),
    /// with the input of step `k` of the call given by `input`.
    fn begin_backward<'x>(
        &mut self,
        (inputs, grad_outputs): (usize, usize),
        input: impl Fn(usize) -> &'x E::Input,
    ) -> Result<(u64, u64), BpttError>
    where
        E::Input: 'x,
    {
        if self.pos == 0 {
            return Err(BpttError::NoForward);
        }
        let start = self.call_start.ok_or(BpttError::NotAfterForward)?;
        let forward = (self.pos - start) as usize;
        if (inputs, grad_outputs) != (forward, forward) {
            return Err(BpttError::Length {
                forward,
                inputs,
                grad_outputs,
            });
        }
        let floor = self.floor();
        self.check_version(floor)?;
        for t in floor..self.pos {
            let rec = &self.records[Self::record_slot(self.origin, t)];
            if !E::same(input((t - start) as usize), &rec.kept, &rec.x) {
                return Err(BpttError::InputMismatch { step: t });
            }
        }
        self.start_backward_state();
        for g in &mut self.grad_inputs[..(floor - start) as usize] {
            g.fill(S::zero());
        }
        Ok((start, floor))
    }

    /// Step `k` (0-based in the call) of a whole-sequence backward, if it is within reach.
    #[inline(always)]
    pub fn backward_at(&mut self, k: usize, range: (u64, u64), gy: &SMatrix<S, O, B>) {
        self.backward_call_step(range.0 + k as u64, range, gy, GradInto::Call(k));
    }

    /// [`Sequencer::backward_at`] for [`Network::backward_parameters`]: the input gradient of
    /// the step is not wanted (the first layer may skip it; [`Sequencer::backward_end`]'s
    /// result is then unspecified).
    #[inline(always)]
    pub fn backward_parameters_at(&mut self, k: usize, range: (u64, u64), gy: &SMatrix<S, O, B>) {
        self.backward_call_step(range.0 + k as u64, range, gy, GradInto::Unread(k));
    }

    /// Step `t` of a whole-sequence backward over `range`, if it is within reach.
    #[inline(always)]
    fn backward_call_step(
        &mut self,
        t: u64,
        range: (u64, u64),
        gy: &SMatrix<S, O, B>,
        into: GradInto,
    ) {
        if t >= range.1 {
            // Where `defer_weight_grads` says so (below batch 8, and at every batch on the
            // `f32` intrinsics paths) the weight gradients wait for `backward_end`: one product
            // per sequence (the decision of `Layer::backward_seq`, made the same way here).
            self.backward_one(t, gy, into, kernels::defer_weight_grads::<S>(B));
        }
    }

    /// (Torch: `nn.Repeater`) Runs the `T` steps with `input` fed at every step (forgets first
    /// unless remembering, as `forward`).
    pub fn forward_repeated(&mut self, input: &E::Input) -> &[SMatrix<S, O, B>; T] {
        let () = Self::STEPS;
        self.forward_begin();
        for k in 0..T {
            self.forward_at(k, input);
        }
        self.forward_end()
    }

    /// The backward of [`Sequencer::forward_repeated`]: accumulates the parameter gradients
    /// and returns the gradient with respect to the one input, the sum over the steps of each
    /// step's input gradient.
    ///
    /// # Errors
    /// As [`Network::try_backward`], with `input` standing for every step's input.
    pub fn try_backward_repeated(
        &mut self,
        input: &E::Input,
        grad_outputs: &[SMatrix<S, O, B>],
    ) -> Result<&SMatrix<S, I, B>, BpttError> {
        let range = self.begin_backward((T, grad_outputs.len()), |_| input)?;
        for k in (0..T).rev() {
            self.backward_at(k, range, &grad_outputs[k]);
        }
        self.backward_end(range);
        self.step_grad_input.fill(S::zero());
        for g in self.grad_inputs.iter() {
            *self.step_grad_input += g;
        }
        Ok(&self.step_grad_input)
    }

    /// Ends a whole-sequence backward and returns the input gradients.
    #[inline(always)]
    pub fn backward_end(&mut self, range: (u64, u64)) -> &[SMatrix<S, I, B>; T] {
        // Latest step first: the order in which step-by-step backward adds them, so that both
        // give bit-identical gradients.
        let (records, states, origin) = (&self.records, &self.states, self.origin);
        let steps = (range.1..self.pos).rev().map(|t| {
            let rec = &records[Self::record_slot(origin, t)];
            (&rec.x, &states[Self::state_slot(origin, t)], &rec.cache)
        });
        if kernels::defer_weight_grads::<S>(B) {
            self.layer.accumulate_weight_grads(steps);
        }
        self.cursor = range.1;
        &self.grad_inputs
    }

    /// Back-propagates step `t` through the whole stack at once (the step-by-step path:
    /// online, unrolled, Repeater): masking, the layer, then the encoder, with the input
    /// gradient going `into` the call's buffer or the online step's.
    #[inline(always)]
    fn backward_one(&mut self, t: u64, gy: &SMatrix<S, O, B>, into: GradInto, defer: bool) {
        let Self {
            encoder,
            layer,
            records,
            states,
            origin,
            g_state,
            g_prev,
            gy_masked,
            grad_inputs,
            step_grad_input,
            mask_zero,
            ..
        } = self;
        let rec = &mut records[Self::record_slot(*origin, t)];
        let (p, n) = (
            Self::state_slot(*origin, t),
            Self::state_slot(*origin, t + 1),
        );
        let gy = if *mask_zero {
            mask_step((&rec.masked, rec.any_masked), gy, gy_masked, &mut **g_state)
        } else {
            gy
        };
        let (gx, input_grad) = match into {
            GradInto::Call(k) => (&mut grad_inputs[k], true),
            GradInto::Unread(k) => (&mut grad_inputs[k], E::READS_GRAD),
            GradInto::Step => (&mut **step_grad_input, true),
        };
        let step = BackwardStep {
            x: &rec.x,
            y: &rec.y,
            prev: &states[p],
            next: &states[n],
            cache: &mut rec.cache,
            gy,
            gx: &mut *gx,
            input_grad,
        };
        layer.backward_step(step, g_state, g_prev, defer);
        core::mem::swap(g_state, g_prev);
        encoder.backward(&rec.kept, gx);
    }

    /// The gradient at the state after the last step: the one set by
    /// [`Network::set_grad_final_state`] (once), or zero.
    fn start_backward_state(&mut self) {
        if self.has_grad_final {
            self.g_state.copy_all(&self.grad_final);
            self.has_grad_final = false;
        } else {
            zero_in_place(&mut *self.g_state);
        }
    }

    fn forget_state(&mut self) {
        self.has_grad_final = false;
        self.seen_version = self.version;
        self.fresh_from = 0;
        self.pos = 0;
        self.origin = 0;
        self.call_start = None;
        self.cursor = 0;
        self.states[0].copy_all(&self.initial);
    }
}

impl<S, L, E, const I: usize, const O: usize, const B: usize, const T: usize> Clone
    for Sequencer<S, L, I, O, B, T, E>
where
    S: Float,
    L: Layer<S, I, O, B>,
    E: Encoder<S, I, B>,
{
    /// A deep copy of the layers (parameters, their gradients and optimiser state), the mode,
    /// the `remember` setting, `max_bptt_steps` and the initial state, with fresh per-step
    /// storage: the copy starts as after `forget`.
    fn clone(&self) -> Self {
        let mut c = Self::try_with_encoder(self.encoder.clone(), self.layer.clone())
            .unwrap_or_else(|e| e.abort());
        c.initial.copy_all(&self.initial);
        c.states[0].copy_all(&self.initial);
        c.remember = self.remember;
        c.training = self.training;
        c.max_bptt = self.max_bptt;
        c.with_mask_zero(self.mask_zero)
    }
}

impl<S, L, E, const I: usize, const O: usize, const B: usize, const T: usize> Parameterized<S>
    for Sequencer<S, L, I, O, B, T, E>
where
    S: Float,
    L: Layer<S, I, O, B>,
    E: Encoder<S, I, B>,
{
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, S>)) {
        self.encoder.visit_parameters(f);
        self.layer.visit_parameters(f);
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, S>)) {
        self.version = self.version.wrapping_add(1);
        self.encoder.visit_parameters_mut(f);
        self.layer.visit_parameters_mut(f);
    }
    fn visit_gradients_mut<'a>(&'a mut self, f: &mut dyn FnMut(DMatrixViewMut<'a, S>)) {
        // Gradients only: the parameters' version stays.
        self.encoder.visit_gradients_mut(f);
        self.layer.visit_gradients_mut(f);
    }
    fn zero_grad(&mut self) {
        self.encoder.zero_grad();
        self.layer.zero_grad();
    }
    fn update(&mut self, lr: S) {
        self.version = self.version.wrapping_add(1);
        self.encoder.update(lr);
        self.layer.update(lr);
    }
}

impl<S, L, E, const I: usize, const O: usize, const B: usize, const T: usize> Network
    for Sequencer<S, L, I, O, B, T, E>
where
    S: Float,
    L: Layer<S, I, O, B>,
    E: Encoder<S, I, B>,
{
    type Scalar = S;
    type Input = E::Input;
    type Output = SMatrix<S, O, B>;
    type GradInput = SMatrix<S, I, B>;
    type Inputs = [E::Input];
    type Outputs = [SMatrix<S, O, B>];
    type GradInputs = [SMatrix<S, I, B>];
    type State = L::State;
    const SEQ_LEN: usize = T;
    const BATCH: usize = B;
    const INPUT: usize = I;
    const OUTPUT: usize = O;

    fn try_forward(&mut self, inputs: &Self::Inputs) -> Result<&Self::Outputs, LengthError> {
        Self::check_len(inputs.len())?;
        Ok(self.forward_layers(inputs))
    }

    fn try_backward(
        &mut self,
        inputs: &Self::Inputs,
        grad_outputs: &Self::Outputs,
    ) -> Result<&Self::GradInputs, BpttError> {
        self.backward_layers(inputs, grad_outputs, true)
    }

    fn try_backward_parameters(
        &mut self,
        inputs: &Self::Inputs,
        grad_outputs: &Self::Outputs,
    ) -> Result<(), BpttError> {
        self.backward_layers(inputs, grad_outputs, false)
            .map(|_| ())
    }

    fn forget(&mut self) {
        self.forget_state();
    }

    fn state(&self) -> &L::State {
        &self.states[Self::state_slot(self.origin, self.pos)]
    }

    fn set_initial_state(&mut self, state: L::State) {
        *self.initial = state;
    }

    fn grad_initial_state(&self) -> &L::State {
        &self.g_state
    }

    fn set_grad_final_state(&mut self, grad: L::State) {
        *self.grad_final = grad;
        self.has_grad_final = true;
    }

    fn remember(&mut self, mode: Remember) {
        self.remember = mode;
    }

    fn training(&mut self) {
        if !self.training {
            self.training = true;
            self.forget_state();
        }
    }

    fn evaluate(&mut self) {
        if self.training {
            self.training = false;
            self.forget_state();
        }
    }

    fn is_training(&self) -> bool {
        self.training
    }

    fn remember_mode(&self) -> Remember {
        self.remember
    }

    fn bptt_limit(&self) -> usize {
        self.max_bptt
    }

    fn reseed(&mut self, stream: u64) {
        self.layer.reseed(stream);
    }

    fn check_finite(&self) -> Result<(), NonFinite> {
        for t in self.pos.saturating_sub(T as u64).max(self.origin)..self.pos {
            let y = &self.records[Self::record_slot(self.origin, t)].y;
            if let Some(k) = y.iter().position(|v| !v.is_finite()) {
                return Err(NonFinite::Output {
                    step: t,
                    row: k % O,
                    sample: k / O,
                    value: y[k].to_f64(),
                });
            }
        }
        non_finite_parameter(self).map_or(Ok(()), Err)
    }

    fn max_bptt_steps(&mut self, n: usize) {
        self.max_bptt = n.clamp(1, T);
    }
}

impl<S, L, E, const I: usize, const O: usize, const B: usize, const T: usize> Online
    for Sequencer<S, L, I, O, B, T, E>
where
    S: Float,
    L: Layer<S, I, O, B>,
    E: Encoder<S, I, B>,
{
    fn step(&mut self, input: &Self::Input) -> &Self::Output {
        let () = Self::STEPS;
        self.has_grad_final = false;
        let slot = self.record_step(input);
        self.call_start = None;
        self.cursor = self.pos;
        &self.records[slot].y
    }

    fn try_backward_step(
        &mut self,
        input: &Self::Input,
        grad_output: &Self::Output,
    ) -> Result<&Self::GradInput, BpttError> {
        let () = Self::STEPS;
        if self.pos == 0 {
            return Err(BpttError::NoForward);
        }
        let floor = self.floor();
        if self.cursor <= floor {
            return Err(BpttError::StepsExhausted {
                kept: (self.pos - floor) as usize,
            });
        }
        let t = self.cursor - 1;
        self.check_version(t)?;
        let rec = &self.records[Self::record_slot(self.origin, t)];
        if !E::same(input, &rec.kept, &rec.x) {
            return Err(BpttError::InputMismatch { step: t });
        }
        if self.cursor == self.pos {
            self.start_backward_state();
        }
        self.backward_one(t, grad_output, GradInto::Step, false);
        self.cursor = t;
        Ok(&self.step_grad_input)
    }
}
