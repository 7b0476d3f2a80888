//! Support for the code that `network!` generates. Not a public API: it may change at any time.

pub use crate::bisequencer::BiSequencer;
pub use crate::io::{Embedded, NamLstm, load_embedded, load_nam_embedded};
pub use crate::layer::Dense;
pub use crate::network::{BpttError, LengthError, Network, NonFinite, Online, Remember, Sequencer};
pub use crate::residual::Residual;
pub use crate::sequential::{Chain, Named};
pub use crate::{AllocError, Float, ParamMut, ParamRef, ParamSlot, Parameterized, Rng};
pub use nalgebra::{DMatrixViewMut, SMatrix};
pub use rnn_format::Dtype;

/// The padding index `index` of a `LookupTable` over `V` tokens: evaluated at compile time
/// (in a `const` block), an index `>= V` is a compile error at the layer.
///
/// # Panics
/// (At compile time) if `index >= V`.
pub const fn padding<const V: usize>(index: usize) -> crate::criterion::Class<V> {
    match crate::criterion::Class::new(index) {
        Some(c) => c,
        None => panic!("the padding index of a LookupTable must be below its vocabulary size"),
    }
}

pub use rnn_format::sizes::MAX_ELEMENTS;

/// The range checks that `network!` makes on literal sizes, for a layer whose sizes are
/// constants: evaluated at compile time, a failure is a compile error at the layer.
///
/// # Panics
/// (At compile time) if a size is 0 or the layer's matrices would exceed [`MAX_ELEMENTS`].
pub const fn check_sizes(gates: usize, n_in: usize, n_out: usize, columns: usize) {
    assert!(
        n_in > 0 && n_out > 0,
        "a layer size must be at least 1 (a constant size is 0)"
    );
    let fits = rnn_format::sizes::largest_matrix(gates, n_in, n_out, columns).is_some();
    assert!(
        fits,
        "a layer with constant sizes is too large: its matrices would have more elements than \
         this platform can address"
    );
}

/// [`check_sizes`] for a layer with more sizes and options (`Conv1d(in, out, kernel,
/// dilation = d)`), some of them constants: every value at least 1 and the largest matrix its
/// type arguments `args` make (a weight or a state, over `columns` columns) within
/// [`MAX_ELEMENTS`].
///
/// # Panics
/// (At compile time) if a value is 0 or a matrix would be too large.
pub const fn check_shaped(values: &[usize], args: &[usize], columns: usize) {
    let mut k = 0;
    while k < values.len() {
        assert!(
            values[k] > 0,
            "a layer size or option must be at least 1 (a constant is 0)"
        );
        k += 1;
    }
    let mut largest = 1;
    k = 0;
    while k < args.len() {
        if args[k] > largest {
            largest = args[k];
        }
        k += 1;
    }
    let fits = rnn_format::sizes::largest_matrix(0, largest, largest, columns).is_some();
    assert!(
        fits,
        "a layer with constant sizes is too large: its matrices would have more elements than \
         this platform can address"
    );
}

