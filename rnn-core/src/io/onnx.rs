//! ONNX models in and out: [`to_onnx`] writes a network as an ONNX graph that ONNX runtimes
//! run with our numbers; [`load_onnx`] reads the weights of an ONNX model (ours, or one
//! exported by `torch.onnx.export`) into a network of the same structure.
//!
//! The format is in the [ONNX section](crate::io#onnx) of the module docs.

mod read;

use super::codec::{self, Offered};
use super::{TorchNames, WeightsError};
use crate::Network;
use crate::layer::short_type_name;
use crate::onnx::proto::ModelProto;
use crate::onnx::{Graph, OnnxOptions};
use alloc::format;
use alloc::vec::Vec;
use prost::Message;

/// The network as an ONNX model (the bytes of a `.onnx` file), initial states optional
/// inputs. See the [ONNX section](crate::io#onnx) of the module docs.
///
/// # Errors
/// [`WeightsError::Onnx`] listing every layer or option that has no ONNX form.
pub fn to_onnx<N: Network>(net: &N) -> Result<Vec<u8>, WeightsError> {
    to_onnx_with(net, OnnxOptions::default())
}

/// [`to_onnx`] with options (initial states optional or required inputs).
///
/// # Errors
/// [`WeightsError::Onnx`] listing every layer or option that has no ONNX form.
pub fn to_onnx_with<N: Network>(net: &N, options: OnnxOptions) -> Result<Vec<u8>, WeightsError> {
    let mut g = Graph::new(options);
    let y = net.__onnx(&mut g);
    let model = g
        .finish(&y, N::OUTPUT, short_type_name::<N>())
        .map_err(WeightsError::Onnx)?;
    Ok(model.encode_to_vec())
}

/// Loads the weights of an ONNX model into `net`, by the graph's structure: its layers with
/// weights in graph order (`LSTM`, `GRU`, `RNN` nodes, one layer per direction; `Gemm`, or
/// `MatMul` by a constant and the `Add` of a constant after it, as `Linear`; `Gather` from a
/// constant table as `LookupTable`) paired with the network's layers with parameters in
/// order. Gate blocks and biases are converted from ONNX's layout (`B = [Wb; Rb]`; a
/// `PeepholeLSTM`'s one bias is their sum). Reads what `torch.onnx.export` writes (both
/// exporters) for `nn.LSTM` / `nn.GRU` / `nn.RNN` (any `num_layers`, `bidirectional`),
/// `nn.Linear`, `nn.Embedding` and `log_softmax`, and what [`to_onnx`] writes. The initial
/// states in the file are not read: `forget()` keeps returning to the network's own.
///
/// # Errors
/// [`WeightsError::Format`] for bytes that are not an ONNX model, [`WeightsError::Onnx`]
/// listing every operator or attribute this library does not read and every layer that
/// does not pair with the network's, [`WeightsError::Mismatch`] listing every tensor of
/// another shape. Nothing is changed on error.
pub fn load_onnx<N: Network + ?Sized>(net: &mut N, bytes: &[u8]) -> Result<(), WeightsError> {
    let model = ModelProto::decode(bytes)
        .map_err(|e| WeightsError::Format(format!("not an ONNX model: {e}")))?;
    let graph = model
        .graph
        .as_ref()
        .ok_or_else(|| WeightsError::Format("the ONNX model has no graph".into()))?;
    let mut problems = Vec::new();
    let layers = read::layers(graph, &mut problems);
    // The pairing is only meaningful for a graph read whole (an unread layer would shift it).
    if !problems.is_empty() {
        return Err(WeightsError::Onnx(problems));
    }
    let want = codec::wanted(net, &TorchNames::new(), false)?;
    let tensors = read::pair::<N::Scalar>(&layers, &want, &mut problems);
    if !problems.is_empty() {
        return Err(WeightsError::Onnx(problems));
    }
    let offered: Vec<Offered<'_, N::Scalar>> = tensors
        .iter()
        .map(|(name, shape, m)| Offered::matrix(name, shape.clone(), m.as_view()))
        .collect();
    let plan = codec::plan(&want, &offered, false)?;
    codec::apply(net, (&want, &plan), &offered, &[]);
    Ok(())
}
