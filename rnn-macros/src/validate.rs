//! Validation: everything that needs no types, with every error collected and spanned at the
//! user's tokens. What needs types (sizes matching between layers) is left to the compiler.

use crate::args::{CONTAINERS, Report, largest_arg, leaf, spanning};
use crate::ast::{Input, LayerExpr, MAX_DEPTH, NetworkDef};
use crate::tree::{Item, Size};
use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use rnn_format::layers::Kind;
use rnn_format::sizes::{MAX_ELEMENTS, largest_matrix};
use syn::{Attribute, Error, Ident, Visibility};

/// The checked input: the networks that are well formed, every error found, and the layer names
/// the registry does not know (left for the compiler to report, with its "similar name" hint).
pub struct Validated {
    pub networks: Vec<Network>,
    pub errors: Vec<Error>,
    pub unknown: Vec<Ident>,
}

impl Report for Validated {
    fn error(&mut self, e: Error) {
        self.errors.push(e);
    }
    fn unknown(&mut self, name: Ident) {
        self.unknown.push(name);
    }
    fn error_count(&self) -> usize {
        self.errors.len()
    }
}

/// A well-formed network.
pub struct Network {
    pub attrs: Vec<Attribute>,
    pub vis: Visibility,
    pub name: Ident,
    pub seq_len: usize,
    pub batch: usize,
    pub scalar: Ident,
    pub unroll: bool,
    pub mask_zero: bool,
    /// `Repeater[ ... ]`: one input, fed at every step.
    pub repeat: bool,
    /// No `BiSequencer`: the network can also run one step at a time (`Online`).
    pub online: bool,
    pub body: Vec<Item>,
    /// `weights = "file"`: the checked file, embedded.
    pub weights: Option<crate::weights::Weights>,
}

pub fn validate(input: Input) -> Validated {
    let mut v = Validated {
        networks: Vec::new(),
        errors: Vec::new(),
        unknown: Vec::new(),
    };
    for def in input.networks {
        let before = (v.errors.len(), v.unknown.len());
        if let Some(net) = network(def, &mut v)
            && (v.errors.len(), v.unknown.len()) == before
        {
            v.networks.push(net);
        }
    }
    v
}

