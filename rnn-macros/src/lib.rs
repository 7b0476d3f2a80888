//! The `network!` macro of `rnn`. Use it through `rnn_core::network!` (see `rnn_core`'s docs
//! for the DSL and the generated API).
//!
//! Three stages: `ast` parses the DSL with syn, `validate` checks everything that needs no
//! types and collects *every* error (each spanned at the user's tokens; each layer's
//! arguments in `args`, against the table of layers `rnn_format::layers`), `expand` emits the
//! struct. Shape compatibility between layers is left to the type system (`rnn_core::dsl`), so
//! that it is checked where the types are known. This crate knows the grammar, not the maths.

// The macro reports every problem as a spanned compile error; it never panics.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

mod args;
mod ast;
mod expand;
#[cfg(test)]
mod tests;
mod tree;
mod validate;
mod weights;

use proc_macro::TokenStream;

/// Declares one or more recurrent networks. See `rnn_core`'s documentation.
#[proc_macro]
pub fn network(input: TokenStream) -> TokenStream {
    match syn::parse::<ast::Input>(input) {
        Ok(parsed) => expand::expand(validate::validate(parsed)).into(),
        Err(e) => e.to_compile_error().into(),
    }
}
