//! Weights in the [safetensors](https://github.com/huggingface/safetensors) format, by
//! PyTorch-style name (`0.weight_ih`, `1.bias`, ...), row-major as PyTorch stores them.
//!
//! Loading checks every name, dtype and shape (and that no tensor is missing or left over)
//! before it changes anything: on error the parameters are untouched.
//!
//! The byte-level functions work without `std`; the file functions need the `std` feature.

use crate::{Float, Parameterized};
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

/// Why weights could not be saved or loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum WeightsError {
    /// Reading or writing the file failed.
    #[cfg(feature = "std")]
    Io(std::io::Error),
    /// The bytes are not a valid safetensors file.
    Format(String),
    /// The network has a parameter the file lacks.
    Missing(String),
    /// The file has a tensor the network lacks.
    Unexpected(String),
    /// A tensor has another dtype than the network's scalar.
    Dtype {
        /// Tensor name.
        name: String,
        /// The network's dtype (`F32` or `F64`).
        expected: &'static str,
        /// The file's dtype.
        found: String,
    },
    /// A tensor has another shape than the parameter.
    Shape {
        /// Tensor name.
        name: String,
        /// The parameter's shape.
        expected: Vec<usize>,
        /// The file's shape.
        found: Vec<usize>,
    },
}

impl fmt::Display for WeightsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            #[cfg(feature = "std")]
            Self::Io(e) => write!(f, "weights file: {e}"),
            Self::Format(m) => write!(f, "not a valid safetensors file: {m}"),
            Self::Missing(n) => write!(f, "the file has no tensor `{n}`"),
            Self::Unexpected(n) => {
                write!(f, "the file has a tensor `{n}` that the network does not")
            }
            Self::Dtype {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor `{name}` is {found}, the network needs {expected}"
                )
            }
            Self::Shape {
                name,
                expected,
                found,
            } => {
                write!(
                    f,
                    "tensor `{name}` has shape {found:?}, the network needs {expected:?}"
                )
            }
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

fn shape_of(rows: usize, cols: usize, is_vector: bool) -> Vec<usize> {
    if is_vector {
        alloc::vec![rows]
    } else {
        alloc::vec![rows, cols]
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// The parameters of `params` as a safetensors file in memory.
#[must_use]
pub fn to_safetensors<S: Float, P: Parameterized<S> + ?Sized>(params: &P) -> Vec<u8> {
    let width = core::mem::size_of::<S>();
    let mut header = String::from("{");
    let mut data: Vec<u8> = Vec::new();
    params.visit_parameters(&mut |p| {
        let (rows, cols) = p.value.shape();
        let start = data.len();
        for r in 0..rows {
            for c in 0..cols {
                p.value[(r, c)].extend_le_bytes(&mut data);
            }
        }
        if header.len() > 1 {
            header.push(',');
        }
        push_json_string(&mut header, &p.name);
        let shape: Vec<String> = shape_of(rows, cols, p.is_vector)
            .iter()
            .map(ToString::to_string)
            .collect();
        header.push_str(&format!(
            r#":{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}}"#,
            S::DTYPE,
            shape.join(","),
            start,
            start + rows * cols * width
        ));
    });
    header.push('}');
    // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
    while header.len() % 8 != 0 {
        header.push(' ');
    }
    let mut out = Vec::with_capacity(8 + header.len() + data.len());
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(&data);
    out
}

/// One tensor entry of a safetensors header.
struct Entry {
    name: String,
    dtype: String,
    shape: Vec<usize>,
    offsets: (usize, usize),
}

/// Loads `bytes` (a safetensors file) into `params`, checking everything first.
pub fn load_safetensors<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    bytes: &[u8],
) -> Result<(), WeightsError> {
    let fmt_err = |m: &str| WeightsError::Format(m.to_string());
    let len_bytes: [u8; 8] = bytes
        .get(..8)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| fmt_err("shorter than 8 bytes"))?;
    let header_len =
        usize::try_from(u64::from_le_bytes(len_bytes)).map_err(|_| fmt_err("header too long"))?;
    let header = bytes
        .get(8..8usize.saturating_add(header_len))
        .ok_or_else(|| fmt_err("header length past the end of the file"))?;
    let header = core::str::from_utf8(header).map_err(|_| fmt_err("header is not UTF-8"))?;
    let data = &bytes[8 + header_len..];
    let entries = json::parse_header(header).map_err(WeightsError::Format)?;

    // Check everything before changing anything.
    let mut matched = alloc::vec![false; entries.len()];
    let mut plan: Vec<usize> = Vec::new();
    let mut error: Option<WeightsError> = None;
    params.visit_parameters(&mut |p| {
        if error.is_some() {
            return;
        }
        let name = p.name.as_str();
        let Some(k) = entries.iter().position(|e| e.name == name) else {
            error = Some(WeightsError::Missing(name.to_string()));
            return;
        };
        let e = &entries[k];
        let (rows, cols) = p.value.shape();
        let expected = shape_of(rows, cols, p.is_vector);
        if e.dtype != S::DTYPE {
            error = Some(WeightsError::Dtype {
                name: name.to_string(),
                expected: S::DTYPE,
                found: e.dtype.clone(),
            });
        } else if e.shape != expected {
            error = Some(WeightsError::Shape {
                name: name.to_string(),
                expected,
                found: e.shape.clone(),
            });
        } else if e.offsets.1 < e.offsets.0
            || e.offsets.1 > data.len()
            || e.offsets.1 - e.offsets.0 != rows * cols * core::mem::size_of::<S>()
        {
            error = Some(WeightsError::Format(format!(
                "data offsets of `{name}` do not fit its shape or the file"
            )));
        }
        matched[k] = true;
        plan.push(k);
    });
    if let Some(e) = error {
        return Err(e);
    }
    if let Some(k) = matched.iter().position(|m| !m) {
        return Err(WeightsError::Unexpected(entries[k].name.clone()));
    }

    let width = core::mem::size_of::<S>();
    let mut i = 0;
    params.visit_parameters_mut(&mut |mut p| {
        let e = &entries[plan[i]];
        i += 1;
        let cols = p.value.ncols();
        let raw = &data[e.offsets.0..e.offsets.1];
        for (k, chunk) in raw.chunks_exact(width).enumerate() {
            p.value[(k / cols, k % cols)] = S::from_le_bytes_slice(chunk);
        }
    });
    Ok(())
}

