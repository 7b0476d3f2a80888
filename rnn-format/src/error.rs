//! [`WeightsError`]: why weights could not be saved, loaded or copied, with every problem of a
//! load listed at once.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

/// Why weights could not be saved, loaded or copied. The network is unchanged whenever one is
/// returned.
#[derive(Debug)]
#[non_exhaustive]
pub enum WeightsError {
    /// Reading or writing the file failed.
    #[cfg(feature = "std")]
    Io(std::io::Error),
    /// The bytes are not a valid safetensors file (or not a checkpoint where one is needed).
    Format(String),
    /// The file is larger than any file the network could load (`limit` bytes); it was not read
    /// further.
    TooLarge {
        /// The most bytes this network accepts.
        limit: u64,
    },
    /// The tensors do not match the network's parameters: every problem, in one value.
    Mismatch(Mismatches),
    /// The name map is inconsistent with the network: two parameters would get the same name,
    /// two rules claim the same layer, or a rule matches no parameter.
    Names(String),
    /// Values that cannot be loaded as they are, one line per tensor (the first bad element
    /// of each): a finite value beyond the range of the network's scalar type (an `f64`
    /// file converted into an `f32` network), or a checkpoint's optimiser moment that is NaN,
    /// infinite or (a second moment) negative.
    Values(Vec<String>),
    /// A Neural Amp Modeler file of an architecture this library does not read (only `LSTM`
    /// models map onto a network here; `WaveNet` is a convolutional model).
    Architecture {
        /// The file's `architecture`.
        found: String,
    },
    /// A Neural Amp Modeler file that is not a valid one: every problem found (version,
    /// configuration, weight count, sample rate), one line each.
    Nam(Vec<String>),
    /// An ONNX model that cannot be written for this network or read into it: every problem,
    /// one line each (a layer or option with no ONNX operator, an operator or attribute this
    /// library does not read, a graph whose layers do not match the network's).
    Onnx(Vec<String>),
}

/// Every difference between the tensors offered (a file, another network) and the parameters
/// of the network they were meant for. Names are the file's names (after the name map).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mismatches {
    /// The network needs these tensors; the source lacks them.
    pub missing: Vec<String>,
    /// The source has these tensors; the network has no parameter of that name.
    pub unexpected: Vec<Unexpected>,
    /// Tensors of another dtype than the network's.
    pub dtypes: Vec<DtypeMismatch>,
    /// Tensors of another shape than the parameter's.
    pub shapes: Vec<ShapeMismatch>,
}

/// A tensor the network has no place for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unexpected {
    /// Its name in the source.
    pub name: String,
    /// The nearest name the network expected and did not get, if one is close.
    pub nearest: Option<String>,
}

/// A tensor whose dtype is not the network's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DtypeMismatch {
    /// Tensor name.
    pub name: String,
    /// The dtype the network needs (`F32`, `F64`, or `U64` for a checkpoint's step counts).
    pub expected: String,
    /// The source's dtype.
    pub found: String,
}

/// A tensor whose shape is not the parameter's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    /// Tensor name.
    pub name: String,
    /// The parameter's shape (PyTorch's: `[out, in]` for weights, `[n]` for vectors).
    pub expected: Vec<usize>,
    /// The source's shape.
    pub found: Vec<usize>,
}

impl Mismatches {
    /// `true` if nothing differs.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty()
            && self.unexpected.is_empty()
            && self.dtypes.is_empty()
            && self.shapes.is_empty()
    }

    /// The total number of problems.
    #[must_use]
    pub fn len(&self) -> usize {
        self.missing.len() + self.unexpected.len() + self.dtypes.len() + self.shapes.len()
    }
}

/// At most this many lines of each kind are printed; the value holds them all.
const SHOWN: usize = 20;

fn list<T>(
    f: &mut fmt::Formatter<'_>,
    title: &str,
    items: &[T],
    line: impl Fn(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
) -> fmt::Result {
    if items.is_empty() {
        return Ok(());
    }
    write!(f, "\n  {title} ({}):", items.len())?;
    for it in items.iter().take(SHOWN) {
        f.write_str("\n    ")?;
        line(f, it)?;
    }
    if items.len() > SHOWN {
        write!(f, "\n    ... and {} more", items.len() - SHOWN)?;
    }
    Ok(())
}

/// Where a [`Mismatches`] is shown: the run-time loader's words, or the `network!` macro's
/// (`weights = "..."`), whose hints name its header options.
#[derive(Clone, Copy)]
struct Shown<'a> {
    m: &'a Mismatches,
    build: bool,
}

impl Mismatches {
    /// The problems as the `network!` macro reports them for `weights = "..."`: the same
    /// lists, with hints that name the header's `names = [ ... ]` rules.
    #[must_use]
    pub fn at_build_time(&self) -> impl fmt::Display + '_ {
        Shown {
            m: self,
            build: true,
        }
    }
}

