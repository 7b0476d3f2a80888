//! Parsing: the DSL's syntax tree, with every token kept for error spans.

use proc_macro2::TokenTree;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Attribute, Expr, Ident, Token, Visibility, bracketed, parenthesized, token};

/// The deepest nesting of containers: each level is one index in a parameter's name
/// (`rnn_core::param::MAX_DEPTH`). Validation reports a container nested deeper; the parser
/// does not descend past it.
pub const MAX_DEPTH: usize = 16;

/// The whole macro input: one or more network definitions.
pub struct Input {
    pub networks: Vec<NetworkDef>,
}

/// `#[attrs] vis Name<options> = body;`
pub struct NetworkDef {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub options: Vec<OptionDef>,
    pub body: LayerExpr,
}

/// `key = value`, where the value is a single token (`8`, `f64`, `full`).
pub struct OptionDef {
    pub key: Ident,
    pub value: TokenTree,
}

/// A layer or a container.
pub enum LayerExpr {
    /// `Sequential[ items ]`.
    Sequential {
        name: Ident,
        bracket: token::Bracket,
        items: Vec<LayerExpr>,
    },
    /// `Name` or `Name(args)`.
    Layer { name: Ident, args: Option<Args> },
}

/// `( a, b, ... )` after a layer name.
pub struct Args {
    pub paren: token::Paren,
    pub values: Vec<Expr>,
}

impl Parse for Input {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let mut networks = Vec::new();
        while !input.is_empty() {
            networks.push(input.parse()?);
        }
        if networks.is_empty() {
            return Err(
                input.error("expected a network: `pub Name<seq_len = N> = Sequential[ ... ];`")
            );
        }
        Ok(Self { networks })
    }
}

impl Parse for NetworkDef {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis: Visibility = input.parse()?;
        let name: Ident = input.parse()?;
        let mut options = Vec::new();
        if input.peek(Token![<]) {
            input.parse::<Token![<]>()?;
            while !input.peek(Token![>]) {
                let key: Ident = input.parse()?;
                input.parse::<Token![=]>()?;
                let value: TokenTree = input.parse()?;
                options.push(OptionDef { key, value });
                if input.peek(Token![,]) {
                    input.parse::<Token![,]>()?;
                } else if !input.peek(Token![>]) {
                    return Err(input.error("expected `,` or `>` after an option"));
                }
            }
            input.parse::<Token![>]>()?;
        }
        input.parse::<Token![=]>()?;
        let body = LayerExpr::parse_at(input, 1)?;
        input.parse::<Token![;]>()?;
        Ok(Self {
            attrs,
            vis,
            name,
            options,
            body,
        })
    }
}

impl LayerExpr {
    /// A layer or container at nesting level `depth` (1 for the outermost container). The
    /// contents of a container nested deeper than validation allows are not parsed
    /// (validation reports the container): the parser's recursion stays as shallow as the
    /// deepest valid network, however deep the input nests.
    fn parse_at(input: ParseStream, depth: usize) -> syn::Result<Self> {
        let name: Ident = input.parse()?;
        if input.peek(token::Bracket) {
            let content;
            let bracket = bracketed!(content in input);
            let mut items = Vec::new();
            if depth > MAX_DEPTH {
                content.parse::<proc_macro2::TokenStream>()?;
            } else {
                while !content.is_empty() {
                    items.push(Self::parse_at(&content, depth + 1)?);
                    if content.is_empty() {
                        break;
                    }
                    content.parse::<Token![,]>()?;
                }
            }
            return Ok(Self::Sequential {
                name,
                bracket,
                items,
            });
        }
        let args = if input.peek(token::Paren) {
            let content;
            let paren = parenthesized!(content in input);
            let values: Punctuated<Expr, Token![,]> =
                content.parse_terminated(Expr::parse, Token![,])?;
            Some(Args {
                paren,
                values: values.into_iter().collect(),
            })
        } else {
            None
        };
        Ok(Self::Layer { name, args })
    }
}
