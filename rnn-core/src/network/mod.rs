//! The [`Network`] trait that every `network!` struct implements, and [`Sequencer`], the
//! generic engine behind it: per-step storage for `T` steps, forward and backward through time,
//! online stepping, remember/forget and truncated BPTT.

mod errors;
mod sequencer;
mod steps;

pub use errors::{BpttError, LengthError, NonFinite};
pub use sequencer::Sequencer;

use crate::layer::Skew;
use crate::{Float, Parameterized};
use nalgebra::SMatrix;

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
    /// assert!(enc.flat_gradients().iter().any(|g| *g != 0.0));
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

    /// The network's top-level layers as the DSL names them (`["LSTM", "Linear"]`; a
    /// container by its keyword), or nothing where that is not known (a network not made by
    /// `network!`). Neural Amp Modeler I/O checks a network's form with it.
    #[doc(hidden)]
    fn __top_layers(&self) -> &'static [&'static str] {
        &[]
    }

    /// Adds the network to an ONNX graph and returns its output; what [`crate::io::to_onnx`]
    /// calls. The default (a network not made by `network!`) records that it has no ONNX form.
    #[doc(hidden)]
    fn __onnx(&self, g: &mut crate::onnx::Graph<Self::Scalar>) -> crate::onnx::Value {
        g.unsupported("network", "only networks made by `network!` export to ONNX");
        g.index_input(None)
    }

    /// Writes the network as an ONNX model (see [`crate::io::to_onnx`]), atomically.
    #[cfg(feature = "std")]
    fn save_onnx(&self, path: impl AsRef<std::path::Path>) -> Result<(), crate::io::WeightsError>
    where
        Self: Sized,
    {
        let bytes = crate::io::to_onnx(self)?;
        crate::io::write_atomic(path.as_ref(), &bytes)
    }

    /// Reads the weights of an ONNX model into the network (see [`crate::io::load_onnx`]),
    /// checking everything first; nothing changes on error.
    #[cfg(feature = "std")]
    fn load_onnx(
        &mut self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<(), crate::io::WeightsError>
    where
        Self: Sized,
    {
        let bytes = std::fs::read(path)?;
        crate::io::load_onnx(self, &bytes)
    }

    /// (Torch: `maxBPTTstep / rho`) Back-propagate through at most the last `n` steps (clamped to
    /// `1..=SEQ_LEN`). Earlier steps get zero input gradients. Does not change forward values.
    fn max_bptt_steps(&mut self, n: usize);

    /// Lets evaluation mode use the fast activations (`on`), or returns to the exact ones
    /// (the default): for real-time inference, e.g. an amp model stepped per sample
    /// (`Online::process_block`), where a small LSTM's step is the latency of its activations.
    ///
    /// The fast `tanh` is a rational approximation (Eigen's `ptanh_float`, the input clamped
    /// to ±7.905) and the sigmoid `(1 + tanh(x / 2)) / 2`: each within 4e-7 of the exact
    /// function (tested over all of `f32`), about half its latency (no exponential). A
    /// permission, not a promise: only the LSTM cell's `f32` kernels on AVX2 and AVX-512 have
    /// them; training mode, every other layer, `f64` and other CPUs stay exact, so gradients
    /// and everything trained are unchanged. Stepping and `process_block` still give the same
    /// bits as each other. Not carried by saved weights or exports (`save_nam` settles its
    /// initial state with the exact functions).
    ///
    /// ```
    /// use rnn_core::prelude::*;
    ///
    /// network! { pub Amp<seq_len = 64> = Sequential[ LSTM(1, 16), Linear(16, 1) ]; }
    /// let mut amp = Amp::new(1);
    /// amp.evaluate();
    /// let mut exact = amp.clone();
    /// amp.set_fast_activations(true);
    /// let x = SMatrix::<f32, 1, 1>::new(0.3);
    /// let (fast, exact) = (amp.step(&x)[0], exact.step(&x)[0]);
    /// assert!((fast - exact).abs() < 1e-5);
    /// ```
    fn set_fast_activations(&mut self, on: bool);

    /// Gives every dropout layer an independent mask stream derived from its current one and
    /// `stream` (see [`Layer::reseed`](crate::Layer::reseed)); `rnn_core::parallel` calls it
    /// with each shard's index so that replicas do not repeat each other's masks.
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
/// assert!(net.flat_gradients().iter().any(|g| *g != 0.0));
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

    /// Runs one step per sample of `samples`, in place: each sample is replaced by the output
    /// of its step, the state carried from sample to sample and from one call to the next (an
    /// audio callback's mono buffer). Bit for bit what calling [`Online::step`] per sample
    /// gives; allocates nothing.
    ///
    /// `Sequential[ LSTM(1, H), Linear(H, 1) ]` with `H <= 64` and
    /// `Sequential[ LSTM(1, H1), LSTM(H1, H2), Linear(H2, 1) ]` with `H1, H2 <= 8` (`f32`,
    /// AVX2 or AVX-512) run as one fused kernel ([`crate::block`]: no engine around the
    /// cells' kernels, nothing kept for backward, up to eight units the state in registers
    /// from sample to sample; NAM's 1x2 model 0.7x the time of the pipelined block with the
    /// fast activations, BENCHMARKS.md). Such a call has a fixed cost (the weights loaded for
    /// the block, on a Zen 4 about 45 ns at 1x2 and 135 ns at 1x16), so blocks of fewer than
    /// about four samples cost more than [`Online::step`] per sample. Otherwise a
    /// `Sequential` of two or more layers is pipelined over the block: its first layer runs
    /// on sample `t + 1` beside the rest on sample `t` (see
    /// [`Layer::forward_step_skewed`](crate::Layer::forward_step_skewed)), which lets the core
    /// overlap two stacked cells' latency chains (`LSTM(1, 8) -> LSTM(8, 8) -> Linear(8, 1)`:
    /// 0.8x the time of stepping, BENCHMARKS.md). The steps of a block cannot be
    /// back-propagated: a `backward_step` right after it is
    /// [`BpttError::StepsExhausted`]; steps taken after it can.
    fn process_block<S: Float>(&mut self, samples: &mut [S])
    where
        Self: Network<Scalar = S, Input = SMatrix<S, 1, 1>, Output = SMatrix<S, 1, 1>>,
    {
        if self.__process_fused(samples) {
            return;
        }
        let n = samples.len();
        if n < 2 || !self.__pipelines() {
            for x in samples {
                *x = self.step(&SMatrix::from_element(*x))[(0, 0)];
            }
            return;
        }
        let first = SMatrix::from_element(samples[0]);
        self.__step_skewed(&first, Skew::First);
        for k in 1..n {
            let x = SMatrix::from_element(samples[k]);
            samples[k - 1] = self.__step_skewed(&x, Skew::Both)[(0, 0)];
        }
        samples[n - 1] = self.__step_skewed(&first, Skew::Rest)[(0, 0)];
        self.__end_skew(samples);
    }

    /// Runs [`Online::process_block`] with a fused kernel ([`crate::block`]) if one covers
    /// this network; whether it ran (if not, nothing changed).
    #[doc(hidden)]
    fn __process_fused(&mut self, samples: &mut [Self::Scalar]) -> bool {
        let _ = samples;
        false
    }

    /// Whether [`Online::process_block`] pipelines this network's layers.
    #[doc(hidden)]
    fn __pipelines(&self) -> bool {
        false
    }

    /// One step of a pipelined block (only called where [`Online::__pipelines`]).
    #[doc(hidden)]
    fn __step_skewed(&mut self, input: &Self::Input, part: Skew) -> &Self::Output {
        let _ = part;
        self.step(input)
    }

    /// Ends a pipelined block, given its outputs.
    #[doc(hidden)]
    fn __end_skew(&mut self, outputs: &[Self::Scalar]) {
        let _ = outputs;
    }

    /// Loads a Neural Amp Modeler `.nam` file of architecture `LSTM` (see
    /// [`crate::io::load_nam`]): weights, and the model's initial state as the state
    /// [`Network::forget`] returns to. Returns the file's sample rate and metadata.
    #[cfg(feature = "std")]
    fn load_nam(
        &mut self,
        path: impl AsRef<std::path::Path>,
    ) -> Result<crate::io::NamFile, crate::io::WeightsError>
    where
        Self::State: crate::float::Columns,
    {
        let bytes = std::fs::read(path)?;
        crate::io::load_nam(self, &bytes)
    }

    /// Writes the network as a Neural Amp Modeler `.nam` file (see [`crate::io::to_nam`]),
    /// atomically.
    #[cfg(feature = "std")]
    fn save_nam<S: Float>(
        &self,
        path: impl AsRef<std::path::Path>,
        metadata: &crate::io::NamMetadata,
    ) -> Result<(), crate::io::WeightsError>
    where
        Self: Network<Scalar = S, Input = SMatrix<S, 1, 1>> + Clone,
        Self::State: crate::float::Columns,
    {
        let text = crate::io::to_nam(self, metadata)?;
        crate::io::write_atomic(path.as_ref(), text.as_bytes())
    }
}
