//! Parameter storage and the visitor through which optimisers, I/O and users reach parameters.

use crate::float::{AllocError, CacheAligned, try_zeroed_box};
use crate::{Float, Rng};
use alloc::boxed::Box;
use core::fmt;
use nalgebra::{DMatrixView, DMatrixViewMut, SMatrix};

/// A zeroed `R x C` matrix created directly on the heap, never on the stack.
///
/// `Box::new(SMatrix::zeros())` builds the matrix on the stack first and overflows it for
/// large layers; this does not.
#[must_use]
pub fn boxed_zeros<S: Float, const R: usize, const C: usize>() -> Box<SMatrix<S, R, C>> {
    crate::float::zeroed_box()
}

/// One parameter tensor: its value and, once training needs them, its accumulated gradient and
/// the optimiser state beside it.
///
/// All matrices live on the heap. The training buffers (the gradient, and `m` and `v`, the first
/// and second moment buffers of the optimisers: SGD momentum uses `m`, Adam both) exist from
/// construction in a network built by `new`, `try_new` or `pretrained` (so that a training step
/// never allocates), and not at all in one built `for_inference` (a quarter of the memory): there
/// they read as zeros and are allocated by the first access that writes them (a backward, an
/// optimiser step, a mutable view), or up front by [`Param::try_reserve_training`].
pub struct Param<S: Float, const R: usize, const C: usize> {
    /// The value, `R x C` (`out x in` for weights, a column for biases).
    /// It starts on a cache line ([`CacheAligned`]); it dereferences to the matrix.
    pub value: Box<CacheAligned<SMatrix<S, R, C>>>,
    train: Option<Training<S, R, C>>,
    steps: u64,
    kind: OptimKind,
}

/// A parameter's training buffers: gradient and optimiser moments.
struct Training<S: Float, const R: usize, const C: usize> {
    grad: Box<CacheAligned<SMatrix<S, R, C>>>,
    m: Box<CacheAligned<SMatrix<S, R, C>>>,
    v: Box<CacheAligned<SMatrix<S, R, C>>>,
}

impl<S: Float, const R: usize, const C: usize> Training<S, R, C> {
    fn try_zeros() -> Result<Self, AllocError> {
        Ok(Self {
            grad: try_zeroed_box()?,
            m: try_zeroed_box()?,
            v: try_zeroed_box()?,
        })
    }
}

impl<S: Float, const R: usize, const C: usize> Clone for Param<S, R, C> {
    /// A deep copy: value, gradient and optimiser state (when allocated), each copied into a
    /// fresh heap matrix (`Box::clone` would build the matrix on the stack first).
    fn clone(&self) -> Self {
        let mut p = Self::zeros();
        p.value.copy_from(&self.value);
        if let Some(t) = &self.train {
            let u = p.training();
            u.grad.copy_from(&t.grad);
            u.m.copy_from(&t.m);
            u.v.copy_from(&t.v);
        }
        p.steps = self.steps;
        p.kind = self.kind;
        p
    }
}

impl<S: Float, const R: usize, const C: usize> Param<S, R, C> {
    /// A zero parameter, without training buffers (they read as zeros).
    #[must_use]
    pub fn zeros() -> Self {
        Self::try_zeros().unwrap_or_else(|e| e.abort())
    }

    /// [`Param::zeros`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if the value's matrix cannot be allocated.
    pub fn try_zeros() -> Result<Self, AllocError> {
        Ok(Self {
            value: try_zeroed_box()?,
            train: None,
            steps: 0,
            kind: OptimKind::None,
        })
    }

    /// A parameter drawn from `U(-bound, bound)`, Torch's default initialisation (without
    /// training buffers, like [`Param::zeros`]).
    #[must_use]
    pub fn uniform(rng: &mut Rng, bound: f64) -> Self {
        Self::try_uniform(rng, bound).unwrap_or_else(|e| e.abort())
    }

    /// [`Param::uniform`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if the value's matrix cannot be allocated.
    pub fn try_uniform(rng: &mut Rng, bound: f64) -> Result<Self, AllocError> {
        let mut p = Self::try_zeros()?;
        for x in p.value.iter_mut() {
            *x = S::cast(rng.uniform(-bound, bound));
        }
        Ok(p)
    }

