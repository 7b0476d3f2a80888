//! A layer's arguments, checked with their spans: which layer a name is, its sizes and
//! options (`LSTM(10, 20)`, `Conv1d(3, 4, 2, dilation = 2)`), `Dropout`'s probability and
//! `LookupTable`'s padding index. Validation (`validate`) calls [`leaf`] for each layer of a
//! network; errors go to a [`Report`].

use crate::ast::Args;
use crate::tree::{Leaf, Size};
use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote_spanned};
use rnn_format::layers::{self as registry, Factor, Kind, Shape};
use rnn_format::sizes::{MAX_ELEMENTS, largest_matrix};
use syn::{Error, Expr, Ident, Lit};

/// Where the checks report: spanned errors, and names the registry does not know (left to the
/// compiler, which suggests similar names).
pub trait Report {
    /// Records an error.
    fn error(&mut self, e: Error);
    /// Records a name that is not a layer of the registry.
    fn unknown(&mut self, name: Ident);
    /// The number of errors recorded so far.
    fn error_count(&self) -> usize;
}

/// Tokens spanning `start..end`, for errors that underline a whole layer.
pub fn spanning(start: Span, end: Span) -> TokenStream {
    let mut t = quote_spanned!(start=> a);
    t.extend(quote_spanned!(end=> ;));
    t
}

/// The containers the grammar knows.
pub const CONTAINERS: [&str; 4] = ["Sequential", "Residual", "BiSequencer", "Repeater"];

/// The layer `name(args)`, checked: `None` after reporting what is wrong with it, or that the
/// registry does not know it. `sized` says whether a layer with sizes came before (a
/// size-free layer takes the previous layer's size); it is set once one has.
pub fn leaf(name: Ident, args: Option<Args>, v: &mut dyn Report, sized: &mut bool) -> Option<Leaf> {
    let end = args.as_ref().map_or(name.span(), |a| a.paren.span.close());
    let whole = spanning(name.span(), end);
    let label = name.to_string();
    if CONTAINERS.contains(&label.as_str()) {
        v.error(Error::new_spanned(
            whole,
            format!("`{label}` takes its layers in brackets: `{label}[ ... ]`"),
        ));
        return None;
    }
    let Some(entry) = registry::lookup(&label) else {
        v.unknown(name);
        *sized = true; // do not also blame the next layer for coming first
        return None;
    };
    let values: &[Expr] = args.as_ref().map_or(&[], |a| &a.values);
    let mut out = Leaf {
        entry,
        name: name.clone(),
        end,
        sizes: None,
        p: None,
        padding: None,
        more: Vec::new(),
    };
    match entry.kind {
        Kind::Shaped(shape) => {
            *sized = true;
            let values = shaped(&label, shape, values, whole, v)?;
            let mut values = values.into_iter();
            let (a, b) = (values.next()?, values.next()?);
            out.sizes = Some((a, b));
            out.more = values.collect();
        }
        Kind::Sized { .. } | Kind::Lookup => {
            let (values, extra) = match (entry.kind, values) {
                (Kind::Lookup, [vocab, _, padding]) => (&values[..2], Some((padding, vocab))),
                _ => (values, None),
            };
            if values.len() != 2 {
                let more = if entry.kind == Kind::Lookup {
                    " (and optionally `padding = index`)"
                } else {
                    ""
                };
                v.error(Error::new_spanned(
                    whole,
                    format!(
                        "`{label}` takes 2 sizes `{label}({})`{more}, got {}",
                        entry.args,
                        values.len()
                    ),
                ));
                *sized = true;
                return None;
            }
            let (a, b) = (size(&values[0], v), size(&values[1], v));
            *sized = true;
            let (a, b) = (a?, b?);
            let gates = match entry.kind {
                Kind::Sized { gates } => gates,
                _ => 0,
            };
            if let (Some(a), Some(b)) = (a.value(), b.value())
                && largest_matrix(gates, a, b, 1).is_none()
            {
                v.error(Error::new_spanned(
                    whole,
                    format!(
                        "`{label}({a}, {b})` is too large: its weights would have more than \
                         {MAX_ELEMENTS} elements, more than rustc and this platform allow"
                    ),
                ));
                return None;
            }
            if let Some((padding, vocab)) = extra {
                out.padding = Some(padding_index(padding, vocab, a.value(), v)?);
            }
            out.sizes = Some((a, b));
        }
        Kind::SizeFree | Kind::Dropout => {
            if !*sized {
                v.error(Error::new_spanned(
                    whole.clone(),
                    format!(
                        "`{label}` takes its size from the previous layer, so it cannot come first: \
                         start with a layer that has sizes, such as `Linear(in, out)`"
                    ),
                ));
            }
            if entry.kind == Kind::Dropout {
                out.p = probability(&label, values, whole, v);
                out.p?;
            } else if args.is_some() {
                v.error(Error::new_spanned(
                    whole,
                    format!("`{label}` takes no arguments: its size is the previous layer's"),
                ));
                return None;
            }
        }
    }
    Some(out)
}