impl fmt::Display for Mismatches {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        Shown {
            m: self,
            build: false,
        }
        .fmt(f)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (this, build) = (self.m, self.build);
        write!(
            f,
            "{} problem{} with the tensors{}",
            this.len(),
            if this.len() == 1 { "" } else { "s" },
            if build { ":" } else { "; nothing was changed:" }
        )?;
        list(
            f,
            "missing (the network needs them)",
            &this.missing,
            |f, n| write!(f, "`{n}`"),
        )?;
        list(
            f,
            "unexpected (the network has no such parameter)",
            &this.unexpected,
            |f, u| match &u.nearest {
                Some(near) => write!(f, "`{}` (did you mean `{near}`?)", u.name),
                None => write!(f, "`{}`", u.name),
            },
        )?;
        list(f, "wrong dtype", &this.dtypes, |f, d| {
            write!(
                f,
                "`{}` is {}, the network needs {}",
                d.name, d.found, d.expected
            )
        })?;
        list(f, "wrong shape", &this.shapes, |f, s| {
            write!(
                f,
                "`{}` has shape {:?}, the network needs {:?}",
                s.name, s.found, s.expected
            )
        })?;
        if this.unexpected.iter().any(|u| u.nearest.is_none())
            && this.unexpected.iter().any(|u| {
                u.name
                    .split('.')
                    .next()
                    .is_some_and(|m| m.parse::<usize>().is_err())
            })
        {
            f.write_str(if build {
                "\n  hint: a PyTorch module's names (`rnn.weight_ih_l0`) map onto layer indices \
                 with `names = [ recurrent(\"rnn\", 0, 1), module(\"head\", 1) ]` (rules as \
                 `rnn_core::io::TorchNames` has them)"
            } else {
                "\n  hint: a PyTorch module's names (`rnn.weight_ih_l0`) map onto layer indices \
                 with `TorchNames` (see `rnn_core::io`)"
            })?;
        }
        if !this.dtypes.is_empty() {
            f.write_str(if build {
                "\n  hint: `convert_dtype` in `names = [ ... ]` converts f16, bf16, f32 and f64 \
                 on request"
            } else {
                "\n  hint: `TorchNames::convert_dtype` converts f16, bf16, f32 and f64 on request"
            })?;
        }
        Ok(())
    }
}

/// `header`, then the first [`SHOWN`] of `lines`, one per line, and how many more there are.
fn headed(f: &mut fmt::Formatter<'_>, header: &str, lines: &[String]) -> fmt::Result {
    f.write_str(header)?;
    for line in lines.iter().take(SHOWN) {
        write!(f, "\n    {line}")?;
    }
    if lines.len() > SHOWN {
        write!(f, "\n    ... and {} more", lines.len() - SHOWN)?;
    }
    Ok(())
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "std")]
            Self::Io(e) => write!(f, "weights file: {e}"),
            Self::Format(m) => write!(f, "not a valid weights file: {m}"),
            Self::TooLarge { limit } => write!(
                f,
                "the file is larger than the {limit} bytes any weights file of this network \
                 can have; it was not read"
            ),
            Self::Mismatch(m) => m.fmt(f),
            Self::Names(m) => write!(f, "name map: {m}"),
            Self::Architecture { found } => write!(
                f,
                "the .nam file's architecture is `{found}`: only `LSTM` models load into a \
                 network here (`Sequential[ LSTM(1, H), LSTM(H, H)..., Linear(H, 1) ]`)"
            ),
            Self::Nam(lines) => headed(
                f,
                &format!("not a valid .nam file ({} problem(s)):", lines.len()),
                lines,
            ),
            Self::Onnx(lines) => headed(
                f,
                &format!("ONNX model ({} problem(s)):", lines.len()),
                lines,
            ),
            Self::Values(lines) => headed(
                f,
                &format!(
                    "{} tensor(s) hold values that cannot be loaded:",
                    lines.len()
                ),
                lines,
            ),
        }
    }
}

impl core::error::Error for WeightsError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            #[cfg(feature = "std")]
            Self::Io(e) => Some(e),
            _ => None,
        }
    }
}

#[cfg(feature = "std")]
impl From<std::io::Error> for WeightsError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

/// The edit distance between `a` and `b` (insertions, deletions, substitutions), by bytes.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, &ca) in a.iter().enumerate() {
        let mut diag = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let up = row[j + 1];
            row[j + 1] = (diag + usize::from(ca != cb)).min(row[j] + 1).min(up + 1);
            diag = up;
        }
    }
    row[b.len()]
}

/// The name of `candidates` nearest to `name`, if it is close: at most a third of its length
/// away (and at least 2 edits allowed).
pub fn nearest<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let limit = (name.len() / 3).max(2);
    candidates
        .iter()
        .map(|c| (edit_distance(name, c), *c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("rnn.weight_ih_l0", "lstm.weight_ih_l0"), 4);
        assert_eq!(
            nearest("0.weight_ih", &["0.weight_hh", "1.weight"]),
            Some("0.weight_hh")
        );
        assert_eq!(nearest("head.bias", &["0.weight_ih_l0"]), None);
    }
}
