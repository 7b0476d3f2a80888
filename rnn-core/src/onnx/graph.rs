//! [`Graph`]: what a layer adds to an ONNX graph when a network is exported, and the ONNX
//! model around it.

use super::proto::{
    AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto,
    TensorShapeProto, TypeProto, ValueInfoProto, attribute_proto::AttributeType,
    tensor_proto::DataType, tensor_shape_proto::Dimension, tensor_shape_proto::dimension,
    type_proto,
};
use crate::Float;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::marker::PhantomData;
use nalgebra::SMatrix;

/// The ONNX operator set the exported graphs use (supported by onnxruntime and tract).
pub const OPSET: i64 = 17;

/// The ONNX IR version of the exported files (the one that goes with [`OPSET`]).
pub const IR_VERSION: i64 = 8;

/// How an exported graph takes the initial state of its recurrent layers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StateInputs {
    /// Optional inputs: each is a graph input with an initializer of the same name holding the
    /// state the network's `forget()` returns to (ONNX's way of giving an input a default;
    /// onnxruntime honours it). A runtime that is not given the input starts from that state.
    #[default]
    Optional,
    /// Plain graph inputs that must be fed: for runtimes that fold an input with an
    /// initializer into a constant (tract does).
    Required,
}

/// Options of an ONNX export ([`crate::io::to_onnx_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OnnxOptions {
    /// How the initial states are taken.
    pub states: StateInputs,
}

/// A tensor of the graph being built: `[T, B, F]` (sequence, batch, features) for what flows
/// between layers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value(pub(crate) String);

impl Value {
    /// The tensor's name in the graph.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// One direction of a recurrent ONNX operator (`LSTM`, `GRU`, `RNN`), in ONNX's layout: gate
/// blocks in ONNX's order (`LSTM`: i, o, f, c; `GRU`: z, r, h), matrices row-major.
pub struct Direction<S> {
    /// `W`, `gates x input` row-major.
    pub w: Vec<S>,
    /// `R`, `gates x hidden` row-major.
    pub r: Vec<S>,
    /// `B`: the input-side biases then the hidden-side ones, `2 x gates`.
    pub b: Vec<S>,
    /// `P` (LSTM only): the peepholes i, o, f, `3 x hidden`.
    pub p: Option<Vec<S>>,
    /// The initial hidden state, `batch x hidden` (one sample's state after the other).
    pub h0: Vec<S>,
    /// The initial cell state (LSTM only), `batch x hidden`.
    pub c0: Option<Vec<S>>,
}

/// A recurrent layer as one ONNX operator: what [`crate::Layer::onnx_cell`] returns.
pub struct Cell<S> {
    /// `LSTM`, `GRU` or `RNN`.
    pub op: &'static str,
    /// The number of hidden units.
    pub hidden: usize,
    /// Integer attributes beyond `hidden_size` and `direction` (`linear_before_reset`).
    pub attrs: Vec<(&'static str, i64)>,
    /// One direction, or two (forward then backward) for a `BiSequencer`.
    pub directions: Vec<Direction<S>>,
}

impl<S: Float> Cell<S> {
    /// This cell (the forward direction) joined with `backward` into one bidirectional operator,
    /// if both are the same operator with the same attributes.
    #[must_use]
    pub fn joined(mut self, mut backward: Self) -> Option<Self> {
        if self.op != backward.op
            || self.hidden != backward.hidden
            || self.attrs != backward.attrs
            || self.directions.len() != 1
            || backward.directions.len() != 1
        {
            return None;
        }
        self.directions.append(&mut backward.directions);
        Some(self)
    }
}

/// Rows of `m` (`blocks` blocks of `rows / blocks` rows) in the block order `order`,
/// flattened row-major: a layer's gate blocks in ONNX's order.
#[must_use]
pub fn gate_rows<S: Float, const R: usize, const C: usize>(
    m: &SMatrix<S, R, C>,
    order: &[usize],
) -> Vec<S> {
    let h = R / order.len().max(1);
    let mut out = Vec::with_capacity(R * C);
    for &block in order {
        for r in block * h..(block + 1) * h {
            out.extend((0..C).map(|c| m[(r, c)]));
        }
    }
    out
}

/// An ONNX graph being built from a network: the layers add their operators to it in order
/// ([`crate::Layer::to_onnx`]), naming their tensors by their place in the network
/// (`0.W`, `2.1.weight_t`, `0.W_reverse`), like their parameters.
///
/// A layer or option that ONNX cannot express is recorded ([`Graph::unsupported`]) and the
/// export fails listing every such problem; nothing is silently approximated.
pub struct Graph<S> {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    inputs: Vec<ValueInfoProto>,
    outputs: Vec<ValueInfoProto>,
    /// Indices of the `Sequential`s around the current layer, outermost first.
    path: Vec<usize>,
    /// How many backward directions of a `BiSequencer` the current layer is in.
    reverse: u8,
    used: hashbrown::HashSet<String>,
    /// `[1, B, 1]` (int64) from the sequence input, once made.
    batch_shape: Option<String>,
    /// The graph's input, once made.
    input: Option<String>,
    /// A `Repeater`'s step count: its input has no sequence axis.
    repeat: Option<usize>,
    options: OnnxOptions,
    problems: Vec<String>,
    scalar: PhantomData<S>,
}

impl<S: Float> Graph<S> {
    pub(crate) fn new(options: OnnxOptions) -> Self {
        Self {
            nodes: Vec::new(),
            initializers: Vec::new(),
            inputs: Vec::new(),
            outputs: Vec::new(),
            path: Vec::new(),
            reverse: 0,
            used: hashbrown::HashSet::new(),
            batch_shape: None,
            input: None,
            repeat: None,
            options,
            problems: Vec::new(),
            scalar: PhantomData,
        }
    }

