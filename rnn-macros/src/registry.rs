//! The layers the DSL knows: one entry each. Adding a layer to `rnn_core` means adding its entry
//! here (a layer with sizes or options beyond `(in, out)` describes them as a [`Shape`]) and its
//! marker in `rnn_core::dsl`.

/// How a layer is written and built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Name(in, out)`; the Rust type is `Ty<S, in, out>`, plus `gates * out` as a fourth
    /// parameter when `gates > 0` (the fused gate rows of LSTM and GRU).
    Sized { gates: usize },
    /// `Name`: takes the previous layer's size `n`; the Rust type is `Ty<S, n>`.
    SizeFree,
    /// `Dropout(p)`: size-free with a probability argument.
    Dropout,
    /// `LookupTable(vocab, dim)` (optionally `padding = index`): the network's encoder, only as
    /// its first layer; the Rust type is `Ty<S, vocab, dim>`.
    Lookup,
    /// Any number of sizes and options, described by its [`Shape`]: a new layer of this kind
    /// is its line in [`LAYERS`], nothing else in the macro.
    Shaped(&'static Shape),
}

/// The arguments of a [`Kind::Shaped`] layer and its Rust type's: `Name(size, ..., option =
/// value, ...)`, the first size its input size, the second its output size; the type
/// `Ty<S, arg, ...>`, each argument a product of the values (the sizes, then the options, in
/// this order), since stable Rust cannot compute a type's derived sizes itself.
#[derive(Debug, PartialEq, Eq)]
pub struct Shape {
    /// The sizes' names, in order (for messages).
    pub sizes: &'static [&'static str],
    /// The options `name = value` that may follow them, with their defaults.
    pub options: &'static [(&'static str, usize)],
    /// The type's const arguments after the scalar, each a product of [`Factor`]s.
    pub args: &'static [&'static [Factor]],
}

/// One factor of a [`Shape`]'s type argument: value `k` (sizes first, then options).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Factor {
    /// The value itself.
    V(usize),
    /// The value minus one (every value is at least 1).
    LessOne(usize),
}

use Factor::{LessOne, V};

/// One DSL layer.
pub struct Entry {
    /// The name in the DSL (also the marker type in `rnn_core::dsl`).
    pub name: &'static str,
    /// The type in `rnn_core::layers`.
    pub ty: &'static str,
    /// Its kind.
    pub kind: Kind,
    /// The arguments, for messages: `"in, out"`.
    pub args: &'static str,
}

const fn sized(name: &'static str, ty: &'static str, gates: usize) -> Entry {
    let args = if gates > 0 || matches!(ty.as_bytes(), b"Rnn") {
        "in, hidden"
    } else {
        "in, out"
    };
    Entry {
        name,
        ty,
        kind: Kind::Sized { gates },
        args,
    }
}

const fn size_free(name: &'static str) -> Entry {
    Entry {
        name,
        ty: name,
        kind: Kind::SizeFree,
        args: "",
    }
}

/// Every layer of the DSL.
pub const LAYERS: &[Entry] = &[
    sized("Linear", "Linear", 0),
    sized("LSTM", "Lstm", 4),
    sized("FastLSTM", "Lstm", 4),
    sized("PeepholeLSTM", "PeepholeLstm", 4),
    sized("GRU", "Gru", 3),
    sized("RNN", "Rnn", 0),
    size_free("LogSoftMax"),
    size_free("SoftMax"),
    size_free("Tanh"),
    size_free("Sigmoid"),
    size_free("ReLU"),
    size_free("Identity"),
    Entry {
        name: "LookupTable",
        ty: "LookupTable",
        kind: Kind::Lookup,
        args: "vocab, dim",
    },
    Entry {
        name: "Embedding",
        ty: "LookupTable",
        kind: Kind::Lookup,
        args: "vocab, dim",
    },
    Entry {
        name: "Conv1d",
        ty: "Conv1d",
        // Conv1d<S, in, out, kernel, dilation, in * kernel, in * (kernel - 1) * dilation>
        kind: Kind::Shaped(&Shape {
            sizes: &["in", "out", "kernel"],
            options: &[("dilation", 1)],
            args: &[
                &[V(0)],
                &[V(1)],
                &[V(2)],
                &[V(3)],
                &[V(0), V(2)],
                &[V(0), LessOne(2), V(3)],
            ],
        }),
        args: "in, out, kernel",
    },
    Entry {
        name: "Dropout",
        ty: "Dropout",
        kind: Kind::Dropout,
        args: "p",
    },
];

/// The entry named `name`, if any.
pub fn lookup(name: &str) -> Option<&'static Entry> {
    LAYERS.iter().find(|e| e.name == name)
}
