//! The layers the DSL knows: one line each. Adding a layer to `rnn_core` means adding its line
//! here and its marker in `rnn_core::dsl`.

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
}

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