    /// Allocates the gradient and optimiser buffers (zeros) if they are not there yet, so that
    /// no later training step allocates.
    ///
    /// # Errors
    /// [`AllocError`] if one of the three matrices cannot be allocated; the parameter is then
    /// as it was.
    pub fn try_reserve_training(&mut self) -> Result<(), AllocError> {
        if self.train.is_none() {
            self.train = Some(Training::try_zeros()?);
        }
        Ok(())
    }

    /// Whether the gradient and optimiser buffers are allocated.
    #[must_use]
    pub fn has_training_buffers(&self) -> bool {
        self.train.is_some()
    }

    /// The training buffers, allocated here if needed (aborting, as `Box::new` does, if memory
    /// runs out).
    fn training(&mut self) -> &mut Training<S, R, C> {
        if let Err(e) = self.try_reserve_training() {
            e.abort()
        }
        match &mut self.train {
            Some(t) => t,
            None => unreachable!("reserved just above"),
        }
    }

    /// The accumulated gradient of the loss with respect to `value`; `None` if the training
    /// buffers have not been allocated (the gradient is then zero).
    #[must_use]
    pub fn grad(&self) -> Option<&SMatrix<S, R, C>> {
        self.train.as_ref().map(|t| &**t.grad)
    }

    /// The accumulated gradient, mutable: allocates the training buffers if they are not
    /// there yet (see [`Param::try_reserve_training`]).
    pub fn grad_mut(&mut self) -> &mut SMatrix<S, R, C> {
        &mut self.training().grad
    }

    /// The value, and the gradient mutable (allocating the training buffers if needed, like
    /// [`Param::grad_mut`]).
    pub fn value_and_grad_mut(&mut self) -> (&SMatrix<S, R, C>, &mut SMatrix<S, R, C>) {
        if let Err(e) = self.try_reserve_training() {
            e.abort()
        }
        let Some(t) = &mut self.train else {
            unreachable!("reserved just above")
        };
        (&*self.value, &mut *t.grad)
    }

