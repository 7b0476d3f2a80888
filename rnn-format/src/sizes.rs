//! The size rules of a layer, which the macro checks on literal sizes (a spanned error) and
//! `rnn_core` on constant ones (a compile-time assertion): written once here.

/// The most elements any one matrix may have: 2^52 (36 PB of `f64`), or fewer where an
/// `isize` is narrower. rustc refuses a type of more than 2^61 bytes on 64-bit targets (with an
/// error inside `core`, E0080), and a layer's per-step storage holds several matrices in one
/// struct, so the bound keeps a margin of 2^6 such matrices (8 bytes each) below rustc's.
pub const MAX_ELEMENTS: usize = {
    let platform = (isize::MAX as usize) / 8;
    // In u64: `1 << 52` does not fit a 32-bit usize (a compile error on microcontrollers).
    let rustc: u64 = 1 << 52;
    if (platform as u64) < rustc {
        platform
    } else {
        rustc as usize
    }
};

/// The element count of the largest matrix of a layer `(in, out)` with `gates` gate blocks
/// (0 for a plain weight) over `columns` columns (the batch, or `seq_len * batch` for a whole
/// sequence's values): its weights, `gates * out` (at least `out`) rows by the wider of `in`
/// and `out`, or its per-step values, the taller of those rows and `in` by `columns`. `None`
/// if one exceeds [`MAX_ELEMENTS`] (in overflow-free arithmetic).
#[must_use]
pub const fn largest_matrix(
    gates: usize,
    n_in: usize,
    n_out: usize,
    columns: usize,
) -> Option<usize> {
    let rows = match (if gates == 0 { 1 } else { gates }).checked_mul(n_out) {
        Some(r) => r,
        None => return None,
    };
    let widest = if n_in > n_out { n_in } else { n_out };
    let tallest = if rows > n_in { rows } else { n_in };
    match (rows.checked_mul(widest), tallest.checked_mul(columns)) {
        (Some(w), Some(c)) => {
            let largest = if w > c { w } else { c };
            if largest <= MAX_ELEMENTS {
                Some(largest)
            } else {
                None
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_largest_matrix_is_the_weights_or_the_values() {
        // LSTM(10, 20): weights 80 x 20, values 80 x batch.
        assert_eq!(largest_matrix(4, 10, 20, 1), Some(1600));
        assert_eq!(largest_matrix(4, 10, 20, 100), Some(8000));
        // A plain weight, wider input: 5 x 30; values 30 x 2.
        assert_eq!(largest_matrix(0, 30, 5, 2), Some(150));
        assert_eq!(largest_matrix(0, 1, 1, MAX_ELEMENTS), Some(MAX_ELEMENTS));
        assert_eq!(largest_matrix(0, 1, 1, MAX_ELEMENTS + 1), None);
        assert_eq!(largest_matrix(4, 1, usize::MAX / 2, 1), None);
        assert_eq!(largest_matrix(0, usize::MAX, usize::MAX, 1), None);
    }
}