    /// Runs `f` for the layer at position `index` of its `Sequential`.
    pub fn at<R>(&mut self, index: usize, f: impl FnOnce(&mut Self) -> R) -> R {
        self.path.push(index);
        let r = f(self);
        self.path.pop();
        r
    }

    /// Runs `f` for the backward direction of a `BiSequencer` (names get `_reverse`).
    pub fn reversed<R>(&mut self, f: impl FnOnce(&mut Self) -> R) -> R {
        self.reverse += 1;
        let r = f(self);
        self.reverse -= 1;
        r
    }

    /// Records that the current layer (`what`) cannot be exported, and why. The export fails
    /// with every such problem listed.
    pub fn unsupported(&mut self, what: &str, why: &str) {
        let at = self.place();
        self.problems.push(format!("{what}{at}: {why}"));
    }

    fn place(&self) -> String {
        if self.path.is_empty() {
            String::new()
        } else {
            format!(" (layer {})", self.prefix().trim_end_matches('.'))
        }
    }

    fn prefix(&self) -> String {
        let mut s = String::new();
        for i in &self.path {
            s.push_str(&i.to_string());
            s.push('.');
        }
        s
    }

    /// A new tensor name for `what` at the current layer (`0.W`, `0.W_reverse`), made unique
    /// with a number if taken.
    fn fresh(&mut self, what: &str) -> String {
        let mut base = format!("{}{what}", self.prefix());
        for _ in 0..self.reverse {
            base.push_str("_reverse");
        }
        let mut name = base.clone();
        let mut k = 1;
        while self.used.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.used.insert(name.clone());
        name
    }

    fn elem_type() -> i32 {
        if S::IS_F32 {
            DataType::Float as i32
        } else {
            DataType::Double as i32
        }
    }

    /// Adds a constant tensor of the network's scalar type (an initializer) named after `what`
    /// at the current layer: `data` row-major with `dims`.
    pub fn constant(&mut self, what: &str, dims: &[usize], data: &[S]) -> Value {
        let name = self.fresh(what);
        self.initializers
            .push(float_tensor::<S>(&name, &dims_i64(dims), data));
        Value(name)
    }

    fn ints(&mut self, what: &str, data: &[i64]) -> String {
        let name = self.fresh(what);
        let mut raw = Vec::with_capacity(8 * data.len());
        for x in data {
            raw.extend_from_slice(&x.to_le_bytes());
        }
        self.initializers.push(TensorProto {
            name: Some(name.clone()),
            dims: vec![data.len() as i64],
            data_type: Some(DataType::Int64 as i32),
            raw_data: Some(raw),
            ..TensorProto::default()
        });
        name
    }

    /// Adds the operator `op` on `inputs` with integer attributes `attrs`; returns its output.
    pub fn node(&mut self, op: &str, inputs: &[&Value], attrs: &[(&str, i64)]) -> Value {
        let out = self.fresh(&op.to_ascii_lowercase());
        let inputs: Vec<String> = inputs.iter().map(|v| v.0.clone()).collect();
        let attrs = attrs.iter().map(|&(n, v)| int_attr(n, v)).collect();
        self.push_node(op, inputs, vec![out.clone()], attrs);
        Value(out)
    }

