//! A safetensors file's header read and checked: its tensors (name, dtype, shape, where the
//! bytes are) and its metadata, without touching the values.

use crate::error::WeightsError;
use crate::plan::Offer;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use safetensors::{Dtype, SafeTensors};

/// The largest header (the JSON part of a file) that loading reads: 16 MiB, thousands of times
/// what any network here needs.
pub const HEADER_LIMIT: usize = 16 << 20;

/// A tensor of a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTensor {
    /// Its name.
    pub name: String,
    /// Its element type.
    pub dtype: Dtype,
    /// Its shape.
    pub shape: Vec<usize>,
    /// Where its bytes are in the whole file: `start..end` (row-major, little-endian).
    pub bytes: core::ops::Range<usize>,
}

impl Offer for FileTensor {
    fn name(&self) -> &str {
        &self.name
    }
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
}

/// A file's tensors (sorted by name) and its metadata.
#[derive(Debug)]
pub struct Header {
    /// The tensors, sorted by name.
    pub tensors: Vec<FileTensor>,
    /// The `__metadata__` map, if any, as pairs sorted by key.
    pub metadata: Option<Vec<(String, String)>>,
}

/// The names of a header in file order, to find duplicates (which JSON readers into maps,
/// the `safetensors` crate's too, silently merge).
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Keys;
            fn expecting(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut a: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some(k) = a.next_key::<String>()? {
                    a.next_value::<serde::de::IgnoredAny>()?;
                    keys.push(k);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(Visit)
    }
}

/// [`WeightsError::Format`] with `e`'s message.
pub fn format_err(e: impl core::fmt::Display) -> WeightsError {
    WeightsError::Format(e.to_string())
}

/// Reads and checks the header of the safetensors file `bytes`: the container (the
/// `safetensors` crate's checks: bounded header, offsets that tile the data exactly), a header
/// of at most [`HEADER_LIMIT`] bytes, JSON padded only as the format allows, no name twice.
///
/// # Errors
/// [`WeightsError::Format`] saying what is wrong.
pub fn read(bytes: &[u8]) -> Result<Header, WeightsError> {
    if let Some(len) = bytes.get(..8) {
        let mut n = [0u8; 8];
        n.copy_from_slice(len);
        let n = u64::from_le_bytes(n);
        if n > HEADER_LIMIT as u64 {
            return Err(WeightsError::Format(format!(
                "the header is {n} bytes, more than the {HEADER_LIMIT} bytes a weights file may have"
            )));
        }
    }
    let (n, meta) = SafeTensors::read_metadata(bytes).map_err(format_err)?;
    let header = bytes
        .get(8..8 + n)
        .and_then(|h| core::str::from_utf8(h).ok())
        .ok_or_else(|| format_err("header"))?;
    // The format: the header begins with `{` and may be padded at its end with spaces only
    // (JSON readers also take leading whitespace and tabs or newlines).
    if !header.starts_with('{') || !header.trim_end_matches(' ').ends_with('}') {
        return Err(format_err(
            "the header must begin with `{` and end with `}` padded by spaces only",
        ));
    }
    let Keys(mut keys) = serde_json::from_str(header).map_err(format_err)?;
    keys.sort_unstable();
    if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
        return Err(WeightsError::Format(format!(
            "the header names `{}` twice",
            w[0]
        )));
    }
    let start = 8 + n;
    let full = bytes.len();
    let mut tensors = Vec::new();
    for (name, info) in meta.tensors() {
        let (s, e) = info.data_offsets;
        let bytes = start.saturating_add(s)..start.saturating_add(e);
        if s > e || bytes.end > full {
            return Err(format_err(format!("data offsets of `{name}`")));
        }
        tensors.push(FileTensor {
            name,
            dtype: info.dtype,
            shape: info.shape.clone(),
            bytes,
        });
    }
    tensors.sort_unstable_by(|a, b| a.name.cmp(&b.name));
    let metadata = meta.metadata().as_ref().map(|m| {
        let mut pairs: Vec<(String, String)> =
            m.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        pairs.sort_unstable();
        pairs
    });
    Ok(Header { tensors, metadata })
}
