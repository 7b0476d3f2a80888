//! The checked layer tree that validation builds and the weights check and the expansion
//! read (its own module so that `validate` and `weights`, which both need it, do not import
//! each other).

use proc_macro2::Span;
use rnn_format::layers::Entry;
use syn::Ident;

/// A layer or a nested `Sequential`.
pub enum Item {
    Leaf(Leaf),
    Seq(Vec<Item>),
    /// `Residual[ items ]` (`y = f(x) + x`), with the span of its keyword.
    Residual(Span, Vec<Item>),
    /// `BiSequencer[ items ]` (both directions, outputs joined), with the span of its keyword.
    Bi(Span, Vec<Item>),
}

impl Item {
    /// The span of the first `BiSequencer` keyword in this item, if it holds one.
    pub fn bi_span(&self) -> Option<Span> {
        match self {
            Item::Leaf(_) => None,
            Item::Bi(span, _) => Some(*span),
            Item::Seq(inner) | Item::Residual(_, inner) => inner.iter().find_map(Item::bi_span),
        }
    }
}

/// A known layer with its checked arguments.
pub struct Leaf {
    pub entry: &'static Entry,
    /// The layer's name token (start of its span).
    pub name: Ident,
    /// The end of the layer's tokens (the closing parenthesis, or the name).
    pub end: Span,
    /// `(in, out)` for sized layers.
    pub sizes: Option<(Size, Size)>,
    /// The probability of `Dropout(p)`.
    pub p: Option<f64>,
    /// The padding index of `LookupTable(vocab, dim, padding = index)`.
    pub padding: Option<usize>,
    /// A shaped layer's values after `(in, out)`: its further sizes, then its options (the
    /// defaults where not given), in the order of its `Shape`.
    pub more: Vec<Size>,
}

impl Leaf {
    /// Every value of a sized layer in the DSL's order (`in`, `out`, then [`Leaf::more`]).
    pub fn values(&self) -> Vec<&Size> {
        match &self.sizes {
            Some((a, b)) => [a, b].into_iter().chain(&self.more).collect(),
            None => Vec::new(),
        }
    }
}

/// A layer size: an integer literal, or a constant in scope (`HIDDEN`, `config::IN`) whose
/// value only the compiler knows (its range is then checked by a generated constant).
#[derive(Clone)]
pub enum Size {
    Lit(usize),
    Const(syn::Path),
}

impl Size {
    /// The literal value, if the size is one.
    pub fn value(&self) -> Option<usize> {
        match self {
            Self::Lit(n) => Some(*n),
            Self::Const(_) => None,
        }
    }
}
