//! The tensors of each layer with parameters, in the order the layer visits them, with their
//! PyTorch shapes in terms of the layer's DSL sizes and options, in the order the DSL takes
//! them: `Linear(a, b)`, `LSTM(a, b)`, `LookupTable(a, b)`, `Conv1d(a, b, c, dilation = d)`. The `network!` macro reads this table to check a weights file at build
//! time; `rnn_core`'s tests check every layer's parameters against it.

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
const LOOKUP: &[Tensor] = &[t("weight", &[A, B])];
const CONV: &[Tensor] = &[t("weight", &[B, A, C]), t("bias", &[B])];

/// The tensors of the layer type `ty` (its name in `rnn_core::layers`: `Lstm`, `Linear`) and
/// its gate count (1 for a layer without gates); empty for a layer without parameters.
#[must_use]
pub fn tensors(ty: &str) -> (&'static [Tensor], usize) {
    match ty {
        "Linear" => (LINEAR, 1),
        "Lstm" => (CELL, 4),
        "Gru" => (CELL, 3),
        "Rnn" => (CELL, 1),
        "PeepholeLstm" => (PEEPHOLE, 4),
        "LookupTable" => (LOOKUP, 1),
        "Conv1d" => (CONV, 1),
        _ => (&[], 1),
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