/// Implements `Parameterized` and `Network` for a `network!` struct `$name { inner: Sequencer }`
/// by forwarding to the sequencer; `unroll [0 1 ...] [... 1 0]` emits the time steps (forward
/// order, then backward order) as straight-line code instead of a loop.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_network {
    ($name:ident, $s:ty, $seq:ty, $i:tt, $o:tt, $b:literal, $t:literal, loop, $online:ident) => {
        $crate::__impl_network!(@common $name, $s, $i, $o, $b, $t, $online);
        impl $crate::__private::Network for $name {
            $crate::__impl_network!(@types $seq, $s, $i, $o, $b, $t);
            fn try_forward(
                &mut self,
                inputs: &Self::Inputs,
            ) -> ::core::result::Result<&Self::Outputs, $crate::__private::LengthError> {
                $crate::__private::Network::try_forward(&mut self.inner, inputs)
            }
            fn try_backward(
                &mut self,
                inputs: &Self::Inputs,
                grad_outputs: &Self::Outputs,
            ) -> ::core::result::Result<&Self::GradInputs, $crate::__private::BpttError> {
                $crate::__private::Network::try_backward(&mut self.inner, inputs, grad_outputs)
            }
            fn try_backward_parameters(
                &mut self,
                inputs: &Self::Inputs,
                grad_outputs: &Self::Outputs,
            ) -> ::core::result::Result<(), $crate::__private::BpttError> {
                $crate::__private::Network::try_backward_parameters(&mut self.inner, inputs, grad_outputs)
            }
            $crate::__impl_network!(@methods false);
        }
    };
    ($name:ident, $s:ty, $seq:ty, $i:tt, $o:tt, $b:literal, $t:literal, unroll [$($k:literal)*] [$($rev:literal)*], $online:ident) => {
        $crate::__impl_network!(@common $name, $s, $i, $o, $b, $t, $online);
        impl $crate::__private::Network for $name {
            $crate::__impl_network!(@types $seq, $s, $i, $o, $b, $t);
            fn try_forward(
                &mut self,
                inputs: &Self::Inputs,
            ) -> ::core::result::Result<&Self::Outputs, $crate::__private::LengthError> {
                // Straight-line code for sequences of `seq_len` steps, the loop for shorter ones.
                if inputs.len() != $t {
                    return $crate::__private::Network::try_forward(&mut self.inner, inputs);
                }
                self.inner.forward_begin();
                $( self.inner.forward_at($k, &inputs[$k]); )*
                ::core::result::Result::Ok(self.inner.forward_end())
            }
            fn try_backward(
                &mut self,
                inputs: &Self::Inputs,
                grad_outputs: &Self::Outputs,
            ) -> ::core::result::Result<&Self::GradInputs, $crate::__private::BpttError> {
                if inputs.len() != $t || grad_outputs.len() != $t {
                    return $crate::__private::Network::try_backward(&mut self.inner, inputs, grad_outputs);
                }
                let range = self.inner.backward_begin(inputs, grad_outputs)?;
                $( self.inner.backward_at($rev, range, &grad_outputs[$rev]); )*
                ::core::result::Result::Ok(self.inner.backward_end(range))
            }
            fn try_backward_parameters(
                &mut self,
                inputs: &Self::Inputs,
                grad_outputs: &Self::Outputs,
            ) -> ::core::result::Result<(), $crate::__private::BpttError> {
                if inputs.len() != $t || grad_outputs.len() != $t {
                    return $crate::__private::Network::try_backward_parameters(&mut self.inner, inputs, grad_outputs);
                }
                let range = self.inner.backward_begin(inputs, grad_outputs)?;
                $( self.inner.backward_parameters_at($rev, range, &grad_outputs[$rev]); )*
                self.inner.backward_end(range);
                ::core::result::Result::Ok(())
            }
            $crate::__impl_network!(@methods false);
        }
    };
    ($name:ident, $s:ty, $seq:ty, $i:tt, $o:tt, $b:literal, $t:literal, repeat, $online:ident) => {
        $crate::__impl_network!(@common $name, $s, $i, $o, $b, $t, $online);
        impl $crate::__private::Network for $name {
            // `Repeater[ ... ]`: one input, fed at every step; its gradient the sum over steps.
            $crate::__impl_network!(@types $seq, $s, $i, $o, $b, $t,
                <$seq as $crate::__private::Network>::Input,
                <$seq as $crate::__private::Network>::GradInput);
            fn try_forward(
                &mut self,
                inputs: &Self::Inputs,
            ) -> ::core::result::Result<&Self::Outputs, $crate::__private::LengthError> {
                ::core::result::Result::Ok(self.inner.forward_repeated(inputs))
            }
            fn try_backward(
                &mut self,
                inputs: &Self::Inputs,
                grad_outputs: &Self::Outputs,
            ) -> ::core::result::Result<&Self::GradInputs, $crate::__private::BpttError> {
                self.inner.try_backward_repeated(inputs, grad_outputs)
            }
            $crate::__impl_network!(@methods true);
        }
    };
    (@types $seq:ty, $s:ty, $i:tt, $o:tt, $b:literal, $t:literal) => {
        $crate::__impl_network!(@types $seq, $s, $i, $o, $b, $t,
            <$seq as $crate::__private::Network>::Inputs,
            <$seq as $crate::__private::Network>::GradInputs);
    };
    (@types $seq:ty, $s:ty, $i:tt, $o:tt, $b:literal, $t:literal, $inputs:ty, $grads:ty) => {
        type State = <$seq as $crate::__private::Network>::State;
        type Scalar = $s;
        type Input = <$seq as $crate::__private::Network>::Input;
        type Output = $crate::__private::SMatrix<$s, $o, $b>;
        type GradInput = $crate::__private::SMatrix<$s, $i, $b>;
        type Inputs = $inputs;
        type Outputs = [$crate::__private::SMatrix<$s, $o, $b>];
        type GradInputs = $grads;
        const SEQ_LEN: usize = $t;
        const BATCH: usize = $b;
        const INPUT: usize = $i;
        const OUTPUT: usize = $o;
    };
    (@methods $repeat:literal) => {
        fn __top_layers(&self) -> &'static [&'static str] {
            Self::__TOP_LAYERS
        }
        fn __onnx(&self, g: &mut $crate::onnx::Graph<Self::Scalar>) -> $crate::onnx::Value {
            self.inner.onnx_graph(g, $repeat)
        }
        fn forget(&mut self) {
            $crate::__private::Network::forget(&mut self.inner)
        }
        fn state(&self) -> &Self::State {
            $crate::__private::Network::state(&self.inner)
        }
        fn set_initial_state(&mut self, state: Self::State) {
            $crate::__private::Network::set_initial_state(&mut self.inner, state)
        }
        fn grad_initial_state(&self) -> &Self::State {
            $crate::__private::Network::grad_initial_state(&self.inner)
        }
        fn set_grad_final_state(&mut self, grad: Self::State) {
            $crate::__private::Network::set_grad_final_state(&mut self.inner, grad)
        }
        fn remember(&mut self, mode: $crate::__private::Remember) {
            $crate::__private::Network::remember(&mut self.inner, mode)
        }
        fn training(&mut self) {
            $crate::__private::Network::training(&mut self.inner)
        }
        fn evaluate(&mut self) {
            $crate::__private::Network::evaluate(&mut self.inner)
        }
        fn is_training(&self) -> bool {
            $crate::__private::Network::is_training(&self.inner)
        }
        fn remember_mode(&self) -> $crate::__private::Remember {
            $crate::__private::Network::remember_mode(&self.inner)
        }
        fn bptt_limit(&self) -> usize {
            $crate::__private::Network::bptt_limit(&self.inner)
        }
        fn max_bptt_steps(&mut self, n: usize) {
            $crate::__private::Network::max_bptt_steps(&mut self.inner, n)
        }
        fn reseed(&mut self, stream: u64) {
            $crate::__private::Network::reseed(&mut self.inner, stream)
        }
        fn set_fast_activations(&mut self, on: bool) {
            $crate::__private::Network::set_fast_activations(&mut self.inner, on)
        }
        fn check_finite(&self) -> ::core::result::Result<(), $crate::__private::NonFinite> {
            $crate::__private::Network::check_finite(&self.inner)
        }
    };
    (@whole $name:ident) => {
        // `BiSequencer[ ... ]`: no `Online` impl. These stand in for its methods so that a call
        // is an error that says why (the trait's message), not "no method named `step`".
        impl $name {
            #[doc(hidden)]
            pub fn step<X: $crate::dsl::NoOnlineStep>(&mut self, input: X) {
                input.never()
            }
            #[doc(hidden)]
            pub fn backward_step<X: $crate::dsl::NoOnlineStep, G>(&mut self, input: X, _grad: G) {
                input.never()
            }
            #[doc(hidden)]
            pub fn try_backward_step<X: $crate::dsl::NoOnlineStep, G>(&mut self, input: X, _grad: G) {
                input.never()
            }
        }
    };
    (@online $name:ident) => {
        impl $crate::__private::Online for $name {
            fn step(&mut self, input: &Self::Input) -> &Self::Output {
                $crate::__private::Online::step(&mut self.inner, input)
            }
            fn try_backward_step(
                &mut self,
                input: &Self::Input,
                grad_output: &Self::Output,
            ) -> ::core::result::Result<&Self::GradInput, $crate::__private::BpttError> {
                $crate::__private::Online::try_backward_step(&mut self.inner, input, grad_output)
            }
            fn __process_fused(&mut self, samples: &mut [Self::Scalar]) -> bool {
                $crate::__private::Online::__process_fused(&mut self.inner, samples)
            }
            fn __pipelines(&self) -> bool {
                $crate::__private::Online::__pipelines(&self.inner)
            }
            fn __step_skewed(
                &mut self,
                input: &Self::Input,
                part: $crate::layer::Skew,
            ) -> &Self::Output {
                $crate::__private::Online::__step_skewed(&mut self.inner, input, part)
            }
            fn __end_skew(&mut self, outputs: &[Self::Scalar]) {
                $crate::__private::Online::__end_skew(&mut self.inner, outputs)
            }
        }
    };
    (@common $name:ident, $s:ty, $i:tt, $o:tt, $b:literal, $t:literal, $online:ident) => {
        $crate::__impl_network!(@$online $name);
        impl $crate::__private::Parameterized<$s> for $name {
            fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut($crate::__private::ParamRef<'a, $s>)) {
                self.inner.visit_parameters(f)
            }
            fn visit_parameters_mut<'a>(
                &'a mut self,
                f: &mut dyn FnMut($crate::__private::ParamMut<'a, $s>),
            ) {
                self.inner.visit_parameters_mut(f)
            }
            fn visit_gradients_mut<'a>(
                &'a mut self,
                f: &mut dyn FnMut($crate::__private::DMatrixViewMut<'a, $s>),
            ) {
                self.inner.visit_gradients_mut(f)
            }
            fn visit_slots_mut(&mut self, f: &mut dyn FnMut($crate::__private::ParamSlot<'_, $s>)) {
                self.inner.visit_slots_mut(f)
            }
            fn try_reserve_training(
                &mut self,
            ) -> ::core::result::Result<(), $crate::__private::AllocError> {
                self.inner.try_reserve_training()
            }
            fn zero_grad(&mut self) {
                self.inner.zero_grad()
            }
            fn update(&mut self, lr: $s) {
                self.inner.update(lr)
            }
        }
    };
}
