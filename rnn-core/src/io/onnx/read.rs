//! Reading an ONNX graph's layers with weights ([`layers`]) and pairing them, in order, with
//! a network's layers with parameters ([`pair`]).

use crate::Float;
use crate::onnx::proto::{AttributeProto, GraphProto, NodeProto, TensorProto};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use hashbrown::HashMap;
use nalgebra::DMatrix;
use rnn_format::plan::Wanted;

/// A row-major matrix read from the model, in `f64` (exact for every dtype read).
pub(super) struct Mat {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Mat {
    fn transposed(&self) -> Self {
        let data = (0..self.cols)
            .flat_map(|c| (0..self.rows).map(move |r| (r, c)))
            .map(|(r, c)| self.data[r * self.cols + c])
            .collect();
        Self {
            rows: self.cols,
            cols: self.rows,
            data,
        }
    }
}

/// A layer with weights found in the graph.
pub(super) enum Found {
    /// One direction of an `LSTM`, `GRU` or `RNN` node, in ONNX's layout.
    Cell {
        op: &'static str,
        node: String,
        reverse: bool,
        hidden: usize,
        /// `W`, `gates x input`.
        w: Mat,
        /// `R`, `gates x hidden`.
        r: Mat,
        /// The input-side and hidden-side biases.
        wb: Vec<f64>,
        rb: Vec<f64>,
        /// The peepholes i, o, f (`LSTM`).
        p: Option<Vec<f64>>,
    },
    /// `x W^T + b`: `w` is `out x in`.
    Linear { node: String, w: Mat, b: Vec<f64> },
    /// A table of `vocab x dim` rows.
    Lookup { node: String, w: Mat },
}

impl Found {
    fn describe(&self) -> String {
        match self {
            Self::Cell {
                op, node, reverse, ..
            } => {
                let dir = if *reverse { ", backward direction" } else { "" };
                format!("{op} (node `{node}`{dir})")
            }
            Self::Linear { node, .. } => format!("Linear (node `{node}`)"),
            Self::Lookup { node, .. } => format!("LookupTable (node `{node}`)"),
        }
    }
}

/// The operators without weights that the graphs of the layers here (and of PyTorch's
/// exporters for them) use around the layers.
const PLUMBING: &[&str] = &[
    "Identity",
    "Squeeze",
    "Unsqueeze",
    "Transpose",
    "Reshape",
    "Shape",
    "Size",
    "Concat",
    "Slice",
    "Expand",
    "ConstantOfShape",
    "Constant",
    "Cast",
    "CastLike",
    "Range",
    "Dropout",
    "LogSoftmax",
    "Softmax",
    "Tanh",
    "Sigmoid",
    "Relu",
];

/// Every layer with weights of `graph`, in graph order; what cannot be read goes to
/// `problems`.
pub(super) fn layers(graph: &GraphProto, problems: &mut Vec<String>) -> Vec<Found> {
    let mut consts: HashMap<&str, &TensorProto> = graph
        .initializer
        .iter()
        .filter_map(|t| Some((t.name.as_deref()?, t)))
        .collect();
    for node in &graph.node {
        if node.op_type.as_deref() == Some("Constant")
            && let (Some(out), Some(t)) = (
                node.output.first(),
                attr(node, "value").and_then(|a| a.t.as_ref()),
            )
        {
            consts.insert(out, t);
        }
    }
    let external: Vec<&str> = graph
        .initializer
        .iter()
        .filter(|t| t.data_location == Some(1) || !t.external_data.is_empty())
        .filter_map(|t| t.name.as_deref())
        .collect();
    if let Some(first) = external.first() {
        problems.push(format!(
            "{} tensor(s) (`{first}`...) are stored outside the file (ONNX external data, \
             e.g. `model.onnx.data`), which is not read: export with the weights inside \
             (`torch.onnx.export(..., external_data=False)`)",
            external.len()
        ));
        return Vec::new();
    }
    let mut found = Vec::new();
    // A MatMul's output -> its Linear in `found`, waiting for the Add of its bias.
    let mut pending: HashMap<&str, usize> = HashMap::new();
    for node in &graph.node {
        let op = node.op_type.as_deref().unwrap_or("");
        let name = node_name(node);
        let input = |k: usize| node.input.get(k).map(String::as_str).unwrap_or("");
        let constant = |k: usize| consts.get(input(k)).copied();
        let mut read = |what: &str, t: &TensorProto| match floats(t) {
            Ok(v) => Some(v),
            Err(e) => {
                problems.push(format!("{what} of node `{name}` ({op}): {e}"));
                None
            }
        };
        match op {
            "LSTM" | "GRU" | "RNN" => cell(node, &consts, problems, &mut found),
            "Gemm" => {
                let Some((dims, data)) = constant(1).and_then(|t| read("B", t)) else {
                    problems.push(format!(
                        "Gemm node `{name}`: its weights are not a constant (no layer here \
                         multiplies two inputs)"
                    ));
                    continue;
                };
                let b = constant(2).and_then(|t| read("C", t)).map(|(_, v)| v);
                let unit = |a: &str| attr(node, a).and_then(|a| a.f).is_none_or(|f| f == 1.0);
                if !unit("alpha") || !unit("beta") || int(node, "transA", 0) != 0 {
                    problems.push(format!(
                        "Gemm node `{name}`: alpha, beta or transA other than 1, 1, 0"
                    ));
                }
                let Some(m) = mat(&dims, data) else {
                    problems.push(format!("Gemm node `{name}`: B is not 2-D"));
                    continue;
                };
                let w = if int(node, "transB", 0) == 1 {
                    m
                } else {
                    m.transposed()
                };
                let b = b.unwrap_or_else(|| vec![0.0; w.rows]);
                found.push(Found::Linear { node: name, w, b });
            }
            "MatMul" => {
                let Some((dims, data)) = constant(1).and_then(|t| read("B", t)) else {
                    problems.push(format!(
                        "MatMul node `{name}`: its second input is not a constant (no layer \
                         here multiplies two inputs)"
                    ));
                    continue;
                };
                let Some(m) = mat(&dims, data) else {
                    problems.push(format!("MatMul node `{name}`: the weight is not 2-D"));
                    continue;
                };
                let w = m.transposed();
                let b = vec![0.0; w.rows];
                if let Some(out) = node.output.first() {
                    pending.insert(out, found.len());
                }
                found.push(Found::Linear { node: name, w, b });
            }
            "Add" => {
                let (a, c) = (input(0), input(1));
                let (product, bias) = match (pending.get(a), pending.get(c)) {
                    (Some(&k), None) => (Some(k), constant(1)),
                    (None, Some(&k)) => (Some(k), constant(0)),
                    _ => (None, constant(0).or(constant(1))),
                };
                match (product, bias) {
                    (Some(k), Some(t)) => {
                        if let Some((_, v)) = read("bias", t)
                            && let Some(Found::Linear { b, .. }) = found.get_mut(k)
                        {
                            *b = v;
                        }
                    }
                    (None, Some(t)) if is_float(t) => problems.push(format!(
                        "Add node `{name}` adds a constant that follows no MatMul: no layer \
                         here computes it"
                    )),
                    _ => {}
                }
            }
            "Gather" => {
                if let Some(t) = constant(0).filter(|t| is_float(t)) {
                    let Some((dims, data)) = read("table", t) else {
                        continue;
                    };
                    match mat(&dims, data) {
                        Some(w) if int(node, "axis", 0) == 0 => {
                            found.push(Found::Lookup { node: name, w });
                        }
                        _ => problems.push(format!(
                            "Gather node `{name}`: a table that is not 2-D or read along an \
                             axis other than 0"
                        )),
                    }
                }
            }
            "Sub" | "Mul" | "Div" => {
                if (0..node.input.len()).any(|k| constant(k).is_some_and(is_float)) {
                    problems.push(format!(
                        "{op} node `{name}` with a floating-point constant: no layer here \
                         computes it"
                    ));
                }
            }
            _ if PLUMBING.contains(&op) => {}
            _ => problems.push(format!(
                "operator {op} (node `{name}`) is not read: no layer here computes it"
            )),
        }
    }
    found
}

/// The directions of a recurrent node.
fn cell(
    node: &NodeProto,
    consts: &HashMap<&str, &TensorProto>,
    problems: &mut Vec<String>,
    found: &mut Vec<Found>,
) {
    let op: &'static str = match node.op_type.as_deref() {
        Some("LSTM") => "LSTM",
        Some("GRU") => "GRU",
        _ => "RNN",
    };
    let (gates, activations): (usize, &[&str]) = match op {
        "LSTM" => (4, &["Sigmoid", "Tanh", "Tanh"]),
        "GRU" => (3, &["Sigmoid", "Tanh"]),
        _ => (1, &["Tanh"]),
    };
    let name = node_name(node);
    let before = problems.len();
    let mut problem = |what: String| problems.push(format!("{op} node `{name}`: {what}"));
    let dirs = match attr(node, "direction").and_then(|a| a.s.as_deref()) {
        None | Some(b"forward") => 1,
        Some(b"bidirectional") => 2,
        Some(other) => {
            problem(format!(
                "direction `{}` (a backward-only recurrent layer is a BiSequencer's half here)",
                String::from_utf8_lossy(other)
            ));
            return;
        }
    };
    if let Some(a) = attr(node, "activations") {
        let given: Vec<String> = a
            .strings
            .iter()
            .map(|s| String::from_utf8_lossy(s).to_string())
            .collect();
        // ONNX's defaults, once per direction.
        let default = (0..dirs).flat_map(|_| activations.iter().copied());
        if !given.iter().map(String::as_str).eq(default) {
            problem(format!(
                "activations {given:?} (only ONNX's defaults are read)"
            ));
        }
    }
    if attr(node, "clip").is_some() {
        problem("clip (no layer here clips its cell)".into());
    }
    if int(node, "input_forget", 0) != 0 {
        problem("input_forget = 1 (no layer here couples its gates)".into());
    }
    if int(node, "layout", 0) != 0 {
        problem("layout = 1 (batch first)".into());
    }
    if op == "GRU" && int(node, "linear_before_reset", 0) != 1 {
        problem(
            "linear_before_reset = 0 (the reset gate before the product, Torch7's GRU): the \
             GRU here is PyTorch's (linear_before_reset = 1)"
                .into(),
        );
    }
    let tensor = |k: usize| {
        let name = node.input.get(k).filter(|s| !s.is_empty())?;
        consts.get(name.as_str()).copied()
    };
    let mut read = |k: usize, what: &str| -> Option<(Vec<usize>, Vec<f64>)> {
        let Some(t) = tensor(k) else {
            problems.push(format!("{op} node `{name}`: {what} is not a constant"));
            return None;
        };
        floats(t)
            .map_err(|e| problems.push(format!("{op} node `{name}`: {what}: {e}")))
            .ok()
    };
    let w = read(1, "W");
    let r = read(2, "R");
    let b = if tensor(3).is_some() {
        read(3, "B")
    } else {
        None
    };
    let p = if op == "LSTM" && tensor(7).is_some() {
        read(7, "P")
    } else {
        None
    };
    let (Some((wd, w)), Some((rd, r))) = (w, r) else {
        return;
    };
    if problems.len() > before {
        return;
    }
    let (Some(&g), Some(&i), Some(&h)) = (wd.get(1), wd.get(2), rd.get(2)) else {
        problems.push(format!("{op} node `{name}`: W or R is not 3-D"));
        return;
    };
    let hidden = usize::try_from(int(node, "hidden_size", h as i64)).unwrap_or(h);
    if wd.len() != 3
        || rd.len() != 3
        || wd[0] != dirs
        || rd[..2] != [dirs, g]
        || g != gates * hidden
        || h != hidden
    {
        problems.push(format!(
            "{op} node `{name}`: W {wd:?} and R {rd:?} are not [{dirs}, {gates} x {hidden}, \
             inputs] and [{dirs}, {gates} x {hidden}, {hidden}]"
        ));
        return;
    }
    let b = b.map_or_else(|| vec![0.0; dirs * 2 * g], |(_, v)| v);
    if b.len() != dirs * 2 * g || p.as_ref().is_some_and(|(_, v)| v.len() != dirs * 3 * h) {
        problems.push(format!("{op} node `{name}`: B or P of the wrong size"));
        return;
    }
    for d in 0..dirs {
        let part = |v: &[f64], n: usize| v[d * n..(d + 1) * n].to_vec();
        found.push(Found::Cell {
            op,
            node: name.clone(),
            reverse: d == 1,
            hidden,
            w: Mat {
                rows: g,
                cols: i,
                data: part(&w, g * i),
            },
            r: Mat {
                rows: g,
                cols: h,
                data: part(&r, g * h),
            },
            wb: b[d * 2 * g..d * 2 * g + g].to_vec(),
            rb: b[d * 2 * g + g..(d + 1) * 2 * g].to_vec(),
            p: p.as_ref().map(|(_, v)| part(v, 3 * h)),
        });
    }
}

