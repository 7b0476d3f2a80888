//! Neural Amp Modeler files (`.nam`): JSON with `version`, `architecture`, `config`, a flat
//! `weights` list, an optional `sample_rate` and `metadata`. Only architecture `LSTM` maps onto
//! a network here: `Sequential[ LSTM(input_size, H), LSTM(H, H)..., Linear(H, 1) ]` with
//! `num_layers` LSTMs.
//!
//! The weights of an `LSTM` model, as NAM's trainer writes them and NAM Core reads them
//! (unchanged from format 0.5.0 to 0.7.x): for each layer, `W = [W_ih | W_hh]` (`4H x (in +
//! H)`, row-major, gates i, f, g, o as PyTorch), `b = b_ih + b_hh` (`4H`), the initial hidden
//! state `h0` (`H`) and cell state `c0` (`H`); then the head's `H` weights and its bias.

use crate::error::WeightsError;
use crate::header::FileTensor;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use serde_json::{Map, Value};

/// The format version this library writes (NAM's trainer writes 0.7.0 since its slimmable
/// WaveNets; an LSTM file is the same in every version from 0.5.0).
pub const WRITTEN_VERSION: &str = "0.7.0";

/// The sample rate a file without one is taken to have (NAM's rule).
pub const DEFAULT_SAMPLE_RATE: f64 = 48_000.0;

/// An `LSTM` model's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamLstm {
    /// Inputs per sample (1 for a mono amp).
    pub input_size: usize,
    /// Hidden units of every layer.
    pub hidden_size: usize,
    /// Stacked LSTM layers.
    pub num_layers: usize,
}

impl NamLstm {
    /// How many numbers the `weights` list holds: per layer `4H (in + H) + 4H + 2H`, then
    /// `H + 1` for the head; `None` if that overflows.
    #[must_use]
    pub fn weight_count(&self) -> Option<usize> {
        let h = self.hidden_size;
        let mut n = h.checked_add(1)?;
        for l in 0..self.num_layers {
            let inputs = if l == 0 { self.input_size } else { h };
            let w = h.checked_mul(4)?.checked_mul(inputs.checked_add(h)?)?;
            n = n.checked_add(w)?.checked_add(h.checked_mul(6)?)?;
        }
        Some(n)
    }

    /// The network's tensors this model fills, by our names, with PyTorch shapes: `{l}.weight_ih`
    /// `[4H, in]`, `{l}.weight_hh` `[4H, H]`, `{l}.bias_ih` and `{l}.bias_hh` `[4H]` per layer,
    /// then `{L}.weight` `[1, H]` and `{L}.bias` `[1]`.
    #[must_use]
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (h, g) = (self.hidden_size, 4 * self.hidden_size);
        let mut out = Vec::new();
        for l in 0..self.num_layers {
            let inputs = if l == 0 { self.input_size } else { h };
            out.push((format!("{l}.weight_ih"), alloc::vec![g, inputs]));
            out.push((format!("{l}.weight_hh"), alloc::vec![g, h]));
            out.push((format!("{l}.bias_ih"), alloc::vec![g]));
            out.push((format!("{l}.bias_hh"), alloc::vec![g]));
        }
        let head = self.num_layers;
        out.push((format!("{head}.weight"), alloc::vec![1, h]));
        out.push((format!("{head}.bias"), alloc::vec![1]));
        out
    }
}

impl NamLstm {
    /// [`NamLstm::tensors`] as tensors on offer to a network's (shapes only, no bytes; `F32`,
    /// which converts into either scalar: JSON numbers have no dtype), for matching a network
    /// against this model with [`crate::plan::plan`].
    #[must_use]
    pub fn offered(&self) -> Vec<FileTensor> {
        self.tensors()
            .into_iter()
            .map(|(name, shape)| FileTensor {
                name,
                dtype: safetensors::Dtype::F32,
                shape,
                bytes: 0..0,
            })
            .collect()
    }
}

