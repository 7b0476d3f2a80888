//! Neural Amp Modeler models (`.nam`) in and out, for networks of the form
//! `Sequential[ LSTM(1, H), LSTM(H, H)..., Linear(H, 1) ]`: the format is
//! [`rnn_format::nam`]'s (its docs give the weights' layout).

use super::codec::{self, Offered};
use super::{TorchNames, WeightsError};
use crate::Float;
use crate::float::Columns;
use crate::network::{Network, Online};
use alloc::string::String;
use alloc::vec::Vec;
use nalgebra::{DMatrix, SMatrix};
use rnn_format::nam::{self, NamFile, NamLstm, NamMetadata};

/// How many zero samples a model runs from a zero state before its state is written as the
/// file's initial state (what NAM's exporter does: one second at 48 kHz).
pub const SETTLE_SAMPLES: usize = 48_000;

/// The tensors of `file` as our parameters (`bias_hh` zero: the file holds the sum of both
/// biases, as PyTorch's re-import of a NAM model does), and the initial state `[h0, c0]` of
/// each layer in order.
fn tensors<S: Float>(lstm: NamLstm, weights: &[f32]) -> (Vec<(String, DMatrix<S>)>, Vec<f64>) {
    let NamLstm {
        input_size,
        hidden_size: h,
        num_layers,
    } = lstm;
    let mut w = weights.iter().map(|&x| S::cast(f64::from(x)));
    let mut next = || w.next().unwrap_or_else(S::zero);
    let mut out = Vec::new();
    let mut state = Vec::new();
    for l in 0..num_layers {
        let inputs = if l == 0 { input_size } else { h };
        let mut w_ih = DMatrix::zeros(4 * h, inputs);
        let mut w_hh = DMatrix::zeros(4 * h, h);
        for r in 0..4 * h {
            for c in 0..inputs + h {
                let v = next();
                if c < inputs {
                    w_ih[(r, c)] = v;
                } else {
                    w_hh[(r, c - inputs)] = v;
                }
            }
        }
        let b = DMatrix::from_fn(4 * h, 1, |_, _| next());
        out.push((alloc::format!("{l}.weight_ih"), w_ih));
        out.push((alloc::format!("{l}.weight_hh"), w_hh));
        out.push((alloc::format!("{l}.bias_ih"), b));
        out.push((alloc::format!("{l}.bias_hh"), DMatrix::zeros(4 * h, 1)));
        state.extend((0..2 * h).map(|_| next().to_f64()));
    }
    out.push((
        alloc::format!("{num_layers}.weight"),
        DMatrix::from_fn(1, h, |_, _| next()),
    ));
    out.push((
        alloc::format!("{num_layers}.bias"),
        DMatrix::from_fn(1, 1, |_, _| next()),
    ));
    (out, state)
}

/// Loads a Neural Amp Modeler `LSTM` model into `net` (`Sequential[ LSTM(input_size, H),
/// LSTM(H, H)..., Linear(H, 1) ]` with the file's `num_layers` LSTMs): its weights, and its
/// initial state (`h0`, `c0` of each layer) as the state [`Network::forget`] returns to.
/// Returns the file, with its sample rate and metadata as typed fields.
///
/// # Errors
/// [`WeightsError::Format`] if the bytes are not JSON, [`WeightsError::Architecture`] for a
/// model other than `LSTM` (a `WaveNet`), [`WeightsError::Nam`] listing every problem of the
/// file itself, [`WeightsError::Mismatch`] listing every tensor of the network that the
/// model does not fit (sizes, layer count). Nothing is changed on error.
pub fn load_nam<S, N>(net: &mut N, bytes: &[u8]) -> Result<NamFile, WeightsError>
where
    S: Float,
    N: Network<Scalar = S> + ?Sized,
    N::State: Columns,
{
    let file = nam::read(bytes)?;
    apply(net, file.lstm, &file.weights)?;
    Ok(file)
}

/// An error if `net` (made by `network!`) is not `Sequential[ LSTM..., Linear ]` at its top
/// level: a layer without parameters (a `Tanh` after the head) or a container would change
/// what the model computes without showing in its tensors.
fn check_form<N: Network + ?Sized>(net: &N) -> Result<(), WeightsError> {
    let top = net.__top_layers();
    let Some((last, lstms)) = top.split_last() else {
        return Ok(()); // not made by `network!`: the tensors are all that is checked
    };
    if *last == "Linear" && lstms.iter().all(|l| matches!(*l, "LSTM" | "FastLSTM")) {
        Ok(())
    } else {
        Err(WeightsError::Nam(alloc::vec![alloc::format!(
            "the network is `Sequential[ {} ]`; a NAM LSTM model is `Sequential[ LSTM(1, H), \
             LSTM(H, H)..., Linear(H, 1) ]` and nothing else",
            top.join(", ")
        )]))
    }
}