    /// A read-only view for [`Parameterized::visit_parameters`]. The layer says what the
    /// tensor is (`kind`): its PyTorch shape follows from that, never from the column count.
    /// Without training buffers, the gradient is `None` and the moments are empty slices.
    pub fn as_ref(&self, name: &'static str, kind: ParamKind) -> ParamRef<'_, S> {
        debug_assert!(
            kind == ParamKind::Matrix || C == 1,
            "a vector parameter has one column"
        );
        let (grad, m, v): (_, &[S], &[S]) = match &self.train {
            Some(t) => (
                Some(DMatrixView::from_slice(t.grad.as_slice(), R, C)),
                t.m.as_slice(),
                t.v.as_slice(),
            ),
            None => (None, &[], &[]),
        };
        ParamRef {
            name: ParamName::new(name),
            value: DMatrixView::from_slice(self.value.as_slice(), R, C),
            grad,
            kind,
            state: OptimStateRef {
                m,
                v,
                steps: self.steps,
                kind: self.kind,
            },
        }
    }

    /// Sets the gradient to zero: [`Parameterized::zero_grad`] of this parameter, without
    /// building a view (the containers and layers call this directly). Allocates nothing: a
    /// parameter without training buffers already has a zero gradient.
    pub fn zero_grad(&mut self) {
        if let Some(t) = &mut self.train {
            t.grad.as_mut_slice().fill(S::zero());
        }
    }

    /// `value -= lr * grad`: [`Parameterized::update`] of this parameter, without a view (a
    /// no-op without training buffers: the gradient is zero).
    pub fn update(&mut self, lr: S) {
        if let Some(t) = &self.train {
            crate::kernels::sub_scaled(self.value.as_mut_slice(), t.grad.as_slice(), lr);
        }
    }

    /// A mutable view for [`Parameterized::visit_parameters_mut`] (see [`Param::as_ref`]):
    /// allocates the training buffers if they are not there yet.
    pub fn as_mut(&mut self, name: &'static str, kind: ParamKind) -> ParamMut<'_, S> {
        self.view_mut(ParamName::new(name), kind)
    }

    /// [`Param::as_mut`] with the name already built.
    fn view_mut(&mut self, name: ParamName, kind: ParamKind) -> ParamMut<'_, S> {
        debug_assert!(
            kind == ParamKind::Matrix || C == 1,
            "a vector parameter has one column"
        );
        if let Err(e) = self.try_reserve_training() {
            e.abort()
        }
        let Some(t) = &mut self.train else {
            unreachable!("reserved just above")
        };
        ParamMut {
            name,
            value: DMatrixViewMut::from_slice(self.value.as_mut_slice(), R, C),
            grad: DMatrixViewMut::from_slice(t.grad.as_mut_slice(), R, C),
            kind,
            state: OptimState {
                m: t.m.as_mut_slice(),
                v: t.v.as_mut_slice(),
                steps: &mut self.steps,
                kind: &mut self.kind,
            },
        }
    }
}

/// One parameter's storage, reached without allocating anything: what weight loading and
/// [`Parameterized::try_reserve_training`] go through (see [`Parameterized::visit_slots_mut`]).
/// Implemented by [`Param`] and by [`ParamMut`] (a view whose buffers already exist).
pub trait ParamStore<S: Float> {
    /// The value, mutable (allocates nothing).
    fn value_mut(&mut self) -> DMatrixViewMut<'_, S>;
    /// Allocates the gradient and optimiser buffers if they are not there yet.
    ///
    /// # Errors
    /// [`AllocError`] if they cannot be allocated.
    fn try_reserve_training(&mut self) -> Result<(), AllocError>;
    /// The full mutable view (value, gradient, optimiser state), allocating the training
    /// buffers if needed.
    fn param_mut(&mut self, name: ParamName, kind: ParamKind) -> ParamMut<'_, S>;
}

impl<S: Float, const R: usize, const C: usize> ParamStore<S> for Param<S, R, C> {
    fn value_mut(&mut self) -> DMatrixViewMut<'_, S> {
        DMatrixViewMut::from_slice(self.value.as_mut_slice(), R, C)
    }
    fn try_reserve_training(&mut self) -> Result<(), AllocError> {
        Param::try_reserve_training(self)
    }
    fn param_mut(&mut self, name: ParamName, kind: ParamKind) -> ParamMut<'_, S> {
        self.view_mut(name, kind)
    }
}

impl<S: Float> ParamStore<S> for ParamMut<'_, S> {
    fn value_mut(&mut self) -> DMatrixViewMut<'_, S> {
        self.value.as_view_mut()
    }
    fn try_reserve_training(&mut self) -> Result<(), AllocError> {
        Ok(())
    }
    fn param_mut(&mut self, name: ParamName, kind: ParamKind) -> ParamMut<'_, S> {
        ParamMut {
            name,
            value: self.value.as_view_mut(),
            grad: self.grad.as_view_mut(),
            kind,
            state: OptimState {
                m: &mut *self.state.m,
                v: &mut *self.state.v,
                steps: &mut *self.state.steps,
                kind: &mut *self.state.kind,
            },
        }
    }
}

/// One parameter as [`Parameterized::visit_slots_mut`] gives it: its name and kind, and its
/// storage, reached without allocating.
pub struct ParamSlot<'a, S: Float> {
    /// PyTorch-style name, e.g. `0.weight_ih`.
    pub name: ParamName,
    /// Matrix (2-D in files) or vector (1-D: biases, peepholes, stored here as one column).
    pub kind: ParamKind,
    /// The storage.
    pub store: &'a mut dyn ParamStore<S>,
}

impl<S: Float> ParamSlot<'_, S> {
    /// The value, mutable (allocates nothing).
    pub fn value_mut(&mut self) -> DMatrixViewMut<'_, S> {
        self.store.value_mut()
    }

    /// The full view with gradient and optimiser state, allocating the training buffers if
    /// they are not there yet.
    pub fn param_mut(&mut self) -> ParamMut<'_, S> {
        self.store.param_mut(self.name, self.kind)
    }
}

/// What a parameter tensor is, which fixes its shape in files: PyTorch's shape, exactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ParamKind {
    /// A 2-D `out x in` tensor (a weight), even when `in` or `out` is 1.
    Matrix,
    /// A 1-D tensor (a bias, a peephole vector), stored here as one column.
    Vector,
}