fn node_name(node: &NodeProto) -> String {
    node.name
        .clone()
        .filter(|n| !n.is_empty())
        .or_else(|| node.output.first().cloned())
        .unwrap_or_default()
}

fn attr<'a>(node: &'a NodeProto, name: &str) -> Option<&'a AttributeProto> {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
}

fn int(node: &NodeProto, name: &str, default: i64) -> i64 {
    attr(node, name).and_then(|a| a.i).unwrap_or(default)
}

fn mat(dims: &[usize], data: Vec<f64>) -> Option<Mat> {
    match *dims {
        [rows, cols] => Some(Mat { rows, cols, data }),
        _ => None,
    }
}

/// ONNX's element types that hold weights here.
const FLOAT: i32 = 1;
const FLOAT16: i32 = 10;
const DOUBLE: i32 = 11;
const BFLOAT16: i32 = 16;

fn is_float(t: &TensorProto) -> bool {
    matches!(t.data_type, Some(FLOAT | FLOAT16 | DOUBLE | BFLOAT16))
}

/// A tensor's dimensions and values (exact in `f64`).
fn floats(t: &TensorProto) -> Result<(Vec<usize>, Vec<f64>), String> {
    if t.data_location == Some(1) || !t.external_data.is_empty() {
        return Err("its data is stored outside the file (external data is not read)".into());
    }
    let dims: Vec<usize> = t
        .dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("dimension {d}")))
        .collect::<Result<_, _>>()?;
    let n = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or("too many elements")?;
    let raw = t.raw_data.as_deref().filter(|r| !r.is_empty());
    let half = |bits: u16, dtype: i32| {
        if dtype == FLOAT16 {
            half::f16::from_bits(bits).to_f64()
        } else {
            half::bf16::from_bits(bits).to_f64()
        }
    };
    let values: Vec<f64> = match (t.data_type.unwrap_or(0), raw) {
        (FLOAT, Some(r)) => r
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect(),
        (FLOAT, None) => t.float_data.iter().map(|&x| f64::from(x)).collect(),
        (DOUBLE, Some(r)) => r
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
            .collect(),
        (DOUBLE, None) => t.double_data.clone(),
        (dt @ (FLOAT16 | BFLOAT16), Some(r)) => r
            .chunks_exact(2)
            .map(|c| half(u16::from_le_bytes([c[0], c[1]]), dt))
            .collect(),
        (dt @ (FLOAT16 | BFLOAT16), None) => {
            t.int32_data.iter().map(|&x| half(x as u16, dt)).collect()
        }
        (dt, _) => return Err(format!("element type {dt} (weights are read as floats)")),
    };
    if values.len() != n {
        return Err(format!(
            "{} values for dimensions {dims:?} ({n} elements)",
            values.len()
        ));
    }
    Ok((dims, values))
}

