//! [`TorchNames`]: how the names of a PyTorch `state_dict` map onto a network's parameters.

use crate::WeightsError;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

/// How a PyTorch module's `state_dict` names map onto this network's layer indices, for
/// `rnn_core::io::load_state_dict` and `rnn_core::io::to_state_dict` (and the `Network` methods
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
/// Both have a form for layers inside containers ([`TorchNames::module_at`],
/// [`TorchNames::recurrent_at`]), whose layer is a dotted path of positions as our names
/// write it: in `Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ]` the LSTM is `0.0` and
/// the Linear `0.1`, so a module with `self.rec = nn.LSTM(1, 16)`, `self.lin = nn.Linear(16, 1)`
/// and `forward = lin(rec(x)) + x` maps with `recurrent_at("rec", "0.0", 1)` and
/// `module_at("lin", "0.1")`.
///
/// A module name may be a dotted path (`encoder.rnn`), or empty for a module saved on its own
/// (`torch.nn.LSTM`'s `state_dict` has plain `weight_ih_l0`). `batch_first` needs nothing: it
/// is a layout of the data, not of the weights.
///
/// ```
/// use rnn_format::TorchNames; // `rnn_core::io::TorchNames` in user code
/// // class Model(nn.Module): self.rnn = nn.LSTM(10, 20, num_layers=2); self.head = nn.Linear(20, 5)
/// // network: Sequential[ LSTM(10, 20), LSTM(20, 20), Linear(20, 5), LogSoftMax ]
/// let names = TorchNames::new().recurrent("rnn", 0, 2).module("head", 2);
/// assert_eq!(names.torch_name("1.weight_hh")?, "rnn.weight_hh_l1");
/// assert_eq!(names.torch_name("2.bias")?, "head.bias");
/// // The amp model: Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ]
/// let amp = TorchNames::new().recurrent_at("rec", "0.0", 1).module_at("lin", "0.1");
/// assert_eq!(amp.torch_name("0.0.weight_ih")?, "rec.weight_ih_l0");
/// assert_eq!(amp.torch_name("0.1.bias")?, "lin.bias");
/// # Ok::<(), rnn_format::WeightsError>(())
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
    /// The positions of the containers above the rule's layers, outermost first (empty for
    /// the network's own layers); `Err` with the text given if it was not a dotted path of
    /// positions.
    parents: Result<Vec<usize>, String>,
    first: usize,
    /// `None`: a plain module (one layer, names as they are); `Some(n)`: `n` stacked layers
    /// with `_l{j}` suffixes.
    stacked: Option<usize>,
}

impl Rule {
    fn layers(&self) -> core::ops::Range<usize> {
        self.first..self.first.saturating_add(self.stacked.unwrap_or(1))
    }

    /// The parents, or none for a rule whose path did not parse (`check` reports it).
    fn parents(&self) -> &[usize] {
        self.parents.as_deref().unwrap_or(&[])
    }

    /// Layer `layer` (a position inside the parents) as a dotted path.
    fn path(&self, layer: usize) -> String {
        let mut out = String::new();
        for p in self.parents() {
            out += &format!("{p}.");
        }
        out + &format!("{layer}")
    }

    /// Where the rule claims a name whose leading positions are `at`: the stacked index `j`
    /// of its layer and how many positions the layer's path takes.
    fn claims(&self, at: &[usize]) -> Option<(usize, usize)> {
        let parents = self.parents.as_deref().ok()?;
        let (&layer, above) = at.get(..=parents.len())?.split_last()?;
        (above == parents && self.layers().contains(&layer))
            .then(|| (layer - self.first, parents.len() + 1))
    }

    /// A layer both rules claim (the first found), if any: equal parents and overlapping
    /// ranges, or one rule's layer containing the other's.
    fn overlap(&self, other: &Self) -> Option<String> {
        let (a, b) = (self.parents(), other.parents());
        if a.len() == b.len() {
            let (ra, rb) = (self.layers(), other.layers());
            return (a == b && ra.start < rb.end && rb.start < ra.end)
                .then(|| self.path(ra.start.max(rb.start)));
        }
        let (outer, inner) = if a.len() < b.len() {
            (self, other)
        } else {
            (other, self)
        };
        let at: Vec<usize> = inner.parents().to_vec();
        outer.claims(&at).map(|_| inner.path(inner.first))
    }
}

/// The positions a dotted path names (`"0.1"` -> `[0, 1]`), or the text if it is not one.
fn parse_path(path: &str) -> Result<Vec<usize>, String> {
    path.split('.')
        .map(|p| p.parse::<usize>().map_err(|_| path.into()))
        .collect()
}

const REVERSE: &str = "_reverse";