impl ParamKind {
    /// The tensor's shape as PyTorch has it, for a parameter stored as `rows x cols`: `[rows]`
    /// for a vector, `[rows, cols]` for a matrix.
    #[must_use]
    pub fn torch_shape(self, rows: usize, cols: usize) -> alloc::vec::Vec<usize> {
        match self {
            Self::Matrix => alloc::vec![rows, cols],
            Self::Vector => alloc::vec![rows],
        }
    }
}

/// The deepest nesting a [`ParamName`] holds: 16 levels of layer indices (`network!` refuses
/// deeper networks, so every name it makes is whole).
pub const MAX_DEPTH: usize = 16;

/// A parameter's PyTorch-style name such as `0.weight_ih` or `2.0.bias`: the layer path (one
/// index per level of `Sequential`) and the tensor's name, stored as parts (no heap, never
/// cut). It prints and compares as the dotted string.
#[derive(Clone, Copy)]
pub struct ParamName {
    tensor: &'static str,
    /// Indices innermost first: `2.0.bias` is `[0, 2]`.
    path: [u16; MAX_DEPTH],
    depth: u8,
    /// An index above `u16::MAX` or a path deeper than [`MAX_DEPTH`] was added: the name is
    /// not whole, and weight I/O refuses it.
    overflow: bool,
    /// How many `_reverse` suffixes follow the tensor name (one for the backward direction of
    /// a `BiSequencer`, two for a `BiSequencer` inside another's backward direction).
    reverse: u8,
}

impl ParamName {
    /// The name of a tensor at the top level, e.g. `weight_ih`.
    #[must_use]
    pub const fn new(tensor: &'static str) -> Self {
        Self {
            tensor,
            path: [0; MAX_DEPTH],
            depth: 0,
            overflow: false,
            reverse: 0,
        }
    }

    /// This name with PyTorch's `_reverse` suffix added (`0.weight_ih` gives
    /// `0.weight_ih_reverse`): the backward direction of a `BiSequencer`.
    #[must_use]
    pub fn reversed(mut self) -> Self {
        match self.reverse.checked_add(1) {
            Some(r) => self.reverse = r,
            None => self.overflow = true,
        }
        self
    }

    /// How many `_reverse` suffixes the name has (0 outside a `BiSequencer`'s backward
    /// direction).
    #[must_use]
    pub fn reversals(&self) -> usize {
        usize::from(self.reverse)
    }

    /// This name with `index.` in front, e.g. `2` and `0.weight` give `2.0.weight`.
    #[must_use]
    pub fn with_index_prefix(mut self, index: usize) -> Self {
        match u16::try_from(index) {
            Ok(i) if (self.depth as usize) < MAX_DEPTH => {
                self.path[self.depth as usize] = i;
                self.depth += 1;
            }
            _ => self.overflow = true,
        }
        self
    }

    /// The tensor's own name (`weight_ih`), without the layer path.
    #[must_use]
    pub fn tensor(&self) -> &'static str {
        self.tensor
    }

    /// The layer indices, outermost first (`2.0.bias` gives `[2, 0]`).
    pub fn path(&self) -> impl Iterator<Item = usize> + '_ {
        self.path[..self.depth as usize]
            .iter()
            .rev()
            .map(|&i| usize::from(i))
    }

    /// `false` if the path was deeper than [`MAX_DEPTH`] or had an index above `u16::MAX`
    /// (only possible for hand-built nesting; weight I/O refuses such names).
    #[must_use]
    pub fn is_whole(&self) -> bool {
        !self.overflow
    }
}

impl PartialEq for ParamName {
    fn eq(&self, other: &Self) -> bool {
        self.tensor == other.tensor
            && self.depth == other.depth
            && self.overflow == other.overflow
            && self.reverse == other.reverse
            && self.path[..self.depth as usize] == other.path[..other.depth as usize]
    }
}

impl Eq for ParamName {}