/// A network's layer with parameters: the wanted tensors of one layer and direction.
struct Group<'a> {
    /// `0`, `2.1`: the layer's place.
    place: &'a str,
    reverse: bool,
    /// (tensor name without place and suffix, index into the wanted list)
    tensors: Vec<(&'a str, usize)>,
}

impl Group<'_> {
    fn get(&self, tensor: &str) -> Option<usize> {
        self.tensors
            .iter()
            .find(|(t, _)| *t == tensor)
            .map(|&(_, k)| k)
    }

    /// The layer's kind as the DSL names it, and its gate count.
    fn kind(&self, want: &[Wanted]) -> (&'static str, usize) {
        let gates = self
            .get("weight_hh")
            .and_then(|k| match want[k].shape[..] {
                [g, h] if h > 0 => Some(g / h),
                _ => None,
            })
            .unwrap_or(0);
        match (
            self.get("weight_ih"),
            self.get("peephole_i"),
            self.get("bias"),
        ) {
            (Some(_), Some(_), _) => ("PeepholeLSTM", 4),
            (Some(_), None, _) => match gates {
                4 => ("LSTM", 4),
                3 => ("GRU", 3),
                _ => ("RNN", 1),
            },
            (None, _, Some(_)) => ("Linear", 1),
            (None, _, None) => ("LookupTable", 1),
        }
    }
}