impl TorchNames {
    /// Our own names, unchanged (also PyTorch's `nn.Sequential` names), exact dtypes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Layer `layer` is the PyTorch module `module` (`head` for `self.head`):
    /// `{layer}.{tensor}` <-> `{module}.{tensor}`.
    pub fn module(self, module: &str, layer: usize) -> Self {
        self.rule(module, Ok(Vec::new()), layer, None)
    }

    /// [`TorchNames::module`] for a layer inside containers, named by its dotted path as in
    /// our names (`"0.1"`: the second layer of the network's first layer):
    /// `{path}.{tensor}` <-> `{module}.{tensor}`. A path that is not dotted positions is an
    /// error when the map is used.
    pub fn module_at(self, module: &str, path: &str) -> Self {
        let (parents, layer) = split_path(path);
        self.rule(module, parents, layer, None)
    }

    /// Layers `first_layer .. first_layer + num_layers` are the layers of one PyTorch
    /// `nn.LSTM` / `nn.GRU` / `nn.RNN` with `num_layers = num_layers`:
    /// `{first_layer + j}.{tensor}` <-> `{module}.{tensor}_l{j}`.
    pub fn recurrent(self, module: &str, first_layer: usize, num_layers: usize) -> Self {
        self.rule(module, Ok(Vec::new()), first_layer, Some(num_layers))
    }

    /// [`TorchNames::recurrent`] for stacked layers inside a container, the first named by its
    /// dotted path (`"0.2"`: layers `0.2`, `0.3`, ... of the network's first layer).
    pub fn recurrent_at(self, module: &str, first_path: &str, num_layers: usize) -> Self {
        let (parents, layer) = split_path(first_path);
        self.rule(module, parents, layer, Some(num_layers))
    }

