//! Parameter storage and the visitor through which optimisers, I/O and users reach parameters:
//! [`Param`] (a tensor, its training buffers when it has them) and its views here, the names in
//! `name`, the optimiser state's views and kinds in `optim_state`, the [`Parameterized`] trait in
//! `parameterized`.

mod name;
mod optim_state;
mod parameterized;

pub use name::{MAX_DEPTH, ParamName};
pub use optim_state::{OptimKind, OptimState, OptimStateRef};
#[cfg(feature = "parallel")]
pub(crate) use parameterized::fill_flat;
pub(crate) use parameterized::parameters;
pub use parameterized::{FlatLengthError, Parameterized};

use crate::float::{AllocError, CacheAligned, try_zeroed_box};
use crate::{Float, Rng};
use alloc::boxed::Box;
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
            let u = Self::reserved(&mut p.train);
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

    /// The training buffers in `train` (a parameter's field, borrowed alone so that its value
    /// can be borrowed beside them), allocated here if needed (aborting, as `Box::new` does, if
    /// memory runs out).
    fn reserved(train: &mut Option<Training<S, R, C>>) -> &mut Training<S, R, C> {
        train.get_or_insert_with(|| Training::try_zeros().unwrap_or_else(|e| e.abort()))
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
        &mut Self::reserved(&mut self.train).grad
    }

    /// The value, and the gradient mutable (allocating the training buffers if needed, like
    /// [`Param::grad_mut`]).
    pub fn value_and_grad_mut(&mut self) -> (&SMatrix<S, R, C>, &mut SMatrix<S, R, C>) {
        (&*self.value, &mut Self::reserved(&mut self.train).grad)
    }

    /// A read-only view for [`Parameterized::visit_parameters`]. The layer says what the
    /// tensor is (`kind`): its PyTorch shape follows from that, never from the column count.
    /// Without training buffers, the gradient is `None` and the moments are empty slices.
    pub fn as_ref(&self, name: &'static str, kind: ParamKind) -> ParamRef<'_, S> {
        debug_assert!(
            kind != ParamKind::Vector || C == 1,
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
            kind != ParamKind::Vector || C == 1,
            "a vector parameter has one column"
        );
        let t = Self::reserved(&mut self.train);
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
    /// A 3-D `[out, in, kernel]` tensor (a convolution's weight) with this kernel size,
    /// stored here as `out x (in * kernel)`: PyTorch's layout flattened, column
    /// `i * kernel + k` holding input channel `i` at tap `k`.
    Kernel(usize),
}

impl ParamKind {
    /// The tensor's shape as PyTorch has it, for a parameter stored as `rows x cols`: `[rows]`
    /// for a vector, `[rows, cols]` for a matrix, `[rows, cols / kernel, kernel]` for a kernel.
    /// In every case its elements in PyTorch's (row-major) order are the storage's rows, one
    /// after the other.
    #[must_use]
    pub fn torch_shape(self, rows: usize, cols: usize) -> alloc::vec::Vec<usize> {
        match self {
            Self::Matrix => alloc::vec![rows, cols],
            Self::Vector => alloc::vec![rows],
            Self::Kernel(k) => alloc::vec![rows, cols / k.max(1), k],
        }
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

#[cfg(test)]
mod tests {
    use super::*;

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