/// The values of a [`Kind::Shaped`] layer `label(sizes..., option = value, ...)`: its sizes,
/// then every option (its default where not given), each an integer literal of at least 1 or
/// a constant; `None` after reporting what is wrong. A layer whose literal values make a type
/// argument or a matrix too large is an error here; with constants, `rnn_core` checks the same
/// at compile time.
fn shaped(
    label: &str,
    shape: &Shape,
    values: &[Expr],
    whole: TokenStream,
    v: &mut dyn Report,
) -> Option<Vec<Size>> {
    let before = v.error_count();
    let usage = || {
        let options: Vec<String> = shape
            .options
            .iter()
            .map(|(n, d)| format!("{n} = {d}"))
            .collect();
        format!(
            "`{label}({})`, optionally followed by `{}`",
            shape.sizes.join(", "),
            options.join("`, `")
        )
    };
    let positional = values
        .iter()
        .take_while(|e| !matches!(e, Expr::Assign(_)))
        .count();
    if positional != shape.sizes.len() {
        v.error(Error::new_spanned(
            whole,
            format!(
                "`{label}` takes {} sizes {}, got {positional}",
                shape.sizes.len(),
                usage()
            ),
        ));
        return None;
    }
    let mut out: Vec<Option<Size>> = values[..positional].iter().map(|e| size(e, v)).collect();
    let mut options: Vec<Option<Size>> = shape
        .options
        .iter()
        .map(|&(_, default)| Some(Size::Lit(default)))
        .collect();
    let mut given = vec![false; shape.options.len()];
    for e in &values[positional..] {
        let Expr::Assign(a) = e else {
            v.error(Error::new_spanned(
                e,
                format!("sizes come before options: {}", usage()),
            ));
            continue;
        };
        let key = match &*a.left {
            Expr::Path(p) => p.path.get_ident().map(ToString::to_string),
            _ => None,
        };
        let at = key
            .as_deref()
            .and_then(|k| shape.options.iter().position(|(n, _)| *n == k));
        let Some(at) = at else {
            v.error(Error::new_spanned(
                &a.left,
                format!(
                    "`{label}` has no option `{}`: {}",
                    a.left.to_token_stream(),
                    usage()
                ),
            ));
            continue;
        };
        if given[at] {
            v.error(Error::new_spanned(
                e,
                format!("option `{}` is given twice", shape.options[at].0),
            ));
            continue;
        }
        given[at] = true;
        options[at] = size(&a.right, v);
    }
    out.append(&mut options);
    if v.error_count() != before {
        return None;
    }
    let values: Vec<Size> = out.into_iter().collect::<Option<_>>()?;
    let literal: Option<Vec<usize>> = values.iter().map(Size::value).collect();
    if let Some(literal) = literal
        && largest_arg(shape, &literal)
            .and_then(|m| largest_matrix(0, m, m, 1))
            .is_none()
    {
        let shown: Vec<String> = literal.iter().map(ToString::to_string).collect();
        v.error(Error::new_spanned(
            whole,
            format!(
                "`{label}({})` is too large: a matrix of its largest size squared would have \
                 more than {MAX_ELEMENTS} elements, more than rustc and this platform allow",
                shown.join(", ")
            ),
        ));
        return None;
    }
    Some(values)
}