fn network(def: NetworkDef, v: &mut Validated) -> Option<Network> {
    let NetworkDef {
        attrs,
        vis,
        name,
        options,
        body,
    } = def;
    let (mut seq_len, mut batch, mut scalar, mut unroll) = (None, None, None, None);
    let mut mask_zero = None;
    let (mut weights, mut names) = (None, None);
    for opt in options {
        let key = opt.key.to_string();
        let slot_taken = match key.as_str() {
            "seq_len" => seq_len
                .replace(positive(&opt.value, "seq_len", v))
                .is_some(),
            "batch" => batch.replace(positive(&opt.value, "batch", v)).is_some(),
            "scalar" => scalar.replace(scalar_type(&opt.value, v)).is_some(),
            "unroll" => unroll.replace(unroll_mode(&opt.value, v)).is_some(),
            "mask_zero" => mask_zero
                .replace(flag(&opt.value, "mask_zero", v))
                .is_some(),
            "weights" => weights.replace(weights_path(&opt.value, v)).is_some(),
            "names" => {
                let rules = crate::weights::names(&opt.value)
                    .map_err(|e| v.errors.push(e))
                    .ok();
                names.replace((opt.key.span(), rules)).is_some()
            }
            _ => {
                v.errors.push(Error::new(
                    opt.key.span(),
                    format!(
                        "unknown option `{key}`: expected `seq_len`, `batch`, `scalar`, `unroll`, \
                         `mask_zero`, `weights` or `names`"
                    ),
                ));
                false
            }
        };
        if slot_taken {
            v.errors.push(Error::new(
                opt.key.span(),
                format!("option `{key}` is given twice"),
            ));
        }
    }
    if seq_len.is_none() {
        v.errors.push(Error::new(
            name.span(),
            format!("missing `seq_len`: write `{name}<seq_len = N>` (the number of time steps)"),
        ));
    }
    let mut repeat = None;
    let items = match body {
        LayerExpr::Sequential {
            name: kw,
            bracket,
            items,
        } => {
            if kw == "Repeater" {
                repeat = Some(kw.span());
            }
            container(&kw, bracket.span.close(), items, v, &mut false, 1)
        }
        leaf @ LayerExpr::Layer { .. } => vec![item(leaf, v, &mut false, 1)?],
    };
    let layers = count_layers(&items);
    if layers > MAX_LAYERS {
        v.errors.push(Error::new(
            name.span(),
            format!(
                "`{name}` has {layers} layers; a network holds at most {MAX_LAYERS}: the \
                 debug information of its generated types grows with the square of the layer \
                 count ({MAX_LAYERS} layers take about 20 s and 4 GB of memory to build in a \
                 debug build)"
            ),
        ));
    }
    let batch = batch.flatten().unwrap_or(1);
    if let Some(Some(t)) = seq_len {
        check_columns(&items, t.checked_mul(batch), v);
    }
    let unroll = unroll.flatten().unwrap_or(false);
    if let (Some(span), true) = (repeat, unroll) {
        v.errors.push(Error::new(
            span,
            "`Repeater[ ... ]` runs its steps as a loop: drop `unroll = full`",
        ));
    }
    let mask_zero = mask_zero.flatten().unwrap_or(false);
    let lookup_ok = check_lookup_position(&items, v);
    if let Some(bi) = items.iter().find_map(Item::bi_span) {
        // What steps the whole network one step at a time cannot hold a layer that needs the
        // whole sequence first.
        let why = " runs the network one step at a time, but `BiSequencer[ ... ]` needs the \
                   whole sequence first (its backward direction starts at the last step)";
        if repeat.is_some() {
            v.errors.push(Error::new(
                bi,
                format!("`Repeater[ ... ]`{why}: use `Sequential[ ... ]` with the input repeated"),
            ));
        }
        if unroll {
            v.errors.push(Error::new(
                bi,
                format!("`unroll = full`{why}: drop `unroll`"),
            ));
        }
    }
    if let Some(Some(t)) = seq_len
        && unroll
        && t > MAX_UNROLL
    {
        v.errors.push(Error::new(
            name.span(),
            format!(
                "`unroll = full` writes every step out as straight-line code, which grows the \
                 build with `seq_len`; it takes at most {MAX_UNROLL} steps, found {t}: drop \
                 `unroll` (the time loop builds as fast at any length)"
            ),
        ));
    }
    if !lookup_ok {
        return None; // expanding it would only add errors about the misplaced layer's type
    }
    let scalar = scalar
        .flatten()
        .unwrap_or_else(|| Ident::new("f32", Span::call_site()));
    let weights = match (weights.flatten(), names) {
        (None, Some((span, _))) => {
            v.errors.push(Error::new(
                span,
                "`names` maps a weights file's names: it needs `weights = \"file.safetensors\"`",
            ));
            None
        }
        (Some(_), Some((_, None))) => None, // the names' error is reported
        (Some((path, span)), names) => {
            let names = names.and_then(|(_, n)| n).unwrap_or_default();
            let checked = crate::weights::check((&path, span), &names, &scalar.to_string(), &items);
            checked.map_err(|e| v.errors.extend(e)).ok()
        }
        (None, None) => None,
    };
    Some(Network {
        attrs,
        vis,
        name,
        seq_len: seq_len.flatten()?,
        batch,
        scalar,
        unroll,
        mask_zero,
        repeat: repeat.is_some(),
        online: items.iter().all(|it| it.bi_span().is_none()),
        body: items,
        weights,
    })
}

fn positive(value: &TokenTree, what: &str, v: &mut Validated) -> Option<usize> {
    match syn::parse2::<syn::LitInt>(value.to_token_stream())
        .and_then(|l| l.base10_parse::<usize>())
    {
        Ok(0) => v.errors.push(Error::new_spanned(
            value,
            format!("`{what}` must be at least 1"),
        )),
        Ok(n) => return Some(n),
        Err(_) => v.errors.push(Error::new_spanned(
            value,
            format!("`{what}` must be a positive integer literal, found `{value}`"),
        )),
    }
    None
}