    /// [`Graph::node`] with integer-list attributes (`Conv`'s `pads`, `Transpose`'s `perm`).
    pub fn node_lists(&mut self, op: &str, inputs: &[&Value], attrs: &[(&str, &[i64])]) -> Value {
        let out = self.fresh(&op.to_ascii_lowercase());
        let inputs: Vec<String> = inputs.iter().map(|v| v.0.clone()).collect();
        let attrs = attrs.iter().map(|&(n, v)| ints_attr(n, v)).collect();
        self.push_node(op, inputs, vec![out.clone()], attrs);
        Value(out)
    }

    fn push_node(
        &mut self,
        op: &str,
        input: Vec<String>,
        output: Vec<String>,
        attribute: Vec<AttributeProto>,
    ) {
        let name = self.fresh(&format!("{op}_node"));
        self.nodes.push(NodeProto {
            input,
            output,
            name: Some(name),
            op_type: Some(op.into()),
            attribute,
            ..NodeProto::default()
        });
    }

    /// `x W^T + b` for `x: [T, B, I]`: `weight` is `O x I` (column-major, so its storage is
    /// `W^T` row-major), `bias` has `O` rows.
    pub fn linear<const I: usize, const O: usize>(
        &mut self,
        x: &Value,
        weight: &SMatrix<S, O, I>,
        bias: &SMatrix<S, O, 1>,
    ) -> Value {
        let wt = self.constant("weight_t", &[I, O], weight.as_slice());
        let b = self.constant("bias", &[O], bias.as_slice());
        let y = self.node("MatMul", &[x, &wt], &[]);
        self.node("Add", &[&y, &b], &[])
    }

    /// The sequence reversed along its first axis (a `Slice` with step -1).
    pub fn reverse_time(&mut self, x: &Value) -> Value {
        let starts = Value(self.ints("rev_starts", &[-1]));
        let ends = Value(self.ints("rev_ends", &[i64::MIN]));
        let axes = Value(self.ints("rev_axes", &[0]));
        let steps = Value(self.ints("rev_steps", &[-1]));
        self.node("Slice", &[x, &starts, &ends, &axes, &steps], &[])
    }

    /// `[a; b]` along the feature axis.
    pub fn concat_features(&mut self, a: &Value, b: &Value) -> Value {
        self.node("Concat", &[a, b], &[("axis", 2)])
    }

    /// `[1, B, 1]` for the batch size of the graph's input, to broadcast initial states.
    fn batch_shape(&mut self) -> String {
        if let Some(s) = &self.batch_shape {
            return s.clone();
        }
        let input = Value(self.input.clone().unwrap_or_default());
        let one = Value(self.ints("one", &[1]));
        let b = self.node("Shape", &[&input], &[("start", 1), ("end", 2)]);
        let shape = self.node("Concat", &[&one, &b, &one], &[("axis", 0)]);
        self.batch_shape = Some(shape.0.clone());
        shape.0
    }

    /// A graph input for an initial state (`what`: `h0`, `c0`), its default the state given
    /// (`directions` blocks of `batch x hidden`), broadcast over the batch.
    fn state_input(&mut self, what: &str, hidden: usize, states: &[&[S]]) -> Value {
        let d = states.len();
        let batch = states.first().map_or(0, |s| s.len() / hidden.max(1));
        // One sample's state for the whole batch when every sample starts alike (the usual
        // case); otherwise the network's batch, fixed.
        let alike = states.iter().all(|s| {
            s.chunks(hidden.max(1))
                .all(|col| col == &s[..hidden.min(s.len())])
        });
        let rows = if alike { 1 } else { batch };
        let mut data = Vec::with_capacity(d * rows * hidden);
        for s in states {
            data.extend_from_slice(&s[..rows * hidden]);
        }
        let name = self.fresh(what);
        let shape = [dim_value(d), dim_param("B"), dim_value(hidden)];
        self.inputs.push(value_info::<S>(&name, &shape));
        if self.options.states == StateInputs::Optional {
            self.initializers.push(float_tensor::<S>(
                &name,
                &dims_i64(&[d, rows, hidden]),
                &data,
            ));
        }
        let shape = Value(self.batch_shape());
        self.node("Expand", &[&Value(name), &shape], &[])
    }

