//! [`TorchNames`]: how the names of a PyTorch `state_dict` map onto a network's parameters.

use super::WeightsError;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// How a PyTorch module's `state_dict` names map onto this network's layer indices, for
/// [`crate::io::load_state_dict`] and [`crate::io::to_state_dict`] (and the `Network` methods
/// of the same names).
///
/// Our names are `{layer}.{tensor}` (`0.weight_ih`, `2.bias`, `3.0.weight` inside a nested
/// `Sequential`). A layer that no rule names keeps that name, which is exactly what PyTorch's
/// `nn.Sequential` saves. Two rules cover the rest:
///
/// - [`TorchNames::module`]: `self.head = nn.Linear(20, 5)` saved as `head.weight`, `head.bias`
///   is layer `k`: `head.{tensor}` <-> `{k}.{tensor}` (and `head.0.weight` <-> `{k}.0.weight`
///   for a nested `Sequential`). Also for `nn.LSTMCell`-style modules, whose names have no
///   layer suffix.
/// - [`TorchNames::recurrent`]: `self.rnn = nn.LSTM(10, 20, num_layers = n)` saved as
///   `rnn.weight_ih_l0`, ..., `rnn.bias_hh_l{n-1}` is `n` consecutive stacked layers from `k`:
///   `rnn.{tensor}_l{j}` <-> `{k + j}.{tensor}`. A `_reverse` suffix (the reverse direction of a
///   bidirectional module) stays last: `rnn.weight_ih_l0_reverse` <-> `{k}.weight_ih_reverse`.
///
/// A module name may be a dotted path (`encoder.rnn`), or empty for a module saved on its own
/// (`torch.nn.LSTM`'s `state_dict` has plain `weight_ih_l0`). `batch_first` needs nothing: it
/// is a layout of the data, not of the weights.
///
/// ```
/// use rnn_core::io::TorchNames;
/// // class Model(nn.Module): self.rnn = nn.LSTM(10, 20, num_layers=2); self.head = nn.Linear(20, 5)
/// // network: Sequential[ LSTM(10, 20), LSTM(20, 20), Linear(20, 5), LogSoftMax ]
/// let names = TorchNames::new().recurrent("rnn", 0, 2).module("head", 2);
/// assert_eq!(names.torch_name("1.weight_hh")?, "rnn.weight_hh_l1");
/// assert_eq!(names.torch_name("2.bias")?, "head.bias");
/// # Ok::<(), rnn_core::io::WeightsError>(())
/// ```
///
/// Loading checks dtypes exactly; [`TorchNames::convert_dtype`] lets an `f32` file load into
/// an `f64` network and back (rounding to nearest for `f64` -> `f32`), and half-precision
/// (`f16`, `bf16`) files into either.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[must_use]
pub struct TorchNames {
    rules: Vec<Rule>,
    convert: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Rule {
    module: String,
    first: usize,
    /// `None`: a plain module (one layer, names as they are); `Some(n)`: `n` stacked layers
    /// with `_l{j}` suffixes.
    stacked: Option<usize>,
}

impl Rule {
    fn layers(&self) -> core::ops::Range<usize> {
        self.first..self.first.saturating_add(self.stacked.unwrap_or(1))
    }
}

const REVERSE: &str = "_reverse";

impl TorchNames {
    /// Our own names, unchanged (also PyTorch's `nn.Sequential` names), exact dtypes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Layer `layer` is the PyTorch module `module` (`head` for `self.head`):
    /// `{layer}.{tensor}` <-> `{module}.{tensor}`.
    pub fn module(mut self, module: &str, layer: usize) -> Self {
        self.rules.push(Rule {
            module: module.into(),
            first: layer,
            stacked: None,
        });
        self
    }

    /// Layers `first_layer .. first_layer + num_layers` are the layers of one PyTorch
    /// `nn.LSTM` / `nn.GRU` / `nn.RNN` with `num_layers = num_layers`:
    /// `{first_layer + j}.{tensor}` <-> `{module}.{tensor}_l{j}`.
    pub fn recurrent(mut self, module: &str, first_layer: usize, num_layers: usize) -> Self {
        self.rules.push(Rule {
            module: module.into(),
            first: first_layer,
            stacked: Some(num_layers),
        });
        self
    }

    /// Allow tensors of another float dtype: `f16`, `bf16`, `f32` or `f64` into an `f32` or
    /// `f64` network (exact, except `f64` into `f32`, rounded to nearest). Without it a dtype
    /// difference is an error.
    pub fn convert_dtype(mut self) -> Self {
        self.convert = true;
        self
    }

