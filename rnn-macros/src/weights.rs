//! `weights = "file.safetensors"` (and `names = [ ... ]`) in a network's header: the file is
//! read when the macro expands, checked against the network's tensors (their names and
//! shapes come from `rnn_format`'s table, the one `rnn_core` is tested against), and every
//! problem is one spanned error, worded as the run-time loader words it.

use crate::tree::{Item, Leaf, Size};
use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use rnn_format::header::{self, FileTensor};
use rnn_format::plan::{self, Slot, Wanted};
use rnn_format::{Dtype, TorchNames, WeightsError, layers};
use std::collections::BTreeSet;
use std::path::PathBuf;
use syn::punctuated::Punctuated;
use syn::{Error, Expr, Lit, Token};

/// The largest file `weights = ...` embeds: 64 MiB (16 million `f32` parameters). Larger
/// files make slow builds and large binaries; they load at run time instead.
pub const FILE_LIMIT: u64 = 64 << 20;

/// A checked weights file: where it is and, in the order of the network's parameters, each
/// tensor's name (ours), dtype, shape and bytes in the file.
pub struct Weights {
    /// The file's absolute path (for `include_bytes!`, which also makes the build depend on it).
    pub path: String,
    /// The path as written.
    pub written: String,
    /// What the file holds.
    pub source: Source,
}

/// A safetensors file's tensors, or a Neural Amp Modeler model.
pub enum Source {
    /// The tensors, in the order the network visits its parameters.
    Tensors(Vec<Embedded>),
    /// A `.nam` model: its configuration, flat weights (NAM's order) and sample rate.
    Nam {
        lstm: rnn_format::nam::NamLstm,
        weights: Vec<f32>,
        sample_rate: f64,
    },
}

/// One parameter's tensor in the file.
pub struct Embedded {
    pub ours: String,
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    pub bytes: std::ops::Range<usize>,
}

/// A parameter of the network: our name's layer path, the tensor, `_reverse` count, shape.
struct Param {
    path: Vec<usize>,
    tensor: &'static str,
    reverse: usize,
    shape: Vec<usize>,
}

impl Param {
    fn ours(&self) -> String {
        let mut s = String::new();
        for p in &self.path {
            s += &format!("{p}.");
        }
        s += self.tensor;
        for _ in 0..self.reverse {
            s += "_reverse";
        }
        s
    }
}

/// The `names = [ ... ]` option as a `TorchNames`: `module("head", 2)`,
/// `module_at("lin", "0.1")`, `recurrent("rnn", 0, 2)`, `recurrent_at("rec", "0.0", 1)`,
/// `convert_dtype`.
pub fn names(value: &TokenTree) -> Result<TorchNames, Error> {
    const EXPECTED: &str = "expected `names = [ ... ]` with `module(\"name\", layer)`, \
        `module_at(\"name\", \"path\")`, `recurrent(\"name\", first_layer, num_layers)`, \
        `recurrent_at(\"name\", \"first_path\", num_layers)` or `convert_dtype`";
    let TokenTree::Group(g) = value else {
        return Err(Error::new_spanned(value, EXPECTED));
    };
    if g.delimiter() != proc_macro2::Delimiter::Bracket {
        return Err(Error::new_spanned(value, EXPECTED));
    }
    let list =
        syn::parse::Parser::parse2(Punctuated::<Expr, Token![,]>::parse_terminated, g.stream())
            .map_err(|e| Error::new(e.span(), EXPECTED))?;
    let mut out = TorchNames::new();
    for rule in list {
        out = match &rule {
            Expr::Path(p) if p.path.is_ident("convert_dtype") => out.convert_dtype(),
            Expr::Call(call) => {
                let Expr::Path(f) = &*call.func else {
                    return Err(Error::new_spanned(&rule, EXPECTED));
                };
                let f = f
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                let args: Vec<&Expr> = call.args.iter().collect();
                match (f.as_str(), args.as_slice()) {
                    ("module", [m, l]) => out.module(&text(m)?, int(l)?),
                    ("module_at", [m, p]) => out.module_at(&text(m)?, &text(p)?),
                    ("recurrent", [m, l, n]) => out.recurrent(&text(m)?, int(l)?, int(n)?),
                    ("recurrent_at", [m, p, n]) => out.recurrent_at(&text(m)?, &text(p)?, int(n)?),
                    _ => return Err(Error::new_spanned(&rule, EXPECTED)),
                }
            }
            _ => return Err(Error::new_spanned(&rule, EXPECTED)),
        };
    }
    Ok(out)
}