/// `weights = "path"`: the path and the literal's span.
fn weights_path(value: &TokenTree, v: &mut Validated) -> Option<(String, Span)> {
    match syn::parse2::<syn::LitStr>(value.to_token_stream()) {
        Ok(s) => Some((s.value(), s.span())),
        Err(_) => {
            v.errors.push(Error::new_spanned(
                value,
                format!(
                    "`weights` takes a safetensors file's path as a string literal, relative to \
                     the crate's directory (`\"models/amp.safetensors\"`), found `{value}`"
                ),
            ));
            None
        }
    }
}

fn scalar_type(value: &TokenTree, v: &mut Validated) -> Option<Ident> {
    match value {
        TokenTree::Ident(i) if i == "f32" || i == "f64" => Some(i.clone()),
        _ => {
            v.errors.push(Error::new_spanned(
                value,
                format!("`scalar` must be `f32` or `f64`, found `{value}`"),
            ));
            None
        }
    }
}

fn flag(value: &TokenTree, what: &str, v: &mut Validated) -> Option<bool> {
    match value {
        TokenTree::Ident(i) if i == "true" => Some(true),
        TokenTree::Ident(i) if i == "false" => Some(false),
        _ => {
            v.errors.push(Error::new_spanned(
                value,
                format!("`{what}` takes `true` or `false`, found `{value}`"),
            ));
            None
        }
    }
}

fn unroll_mode(value: &TokenTree, v: &mut Validated) -> Option<bool> {
    match value {
        TokenTree::Ident(i) if i == "full" => Some(true),
        _ => {
            v.errors.push(Error::new_spanned(
                value,
                format!("`unroll` takes `full` (straight-line time steps), found `{value}`"),
            ));
            None
        }
    }
}

/// The most layers in one network, nested ones included (a `BiSequencer`'s once). The
/// generated types nest as a balanced tree (no overflow of rustc's recursion limit), but each
/// layer's view of the steps names the whole network's types, so a debug build's type
/// information grows with the square of the layer count: a test of 128 layers builds in 18 s
/// with a 3.7 GB peak on a 2-core Intel Xeon (2026-12-06); for 1000 the square extrapolates
/// to about 200 GB.
pub const MAX_LAYERS: usize = 128;

/// The layers in `items`, nested ones included.
fn count_layers(items: &[Item]) -> usize {
    items
        .iter()
        .map(|it| match it {
            Item::Leaf(_) => 1,
            Item::Seq(inner) | Item::Residual(_, inner) | Item::Bi(_, inner) => count_layers(inner),
        })
        .fold(0, usize::saturating_add)
}

/// The most layers in one container: a parameter name's index is a `u16`.
pub const MAX_ITEMS: usize = u16::MAX as usize + 1;

/// `kw[ items ]` at nesting level `depth` (1 for the outermost). `sized` tracks whether some
/// earlier layer fixed a size.
fn container(
    kw: &Ident,
    close: Span,
    items: Vec<LayerExpr>,
    v: &mut Validated,
    sized: &mut bool,
    depth: usize,
) -> Vec<Item> {
    if depth > MAX_DEPTH {
        v.errors.push(Error::new(
            kw.span(),
            format!(
                "`{kw}` nested {depth} levels deep: parameter names hold at most {MAX_DEPTH} \
                 levels of layer indices"
            ),
        ));
        return Vec::new();
    }
    if items.len() > MAX_ITEMS {
        v.errors.push(Error::new(
            kw.span(),
            format!(
                "`{kw}` has {} layers, more than the {MAX_ITEMS} one container can index",
                items.len()
            ),
        ));
        return Vec::new();
    }
    if !CONTAINERS.contains(&kw.to_string().as_str()) {
        v.errors.push(Error::new(
            kw.span(),
            format!(
                "unknown container `{kw}`: expected `Sequential[ ... ]`, `Residual[ ... ]`, \
                 `BiSequencer[ ... ]` or `Repeater[ ... ]`"
            ),
        ));
    } else if kw == "Repeater" && depth > 1 {
        v.errors.push(Error::new(
            kw.span(),
            "`Repeater[ ... ]` feeds one input to every step of the network: it can only be \
             the outermost container",
        ));
    } else if (kw == "Residual" || kw == "BiSequencer") && depth == 1 {
        v.errors.push(Error::new(
            kw.span(),
            format!(
                "a network's outermost container is `Sequential[ ... ]`: write \
                 `Sequential[ {kw}[ ... ] ]`"
            ),
        ));
    }
    if items.is_empty() {
        v.errors.push(Error::new_spanned(
            spanning(kw.span(), close),
            format!("empty `{kw}[]`: a container needs at least one layer"),
        ));
    }
    items
        .into_iter()
        .filter_map(|e| item(e, v, sized, depth))
        .collect()
}