/// Writes a model's weights (NAM's order, of a checked count) into `net` and its initial
/// state as the state `forget` returns to, or every tensor that does not fit.
fn apply<S, N>(net: &mut N, lstm: NamLstm, weights: &[f32]) -> Result<(), WeightsError>
where
    S: Float,
    N: Network<Scalar = S> + ?Sized,
    N::State: Columns,
{
    check_form(net)?;
    let want = codec::wanted(net, &TorchNames::new(), false)?;
    let (mats, state) = tensors::<S>(lstm, weights);
    // PyTorch's shapes of the same tensors, in the same order.
    let offered: Vec<Offered<'_, S>> = mats
        .iter()
        .zip(lstm.tensors())
        .map(|((name, m), (_, shape))| Offered::matrix(name, shape, m.as_view()))
        .collect();
    let plan = codec::plan(&want, &offered, false)?;
    codec::apply(net, (&want, &plan), &offered, &[]);
    net.forget();
    let mut initial = net.state().clone();
    initial.set_rows(&mut state.into_iter());
    net.set_initial_state(initial);
    net.forget();
    Ok(())
}

/// `network!`'s `weights = "model.nam"`: the model's weights, checked against the network when
/// the macro expanded, into `net`, with its initial state.
///
/// # Panics
/// If they do not fit after all: the macro checked them against the same tensors, so this is
/// a bug in `rnn`, not a user's mistake.
#[doc(hidden)]
pub fn load_nam_embedded<S, N>(net: &mut N, lstm: NamLstm, weights: &[f32])
where
    S: Float,
    N: Network<Scalar = S> + ?Sized,
    N::State: Columns,
{
    if let Err(e) = apply(net, lstm, weights) {
        panic!("bug in rnn: `network!` checked a .nam model that does not fit: {e}");
    }
}

/// The `.nam` model configuration `net` has, if it is `Sequential[ LSTM(i, H), LSTM(H, H)...,
/// Linear(H, 1) ]`: found from its parameters, then checked tensor by tensor.
fn lstm_of<S: Float, N: Network<Scalar = S> + ?Sized>(net: &N) -> Result<NamLstm, WeightsError> {
    check_form(net)?;
    let mut layers = 0;
    let mut sizes = None;
    net.visit_parameters(&mut |p| {
        if p.name.tensor() == "weight_ih" {
            layers += 1;
            if sizes.is_none() {
                sizes = Some((p.value.ncols(), p.value.nrows() / 4));
            }
        }
    });
    let (input_size, hidden_size) = sizes.unwrap_or((0, 0));
    let lstm = NamLstm {
        input_size,
        hidden_size,
        num_layers: layers,
    };
    // What this network has, against what that model's network would have: as when loading.
    let want = codec::wanted(net, &TorchNames::new(), false)?;
    rnn_format::plan::plan(&want, &lstm.offered(), codec::dtype_of::<S>(), true)?;
    Ok(lstm)
}

/// The `.nam` file (JSON text) of `net`, a `Sequential[ LSTM(i, H), LSTM(H, H)...,
/// Linear(H, 1) ]`, as NAM's exporter writes it: biases summed, and as the initial state the
/// state reached from zero after [`SETTLE_SAMPLES`] zero samples (run on a copy: `net` is not
/// changed); sample rate and metadata from `metadata`.
///
/// # Errors
/// [`WeightsError::Mismatch`] if the network is not of that form (every difference listed),
/// [`WeightsError::Nam`] for a weight that is not finite or metadata that cannot be written.
pub fn to_nam<S, N>(net: &N, metadata: &NamMetadata) -> Result<String, WeightsError>
where
    S: Float,
    N: Online<Scalar = S, Input = SMatrix<S, 1, 1>> + Clone,
    N::State: Columns,
{
    let lstm = lstm_of(net)?;
    // The state after settling on silence, from a zero state, in evaluation mode.
    let mut settle = net.clone();
    settle.forget();
    let mut zero = settle.state().clone();
    zero.set_rows(&mut core::iter::repeat(0.0));
    settle.set_initial_state(zero);
    settle.forget();
    settle.evaluate();
    // NAM's exporter settles with PyTorch's (exact) functions.
    settle.set_fast_activations(false);
    let silence = SMatrix::<S, 1, 1>::zeros();
    for _ in 0..SETTLE_SAMPLES {
        settle.step(&silence);
    }
    let mut state = Vec::new();
    settle.state().read_column(0, &mut |x| state.push(x));
    let mut params = Vec::new();
    net.visit_parameters(&mut |p| params.push(p.value));
    let mut weights: Vec<f32> = Vec::with_capacity(lstm.weight_count().unwrap_or(0));
    let h = lstm.hidden_size;
    let f = |x: S| x.to_f64() as f32;
    for l in 0..lstm.num_layers {
        let [w_ih, w_hh, b_ih, b_hh] = [0, 1, 2, 3].map(|k| &params[4 * l + k]);
        for r in 0..4 * h {
            weights.extend((0..w_ih.ncols()).map(|c| f(w_ih[(r, c)])));
            weights.extend((0..h).map(|c| f(w_hh[(r, c)])));
        }
        weights.extend((0..4 * h).map(|r| f(b_ih[(r, 0)] + b_hh[(r, 0)])));
        weights.extend(state[2 * h * l..2 * h * (l + 1)].iter().map(|&x| x as f32));
    }
    let (w, b) = (
        &params[4 * lstm.num_layers],
        &params[4 * lstm.num_layers + 1],
    );
    weights.extend((0..h).map(|c| f(w[(0, c)])));
    weights.push(f(b[(0, 0)]));
    nam::write(lstm, &weights, metadata)
}