/// What a host needs from a model besides its weights: the sample rate it was trained at and
/// the metadata NAM writes. Every field is optional in files; [`NamMetadata::default`] has the
/// default sample rate and nothing else.
#[derive(Clone, Debug, PartialEq)]
pub struct NamMetadata {
    /// The sample rate the model was trained at, in Hz (48 kHz when the file has none).
    pub sample_rate: f64,
    /// The model's name.
    pub name: Option<String>,
    /// Who captured it.
    pub modeled_by: Option<String>,
    /// The gear's maker.
    pub gear_make: Option<String>,
    /// The gear's model.
    pub gear_model: Option<String>,
    /// `amp`, `pedal`, `pedal_amp`, `amp_cab`, `amp_pedal_cab`, `preamp` or `studio`.
    pub gear_type: Option<String>,
    /// `clean`, `overdrive`, `crunch`, `hi_gain` or `fuzz`.
    pub tone_type: Option<String>,
    /// The output's loudness on NAM's standard input, in dB (hosts normalise with it).
    pub loudness: Option<f64>,
    /// NAM's estimate of the model's gain, in `[0, 1]`.
    pub gain: Option<f64>,
    /// The input level, in dBu, that a full-scale digital signal stood for when capturing.
    pub input_level_dbu: Option<f64>,
    /// The output level, in dBu, of a full-scale digital signal.
    pub output_level_dbu: Option<f64>,
    /// Every other metadata entry (`date`, `training`, a trainer's own keys) as its JSON text,
    /// sorted by key, so that a file read and written again keeps them.
    pub other: Vec<(String, String)>,
}

impl Default for NamMetadata {
    fn default() -> Self {
        Self {
            sample_rate: DEFAULT_SAMPLE_RATE,
            name: None,
            modeled_by: None,
            gear_make: None,
            gear_model: None,
            gear_type: None,
            tone_type: None,
            loudness: None,
            gain: None,
            input_level_dbu: None,
            output_level_dbu: None,
            other: Vec::new(),
        }
    }
}

/// A `.nam` file of architecture `LSTM`, read and checked.
#[derive(Clone, Debug, PartialEq)]
pub struct NamFile {
    /// The format version (`0.5.0` to `0.7.x`).
    pub version: String,
    /// The model's configuration.
    pub lstm: NamLstm,
    /// Sample rate and metadata.
    pub metadata: NamMetadata,
    /// The flat weights, in NAM's order (see the module's docs).
    pub weights: Vec<f32>,
}

const STRINGS: [&str; 6] = [
    "name",
    "modeled_by",
    "gear_make",
    "gear_model",
    "gear_type",
    "tone_type",
];
const NUMBERS: [&str; 4] = ["loudness", "gain", "input_level_dbu", "output_level_dbu"];

impl NamMetadata {
    fn string_field(&mut self, key: &str) -> Option<&mut Option<String>> {
        Some(match key {
            "name" => &mut self.name,
            "modeled_by" => &mut self.modeled_by,
            "gear_make" => &mut self.gear_make,
            "gear_model" => &mut self.gear_model,
            "gear_type" => &mut self.gear_type,
            "tone_type" => &mut self.tone_type,
            _ => return None,
        })
    }

    fn number_field(&mut self, key: &str) -> Option<&mut Option<f64>> {
        Some(match key {
            "loudness" => &mut self.loudness,
            "gain" => &mut self.gain,
            "input_level_dbu" => &mut self.input_level_dbu,
            "output_level_dbu" => &mut self.output_level_dbu,
            _ => return None,
        })
    }
}

/// Whether `version` is one NAM Core reads: `0.5.0` to `0.7.x`.
fn version_ok(version: &str) -> bool {
    let mut parts = version.split('.').map(str::parse::<u32>);
    matches!(
        (parts.next(), parts.next(), parts.next(), parts.next()),
        (Some(Ok(0)), Some(Ok(5..=7)), Some(Ok(_)), None)
    )
}