fn item(expr: LayerExpr, v: &mut Validated, sized: &mut bool, depth: usize) -> Option<Item> {
    match expr {
        LayerExpr::Sequential {
            name,
            bracket,
            items,
        } => {
            let inner = container(&name, bracket.span.close(), items, v, sized, depth + 1);
            Some(if name == "Residual" {
                Item::Residual(name.span(), inner)
            } else if name == "BiSequencer" {
                Item::Bi(name.span(), inner)
            } else {
                Item::Seq(inner)
            })
        }
        LayerExpr::Layer { name, args } => leaf(name, args, v, sized).map(Item::Leaf),
    }
}

/// A `LookupTable` reads token indices, so it can only be the network's first layer (the
/// network's encoder), and needs layers after it.
fn check_lookup_position(items: &[Item], v: &mut Validated) -> bool {
    let before = v.errors.len();
    fn misplaced(items: &[Item], top: bool, v: &mut Validated) {
        for (k, it) in items.iter().enumerate() {
            match it {
                Item::Leaf(l) if l.entry.kind == Kind::Lookup && !(top && k == 0) => {
                    v.errors.push(Error::new_spanned(
                        spanning(l.name.span(), l.end),
                        format!(
                            "`{}` reads token indices, so it can only be the first layer of the \
                             network, not inside it",
                            l.name
                        ),
                    ));
                }
                Item::Leaf(_) => {}
                Item::Seq(inner) | Item::Residual(_, inner) | Item::Bi(_, inner) => {
                    misplaced(inner, false, v);
                }
            }
        }
    }
    misplaced(items, true, v);
    if let [Item::Leaf(l)] = items
        && l.entry.kind == Kind::Lookup
    {
        v.errors.push(Error::new_spanned(
            spanning(l.name.span(), l.end),
            format!(
                "`{}` needs layers after it: it only looks vectors up",
                l.name
            ),
        ));
    }
    v.errors.len() == before
}

/// The most time steps `unroll = full` writes out as straight-line code.
pub const MAX_UNROLL: usize = 1024;

/// Errors for layers whose values over a whole sequence (`columns` = `seq_len * batch`) would
/// be too large.
fn check_columns(items: &[Item], columns: Option<usize>, v: &mut Validated) {
    for it in items {
        match it {
            Item::Seq(inner) | Item::Residual(_, inner) | Item::Bi(_, inner) => {
                check_columns(inner, columns, v)
            }
            Item::Leaf(l) => {
                if let Kind::Shaped(shape) = l.entry.kind {
                    let literal: Option<Vec<usize>> =
                        l.values().into_iter().map(Size::value).collect();
                    if let Some(m) = literal.and_then(|x| largest_arg(shape, &x))
                        && columns.and_then(|c| largest_matrix(0, m, m, c)).is_none()
                    {
                        v.errors.push(Error::new_spanned(
                            spanning(l.name.span(), l.end),
                            format!(
                                "`{}` is too large for `seq_len * batch` columns: the values \
                                 of a sequence would have more than {MAX_ELEMENTS} elements",
                                l.name
                            ),
                        ));
                    }
                    continue;
                }
                let gates = match l.entry.kind {
                    Kind::Sized { gates } => gates,
                    _ => 0,
                };
                if let Some((Some(a), Some(b))) =
                    l.sizes.as_ref().map(|(a, b)| (a.value(), b.value()))
                    && columns
                        .and_then(|c| largest_matrix(gates, a, b, c))
                        .is_none()
                {
                    v.errors.push(Error::new_spanned(
                        spanning(l.name.span(), l.end),
                        format!(
                            "`{}({a}, {b})` is too large for `seq_len * batch` columns: the \
                             values of a sequence would have more than {MAX_ELEMENTS} elements",
                            l.name
                        ),
                    ));
                }
            }
        }
    }
}
