//! [`Sequencer`]: the engine behind every `network!` struct: per-step storage for `T` steps,
//! forward and backward through time, online stepping, remember/forget and truncated BPTT.

use super::errors::non_finite_parameter;
use super::steps::{
    GradInto, Record, SeqGrads, SeqSteps, StateGradBuffers, masked_grad, zero_columns,
};
use super::{BpttError, LengthError, Network, NonFinite, Online, Remember};
use crate::float::{AllocError, Columns, try_zeroed_box, try_zeroed_slice, zero_in_place};
use crate::layer::{Dense, Encoder, ForwardStep, Layer, Skew};
use crate::one_step::{OneGrad, OneStep};
use crate::{Float, ParamMut, ParamRef, Parameterized};
use alloc::boxed::Box;
use nalgebra::{DMatrixViewMut, SMatrix};

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
    /// The gradients at the states around a backward.
    g: StateGradBuffers<L::State>,
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
    /// What a pipelined `process_block` keeps between its steps (see
    /// [`Layer::forward_step_skewed`]).
    skew_lag: Box<L::Cache>,
    /// The state before a fused block that ends in the ring slot it starts from (see
    /// `__process_fused`).
    block_prev: Box<L::State>,
    /// Steps before this one cannot be back-propagated: a pipelined `process_block` leaves
    /// its records unusable for backward.
    kept_from: u64,
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
            g: StateGradBuffers::try_new()?,
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
            skew_lag: try_zeroed_box()?,
            block_prev: try_zeroed_box()?,
            kept_from: 0,
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
        let slot = self.record_step(x, None);
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
            if self.mask_zero {
                rec.mask_output();
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
        self.layer.backward_seq(&mut steps, self.g.grads());
        self.g.step_back();
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

    /// Runs one step from the current state; returns the record slot. The step is a sequence
    /// of one for the layer's whole-sequence forward ([`OneStep`]): one path through the
    /// layers, masking included. With `skew`, one step of a pipelined block (see
    /// [`Layer::forward_step_skewed`]): the layer's parts one step apart, `x` not read for
    /// [`Skew::Rest`], no masking (not pipelined with `mask_zero`).
    #[inline(always)]
    fn record_step(&mut self, x: &E::Input, skew: Option<Skew>) -> usize {
        self.note_version();
        let slot = Self::record_slot(self.origin, self.pos);
        let p = Self::state_slot(self.origin, self.pos);
        let n = if p == T { 0 } else { p + 1 };
        let rec = &mut self.records[slot];
        if skew != Some(Skew::Rest) {
            self.encoder.encode(x, &mut rec.kept, &mut rec.x);
        }
        let [prev, next] = match self.states.get_disjoint_mut([p, n]) {
            Ok(pair) => pair,
            Err(_) => unreachable!("p != n because the ring has T + 1 >= 2 slots"),
        };
        match skew {
            None => {
                if self.mask_zero {
                    rec.find_masked();
                }
                let initial = self.mask_zero.then_some(&*self.initial);
                let (step, mask) = rec.forward((&*prev, next), initial);
                self.layer
                    .forward_seq(&mut OneStep::new(step, mask), self.training);
                if self.mask_zero {
                    rec.mask_output();
                }
            }
            Some(part) => {
                let step = ForwardStep {
                    x: &rec.x,
                    prev,
                    next,
                    cache: &mut rec.cache,
                    y: &mut rec.y,
                };
                self.layer
                    .forward_step_skewed(step, &mut self.skew_lag, part, self.training);
            }
        }
        self.pos += 1;
        slot
    }

    /// After a block (`Online::process_block`) of `outputs.len()` steps ending at `pos`:
    /// the records of its last `T` steps hold their outputs (batch 1, one output), where
    /// stepping leaves them (`check_finite` reads them).
    fn keep_block_outputs(&mut self, outputs: &[S]) {
        let kept = outputs.len().min(T);
        let first = self.pos - kept as u64;
        for (k, &y) in outputs[outputs.len() - kept..].iter().enumerate() {
            self.records[Self::record_slot(self.origin, first + k as u64)].y[(0, 0)] = y;
        }
    }

    /// The earliest step that backward may reach.
    fn floor(&self) -> u64 {
        let window = self.max_bptt.min(T) as u64;
        self.call_start
            .unwrap_or(self.origin)
            .max(self.origin)
            .max(self.kept_from)
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
            self.backward_one(t, gy, into);
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
        self.cursor = range.1;
        &self.grad_inputs
    }

    /// Back-propagates step `t` (the step-by-step path: online, unrolled, Repeater) through
    /// the layer's whole-sequence backward, the step a sequence of one ([`OneGrad`]; the
    /// layer adds its weight gradients before it returns), then the encoder, with the input
    /// gradient going `into` the call's buffer or the online step's.
    #[inline(always)]
    fn backward_one(&mut self, t: u64, gy: &SMatrix<S, O, B>, into: GradInto) {
        let Self {
            encoder,
            layer,
            records,
            states,
            origin,
            g,
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
            masked_grad((&rec.masked, rec.any_masked), gy, gy_masked)
        } else {
            gy
        };
        let (gx, input_grad) = match into {
            GradInto::Call(k) => (&mut grad_inputs[k], true),
            GradInto::Unread(k) => (&mut grad_inputs[k], E::READS_GRAD),
            GradInto::Step => (&mut **step_grad_input, true),
        };
        let (step, masked) = rec.backward(
            (&states[p], &states[n]),
            (gy, &mut *gx, input_grad),
            *mask_zero,
        );
        layer.backward_seq(&mut OneGrad::new(step, masked), g.grads());
        g.step_back();
        encoder.backward(&rec.kept, gx);
    }

    /// The gradient at the state after the last step: the one set by
    /// [`Network::set_grad_final_state`] (once), or zero.
    fn start_backward_state(&mut self) {
        if self.has_grad_final {
            self.g.state.copy_all(&self.grad_final);
            self.has_grad_final = false;
        } else {
            zero_in_place(&mut *self.g.state);
        }
    }

    /// Adds the network to an ONNX graph: its input (`repeat`: a `Repeater`, one input for
    /// all `T` steps), its layers from the state `forget` returns to; returns the output.
    #[doc(hidden)]
    pub fn onnx_graph(&self, g: &mut crate::onnx::Graph<S>, repeat: bool) -> crate::onnx::Value {
        if self.mask_zero {
            g.unsupported(
                "mask_zero",
                "ONNX's recurrent operators have no per-step mask (their `sequence_lens` only \
                 ends sequences early)",
            );
        }
        let x = self.encoder.to_onnx(g, repeat.then_some(T));
        self.layer.to_onnx(g, &x, &self.initial)
    }

    fn forget_state(&mut self) {
        self.has_grad_final = false;
        self.seen_version = self.version;
        self.fresh_from = 0;
        self.pos = 0;
        self.origin = 0;
        self.call_start = None;
        self.cursor = 0;
        self.kept_from = 0;
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
    fn visit_slots_mut(&mut self, f: &mut dyn FnMut(crate::ParamSlot<'_, S>)) {
        self.version = self.version.wrapping_add(1);
        self.encoder.visit_slots_mut(f);
        self.layer.visit_slots_mut(f);
    }
    fn try_reserve_training(&mut self) -> Result<(), crate::AllocError> {
        // Buffers only: the parameters' version stays.
        self.encoder.try_reserve_training()?;
        self.layer.try_reserve_training()
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
        &self.g.state
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

    fn set_fast_activations(&mut self, on: bool) {
        self.layer.set_fast_activations(on);
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

    fn __onnx(&self, g: &mut crate::onnx::Graph<S>) -> crate::onnx::Value {
        self.onnx_graph(g, false)
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
        let slot = self.record_step(input, None);
        self.call_start = None;
        self.cursor = self.pos;
        &self.records[slot].y
    }

    fn __pipelines(&self) -> bool {
        L::SKEWS && !self.mask_zero
    }

    /// The block through a fused kernel for the layer's stages (`crate::block::run`) from the
    /// current state to the slot of the state after it (a block that ends in the slot it
    /// starts from, `T + 1` samples or a multiple, reads a copy of the state before it). The
    /// last `T` outputs are kept as steps keep them (`check_finite` reads them); like a
    /// pipelined block, its steps cannot be back-propagated.
    fn __process_fused(&mut self, samples: &mut [S]) -> bool {
        let () = Self::STEPS;
        if !E::IDENTITY || self.mask_zero || samples.is_empty() || I != 1 || O != 1 || B != 1 {
            return false;
        }
        let n = samples.len() as u64;
        let p = Self::state_slot(self.origin, self.pos);
        let q = Self::state_slot(self.origin, self.pos + n);
        let run = crate::block::run::<S, L, I, O, B>;
        let ran = if p == q {
            self.block_prev.copy_all(&self.states[p]);
            let next = &mut self.states[q];
            run(&self.layer, samples, &self.block_prev, next, self.training)
        } else {
            let [prev, next] = match self.states.get_disjoint_mut([p, q]) {
                Ok(pair) => pair,
                Err(_) => unreachable!("p != q"),
            };
            run(&self.layer, samples, prev, next, self.training)
        };
        if !ran {
            return false;
        }
        self.note_version();
        self.pos += n;
        self.has_grad_final = false;
        self.call_start = None;
        self.kept_from = self.pos;
        self.cursor = self.pos;
        self.keep_block_outputs(samples);
        true
    }

    fn __step_skewed(&mut self, input: &Self::Input, part: Skew) -> &Self::Output {
        let () = Self::STEPS;
        self.has_grad_final = false;
        self.call_start = None;
        let slot = self.record_step(input, Some(part));
        &self.records[slot].y
    }

    fn __end_skew(&mut self, outputs: &[S]) {
        // The block ran one step more than it had samples (the rest one step behind): the
        // state after its last sample is in the slot after the current one.
        let p = Self::state_slot(self.origin, self.pos);
        self.pos -= 1;
        let q = Self::state_slot(self.origin, self.pos);
        let [last, here] = match self.states.get_disjoint_mut([p, q]) {
            Ok(pair) => pair,
            Err(_) => unreachable!("two consecutive slots of a ring of T + 1 >= 2"),
        };
        here.copy_all(last);
        self.kept_from = self.pos;
        self.cursor = self.pos;
        // The records hold the rest's outputs one step late (and the extra step's in the
        // slot of the block's earliest kept step): put each where a step leaves it.
        self.keep_block_outputs(outputs);
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
        self.backward_one(t, grad_output, GradInto::Step);
        self.cursor = t;
        Ok(&self.step_grad_input)
    }
}