impl PartialEq<str> for ParamName {
    fn eq(&self, other: &str) -> bool {
        // Compare piece by piece: no allocation.
        let mut rest = other;
        for index in self.path() {
            let mut digits = [0u8; 5];
            let mut at = digits.len();
            let mut k = index;
            loop {
                at -= 1;
                digits[at] = b'0' + (k % 10) as u8;
                k /= 10;
                if k == 0 {
                    break;
                }
            }
            let Some(r) = rest.as_bytes().strip_prefix(&digits[at..]) else {
                return false;
            };
            let Some(r) = r.strip_prefix(b".") else {
                return false;
            };
            // The stripped bytes are ASCII, so `r` starts at a character boundary.
            rest = &rest[rest.len() - r.len()..];
        }
        let Some(mut rest) = rest.strip_prefix(self.tensor) else {
            return false;
        };
        for _ in 0..self.reverse {
            match rest.strip_prefix("_reverse") {
                Some(r) => rest = r,
                None => return false,
            }
        }
        self.is_whole() && rest.is_empty()
    }
}

impl PartialEq<&str> for ParamName {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for index in self.path() {
            write!(f, "{index}.")?;
        }
        if self.overflow {
            f.write_str("(too deep).")?;
        }
        f.write_str(self.tensor)?;
        for _ in 0..self.reverse {
            f.write_str("_reverse")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

/// A read-only view of one parameter: name, value and gradient, `out x in` as in PyTorch.
pub struct ParamRef<'a, S: Float> {
    /// PyTorch-style name, e.g. `0.weight_ih`.
    pub name: ParamName,
    /// The value.
    pub value: DMatrixView<'a, S>,
    /// The accumulated gradient; `None` if the parameter has no training buffers yet (a network
    /// built `for_inference` that has not trained): the gradient is then zero.
    pub grad: Option<DMatrixView<'a, S>>,
    /// Matrix (2-D in files) or vector (1-D: biases, peepholes, stored here as one column).
    pub kind: ParamKind,
    /// Optimiser buffers, column-major like `value` (read by checkpoints); empty without
    /// training buffers (the moments are then zero).
    pub state: OptimStateRef<'a, S>,
}

/// A mutable view of one parameter, with the optimiser state that lives beside it.
pub struct ParamMut<'a, S: Float> {
    /// PyTorch-style name, e.g. `0.weight_ih`.
    pub name: ParamName,
    /// The value.
    pub value: DMatrixViewMut<'a, S>,
    /// The accumulated gradient.
    pub grad: DMatrixViewMut<'a, S>,
    /// Matrix (2-D in files) or vector (1-D: biases, peepholes, stored here as one column).
    pub kind: ParamKind,
    /// Optimiser buffers, column-major like `value`.
    pub state: OptimState<'a, S>,
}

/// The elements of a view, column-major, if they are contiguous in memory (as every view the
/// library makes is), so that element-wise loops run over a plain slice.
pub(crate) fn contiguous_mut<'b, S: Float>(
    m: &'b mut DMatrixViewMut<'_, S>,
) -> Option<&'b mut [S]> {
    use nalgebra::{RawStorage, RawStorageMut};
    if m.data.is_contiguous() {
        // SAFETY: the storage reports that its elements are one contiguous run.
        Some(unsafe { m.data.as_mut_slice_unchecked() })
    } else {
        None
    }
}

/// Read-only [`contiguous_mut`].
pub(crate) fn contiguous<'b, S: Float>(m: &'b DMatrixView<'_, S>) -> Option<&'b [S]> {
    use nalgebra::RawStorage;
    if m.data.is_contiguous() {
        // SAFETY: the storage reports that its elements are one contiguous run.
        Some(unsafe { m.data.as_slice_unchecked() })
    } else {
        None
    }
}

impl<S: Float> ParamMut<'_, S> {
    /// Value and gradient as plain slices (column-major), if both are contiguous in memory,
    /// which they are for every parameter the library itself provides.
    pub fn slices_mut(&mut self) -> Option<(&mut [S], &mut [S])> {
        Some((
            contiguous_mut(&mut self.value)?,
            contiguous_mut(&mut self.grad)?,
        ))
    }
}

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