    /// Adds a recurrent operator on `x` (`[T, B, I]`): its weights as constants, its initial
    /// states as graph inputs, its final states as graph outputs (`0.hn`, `0.cn`: `[D, B, H]`);
    /// returns its output `[T, B, D * H]`.
    pub fn recurrent(&mut self, x: &Value, cell: Cell<S>) -> Value {
        let Cell {
            op,
            hidden,
            attrs,
            directions,
        } = cell;
        let d = directions.len();
        let gates = directions
            .first()
            .map_or(0, |dir| dir.r.len() / hidden.max(1));
        let inputs = directions
            .first()
            .map_or(0, |dir| dir.w.len() / gates.max(1));
        let cat = |f: &dyn Fn(&Direction<S>) -> &[S]| -> Vec<S> {
            directions
                .iter()
                .flat_map(|dir| f(dir).iter().copied())
                .collect()
        };
        let w = cat(&|dir| &dir.w);
        let r = cat(&|dir| &dir.r);
        let b = cat(&|dir| &dir.b);
        let w = self.constant("W", &[d, gates, inputs], &w);
        let r = self.constant("R", &[d, gates, hidden], &r);
        let b = self.constant("B", &[d, 2 * gates], &b);
        let h0: Vec<&[S]> = directions.iter().map(|dir| dir.h0.as_slice()).collect();
        let h0 = self.state_input("h0", hidden, &h0);
        let mut ins = vec![x.0.clone(), w.0, r.0, b.0, String::new(), h0.0];
        let lstm = op == "LSTM";
        if lstm {
            let c0: Vec<&[S]> = directions
                .iter()
                .map(|dir| dir.c0.as_deref().unwrap_or(&[]))
                .collect();
            ins.push(self.state_input("c0", hidden, &c0).0);
            if directions.iter().any(|dir| dir.p.is_some()) {
                let p: Vec<S> = directions
                    .iter()
                    .flat_map(|dir| dir.p.clone().unwrap_or_else(|| vec![S::zero(); 3 * hidden]))
                    .collect();
                ins.push(self.constant("P", &[d, 3 * hidden], &p).0);
            }
        }
        let y = self.fresh(&format!("{}_y", op.to_ascii_lowercase()));
        let hn = self.fresh("hn");
        let mut outs = vec![y.clone(), hn.clone()];
        let state_shape = [dim_value(d), dim_param("B"), dim_value(hidden)];
        self.outputs.push(value_info::<S>(&hn, &state_shape));
        if lstm {
            let cn = self.fresh("cn");
            self.outputs.push(value_info::<S>(&cn, &state_shape));
            outs.push(cn);
        }
        let mut all = vec![int_attr("hidden_size", hidden as i64)];
        all.extend(attrs.iter().map(|&(n, v)| int_attr(n, v)));
        if d == 2 {
            all.push(string_attr("direction", "bidirectional"));
        }
        self.push_node(op, ins, outs, all);
        let y = Value(y);
        if d == 1 {
            let axes = Value(self.ints("axes", &[1]));
            self.node("Squeeze", &[&y, &axes], &[])
        } else {
            // [T, 2, B, H] -> [T, B, 2, H] -> [T, B, 2H]: forward features on top.
            let t = self.fresh("transpose");
            let perm = vec![ints_attr("perm", &[0, 2, 1, 3])];
            self.push_node("Transpose", vec![y.0], vec![t.clone()], perm);
            let shape = Value(self.ints("shape", &[0, 0, -1]));
            self.node("Reshape", &[&Value(t), &shape], &[])
        }
    }

    /// The graph's sequence input (`input`, `[T, B, features]`, the network's scalar type), or
    /// `[B, features]` for a `Repeater` (`seq_len` steps of the same input).
    pub(crate) fn float_input(&mut self, features: usize, repeat: Option<usize>) -> Value {
        let dims: Vec<Dimension> = if repeat.is_some() {
            vec![dim_param("B"), dim_value(features)]
        } else {
            vec![dim_param("T"), dim_param("B"), dim_value(features)]
        };
        self.inputs.push(value_info::<S>("input", &dims));
        self.used.insert("input".into());
        self.repeated(Value("input".into()), repeat, 1)
    }