    /// Whether [`TorchNames::convert_dtype`] was asked for.
    #[must_use]
    pub fn converts_dtype(&self) -> bool {
        self.convert
    }

    /// The two rules that claim one layer, or a rule with no layers, if any.
    pub(super) fn check(&self) -> Result<(), WeightsError> {
        for (i, a) in self.rules.iter().enumerate() {
            if a.stacked == Some(0) {
                return Err(WeightsError::Names(format!(
                    "`{}` is given 0 stacked layers",
                    a.module
                )));
            }
            for b in &self.rules[..i] {
                let (ra, rb) = (a.layers(), b.layers());
                if ra.start < rb.end && rb.start < ra.end {
                    return Err(WeightsError::Names(format!(
                        "`{}` and `{}` both claim layer {}",
                        b.module,
                        a.module,
                        ra.start.max(rb.start)
                    )));
                }
            }
        }
        Ok(())
    }

    /// An error naming the first rule with a layer that has no parameter (`module("head", 2)`
    /// where layer 2 is a `LogSoftMax`): such a rule would silently name nothing. `layers`
    /// are the network's top-level layers that have parameters.
    pub(super) fn check_matches(
        &self,
        layers: &alloc::collections::BTreeSet<usize>,
    ) -> Result<(), WeightsError> {
        for rule in &self.rules {
            if let Some(layer) = rule.layers().find(|l| !layers.contains(l)) {
                let what = match rule.stacked {
                    None => format!("`{}` (layer {layer})", rule.module),
                    Some(n) => format!(
                        "`{}` (layers {}..{}, its layer {})",
                        rule.module,
                        rule.first,
                        rule.first.saturating_add(n),
                        layer - rule.first
                    ),
                };
                return Err(WeightsError::Names(format!(
                    "{what} matches no parameter: layer {layer} of the network has none \
                     (is it a layer without weights, or past the last layer?)"
                )));
            }
        }
        Ok(())
    }

    /// The file's name for our parameter `ours` (`1.weight_hh` -> `rnn.weight_hh_l1`), or an
    /// error if two rules claim its layer.
    pub fn torch_name(&self, ours: &str) -> Result<String, WeightsError> {
        self.check()?;
        Ok(self.map(ours))
    }

    /// [`TorchNames::torch_name`] without the consistency check.
    pub(super) fn map(&self, ours: &str) -> String {
        let Some((index, rest)) = ours.split_once('.') else {
            return ours.into();
        };
        let Ok(index) = index.parse::<usize>() else {
            return ours.into();
        };
        let Some(rule) = self.rules.iter().find(|r| r.layers().contains(&index)) else {
            return ours.into();
        };
        let dot = if rule.module.is_empty() { "" } else { "." };
        match rule.stacked {
            None => format!("{}{dot}{rest}", rule.module),
            Some(_) => {
                let j = index - rule.first;
                match rest.strip_suffix(REVERSE) {
                    Some(base) => format!("{}{dot}{base}_l{j}{REVERSE}", rule.module),
                    None => format!("{}{dot}{rest}_l{j}", rule.module),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    #[test]
    fn names_map_by_rule() {
        let n = TorchNames::new()
            .recurrent("enc.rnn", 0, 2)
            .module("head", 2)
            .module("", 4);
        assert_eq!(n.map("0.weight_ih"), "enc.rnn.weight_ih_l0");
        assert_eq!(n.map("1.bias_hh"), "enc.rnn.bias_hh_l1");
        assert_eq!(n.map("1.weight_ih_reverse"), "enc.rnn.weight_ih_l1_reverse");
        assert_eq!(n.map("2.weight"), "head.weight");
        assert_eq!(n.map("2.0.bias"), "head.0.bias");
        assert_eq!(n.map("3.weight"), "3.weight");
        assert_eq!(n.map("4.0.weight"), "0.weight");
        assert_eq!(
            TorchNames::new().recurrent("", 0, 1).map("0.weight_hh"),
            "weight_hh_l0"
        );
        assert!(n.check().is_ok());
    }

    #[test]
    fn overlapping_rules_are_an_error() {
        let n = TorchNames::new().recurrent("rnn", 0, 2).module("head", 1);
        let e = n.torch_name("0.weight_ih").expect_err("overlap");
        assert_eq!(
            e.to_string(),
            "name map: `rnn` and `head` both claim layer 1"
        );
        assert!(TorchNames::new().recurrent("rnn", 0, 0).check().is_err());
    }
}
