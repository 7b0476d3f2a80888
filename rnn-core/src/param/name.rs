//! A parameter's PyTorch-style name, stored as parts.

use core::fmt;

/// The deepest nesting a [`ParamName`] holds: 16 levels of layer indices (`network!` refuses
/// deeper networks, so every name it makes is whole).
pub const MAX_DEPTH: usize = 16;

/// A parameter's PyTorch-style name such as `0.weight_ih` or `2.0.bias`: the layer path (one
/// index per level of `Sequential`) and the tensor's name, stored as parts (no heap, never
/// cut). It prints and compares as the dotted string.
#[derive(Clone, Copy)]
pub struct ParamName {
    tensor: &'static str,
    /// Indices innermost first: `2.0.bias` is `[0, 2]`.
    path: [u16; MAX_DEPTH],
    depth: u8,
    /// An index above `u16::MAX` or a path deeper than [`MAX_DEPTH`] was added: the name is
    /// not whole, and weight I/O refuses it.
    overflow: bool,
    /// How many `_reverse` suffixes follow the tensor name (one for the backward direction of
    /// a `BiSequencer`, two for a `BiSequencer` inside another's backward direction).
    reverse: u8,
}

impl ParamName {
    /// The name of a tensor at the top level, e.g. `weight_ih`.
    #[must_use]
    pub const fn new(tensor: &'static str) -> Self {
        Self {
            tensor,
            path: [0; MAX_DEPTH],
            depth: 0,
            overflow: false,
            reverse: 0,
        }
    }

    /// This name with PyTorch's `_reverse` suffix added (`0.weight_ih` gives
    /// `0.weight_ih_reverse`): the backward direction of a `BiSequencer`.
    #[must_use]
    pub fn reversed(mut self) -> Self {
        match self.reverse.checked_add(1) {
            Some(r) => self.reverse = r,
            None => self.overflow = true,
        }
        self
    }

    /// How many `_reverse` suffixes the name has (0 outside a `BiSequencer`'s backward
    /// direction).
    #[must_use]
    pub fn reversals(&self) -> usize {
        usize::from(self.reverse)
    }

    /// This name with `index.` in front, e.g. `2` and `0.weight` give `2.0.weight`.
    #[must_use]
    pub fn with_index_prefix(mut self, index: usize) -> Self {
        match u16::try_from(index) {
            Ok(i) if (self.depth as usize) < MAX_DEPTH => {
                self.path[self.depth as usize] = i;
                self.depth += 1;
            }
            _ => self.overflow = true,
        }
        self
    }

    /// The tensor's own name (`weight_ih`), without the layer path.
    #[must_use]
    pub fn tensor(&self) -> &'static str {
        self.tensor
    }

    /// The layer indices, outermost first (`2.0.bias` gives `[2, 0]`).
    pub fn path(&self) -> impl Iterator<Item = usize> + '_ {
        self.path[..self.depth as usize]
            .iter()
            .rev()
            .map(|&i| usize::from(i))
    }

    /// `false` if the path was deeper than [`MAX_DEPTH`] or had an index above `u16::MAX`
    /// (only possible for hand-built nesting; weight I/O refuses such names).
    #[must_use]
    pub fn is_whole(&self) -> bool {
        !self.overflow
    }
}

impl PartialEq for ParamName {
    fn eq(&self, other: &Self) -> bool {
        self.tensor == other.tensor
            && self.depth == other.depth
            && self.overflow == other.overflow
            && self.reverse == other.reverse
            && self.path[..self.depth as usize] == other.path[..other.depth as usize]
    }
}

impl Eq for ParamName {}

impl PartialEq<str> for ParamName {
    fn eq(&self, other: &str) -> bool {
        // Compare piece by piece: no allocation.
        let mut rest = other;
        for index in self.path() {
            let mut digits = [0u8; 5];
            let mut at = digits.len();
            let mut k = index;
            loop {
                at -= 1;
                digits[at] = b'0' + (k % 10) as u8;
                k /= 10;
                if k == 0 {
                    break;
                }
            }
            let Some(r) = rest.as_bytes().strip_prefix(&digits[at..]) else {
                return false;
            };
            let Some(r) = r.strip_prefix(b".") else {
                return false;
            };
            // The stripped bytes are ASCII, so `r` starts at a character boundary.
            rest = &rest[rest.len() - r.len()..];
        }
        let Some(mut rest) = rest.strip_prefix(self.tensor) else {
            return false;
        };
        for _ in 0..self.reverse {
            match rest.strip_prefix("_reverse") {
                Some(r) => rest = r,
                None => return false,
            }
        }
        self.is_whole() && rest.is_empty()
    }
}

impl PartialEq<&str> for ParamName {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for index in self.path() {
            write!(f, "{index}.")?;
        }
        if self.overflow {
            f.write_str("(too deep).")?;
        }
        f.write_str(self.tensor)?;
        for _ in 0..self.reverse {
            f.write_str("_reverse")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ParamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_print_and_compare_as_dotted_paths_and_are_never_cut() {
        let n = ParamName::new("weight_ih")
            .with_index_prefix(0)
            .with_index_prefix(2);
        assert_eq!(n, "2.0.weight_ih");
        assert_eq!(alloc::format!("{n}"), "2.0.weight_ih");
        assert_eq!(alloc::format!("{n:?}"), "\"2.0.weight_ih\"");
        assert_ne!(n, "2.0.weight_hh");
        assert_ne!(n, "2.weight_ih");
        assert_ne!(n, "20.weight_ih");
        assert_eq!(n.path().collect::<alloc::vec::Vec<_>>(), [2, 0]);
        assert_eq!(
            ParamName::new("bias")
                .with_index_prefix(0)
                .with_index_prefix(17),
            "17.0.bias"
        );
        // 16 levels of two-digit indices: 64 bytes of path, which the old inline 64-byte
        // buffer cut, giving deep layers the same name.
        let deep = |last: usize| {
            (0..MAX_DEPTH - 1).fold(ParamName::new("weight").with_index_prefix(last), |n, _| {
                n.with_index_prefix(10)
            })
        };
        let (a, b) = (deep(11), deep(12));
        assert!(a.is_whole() && b.is_whole());
        assert_ne!(a, b);
        assert_ne!(alloc::format!("{a}"), alloc::format!("{b}"));
        assert!(alloc::format!("{a}").ends_with(".11.weight"));
        let too_deep = a.with_index_prefix(1);
        assert!(!too_deep.is_whole());
        assert!(!ParamName::new("w").with_index_prefix(70_000).is_whole());
    }
}