/// Reads a `.nam` file: every problem of the file itself at once (version, configuration,
/// weight count, sample rate), or the model with its typed metadata.
///
/// # Errors
/// [`WeightsError::Format`] if it is not a JSON object, [`WeightsError::Architecture`] for a
/// model other than `LSTM`, [`WeightsError::Nam`] listing every other problem.
pub fn read(bytes: &[u8]) -> Result<NamFile, WeightsError> {
    let root: Value = serde_json::from_slice(bytes)
        .map_err(|e| WeightsError::Format(format!("a .nam file is JSON: {e}")))?;
    let Value::Object(root) = root else {
        return Err(WeightsError::Format("a .nam file is a JSON object".into()));
    };
    match root.get("architecture") {
        Some(Value::String(a)) if a == "LSTM" => {}
        Some(Value::String(a)) => return Err(WeightsError::Architecture { found: a.clone() }),
        _ => {
            return Err(WeightsError::Nam(alloc::vec![
                "no `architecture` string".to_string()
            ]));
        }
    }
    let mut problems = Vec::new();
    let version = match root.get("version") {
        Some(Value::String(v)) if version_ok(v) => v.clone(),
        Some(Value::String(v)) => {
            problems.push(format!(
                "version `{v}`: this library reads 0.5.0 to 0.7.x (as NAM Core does)"
            ));
            v.clone()
        }
        _ => {
            problems.push("no `version` string".into());
            String::new()
        }
    };
    let config = root.get("config").and_then(Value::as_object);
    let size = |key: &str, problems: &mut Vec<String>| -> usize {
        match config.and_then(|c| c.get(key)).and_then(Value::as_u64) {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(_) => {
                problems.push(format!("`config.{key}` is 0"));
                0
            }
            None => {
                problems.push(format!("no `config.{key}` (a positive integer)"));
                0
            }
        }
    };
    let lstm = NamLstm {
        input_size: size("input_size", &mut problems),
        hidden_size: size("hidden_size", &mut problems),
        num_layers: size("num_layers", &mut problems),
    };
    for key in ["in_channels", "out_channels"] {
        match config.and_then(|c| c.get(key)) {
            None => {}
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => problems.push(format!(
                "`config.{key}` is {v}: a network here takes and gives one channel"
            )),
        }
    }
    let mut weights = Vec::new();
    match root.get("weights").and_then(Value::as_array) {
        None => problems.push("no `weights` list".into()),
        Some(list) => {
            let mut bad = None;
            for (k, w) in list.iter().enumerate() {
                match w.as_f64() {
                    // Rounded to nearest, as NAM Core and nam-rs store their weights.
                    #[allow(clippy::cast_possible_truncation)]
                    Some(x) => weights.push(x as f32),
                    None => {
                        bad.get_or_insert(k);
                    }
                }
            }
            if let Some(k) = bad {
                problems.push(format!("`weights[{k}]` is not a number"));
            }
            let sized = lstm.input_size > 0 && lstm.hidden_size > 0 && lstm.num_layers > 0;
            if sized {
                match lstm.weight_count() {
                    Some(n) if n == list.len() => {}
                    n => problems.push(format!(
                        "{} weights, but `config` ({} inputs, {} hidden, {} layers) needs {}",
                        list.len(),
                        lstm.input_size,
                        lstm.hidden_size,
                        lstm.num_layers,
                        n.map_or_else(|| "more than memory holds".into(), |n| n.to_string())
                    )),
                }
            }
        }
    }
    let mut metadata = NamMetadata::default();
    match root.get("sample_rate") {
        None | Some(Value::Null) => {}
        Some(v) => match v.as_f64() {
            Some(r) if r.is_finite() && r > 0.0 => metadata.sample_rate = r,
            _ => problems.push(format!("`sample_rate` is {v}, not a positive number")),
        },
    }
    match root.get("metadata") {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => read_metadata(m, &mut metadata, &mut problems),
        Some(v) => problems.push(format!("`metadata` is {v}, not an object")),
    }
    if problems.is_empty() {
        Ok(NamFile {
            version,
            lstm,
            metadata,
            weights,
        })
    } else {
        Err(WeightsError::Nam(problems))
    }
}