    fn rule(
        mut self,
        module: &str,
        parents: Result<Vec<usize>, String>,
        first: usize,
        stacked: Option<usize>,
    ) -> Self {
        self.rules.push(Rule {
            module: module.into(),
            parents,
            first,
            stacked,
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

    /// A path that is not one, two rules that claim one layer, or a rule with no layers, if
    /// any.
    pub fn check(&self) -> Result<(), WeightsError> {
        for (i, a) in self.rules.iter().enumerate() {
            if let Err(path) = &a.parents {
                return Err(WeightsError::Names(format!(
                    "`{}`: `{path}` is not a layer path (dotted positions such as `0.1`)",
                    a.module
                )));
            }
            if a.stacked == Some(0) {
                return Err(WeightsError::Names(format!(
                    "`{}` is given 0 stacked layers",
                    a.module
                )));
            }
            for b in &self.rules[..i] {
                if let Some(layer) = a.overlap(b) {
                    return Err(WeightsError::Names(format!(
                        "`{}` and `{}` both claim layer {layer}",
                        b.module, a.module
                    )));
                }
            }
        }
        Ok(())
    }

    /// An error naming the first rule with a layer that has no parameter (`module("head", 2)`
    /// where layer 2 is a `LogSoftMax`): such a rule would silently name nothing. `layers`
    /// are the paths of the network's layers that have parameters (every container above
    /// them included).
    pub fn check_matches(
        &self,
        layers: &alloc::collections::BTreeSet<Vec<usize>>,
    ) -> Result<(), WeightsError> {
        for rule in &self.rules {
            let missing = rule.layers().find(|&l| {
                let mut path = rule.parents().to_vec();
                path.push(l);
                !layers.contains(&path)
            });
            if let Some(layer) = missing {
                let what = match rule.stacked {
                    None => format!("`{}` (layer {})", rule.module, rule.path(layer)),
                    Some(n) => format!(
                        "`{}` (layers {}..{}, its layer {})",
                        rule.module,
                        rule.path(rule.first),
                        rule.path(rule.first.saturating_add(n)),
                        layer - rule.first
                    ),
                };
                return Err(WeightsError::Names(format!(
                    "{what} matches no parameter: layer {} of the network has none \
                     (is it a layer without weights, or past the last layer?)",
                    rule.path(layer)
                )));
            }
        }
        Ok(())
    }

    /// The file's name for our parameter `ours` (`1.weight_hh` -> `rnn.weight_hh_l1`), or an
    /// error if a rule's path is not one or two rules claim its layer.
    pub fn torch_name(&self, ours: &str) -> Result<String, WeightsError> {
        self.check()?;
        Ok(self.map(ours))
    }

    /// [`TorchNames::torch_name`] without the consistency check.
    pub fn map(&self, ours: &str) -> String {
        let parts: Vec<&str> = ours.split('.').collect();
        let at: Vec<usize> = parts.iter().map_while(|p| p.parse().ok()).collect();
        let Some((rule, j, taken)) = self
            .rules
            .iter()
            .find_map(|r| r.claims(&at).map(|(j, taken)| (r, j, taken)))
        else {
            return ours.into();
        };
        let rest = parts[taken..].join(".");
        let dot = if rule.module.is_empty() { "" } else { "." };
        match rule.stacked {
            None => format!("{}{dot}{rest}", rule.module),
            Some(_) => match rest.strip_suffix(REVERSE) {
                Some(base) => format!("{}{dot}{base}_l{j}{REVERSE}", rule.module),
                None => format!("{}{dot}{rest}_l{j}", rule.module),
            },
        }
    }
}

/// A dotted path's parents and last position (`"0.1"` -> `([0], 1)`); the text as the error
/// if it is not dotted positions.
fn split_path(path: &str) -> (Result<Vec<usize>, String>, usize) {
    match parse_path(path) {
        Ok(mut at) => {
            let last = at.pop().unwrap_or(0);
            (Ok(at), last)
        }
        Err(e) => (Err(e), 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

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

    /// Rules for layers inside containers: the amp model's `Residual[ rec, lin ]`, stacked
    /// layers inside a `Sequential`, and a module name for the container itself.
    #[test]
    fn nested_rules_map_paths_inside_containers() {
        let amp = TorchNames::new()
            .module_at("rec", "0.0")
            .module_at("lin", "0.1");
        assert!(amp.check().is_ok());
        assert_eq!(amp.map("0.0.weight_ih"), "rec.weight_ih");
        assert_eq!(amp.map("0.0.bias_hh"), "rec.bias_hh");
        assert_eq!(amp.map("0.1.weight"), "lin.weight");
        assert_eq!(amp.map("1.weight"), "1.weight", "no rule: unchanged");
        assert_eq!(
            amp.map("0.2.weight"),
            "0.2.weight",
            "outside the rules' layers"
        );
        let stacked = TorchNames::new().recurrent_at("enc.rnn", "1.2", 2);
        assert_eq!(stacked.map("1.2.weight_ih"), "enc.rnn.weight_ih_l0");
        assert_eq!(
            stacked.map("1.3.weight_hh_reverse"),
            "enc.rnn.weight_hh_l1_reverse"
        );
        assert_eq!(stacked.map("1.4.weight_hh"), "1.4.weight_hh");
        assert_eq!(
            stacked.map("0.2.weight_ih"),
            "0.2.weight_ih",
            "another parent"
        );
        // A top-level path given as a string is the plain rule.
        assert_eq!(
            TorchNames::new().module_at("head", "2"),
            TorchNames::new().module("head", 2)
        );
    }

    #[test]
    fn nested_rules_that_overlap_or_do_not_parse_are_errors() {
        let inside = TorchNames::new().module("block", 0).module_at("lin", "0.1");
        let e = inside.torch_name("0.1.weight").expect_err("overlap");
        assert_eq!(
            e.to_string(),
            "name map: `block` and `lin` both claim layer 0.1"
        );
        let stacked = TorchNames::new()
            .recurrent_at("rnn", "0.0", 3)
            .module_at("lin", "0.2");
        assert!(
            stacked.check().is_err(),
            "0.2 is the stacked module's third layer"
        );
        let apart = TorchNames::new()
            .recurrent_at("rnn", "0.0", 2)
            .module_at("lin", "0.2")
            .module_at("other", "1.0");
        assert!(apart.check().is_ok());
        for bad in ["", "0.x", "0..1", "-1", "0.1."] {
            let e = TorchNames::new()
                .module_at("m", bad)
                .check()
                .expect_err(bad);
            assert!(
                e.to_string().contains("is not a layer path"),
                "{bad:?}: {e}"
            );
        }
    }

    /// A nested rule must name a layer that has parameters: the set holds every container
    /// path above a parameter, so `0` and `0.1` of the amp model match and `0.2` does not.
    #[test]
    fn nested_rules_must_match_a_layer_with_parameters() {
        let layers: alloc::collections::BTreeSet<Vec<usize>> =
            [vec![0], vec![0, 0], vec![0, 1]].into_iter().collect();
        let amp = TorchNames::new()
            .module_at("rec", "0.0")
            .module_at("lin", "0.1");
        assert!(amp.check_matches(&layers).is_ok());
        assert!(
            TorchNames::new()
                .module("model", 0)
                .check_matches(&layers)
                .is_ok()
        );
        let e = TorchNames::new()
            .module_at("extra", "0.2")
            .check_matches(&layers)
            .expect_err("no layer 0.2");
        assert!(
            e.to_string().contains("layer 0.2 of the network has none"),
            "{e}"
        );
    }
}