/// `name` as (place, tensor, reversed): `0.1.weight_ih_reverse` is `("0.1", "weight_ih",
/// true)`.
fn split(name: &str) -> (&str, &str, bool) {
    let (place, mut tensor) = name.rsplit_once('.').unwrap_or(("", name));
    let mut reverse = false;
    while let Some(t) = tensor.strip_suffix("_reverse") {
        tensor = t;
        reverse = !reverse;
    }
    (place, tensor, reverse)
}

fn groups(want: &[Wanted]) -> Vec<Group<'_>> {
    let mut out: Vec<Group<'_>> = Vec::new();
    for (k, w) in want.iter().enumerate() {
        let (place, tensor, reverse) = split(&w.name);
        match out.last_mut() {
            Some(g) if g.place == place && g.reverse == reverse => g.tensors.push((tensor, k)),
            _ => out.push(Group {
                place,
                reverse,
                tensors: vec![(tensor, k)],
            }),
        }
    }
    out
}

/// Our tensor: its name, PyTorch shape and values.
pub(super) type Named<S> = (String, Vec<usize>, DMatrix<S>);

/// The rows of `m` with its gate blocks put back in our order: ONNX block `k` is our block
/// `order[k]`.
fn our_rows<S: Float>(m: &Mat, order: &[usize]) -> DMatrix<S> {
    let h = m.rows / order.len();
    let mut out = DMatrix::zeros(m.rows, m.cols);
    for (k, &ours) in order.iter().enumerate() {
        for r in 0..h {
            for c in 0..m.cols {
                out[(ours * h + r, c)] = S::cast(m.data[(k * h + r) * m.cols + c]);
            }
        }
    }
    out
}