fn text(e: &Expr) -> Result<String, Error> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Str(s) => Ok(s.value()),
            _ => Err(Error::new_spanned(e, "expected a string literal")),
        },
        _ => Err(Error::new_spanned(e, "expected a string literal")),
    }
}

fn int(e: &Expr) -> Result<usize, Error> {
    match e {
        Expr::Lit(l) => match &l.lit {
            Lit::Int(i) => i.base10_parse(),
            _ => Err(Error::new_spanned(e, "expected an integer literal")),
        },
        _ => Err(Error::new_spanned(e, "expected an integer literal")),
    }
}

/// The network's parameters in visiting order: the encoder at position 0, then each layer at
/// its position; containers add a level, `Residual` through its inner sequential, a
/// `BiSequencer` of one layer holds it directly (both directions, the second `_reverse`).
fn params(items: &[Item], errors: &mut Vec<Error>) -> Vec<Param> {
    let mut out = Vec::new();
    for (k, it) in items.iter().enumerate() {
        walk(it, vec![k], 0, &mut out, errors);
    }
    out
}

fn walk(it: &Item, path: Vec<usize>, reverse: usize, out: &mut Vec<Param>, e: &mut Vec<Error>) {
    match it {
        Item::Leaf(leaf) => layer(leaf, path, reverse, out, e),
        Item::Seq(inner) | Item::Residual(_, inner) => {
            for (k, it) in inner.iter().enumerate() {
                let mut p = path.clone();
                p.push(k);
                walk(it, p, reverse, out, e);
            }
        }
        Item::Bi(_, inner) => {
            for r in [reverse, reverse + 1] {
                match inner.as_slice() {
                    [Item::Leaf(leaf)] => layer(leaf, path.clone(), r, out, e),
                    _ => {
                        for (k, it) in inner.iter().enumerate() {
                            let mut p = path.clone();
                            p.push(k);
                            walk(it, p, r, out, e);
                        }
                    }
                }
            }
        }
    }
}

fn layer(leaf: &Leaf, path: Vec<usize>, reverse: usize, out: &mut Vec<Param>, e: &mut Vec<Error>) {
    let (tensors, gates) = layers::tensors(leaf.entry.ty);
    if tensors.is_empty() {
        return;
    }
    let values = leaf.values();
    if values.is_empty() {
        return;
    }
    let literal: Option<Vec<usize>> = values.iter().map(|s| s.value()).collect();
    let Some(literal) = literal else {
        let konst = values.iter().find_map(|s| match s {
            Size::Const(p) => Some(p.to_token_stream().to_string().replace(' ', "")),
            Size::Lit(_) => None,
        });
        e.push(Error::new(
            leaf.name.span(),
            format!(
                "with `weights = ...`, sizes are integer literals: `{}` is a constant, \
                 whose value the macro cannot see when it checks the file",
                konst.unwrap_or_default()
            ),
        ));
        return;
    };
    for t in tensors {
        let shape: Option<Vec<usize>> = t.shape.iter().map(|d| d.value(&literal, gates)).collect();
        out.push(Param {
            path: path.clone(),
            tensor: t.name,
            reverse,
            shape: shape.unwrap_or_default(),
        });
    }
}

