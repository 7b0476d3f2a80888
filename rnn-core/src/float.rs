//! The scalar types the library computes in: `f32` and `f64`.

use nalgebra::RealField;

mod sealed {
    pub trait Sealed {}
    impl Sealed for f32 {}
    impl Sealed for f64 {}
}

/// A floating-point scalar: implemented for `f32` and `f64` only (the trait is sealed).
///
/// Sealing is what lets parameter storage be created zeroed in place on the heap: the all-zero
/// bit pattern is `0.0` for both types.
pub trait Float:
    RealField + Copy + Default + core::fmt::Debug + bytemuck::Zeroable + sealed::Sealed + 'static
{
    /// The safetensors dtype name: `"F32"` or `"F64"`.
    const DTYPE: &'static str;

    /// Converts from `f64` (rounding to nearest for `f32`). (Named `cast` rather than
    /// `from_f64`, which `num_traits::FromPrimitive` already uses with another signature.)
    fn cast(x: f64) -> Self;

    /// Converts to `f64` (exact).
    fn to_f64(self) -> f64;

    /// Appends the little-endian bytes (4 or 8) to `out`.
    fn extend_le_bytes(self, out: &mut alloc::vec::Vec<u8>);

    /// From little-endian bytes; `bytes` has exactly `size_of::<Self>()` bytes.
    fn from_le_bytes_slice(bytes: &[u8]) -> Self;

    /// The logistic sigmoid `1 / (1 + exp(-x))` (vectorisable for `f32`, see
    /// [`crate::fastmath`]; libm for `f64`).
    fn sigmoid(self) -> Self;

    /// `tanh` (vectorisable for `f32`, see [`crate::fastmath`]; libm for `f64`).
    fn fast_tanh(self) -> Self;

    /// `exp` (vectorisable for `f32`, see [`crate::fastmath`]; libm for `f64`).
    fn fast_exp(self) -> Self;

    /// `ln(sum)` for a positive sum accumulated in `f64`, rounded to `Self` (`f32` takes the
    /// logarithm in `f32`: the sum is at least 1, so this costs at most one rounding of it).
    fn ln_of_sum(sum: f64) -> Self;

    /// `true` for `f32`: a constant, so that code for the `f32` intrinsics behind
    /// `if S::IS_F32` is not even compiled for `f64`.
    const IS_F32: bool;

    /// The slice as `f32` if `Self` is `f32` (for kernels written with `f32` SIMD
    /// intrinsics), `None` for `f64`.
    fn as_f32(xs: &[Self]) -> Option<&[f32]>;

    /// [`Float::as_f32`], mutably.
    fn as_f32_mut(xs: &mut [Self]) -> Option<&mut [f32]>;
}

/// `f64` maths from the `libm` crate on every target, with `std` or without: the same bits on
/// x86-64 as on a microcontroller (the system's maths library may round differently).
pub(crate) mod f64m {
    /// Square root.
    pub(crate) fn sqrt(x: f64) -> f64 {
        libm::sqrt(x)
    }
    /// `x^y`.
    pub(crate) fn powf(x: f64, y: f64) -> f64 {
        libm::pow(x, y)
    }
    /// Natural logarithm.
    pub(crate) fn ln(x: f64) -> f64 {
        libm::log(x)
    }
    /// Cosine.
    pub(crate) fn cos(x: f64) -> f64 {
        libm::cos(x)
    }
}

/// A zero value of a per-step type (states, caches, activations): every type whose all-zero
/// bytes are a valid value ([`bytemuck::Zeroable`]: matrices of `f32`/`f64`, tuples and arrays
/// of them, and structs of them with `#[derive(bytemuck::Zeroable)]`). Because of that,
/// per-step storage is allocated zeroed on the heap, never built on the stack.
pub trait ZeroInit: bytemuck::Zeroable {
    /// All zeros.
    #[must_use]
    fn zero_init() -> Self {
        Self::zeroed()
    }
}

impl<T: bytemuck::Zeroable> ZeroInit for T {}

/// Per-sample operations on a layer's state (one column per sample), for masking
/// (`mask_zero`): a masked sample's state is reset to the initial state's column; and whole
/// copies and swaps in place, element by element, where `clone_from` and `<[T]>::swap` would
/// go through a temporary of the state's full size on the stack (megabytes in a large layer).
pub trait Columns: Clone {
    /// Copies column `b` of `from` into `self`.
    fn copy_column(&mut self, from: &Self, b: usize);
    /// Sets column `b` to zero.
    fn zero_column(&mut self, b: usize);
    /// Copies all of `from` into `self`, in place (no temporary). The default is
    /// `clone_from`, which may build a copy on the stack: a state of matrices should copy
    /// them element by element, as the library's do.
    fn copy_all(&mut self, from: &Self) {
        self.clone_from(from);
    }
    /// Exchanges `self` and `other`, element by element (no temporary). The default is
    /// `core::mem::swap`, which may go through the stack: override it as `copy_all`.
    fn swap_all(&mut self, other: &mut Self) {
        core::mem::swap(self, other);
    }
    /// Sets every row of the state's matrices, in order (an LSTM's `h` then `c`; a pair's
    /// first then second), to the next value of `values`, the same in every column (sample);
    /// rows left when `values` ends keep their values. For states handed in from files (a
    /// Neural Amp Modeler model's initial state). The default, for a state without matrices,
    /// takes nothing.
    fn set_rows(&mut self, values: &mut dyn Iterator<Item = f64>) {
        let _ = values;
    }
    /// Column `b` of the state's matrices, in [`Columns::set_rows`]'s order. The default, for
    /// a state without matrices, gives nothing.
    fn read_column(&self, b: usize, out: &mut dyn FnMut(f64)) {
        let _ = (b, out);
    }
}

