//! [`Parameterized`]: anything that owns parameters, and the `parameters!` macro that
//! implements it for a layer from one list of its fields.

use super::{ParamMut, ParamRef, ParamSlot, contiguous_mut};
use crate::Float;
use crate::float::AllocError;
use core::fmt;
use nalgebra::DMatrixViewMut;

/// [`Parameterized`] for a layer `$ty<S, $c...>` from one list of its [`Param`] fields, in
/// PyTorch's order, each with its [`ParamKind`]; each parameter's name is its field's:
/// `parameters!(Linear<I, O> { weight: Matrix, bias: Vector });` (a convolution's weight:
/// `weight: Kernel(K)`). (Written by hand, each layer
/// listed every parameter four times, once per method.)
macro_rules! parameters {
    ($ty:ident<$($c:ident),*> { $($field:ident: $kind:ident $(($arg:expr))?),+ $(,)? }) => {
        impl<S: $crate::Float, $(const $c: usize),*> $crate::param::Parameterized<S>
            for $ty<S, $($c),*>
        {
            fn visit_parameters<'a>(
                &'a self,
                f: &mut dyn FnMut($crate::param::ParamRef<'a, S>),
            ) {
                $(f(self.$field.as_ref(stringify!($field), $crate::param::ParamKind::$kind $(($arg))?));)+
            }
            fn visit_parameters_mut<'a>(
                &'a mut self,
                f: &mut dyn FnMut($crate::param::ParamMut<'a, S>),
            ) {
                $(f(self.$field.as_mut(stringify!($field), $crate::param::ParamKind::$kind $(($arg))?));)+
            }
            fn visit_slots_mut(&mut self, f: &mut dyn FnMut($crate::param::ParamSlot<'_, S>)) {
                $(f($crate::param::ParamSlot {
                    name: $crate::param::ParamName::new(stringify!($field)),
                    kind: $crate::param::ParamKind::$kind $(($arg))?,
                    store: &mut self.$field,
                });)+
            }
            fn zero_grad(&mut self) {
                $(self.$field.zero_grad();)+
            }
            fn update(&mut self, lr: S) {
                $(self.$field.update(lr);)+
            }
        }
    };
}
pub(crate) use parameters;

/// Anything that owns parameters: a layer, a network.
///
/// Parameters are visited in a fixed order (PyTorch's order for each layer, layers in sequence
/// order), which is the order of `parameters()` and of the weight files.
pub trait Parameterized<S: Float> {
    /// Calls `f` on every parameter, in order.
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, S>));

    /// Calls `f` on every parameter, in order, with mutable access.
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, S>));

    /// Calls `f` on every parameter's storage, in order, with its name and kind: mutable access
    /// to the value that allocates nothing (a mutable view of [`Parameterized::visit_parameters_mut`]
    /// allocates the gradient and optimiser buffers of a network built for inference). Weight
    /// loading goes through this.
    ///
    /// The default goes through [`Parameterized::visit_parameters_mut`]; the library's layers
    /// and containers override it.
    fn visit_slots_mut(&mut self, f: &mut dyn FnMut(ParamSlot<'_, S>)) {
        self.visit_parameters_mut(&mut |mut p| {
            let (name, kind) = (p.name, p.kind);
            f(ParamSlot {
                name,
                kind,
                store: &mut p,
            });
        });
    }

    /// Allocates every parameter's gradient and optimiser buffers that are not there yet: a
    /// network built `for_inference` can then train without allocating during its steps (it
    /// can also train without this: the first backward and the first optimiser step allocate
    /// what they need). Networks built by `new`, `try_new` and `pretrained` have them already.
    ///
    /// # Errors
    /// The first [`AllocError`]; the parameters before it keep their new buffers.
    fn try_reserve_training(&mut self) -> Result<(), AllocError> {
        let mut result = Ok(());
        self.visit_slots_mut(&mut |s| {
            if result.is_ok() {
                result = s.store.try_reserve_training();
            }
        });
        result
    }

    /// Sets every gradient to zero (Torch's `zeroGradParameters`).
    ///
    /// The default visits every parameter's view; the library's layers and containers override
    /// it (and [`Parameterized::update`]) to go straight to their tensors: a view per parameter
    /// cost a batch-1 training step of the seed network about 8 % (two passes per 16 time steps;
    /// `benches/src/bin/profile.rs` `seed_b1_zero_grad`, `seed_b1_update`).
    fn zero_grad(&mut self) {
        self.visit_parameters_mut(&mut |mut p| match contiguous_mut(&mut p.grad) {
            Some(g) => g.fill(S::zero()),
            None => p.grad.fill(S::zero()),
        });
    }

    /// Plain gradient descent `p -= lr * g` (Torch's `updateParameters`).
    fn update(&mut self, lr: S) {
        self.visit_parameters_mut(&mut |mut p| match p.slices_mut() {
            Some((w, g)) => crate::kernels::sub_scaled(w, g, lr),
            None => p.value.zip_apply(&p.grad, |w, g| *w -= lr * g),
        });
    }

    /// Every parameter, in order, as a list of views (this allocates the list; use
    /// [`Parameterized::visit_parameters`] in allocation-free code).
    fn parameters(&self) -> alloc::vec::Vec<ParamRef<'_, S>> {
        let mut v = alloc::vec::Vec::new();
        self.visit_parameters(&mut |p| v.push(p));
        v
    }

    /// Every parameter, in order, with mutable access (allocates the list, like
    /// [`Parameterized::parameters`]).
    fn parameters_mut(&mut self) -> alloc::vec::Vec<ParamMut<'_, S>> {
        let mut v = alloc::vec::Vec::new();
        self.visit_parameters_mut(&mut |p| v.push(p));
        v
    }

    /// The number of scalar parameters.
    fn num_parameters(&self) -> usize {
        let mut n = 0;
        self.visit_parameters(&mut |p| n += p.value.len());
        n
    }

    /// Calls `f` on every parameter's gradient, in order, with mutable access, and nothing
    /// else: unlike [`Parameterized::visit_parameters_mut`] this does not count as a change of
    /// the parameters (a network's backward after it still runs).
    fn visit_gradients_mut<'a>(&'a mut self, f: &mut dyn FnMut(DMatrixViewMut<'a, S>)) {
        self.visit_parameters_mut(&mut |p| f(p.grad));
    }

    /// (Torch: `getParameters`, its first half) Every parameter's values in one vector: the
    /// parameters in [`Parameterized::parameters`] order, each column-major, what whole-vector
    /// optimisers (L-BFGS, conjugate gradients) work on. A copy (allocated here): the
    /// parameters live in one fixed-size matrix per tensor, not in one buffer, so Torch's
    /// views into shared storage have no counterpart; write back with
    /// [`Parameterized::set_flat_parameters`].
    ///
    /// ```
    /// use rnn_core::prelude::*;
    ///
    /// network! { pub Net<seq_len = 4> = Sequential[ LSTM(2, 3), Linear(3, 1) ]; }
    /// let mut net = Net::new(1);
    /// let mut w = net.flat_parameters();
    /// assert_eq!(w.len(), net.num_parameters());
    /// w.iter_mut().for_each(|v| *v *= 0.5);
    /// net.set_flat_parameters(&w)?;
    /// assert_eq!(net.flat_parameters(), w);
    /// # Ok::<(), rnn_core::param::FlatLengthError>(())
    /// ```
    fn flat_parameters(&self) -> alloc::vec::Vec<S> {
        let mut out = alloc::vec::Vec::with_capacity(self.num_parameters());
        self.visit_parameters(&mut |p| out.extend(p.value.iter()));
        out
    }

    /// (Torch: `getParameters`, its second half) Every parameter's gradient in one vector, in
    /// the order and layout of [`Parameterized::flat_parameters`] (a copy).
    fn flat_gradients(&self) -> alloc::vec::Vec<S> {
        let mut out = alloc::vec::Vec::with_capacity(self.num_parameters());
        self.visit_parameters(&mut |p| match p.grad {
            Some(g) => out.extend(g.iter()),
            // No gradient buffer yet: a zero gradient.
            None => out.resize(out.len() + p.value.len(), S::zero()),
        });
        out
    }

    /// Sets every parameter from `values`, laid out as [`Parameterized::flat_parameters`]
    /// returns them (gradients and optimiser state untouched).
    ///
    /// # Errors
    /// [`FlatLengthError`] if `values` does not hold exactly one value per parameter; then
    /// nothing changes.
    fn set_flat_parameters(&mut self, values: &[S]) -> Result<(), FlatLengthError> {
        let expected = self.num_parameters();
        if values.len() != expected {
            return Err(FlatLengthError {
                expected,
                got: values.len(),
            });
        }
        fill_flat(self, values);
        Ok(())
    }
}

/// Copies `values` (flat, in parameter order; as long as the parameters) into the parameter
/// values of `p`, allocating nothing: [`Parameterized::set_flat_parameters`] after its length
/// check, and the data-parallel trainers' copies to their replicas.
pub(crate) fn fill_flat<S: Float, P: Parameterized<S> + ?Sized>(p: &mut P, values: &[S]) {
    let mut at = 0;
    p.visit_slots_mut(&mut |mut slot| {
        let mut value = slot.value_mut();
        let n = value.len();
        let from = &values[at..at + n];
        match contiguous_mut(&mut value) {
            Some(v) => v.copy_from_slice(from),
            None => value.iter_mut().zip(from).for_each(|(w, &v)| *w = v),
        }
        at += n;
    });
}

/// [`Parameterized::set_flat_parameters`] was given a vector whose length is not the number
/// of parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlatLengthError {
    /// The number of parameters ([`Parameterized::num_parameters`]).
    pub expected: usize,
    /// The length given.
    pub got: usize,
}

impl fmt::Display for FlatLengthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "a flat parameter vector of {} values for {} parameters",
            self.got, self.expected
        )
    }
}

impl core::error::Error for FlatLengthError {}