/// The largest of a shaped layer's type arguments for literal `values` (the sizes then the
/// options), or `None` if one overflows.
pub fn largest_arg(shape: &Shape, values: &[usize]) -> Option<usize> {
    shape.args.iter().try_fold(1usize, |largest, factors| {
        let arg = factors.iter().try_fold(1usize, |acc, f| {
            let x = match *f {
                Factor::V(k) => *values.get(k)?,
                Factor::LessOne(k) => values.get(k)?.checked_sub(1)?,
            };
            acc.checked_mul(x)
        })?;
        Some(largest.max(arg))
    })
}

/// `padding = index` of a `LookupTable`: an integer literal below the vocabulary size (when
/// that is a literal).
fn padding_index(e: &Expr, vocab: &Expr, n: Option<usize>, v: &mut dyn Report) -> Option<usize> {
    let value = match e {
        Expr::Assign(a) if matches!(&*a.left, Expr::Path(p) if p.path.is_ident("padding")) => {
            &*a.right
        }
        _ => {
            v.error(Error::new_spanned(
                e,
                "the third argument of `LookupTable` is the padding index: `padding = 0`",
            ));
            return None;
        }
    };
    let index = match value {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<usize>() {
            Ok(k) => k,
            Err(err) => {
                v.error(err);
                return None;
            }
        },
        _ => {
            v.error(Error::new_spanned(
                value,
                "the padding index must be an integer literal",
            ));
            return None;
        }
    };
    if let Some(n) = n
        && index >= n
    {
        let shown = vocab.to_token_stream().to_string();
        v.error(Error::new_spanned(
            value,
            format!("the padding index {index} is not a token: the vocabulary is 0..{shown}"),
        ));
        return None;
    }
    Some(index)
}

fn size(e: &Expr, v: &mut dyn Report) -> Option<Size> {
    match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => match i.base10_parse::<usize>() {
            Ok(0) => v.error(Error::new_spanned(
                e,
                "a size must be at least 1, found `0`",
            )),
            Ok(n) => return Some(Size::Lit(n)),
            Err(err) => v.error(err),
        },
        Expr::Path(syn::ExprPath {
            qself: None,
            path,
            attrs,
        }) if attrs.is_empty() => return Some(Size::Const(path.clone())),
        _ => {
            let shown = e.to_token_stream().to_string();
            v.error(Error::new_spanned(
                e,
                format!(
                    "a size must be an integer literal or a constant (`const HIDDEN: usize = 20;`), \
                     found `{shown}`"
                ),
            ));
        }
    }
    None
}

fn probability(
    label: &str,
    values: &[Expr],
    whole: TokenStream,
    v: &mut dyn Report,
) -> Option<f64> {
    let [e] = values else {
        v.error(Error::new_spanned(
            whole,
            format!("`{label}` takes one probability `{label}(p)`"),
        ));
        return None;
    };
    let p = match e {
        Expr::Lit(syn::ExprLit {
            lit: Lit::Float(f), ..
        }) => f.base10_parse::<f64>().ok(),
        Expr::Lit(syn::ExprLit {
            lit: Lit::Int(i), ..
        }) => i.base10_parse::<f64>().ok(),
        _ => None,
    };
    match p {
        Some(p) if (0.0..1.0).contains(&p) => Some(p),
        _ => {
            let shown = e.to_token_stream().to_string();
            v.error(Error::new_spanned(
                e,
                format!("`{label}(p)` needs a number in [0, 1), found `{shown}`"),
            ));
            None
        }
    }
}