impl Columns for () {
    fn copy_column(&mut self, _from: &Self, _b: usize) {}
    fn zero_column(&mut self, _b: usize) {}
    fn copy_all(&mut self, _from: &Self) {}
    fn swap_all(&mut self, _other: &mut Self) {}
}

impl<S: Float, const R: usize, const C: usize> Columns for nalgebra::SMatrix<S, R, C> {
    fn copy_column(&mut self, from: &Self, b: usize) {
        self.column_mut(b).copy_from(&from.column(b));
    }
    fn zero_column(&mut self, b: usize) {
        self.column_mut(b).fill(S::zero());
    }
    fn copy_all(&mut self, from: &Self) {
        self.as_mut_slice().copy_from_slice(from.as_slice());
    }
    fn swap_all(&mut self, other: &mut Self) {
        self.as_mut_slice().swap_with_slice(other.as_mut_slice());
    }
    fn set_rows(&mut self, values: &mut dyn Iterator<Item = f64>) {
        for r in 0..R {
            let Some(v) = values.next() else { return };
            self.row_mut(r).fill(S::cast(v));
        }
    }
    fn read_column(&self, b: usize, out: &mut dyn FnMut(f64)) {
        for r in 0..R {
            out(self[(r, b)].to_f64());
        }
    }
}

impl<A: Columns, R: Columns> Columns for (A, R) {
    fn copy_column(&mut self, from: &Self, b: usize) {
        self.0.copy_column(&from.0, b);
        self.1.copy_column(&from.1, b);
    }
    fn zero_column(&mut self, b: usize) {
        self.0.zero_column(b);
        self.1.zero_column(b);
    }
    fn copy_all(&mut self, from: &Self) {
        self.0.copy_all(&from.0);
        self.1.copy_all(&from.1);
    }
    fn swap_all(&mut self, other: &mut Self) {
        self.0.swap_all(&mut other.0);
        self.1.swap_all(&mut other.1);
    }
    fn set_rows(&mut self, values: &mut dyn Iterator<Item = f64>) {
        self.0.set_rows(values);
        self.1.set_rows(values);
    }
    fn read_column(&self, b: usize, out: &mut dyn FnMut(f64)) {
        self.0.read_column(b, out);
        self.1.read_column(b, out);
    }
}

/// `X` starting on a 64-byte boundary: a cache line, and the widest vector load (AVX-512).
///
/// Parameters are stored so. With the allocator's 16-byte alignment, where a weight matrix
/// started in its cache line depended on the order of the allocations before it, and so did
/// the speed: allocating the gradient buffers after the values instead of beside them moved
/// the seed network's recurrent weights from 32 to 48 bytes into a line, and its batch-1 step
/// on the AVX2 kernels from 171-179 to 189-192 ns (Intel Xeon, family 6 model 167), with the
/// same instructions executed.
#[derive(Clone, Copy, Debug, Default, PartialEq, bytemuck::Zeroable)]
#[repr(C, align(64))]
pub struct CacheAligned<X>(pub X);

impl<X> core::ops::Deref for CacheAligned<X> {
    type Target = X;
    #[inline(always)]
    fn deref(&self) -> &X {
        &self.0
    }
}

impl<X> core::ops::DerefMut for CacheAligned<X> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut X {
        &mut self.0
    }
}

/// A zeroed `X` created directly on the heap: no stack copy, however large `X` is.
#[must_use]
pub fn zeroed_box<X: ZeroInit>() -> alloc::boxed::Box<X> {
    try_zeroed_box().unwrap_or_else(|e| e.abort())
}

/// [`zeroed_box`], or the allocation that failed.
///
/// # Errors
/// [`AllocError`] if the allocator cannot provide `size_of::<X>()` bytes.
pub fn try_zeroed_box<X: ZeroInit>() -> Result<alloc::boxed::Box<X>, AllocError> {
    bytemuck::allocation::try_zeroed_box().map_err(|()| AllocError {
        layout: Some(core::alloc::Layout::new::<X>()),
        bytes: core::mem::size_of::<X>() as u128,
    })
}