/// [`Parameterized`] for a layer `$ty<S, $c...>` from one list of its [`Param`] fields, in
/// PyTorch's order, each with its [`ParamKind`]; each parameter's name is its field's:
/// `parameters!(Linear<I, O> { weight: Matrix, bias: Vector });`. (Written by hand, each layer
/// listed every parameter four times, once per method.)
macro_rules! parameters {
    ($ty:ident<$($c:ident),*> { $($field:ident: $kind:ident),+ $(,)? }) => {
        impl<S: $crate::Float, $(const $c: usize),*> $crate::param::Parameterized<S>
            for $ty<S, $($c),*>
        {
            fn visit_parameters<'a>(
                &'a self,
                f: &mut dyn FnMut($crate::param::ParamRef<'a, S>),
            ) {
                $(f(self.$field.as_ref(stringify!($field), $crate::param::ParamKind::$kind));)+
            }
            fn visit_parameters_mut<'a>(
                &'a mut self,
                f: &mut dyn FnMut($crate::param::ParamMut<'a, S>),
            ) {
                $(f(self.$field.as_mut(stringify!($field), $crate::param::ParamKind::$kind));)+
            }
            fn visit_slots_mut(&mut self, f: &mut dyn FnMut($crate::param::ParamSlot<'_, S>)) {
                $(f($crate::param::ParamSlot {
                    name: $crate::param::ParamName::new(stringify!($field)),
                    kind: $crate::param::ParamKind::$kind,
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
        let mut at = 0;
        self.visit_slots_mut(&mut |mut p| {
            let mut value = p.value_mut();
            let n = value.len();
            for (w, &v) in value.iter_mut().zip(&values[at..at + n]) {
                *w = v;
            }
            at += n;
        });
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_print_and_compare_as_dotted_paths_and_are_never_cut() {
        let n = ParamName::new("weight_ih")
            .with_index_prefix(0)
            .with_index_prefix(2);
        assert_eq!(n, "2.0.weight_ih");
        assert_eq!(alloc::format!("{n}"), "2.0.weight_ih");
        assert_eq!(alloc::format!("{n:?}"), "\"2.0.weight_ih\"");
        assert_ne!(n, "2.0.weight_hh");
        assert_ne!(n, "2.weight_ih");
        assert_ne!(n, "20.weight_ih");
        assert_eq!(n.path().collect::<alloc::vec::Vec<_>>(), [2, 0]);
        assert_eq!(
            ParamName::new("bias")
                .with_index_prefix(0)
                .with_index_prefix(17),
            "17.0.bias"
        );
        // 16 levels of two-digit indices: 64 bytes of path, which the old inline 64-byte
        // buffer cut, giving deep layers the same name.
        let deep = |last: usize| {
            (0..MAX_DEPTH - 1).fold(ParamName::new("weight").with_index_prefix(last), |n, _| {
                n.with_index_prefix(10)
            })
        };
        let (a, b) = (deep(11), deep(12));
        assert!(a.is_whole() && b.is_whole());
        assert_ne!(a, b);
        assert_ne!(alloc::format!("{a}"), alloc::format!("{b}"));
        assert!(alloc::format!("{a}").ends_with(".11.weight"));
        let too_deep = a.with_index_prefix(1);
        assert!(!too_deep.is_whole());
        assert!(!ParamName::new("w").with_index_prefix(70_000).is_whole());
    }

    #[test]
    fn views_are_out_by_in_and_update_subtracts() {
        let mut p = Param::<f64, 2, 3>::zeros();
        p.value[(1, 2)] = 5.0;
        assert!(!p.has_training_buffers());
        assert!(p.as_ref("w", ParamKind::Matrix).grad.is_none());
        p.grad_mut()[(1, 2)] = 2.0;
        assert!(p.has_training_buffers());
        let r = p.as_ref("w", ParamKind::Matrix);
        assert_eq!(r.grad.map(|g| g[(1, 2)]), Some(2.0));
        assert_eq!(r.value.shape(), (2, 3));
        assert_eq!(r.value[(1, 2)], 5.0);
        let mut m = p.as_mut("w", ParamKind::Matrix);
        m.value.zip_apply(&m.grad, |w, g| *w -= 0.5 * g);
        assert_eq!(p.value[(1, 2)], 4.0);
    }
}