    /// The graph's input of token indices (`input`, `int64 [T, B]`, or `[B]` for a
    /// `Repeater`), for a network that starts with a `LookupTable`.
    pub fn index_input(&mut self, repeat: Option<usize>) -> Value {
        let dims: Vec<Dimension> = if repeat.is_some() {
            vec![dim_param("B")]
        } else {
            vec![dim_param("T"), dim_param("B")]
        };
        self.inputs
            .push(typed_info("input", DataType::Int64 as i32, &dims));
        self.used.insert("input".into());
        self.repeated(Value("input".into()), repeat, 0)
    }

    /// `x` (`[B, ...]`, `features` axes after the batch) repeated `repeat` times along a new
    /// first axis; `x` itself without a repeat.
    fn repeated(&mut self, x: Value, repeat: Option<usize>, features: usize) -> Value {
        self.repeat = repeat;
        let Some(t) = repeat else {
            self.input = Some(x.0.clone());
            return x;
        };
        let axes = Value(self.ints("axes", &[0]));
        let one = self.node("Unsqueeze", &[&x, &axes], &[]);
        let mut shape = vec![t as i64, 1];
        shape.extend((0..features).map(|_| 1));
        let shape = Value(self.ints("repeat", &shape));
        let y = self.node("Expand", &[&one, &shape], &[]);
        self.input = Some(y.0.clone());
        y
    }

    /// Makes `y` the graph's output `output`, `[T, B, features]` (`T` = `seq_len` fixed for a
    /// `Repeater`), and the model around the graph.
    pub(crate) fn finish(
        mut self,
        y: &Value,
        features: usize,
        name: &str,
    ) -> Result<ModelProto, Vec<String>> {
        if !self.problems.is_empty() {
            return Err(self.problems);
        }
        self.push_node(
            "Identity",
            vec![y.0.clone()],
            vec!["output".into()],
            Vec::new(),
        );
        let t = self.repeat.map_or_else(|| dim_param("T"), dim_value);
        self.outputs.insert(
            0,
            value_info::<S>("output", &[t, dim_param("B"), dim_value(features)]),
        );
        Ok(ModelProto {
            ir_version: Some(IR_VERSION),
            opset_import: vec![OperatorSetIdProto {
                domain: Some(String::new()),
                version: Some(OPSET),
            }],
            producer_name: Some("rnn".into()),
            producer_version: Some(env!("CARGO_PKG_VERSION").into()),
            graph: Some(GraphProto {
                node: self.nodes,
                name: Some(name.into()),
                initializer: self.initializers,
                input: self.inputs,
                output: self.outputs,
                ..GraphProto::default()
            }),
            ..ModelProto::default()
        })
    }
}

fn dims_i64(dims: &[usize]) -> Vec<i64> {
    dims.iter().map(|&d| d as i64).collect()
}

fn float_tensor<S: Float>(name: &str, dims: &[i64], data: &[S]) -> TensorProto {
    let mut raw = Vec::with_capacity(core::mem::size_of_val(data));
    for &x in data {
        x.extend_le_bytes(&mut raw);
    }
    TensorProto {
        name: Some(name.into()),
        dims: dims.to_vec(),
        data_type: Some(Graph::<S>::elem_type()),
        raw_data: Some(raw),
        ..TensorProto::default()
    }
}

fn dim_value(n: usize) -> Dimension {
    Dimension {
        value: Some(dimension::Value::DimValue(n as i64)),
        ..Dimension::default()
    }
}

fn dim_param(name: &str) -> Dimension {
    Dimension {
        value: Some(dimension::Value::DimParam(name.into())),
        ..Dimension::default()
    }
}

fn typed_info(name: &str, elem_type: i32, dims: &[Dimension]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            value: Some(type_proto::Value::TensorType(type_proto::Tensor {
                elem_type: Some(elem_type),
                shape: Some(TensorShapeProto { dim: dims.to_vec() }),
            })),
            ..TypeProto::default()
        }),
        ..ValueInfoProto::default()
    }
}

fn value_info<S: Float>(name: &str, dims: &[Dimension]) -> ValueInfoProto {
    typed_info(name, Graph::<S>::elem_type(), dims)
}

fn int_attr(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Int as i32),
        i: Some(i),
        ..AttributeProto::default()
    }
}

fn ints_attr(name: &str, ints: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::Ints as i32),
        ints: ints.to_vec(),
        ..AttributeProto::default()
    }
}

fn string_attr(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(AttributeType::String as i32),
        s: Some(s.as_bytes().to_vec()),
        ..AttributeProto::default()
    }
}
