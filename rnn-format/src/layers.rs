//! The layers of the DSL, one entry each in [`LAYERS`]: how each is written (its sizes and
//! options), the Rust type it becomes, and its tensors with their PyTorch shapes in terms of its
//! sizes and options, in the order the DSL takes them (`Linear(a, b)`, `LSTM(a, b)`,
//! `LookupTable(a, b)`, `Conv1d(a, b, c, dilation = d)`). The `network!` macro parses, checks
//! and builds a layer from its entry, and checks a weights file at build time against its
//! tensors; `rnn_core`'s tests check every layer's parameters against them. Adding a layer to
//! `rnn_core` means adding its entry here (a layer with sizes or options beyond `(in, out)`
//! describes them as a [`Shape`]) and its marker in `rnn_core::dsl`.

/// One dimension of a tensor, in terms of a layer's sizes `(a, b)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dim {
    /// The first size (`in`, or `vocab` of a lookup table).
    A,
    /// The second size (`out` or `hidden`, or `dim` of a lookup table).
    B,
    /// The third size (`kernel` of a convolution).
    C,
    /// The layer's gate count times the second size (the fused gate rows of LSTM and GRU).
    Gates,
}

/// A tensor of a layer: its name and PyTorch shape (one to three dimensions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tensor {
    /// The tensor's name (`weight_ih`).
    pub name: &'static str,
    /// Its shape: `[out, in]` for a weight, `[n]` for a vector.
    pub shape: &'static [Dim],
}

const fn t(name: &'static str, shape: &'static [Dim]) -> Tensor {
    Tensor { name, shape }
}

use Dim::{A, B, C, Gates};
use Factor::{LessOne, V};

const LINEAR: &[Tensor] = &[t("weight", &[B, A]), t("bias", &[B])];
const CELL: &[Tensor] = &[
    t("weight_ih", &[Gates, A]),
    t("weight_hh", &[Gates, B]),
    t("bias_ih", &[Gates]),
    t("bias_hh", &[Gates]),
];
const PEEPHOLE: &[Tensor] = &[
    t("weight_ih", &[Gates, A]),
    t("weight_hh", &[Gates, B]),
    t("bias", &[Gates]),
    t("peephole_i", &[B]),
    t("peephole_f", &[B]),
    t("peephole_o", &[B]),
];

/// How a layer is written and built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `Name(in, out)`; the Rust type is `Ty<S, in, out>`, plus `gates * out` as a fourth
    /// parameter when `gates > 0` (the fused gate rows of LSTM and GRU).
    Sized {
        /// The gate blocks (0 for a plain weight).
        gates: usize,
    },
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
    /// Its tensors, in the order the layer visits them (empty without parameters).
    pub tensors: &'static [Tensor],
}

const fn sized(
    name: &'static str,
    ty: &'static str,
    gates: usize,
    tensors: &'static [Tensor],
) -> Entry {
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
        tensors,
    }
}

const fn size_free(name: &'static str) -> Entry {
    Entry {
        name,
        ty: name,
        kind: Kind::SizeFree,
        args: "",
        tensors: &[],
    }
}

/// Every layer of the DSL.
pub const LAYERS: &[Entry] = &[
    sized("Linear", "Linear", 0, LINEAR),
    sized("LSTM", "Lstm", 4, CELL),
    sized("FastLSTM", "Lstm", 4, CELL),
    sized("PeepholeLSTM", "PeepholeLstm", 4, PEEPHOLE),
    sized("GRU", "Gru", 3, CELL),
    sized("RNN", "Rnn", 0, CELL),
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
        tensors: &[t("weight", &[A, B])],
    },
    Entry {
        name: "Embedding",
        ty: "LookupTable",
        kind: Kind::Lookup,
        args: "vocab, dim",
        tensors: &[t("weight", &[A, B])],
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
        tensors: &[t("weight", &[B, A, C]), t("bias", &[B])],
    },
    Entry {
        name: "Dropout",
        ty: "Dropout",
        kind: Kind::Dropout,
        args: "p",
        tensors: &[],
    },
];

/// The entry named `name` in the DSL, if any.
#[must_use]
pub fn lookup(name: &str) -> Option<&'static Entry> {
    LAYERS.iter().find(|e| e.name == name)
}

/// The tensors of the layer type `ty` (its name in `rnn_core::layers`: `Lstm`, `Linear`) and
/// its gate count (1 for a layer without gates); empty for a layer without parameters.
#[must_use]
pub fn tensors(ty: &str) -> (&'static [Tensor], usize) {
    match LAYERS.iter().find(|e| e.ty == ty) {
        Some(e) => {
            let gates = match e.kind {
                Kind::Sized { gates } => gates.max(1),
                _ => 1,
            };
            (e.tensors, gates)
        }
        None => (&[], 1),
    }
}

impl Dim {
    /// The dimension's value for a layer's sizes and options `values` (in the DSL's order)
    /// and `gates`, or `None` if it overflows or `values` lacks it.
    #[must_use]
    pub fn value(self, values: &[usize], gates: usize) -> Option<usize> {
        match self {
            Self::A => values.first().copied(),
            Self::B => values.get(1).copied(),
            Self::C => values.get(2).copied(),
            Self::Gates => gates.checked_mul(*values.get(1)?),
        }
    }
}