/// An allocation that failed: what a fallible constructor (`try_new`) returns instead of
/// aborting the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocError {
    /// The layout asked for; `None` if the size overflows what the platform can address.
    layout: Option<core::alloc::Layout>,
    /// The bytes asked for in all (exact: element size times count).
    bytes: u128,
}

impl AllocError {
    /// How many bytes were asked for in all (`usize::MAX` if more than that).
    #[must_use]
    pub fn bytes(&self) -> usize {
        usize::try_from(self.bytes).unwrap_or(usize::MAX)
    }

    /// `true` if the size asked for is more than this platform can address (no allocator
    /// could ever provide it).
    #[must_use]
    pub fn overflows(&self) -> bool {
        self.layout.is_none()
    }

    /// What an infallible constructor does: the global allocation-error handler (which aborts
    /// with "memory allocation of N bytes failed", as `Box::new` does), or, for a size past
    /// what the platform can address, a panic with this error's message (as `Vec` panics
    /// with "capacity overflow").
    pub fn abort(self) -> ! {
        match self.layout {
            Some(layout) => alloc::alloc::handle_alloc_error(layout),
            None => panic!("{self}"),
        }
    }
}

impl core::fmt::Display for AllocError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "could not allocate {} bytes for the network (parameters or per-step storage)",
            self.bytes
        )?;
        if self.overflows() {
            f.write_str(": the size overflows what this platform can address")?;
        }
        Ok(())
    }
}

impl core::error::Error for AllocError {}

/// Sets `x` to zero in place (no zero value is built on the stack first).
pub fn zero_in_place<X: ZeroInit>(x: &mut X) {
    bytemuck::fill_zeroes(core::slice::from_mut(x));
}

/// `n` zeroed `X` created directly on the heap, or the allocation that failed.
///
/// # Errors
/// [`AllocError`] if the allocator cannot provide `n * size_of::<X>()` bytes.
pub fn try_zeroed_slice<X: ZeroInit>(n: usize) -> Result<alloc::boxed::Box<[X]>, AllocError> {
    bytemuck::allocation::try_zeroed_slice_box(n).map_err(|()| AllocError {
        layout: core::alloc::Layout::array::<X>(n).ok(),
        bytes: core::mem::size_of::<X>() as u128 * n as u128,
    })
}

impl Float for f32 {
    const DTYPE: &'static str = "F32";
    #[inline(always)]
    fn sigmoid(self) -> Self {
        crate::fastmath::sigmoid(self)
    }
    #[inline(always)]
    fn fast_tanh(self) -> Self {
        crate::fastmath::tanh(self)
    }
    #[inline(always)]
    fn fast_exp(self) -> Self {
        crate::fastmath::exp(self)
    }
    #[inline]
    fn ln_of_sum(sum: f64) -> Self {
        // libm on every target (see `f64m`), not the system's `logf`.
        libm::logf(sum as f32)
    }
    const IS_F32: bool = true;
    #[inline(always)]
    fn as_f32(xs: &[Self]) -> Option<&[f32]> {
        Some(xs)
    }
    #[inline(always)]
    fn as_f32_mut(xs: &mut [Self]) -> Option<&mut [f32]> {
        Some(xs)
    }
    fn extend_le_bytes(self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn from_le_bytes_slice(bytes: &[u8]) -> Self {
        let mut b = [0u8; 4];
        b.copy_from_slice(bytes);
        Self::from_le_bytes(b)
    }
    #[inline]
    fn cast(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
}

impl Float for f64 {
    const DTYPE: &'static str = "F64";
    #[inline]
    fn sigmoid(self) -> Self {
        1.0 / (1.0 + libm::exp(-self))
    }
    #[inline]
    fn fast_tanh(self) -> Self {
        libm::tanh(self)
    }
    #[inline]
    fn fast_exp(self) -> Self {
        libm::exp(self)
    }
    #[inline]
    fn ln_of_sum(sum: f64) -> Self {
        libm::log(sum)
    }
    const IS_F32: bool = false;
    #[inline(always)]
    fn as_f32(_: &[Self]) -> Option<&[f32]> {
        None
    }
    #[inline(always)]
    fn as_f32_mut(_: &mut [Self]) -> Option<&mut [f32]> {
        None
    }
    fn extend_le_bytes(self, out: &mut alloc::vec::Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
    #[inline]
    fn from_le_bytes_slice(bytes: &[u8]) -> Self {
        let mut b = [0u8; 8];
        b.copy_from_slice(bytes);
        Self::from_le_bytes(b)
    }
    #[inline]
    fn cast(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigmoid_is_stable_at_the_extremes() {
        assert_eq!(Float::sigmoid(-1000.0f64), 0.0);
        assert_eq!(Float::sigmoid(1000.0f64), 1.0);
        assert!((Float::sigmoid(0.0f32) - 0.5).abs() < 1e-7);
        assert!((Float::sigmoid(1.0f64) - 0.731_058_578_630_004_9).abs() < 1e-15);
    }
}