/// Writes the parameters of `params` to a safetensors file at `path`.
#[cfg(feature = "std")]
pub fn save_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &P,
    path: impl AsRef<std::path::Path>,
) -> Result<(), WeightsError> {
    std::fs::write(path, to_safetensors(params))?;
    Ok(())
}

/// Loads a safetensors file at `path` into `params`; see [`load_safetensors`].
#[cfg(feature = "std")]
pub fn load_file<S: Float, P: Parameterized<S> + ?Sized>(
    params: &mut P,
    path: impl AsRef<std::path::Path>,
) -> Result<(), WeightsError> {
    let bytes = std::fs::read(path)?;
    load_safetensors(params, &bytes)
}

/// A minimal JSON reader for safetensors headers: an object of tensor entries (plus an optional
/// `__metadata__` object, which is skipped).
mod json {
    use super::Entry;
    use alloc::format;
    use alloc::string::{String, ToString};
    use alloc::vec::Vec;

    struct Reader<'a> {
        s: &'a [u8],
        at: usize,
    }

    type R<T> = Result<T, String>;

    impl Reader<'_> {
        fn ws(&mut self) {
            while self.s.get(self.at).is_some_and(|c| c.is_ascii_whitespace()) {
                self.at += 1;
            }
        }
        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.s.get(self.at).copied()
        }
        fn expect(&mut self, c: u8) -> R<()> {
            if self.peek() == Some(c) {
                self.at += 1;
                Ok(())
            } else {
                Err(format!("expected `{}` at byte {}", c as char, self.at))
            }
        }
        fn string(&mut self) -> R<String> {
            self.expect(b'"')?;
            let mut out = String::new();
            loop {
                let c = *self.s.get(self.at).ok_or("unterminated string")?;
                self.at += 1;
                match c {
                    b'"' => return Ok(out),
                    b'\\' => {
                        let e = *self.s.get(self.at).ok_or("unterminated escape")?;
                        self.at += 1;
                        match e {
                            b'"' => out.push('"'),
                            b'\\' => out.push('\\'),
                            b'/' => out.push('/'),
                            b'b' => out.push('\u{8}'),
                            b'f' => out.push('\u{c}'),
                            b'n' => out.push('\n'),
                            b'r' => out.push('\r'),
                            b't' => out.push('\t'),
                            b'u' => {
                                let hex =
                                    self.s.get(self.at..self.at + 4).ok_or("short \\u escape")?;
                                let hex =
                                    core::str::from_utf8(hex).map_err(|_| "bad \\u escape")?;
                                let code =
                                    u32::from_str_radix(hex, 16).map_err(|_| "bad \\u escape")?;
                                self.at += 4;
                                out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                            }
                            _ => return Err("bad escape".to_string()),
                        }
                    }
                    _ => {
                        // Copy one UTF-8 character.
                        let start = self.at - 1;
                        let len = match c {
                            0x00..=0x7f => 1,
                            0xc0..=0xdf => 2,
                            0xe0..=0xef => 3,
                            _ => 4,
                        };
                        let bytes = self.s.get(start..start + len).ok_or("truncated UTF-8")?;
                        out.push_str(core::str::from_utf8(bytes).map_err(|_| "invalid UTF-8")?);
                        self.at = start + len;
                    }
                }
            }
        }
        fn number(&mut self) -> R<usize> {
            self.ws();
            let start = self.at;
            while self.s.get(self.at).is_some_and(u8::is_ascii_digit) {
                self.at += 1;
            }
            let digits = core::str::from_utf8(&self.s[start..self.at]).map_err(|_| "bad number")?;
            digits
                .parse()
                .map_err(|_| format!("expected a non-negative integer at byte {start}"))
        }
        fn numbers(&mut self) -> R<Vec<usize>> {
            self.expect(b'[')?;
            let mut v = Vec::new();
            if self.peek() == Some(b']') {
                self.at += 1;
                return Ok(v);
            }
            loop {
                v.push(self.number()?);
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b']') => {
                        self.at += 1;
                        return Ok(v);
                    }
                    _ => return Err(format!("expected `,` or `]` at byte {}", self.at)),
                }
            }
        }
        /// Skips any JSON value (used for `__metadata__`).
        fn skip(&mut self) -> R<()> {
            match self.peek() {
                Some(b'"') => self.string().map(drop),
                Some(open @ (b'{' | b'[')) => {
                    let close = if open == b'{' { b'}' } else { b']' };
                    self.at += 1;
                    if self.peek() == Some(close) {
                        self.at += 1;
                        return Ok(());
                    }
                    loop {
                        if open == b'{' {
                            self.string()?;
                            self.expect(b':')?;
                        }
                        self.skip()?;
                        match self.peek() {
                            Some(b',') => self.at += 1,
                            Some(c) if c == close => {
                                self.at += 1;
                                return Ok(());
                            }
                            _ => return Err(format!("malformed value at byte {}", self.at)),
                        }
                    }
                }
                Some(_) => {
                    while self
                        .s
                        .get(self.at)
                        .is_some_and(|c| !b",}] \n\r\t".contains(c))
                    {
                        self.at += 1;
                    }
                    Ok(())
                }
                None => Err("unexpected end".to_string()),
            }
        }
        fn entry(&mut self, name: String) -> R<Entry> {
            self.expect(b'{')?;
            let (mut dtype, mut shape, mut offsets) = (None, None, None);
            loop {
                let key = self.string()?;
                self.expect(b':')?;
                match key.as_str() {
                    "dtype" => dtype = Some(self.string()?),
                    "shape" => shape = Some(self.numbers()?),
                    "data_offsets" => {
                        let v = self.numbers()?;
                        let [a, b] = v[..] else {
                            return Err(format!("`{name}`: data_offsets needs 2 numbers"));
                        };
                        offsets = Some((a, b));
                    }
                    _ => self.skip()?,
                }
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    _ => return Err(format!("expected `,` or `}}` at byte {}", self.at)),
                }
            }
            Ok(Entry {
                dtype: dtype.ok_or_else(|| format!("`{name}` has no dtype"))?,
                shape: shape.ok_or_else(|| format!("`{name}` has no shape"))?,
                offsets: offsets.ok_or_else(|| format!("`{name}` has no data_offsets"))?,
                name,
            })
        }
    }

    pub(super) fn parse_header(header: &str) -> Result<Vec<Entry>, String> {
        let mut r = Reader {
            s: header.as_bytes(),
            at: 0,
        };
        let mut entries = Vec::new();
        r.expect(b'{')?;
        if r.peek() == Some(b'}') {
            return Ok(entries);
        }
        loop {
            let name = r.string()?;
            r.expect(b':')?;
            if name == "__metadata__" {
                r.skip()?;
            } else {
                entries.push(r.entry(name)?);
            }
            match r.peek() {
                Some(b',') => r.at += 1,
                Some(b'}') => return Ok(entries),
                _ => return Err(format!("expected `,` or `}}` at byte {}", r.at)),
            }
        }
    }
}