/// Reads and checks `weights = "path"` for a network of `scalar` (`f32` / `f64`) whose layers
/// are `items` (an encoder first, if any), under `names`; errors spanned at `at`.
pub fn check(
    (value, at): (&str, Span),
    names: &TorchNames,
    scalar: &str,
    items: &[Item],
) -> Result<Weights, Vec<Error>> {
    let err = |m: String| vec![Error::new(at, m)];
    let mut errors = Vec::new();
    let ps = params(items, &mut errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let nam = value.ends_with(".nam");
    if nam && *names != TorchNames::new() {
        return Err(err(
            "`names` maps a safetensors file's names; a .nam file's layout is fixed \
             (`Sequential[ LSTM(1, H), LSTM(H, H)..., Linear(H, 1) ]`): drop `names`"
                .into(),
        ));
    }
    let wanted = wanted(&ps, names).map_err(|e| err(e.to_string()))?;
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let path = PathBuf::from(dir).join(value);
    // Messages show `a/b/../c` as `a/c`; the file is read (and embedded) by the path as joined.
    let shown = lexical(&path).display().to_string();
    let len = std::fs::metadata(&path)
        .map_err(|e| {
            err(format!(
                "cannot read the weights file `{shown}`: {e} (a `weights` path is relative to \
                 the crate's directory, `CARGO_MANIFEST_DIR`)"
            ))
        })?
        .len();
    if len > FILE_LIMIT {
        return Err(err(format!(
            "the weights file `{shown}` is {len} bytes, more than the {FILE_LIMIT} bytes \
             (64 MiB) `weights = ...` embeds in a binary; load it at run time instead \
             (`load_state_dict_file`)"
        )));
    }
    let bytes = std::fs::read(&path)
        .map_err(|e| err(format!("cannot read the weights file `{shown}`: {e}")))?;
    let file = |e: WeightsError| match e {
        WeightsError::Mismatch(m) => err(format!("weights file `{shown}`: {}", m.at_build_time())),
        e => err(format!("weights file `{shown}`: {e}")),
    };
    let dtype = plan::dtype_named(&scalar.to_uppercase());
    let Some(path_text) = path.to_str() else {
        return Err(err(format!(
            "the path `{shown}` is not UTF-8, which `include_bytes!` needs"
        )));
    };
    if nam {
        let lstm_or_linear = |it: &Item, names: &[&str]| matches!(it, Item::Leaf(l) if names.iter().any(|n| l.name == n));
        let form = match items.split_last() {
            Some((last, lstms)) => {
                lstm_or_linear(last, &["Linear"])
                    && lstms
                        .iter()
                        .all(|it| lstm_or_linear(it, &["LSTM", "FastLSTM"]))
            }
            None => false,
        };
        if !form {
            return Err(err(
                "a .nam model is `Sequential[ LSTM(1, H), LSTM(H, H)..., Linear(H, 1) ]` and \
                 nothing else: this network has other layers or containers"
                    .into(),
            ));
        }
        let model = rnn_format::nam::read(&bytes).map_err(file)?;
        let l = model.lstm;
        plan::plan(&wanted, &l.offered(), dtype, true).map_err(|e| {
            let mut errors = file(e);
            errors.push(Error::new(
                at,
                format!(
                    "the file's model is {} LSTM layer(s) of {} units on {} input(s), then \
                     `Linear({}, 1)`",
                    l.num_layers, l.hidden_size, l.input_size, l.hidden_size
                ),
            ));
            errors
        })?;
        return Ok(Weights {
            path: path_text.into(),
            written: value.into(),
            source: Source::Nam {
                lstm: model.lstm,
                weights: model.weights,
                sample_rate: model.metadata.sample_rate,
            },
        });
    }
    let header = header::read(&bytes).map_err(file)?;
    let plan = plan::plan(&wanted, &header.tensors, dtype, names.converts_dtype()).map_err(file)?;
    let mut tensors = Vec::with_capacity(ps.len());
    let mut bad = Vec::new();
    for ((p, w), &k) in ps.iter().zip(&wanted).zip(&plan) {
        let t: &FileTensor = &header.tensors[k];
        let converted = t.dtype == Dtype::F64 && dtype == Dtype::F32;
        if let Some(i) = bytes
            .get(t.bytes.clone())
            .filter(|_| converted)
            .and_then(beyond_f32)
        {
            bad.push(format!(
                "`{}` element {i} is beyond the range of the network's F32 (converted from F64)",
                w.name
            ));
        }
        tensors.push(Embedded {
            ours: p.ours(),
            dtype: t.dtype,
            shape: p.shape.clone(),
            bytes: t.bytes.clone(),
        });
    }
    if !bad.is_empty() {
        return Err(file(WeightsError::Values(bad)));
    }
    Ok(Weights {
        path: path_text.into(),
        written: value.into(),
        source: Source::Tensors(tensors),
    })
}

/// `path` with `.` and `..` resolved by name (no file system access), for messages.
fn lexical(path: &std::path::Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The first `f64` of `bytes` that is finite but becomes infinite as an `f32`.
fn beyond_f32(bytes: &[u8]) -> Option<usize> {
    bytes.chunks_exact(8).position(|c| {
        let mut x = [0u8; 8];
        x.copy_from_slice(c);
        let x = f64::from_le_bytes(x);
        #[allow(clippy::cast_possible_truncation)]
        let y = x as f32;
        x.is_finite() && !y.is_finite()
    })
}

/// What the network wants under `names`, as the run-time loader computes it.
fn wanted(ps: &[Param], names: &TorchNames) -> Result<Vec<Wanted>, WeightsError> {
    names.check()?;
    let mut layers = BTreeSet::new();
    let mut out = Vec::with_capacity(ps.len());
    for (param, p) in ps.iter().enumerate() {
        for depth in 1..=p.path.len() {
            layers.insert(p.path[..depth].to_vec());
        }
        out.push(Wanted {
            name: names.map(&p.ours()),
            param,
            slot: Slot::Value,
            shape: p.shape.clone(),
        });
    }
    names.check_matches(&layers)?;
    plan::check_unique(&out)?;
    Ok(out)
}