fn read_metadata(m: &Map<String, Value>, out: &mut NamMetadata, problems: &mut Vec<String>) {
    for (key, value) in m {
        if value.is_null() {
            continue;
        }
        if let Some(slot) = out.string_field(key) {
            match value.as_str() {
                Some(s) => *slot = Some(s.into()),
                None => problems.push(format!("`metadata.{key}` is {value}, not a string")),
            }
        } else if let Some(slot) = out.number_field(key) {
            match value.as_f64() {
                Some(x) => *slot = Some(x),
                None => problems.push(format!("`metadata.{key}` is {value}, not a number")),
            }
        } else {
            out.other.push((key.clone(), value.to_string()));
        }
    }
    out.other.sort();
}

/// The `.nam` file (JSON text) of an `LSTM` model with `weights` in NAM's order.
///
/// # Errors
/// [`WeightsError::Nam`] if `weights` does not have the configuration's count, an entry of
/// `metadata.other` is not JSON, or the sample rate is not a positive number; a non-finite
/// weight (JSON has no such numbers).
pub fn write(
    lstm: NamLstm,
    weights: &[f32],
    metadata: &NamMetadata,
) -> Result<String, WeightsError> {
    let mut problems = Vec::new();
    if lstm.weight_count() != Some(weights.len()) {
        problems.push(format!(
            "{} weights for a configuration that needs {:?}",
            weights.len(),
            lstm.weight_count()
        ));
    }
    if let Some(k) = weights.iter().position(|w| !w.is_finite()) {
        problems.push(format!(
            "weight {k} is {}: JSON holds finite numbers only",
            weights[k]
        ));
    }
    if !(metadata.sample_rate.is_finite() && metadata.sample_rate > 0.0) {
        problems.push(format!("sample rate {}", metadata.sample_rate));
    }
    let mut meta = Map::new();
    let mut probe = metadata.clone();
    for key in STRINGS {
        if let Some(Some(s)) = probe.string_field(key).map(Option::take) {
            meta.insert(key.into(), Value::String(s));
        }
    }
    for key in NUMBERS {
        if let Some(Some(x)) = probe.number_field(key).map(Option::take) {
            match serde_json::Number::from_f64(x) {
                Some(n) => {
                    meta.insert(key.into(), Value::Number(n));
                }
                None => problems.push(format!("`metadata.{key}` is {x}")),
            }
        }
    }
    for (key, text) in &metadata.other {
        match serde_json::from_str::<Value>(text) {
            Ok(v) => {
                meta.insert(key.clone(), v);
            }
            Err(e) => problems.push(format!("`metadata.{key}` is not JSON: {e}")),
        }
    }
    if !problems.is_empty() {
        return Err(WeightsError::Nam(problems));
    }
    let mut config = Map::new();
    config.insert("input_size".into(), lstm.input_size.into());
    config.insert("hidden_size".into(), lstm.hidden_size.into());
    config.insert("num_layers".into(), lstm.num_layers.into());
    let mut root = Map::new();
    root.insert("version".into(), WRITTEN_VERSION.into());
    root.insert("metadata".into(), Value::Object(meta));
    root.insert("architecture".into(), "LSTM".into());
    root.insert("config".into(), Value::Object(config));
    root.insert(
        "weights".into(),
        Value::Array(weights.iter().map(|&w| Value::from(w)).collect()),
    );
    root.insert("sample_rate".into(), Value::from(metadata.sample_rate));
    serde_json::to_string(&Value::Object(root)).map_err(|e| WeightsError::Format(e.to_string()))
}
