//! Marker types named as the layers of the `network!` DSL, and the [`Follows`] trait through
//! which the type system checks that each layer's input size equals the previous layer's
//! output size. Error messages print these markers, so they read like the DSL:
//! "`Linear<30, 5>` cannot follow `LSTM<10, 20>` ...".

/// Implemented by a layer marker `Self` when it can take the `N` outputs of the layer `Prev`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot follow `{Prev}`: its input size is not the {N} outputs that `{Prev}` gives",
    label = "this layer's input size must be {N}",
    note = "in a `Sequential`, each layer's input size must equal the previous layer's output size"
)]
pub trait Follows<Prev, const N: usize> {
    /// Named by the `network!` expansion to force the check.
    const OK: () = ();
}

// Written out rather than generated, so that the compiler's "but `Follows<_, 30>` is
// implemented" help points at one plain line.

/// `Linear(in, out)`: [`crate::layers::Linear`].
pub struct Linear<const IN: usize, const OUT: usize>;
impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for Linear<IN, OUT> {}

/// `LSTM(in, hidden)`: [`crate::layers::Lstm`].
pub struct LSTM<const IN: usize, const OUT: usize>;
impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for LSTM<IN, OUT> {}

/// `FastLSTM(in, hidden)`: alias of `LSTM`.
pub struct FastLSTM<const IN: usize, const OUT: usize>;
impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for FastLSTM<IN, OUT> {}

/// `PeepholeLSTM(in, hidden)`: [`crate::layers::PeepholeLstm`] (Torch's `nn.LSTM`).
pub struct PeepholeLSTM<const IN: usize, const OUT: usize>;
impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for PeepholeLSTM<IN, OUT> {}

/// `GRU(in, hidden)`: [`crate::layers::Gru`].
pub struct GRU<const IN: usize, const OUT: usize>;
impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for GRU<IN, OUT> {}

/// `RNN(in, hidden)`: [`crate::layers::Rnn`] (Elman, tanh).
pub struct RNN<const IN: usize, const OUT: usize>;
impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for RNN<IN, OUT> {}

/// `Conv1d(in, out, kernel)` (option `dilation = d`): [`crate::layers::Conv1d`].
pub struct Conv1d<const IN: usize, const OUT: usize>;
impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for Conv1d<IN, OUT> {}

/// `LogSoftMax`: [`crate::layers::LogSoftMax`].
pub struct LogSoftMax<const N: usize>;
impl<P, const N: usize> Follows<P, N> for LogSoftMax<N> {}

/// `SoftMax`: [`crate::layers::SoftMax`].
pub struct SoftMax<const N: usize>;
impl<P, const N: usize> Follows<P, N> for SoftMax<N> {}

/// `Tanh`: [`crate::layers::Tanh`].
pub struct Tanh<const N: usize>;
impl<P, const N: usize> Follows<P, N> for Tanh<N> {}

/// `Sigmoid`: [`crate::layers::Sigmoid`].
pub struct Sigmoid<const N: usize>;
impl<P, const N: usize> Follows<P, N> for Sigmoid<N> {}

/// `ReLU`: [`crate::layers::ReLU`].
pub struct ReLU<const N: usize>;
impl<P, const N: usize> Follows<P, N> for ReLU<N> {}

/// `Identity`: [`crate::layers::Identity`].
pub struct Identity<const N: usize>;
impl<P, const N: usize> Follows<P, N> for Identity<N> {}

/// `LookupTable(vocab, dim)`: [`crate::layers::LookupTable`] (always first: no `Follows`).
pub struct LookupTable<const VOCAB: usize, const DIM: usize>;

/// `Embedding(vocab, dim)`: alias of `LookupTable`.
pub struct Embedding<const VOCAB: usize, const DIM: usize>;

/// `Dropout(p)`: [`crate::layers::Dropout`].
pub struct Dropout<const N: usize>;
impl<P, const N: usize> Follows<P, N> for Dropout<N> {}

/// Implemented by [`Outputs<N>`] when a `Residual[ ... ]` that takes `IN` inputs gives as many
/// outputs (`y = f(x) + x` adds two vectors of one size).
#[diagnostic::on_unimplemented(
    message = "`Residual[ ... ]` takes {IN} inputs but its layers give `{Self}`: `y = f(x) + x` needs both of one size",
    label = "the last layer inside must give {IN} outputs"
)]
pub trait SameSize<const IN: usize> {
    /// Named by the `network!` expansion to force the check.
    const OK: () = ();
}

/// The output size of a `Residual[ ... ]`'s layers, for [`SameSize`].
pub struct Outputs<const N: usize>;
impl<const N: usize> SameSize<N> for Outputs<N> {}

/// `BiSequencer[ ... ]`: [`crate::bisequencer::BiSequencer`], giving `OUT` outputs (both
/// directions joined).
pub struct BiSequencer<const OUT: usize>;

/// Implemented by no type: the argument of the `step` methods that a network with a
/// `BiSequencer[ ... ]` has instead of [`crate::Online`]'s, so that calling one is this error.
#[diagnostic::on_unimplemented(
    message = "this network has no online `step`/`backward_step`: it contains a `BiSequencer[ ... ]`",
    label = "a network with a `BiSequencer` runs whole sequences only",
    note = "the backward direction needs the whole sequence before its first output (it starts at \
            the last step): use `forward` and `backward` over the sequence"
)]
pub trait NoOnlineStep {
    /// Never called (no type implements the trait).
    fn never(self) -> !;
}
