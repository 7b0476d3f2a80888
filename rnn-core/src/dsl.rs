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

macro_rules! sized_markers {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        pub struct $name<const IN: usize, const OUT: usize>;
        impl<P, const IN: usize, const OUT: usize> Follows<P, IN> for $name<IN, OUT> {}
    )*};
}

macro_rules! size_free_markers {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        pub struct $name<const N: usize>;
        impl<P, const N: usize> Follows<P, N> for $name<N> {}
    )*};
}

sized_markers! {
    /// `Linear(in, out)`: [`crate::layers::Linear`].
    Linear;
    /// `LSTM(in, hidden)`: [`crate::layers::Lstm`].
    LSTM;
    /// `FastLSTM(in, hidden)`: alias of `LSTM`.
    FastLSTM;
    /// `PeepholeLSTM(in, hidden)`: [`crate::layers::PeepholeLstm`] (Torch's `nn.LSTM`).
    PeepholeLSTM;
    /// `GRU(in, hidden)`: [`crate::layers::Gru`].
    GRU;
    /// `RNN(in, hidden)`: [`crate::layers::Rnn`] (Elman, tanh).
    RNN;
}

size_free_markers! {
    /// `LogSoftMax`: [`crate::layers::LogSoftMax`].
    LogSoftMax;
    /// `SoftMax`: [`crate::layers::SoftMax`].
    SoftMax;
    /// `Tanh`: [`crate::layers::Tanh`].
    Tanh;
    /// `Sigmoid`: [`crate::layers::Sigmoid`].
    Sigmoid;
    /// `ReLU`: [`crate::layers::ReLU`].
    ReLU;
    /// `Identity`: [`crate::layers::Identity`].
    Identity;
    /// `Dropout(p)`: [`crate::layers::Dropout`].
    Dropout;
}