fn column<S: Float>(v: &[f64]) -> DMatrix<S> {
    DMatrix::from_iterator(v.len(), 1, v.iter().map(|&x| S::cast(x)))
}

fn our_bias<S: Float>(v: &[f64], order: &[usize]) -> DMatrix<S> {
    our_rows(
        &Mat {
            rows: v.len(),
            cols: 1,
            data: v.to_vec(),
        },
        order,
    )
}

/// The model's layers as the network's tensors (named as the network names them), paired in
/// order; every layer that does not pair goes to `problems`.
pub(super) fn pair<S: Float>(
    found: &[Found],
    want: &[Wanted],
    problems: &mut Vec<String>,
) -> Vec<Named<S>> {
    let groups = groups(want);
    if found.len() != groups.len() {
        let ours: Vec<String> = groups
            .iter()
            .map(|g| {
                let rev = if g.reverse { " backward" } else { "" };
                format!("{} {}{rev}", g.kind(want).0, g.place)
            })
            .collect();
        let theirs: Vec<String> = found.iter().map(Found::describe).collect();
        problems.push(format!(
            "the model has {} layer(s) with weights ({}); the network has {} ({})",
            found.len(),
            theirs.join(", "),
            groups.len(),
            ours.join(", ")
        ));
        return Vec::new();
    }
    let mut out = Vec::new();
    for (f, g) in found.iter().zip(&groups) {
        let (kind, gates) = g.kind(want);
        let mut put = |tensor: &str, m: DMatrix<S>, vector: bool| {
            if let Some(k) = g.get(tensor) {
                let shape = if vector {
                    vec![m.nrows()]
                } else {
                    vec![m.nrows(), m.ncols()]
                };
                out.push((want[k].name.clone(), shape, m));
            }
        };
        let fits = match f {
            // A backward direction goes to a backward copy; a forward one may run inside a
            // backward copy (on a sequence the graph reversed, as our exports of a
            // `BiSequencer` around several layers do).
            Found::Cell { op, reverse, .. } => {
                (!*reverse || g.reverse)
                    && match *op {
                        "LSTM" => kind == "PeepholeLSTM" || (kind == "LSTM" && gates == 4),
                        "GRU" => kind == "GRU",
                        _ => kind == "RNN",
                    }
            }
            Found::Linear { .. } => kind == "Linear",
            Found::Lookup { .. } => kind == "LookupTable",
        };
        if !fits {
            let rev = if g.reverse {
                ", backward direction"
            } else {
                ""
            };
            problems.push(format!(
                "the model's {} is paired with the network's layer {} ({kind}{rev})",
                f.describe(),
                g.place
            ));
            continue;
        }
        match f {
            Found::Cell {
                op,
                hidden,
                w,
                r,
                wb,
                rb,
                p,
                ..
            } => {
                let order: &[usize] = match *op {
                    "LSTM" => &[0, 3, 1, 2],
                    "GRU" => &[1, 0, 2],
                    _ => &[0],
                };
                put("weight_ih", our_rows(w, order), false);
                put("weight_hh", our_rows(r, order), false);
                if kind == "PeepholeLSTM" {
                    let sum: Vec<f64> = wb.iter().zip(rb).map(|(a, b)| a + b).collect();
                    put("bias", our_bias(&sum, order), true);
                    let zero = vec![0.0; 3 * hidden];
                    let p = p.as_deref().unwrap_or(&zero);
                    let h = *hidden;
                    put("peephole_i", column(&p[..h]), true);
                    put("peephole_o", column(&p[h..2 * h]), true);
                    put("peephole_f", column(&p[2 * h..]), true);
                } else {
                    if p.is_some() {
                        problems.push(format!(
                            "the model's {} has peepholes (P); the network's layer {} \
                             (LSTM) has none: PeepholeLSTM reads them",
                            f.describe(),
                            g.place
                        ));
                    }
                    put("bias_ih", our_bias(wb, order), true);
                    put("bias_hh", our_bias(rb, order), true);
                }
            }
            Found::Linear { w, b, .. } => {
                put("weight", our_rows(w, &[0]), false);
                put("bias", column(b), true);
            }
            Found::Lookup { w, .. } => put("weight", our_rows(w, &[0]), false),
        }
    }
    out
}
