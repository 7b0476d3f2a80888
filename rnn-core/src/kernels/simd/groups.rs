//! The unit groups a fused cell iterates over ([`UnitGroup`], [`unit_groups!`]).

use super::Lanes;

/// A group of `NG` blocks of `L::W` units of a recurrent cell ([`Lanes`]), in column `b` from
/// unit `j`; its last block ends at `H` (masked) if `LAST_PARTIAL`. See [`unit_groups`].
#[derive(Clone, Copy)]
pub(crate) struct UnitGroup<L, const H: usize, const NG: usize, const LAST_PARTIAL: bool> {
    /// The column (sample of the batch).
    pub(crate) b: usize,
    /// The first unit.
    pub(crate) j: usize,
    /// The lanes.
    lanes: core::marker::PhantomData<L>,
}

impl<L: Lanes, const H: usize, const NG: usize, const LAST_PARTIAL: bool>
    UnitGroup<L, H, NG, LAST_PARTIAL>
{
    /// The group in column `b` from unit `j`.
    #[inline(always)]
    pub(crate) const fn new(b: usize, j: usize) -> Self {
        Self {
            b,
            j,
            lanes: core::marker::PhantomData,
        }
    }

    /// Block `q` of a per-unit matrix (`H` rows per column) at `base`.
    ///
    /// # Safety
    /// `base` points to an `H x B` matrix with `b < B`.
    #[inline(always)]
    pub(crate) unsafe fn unit(self, base: *mut f32, q: usize) -> *mut f32 {
        // SAFETY: the caller's contract; the group's blocks are inside `H`.
        unsafe { base.add(self.b * H + self.j + L::W * q) }
    }

    /// Block `q` of gate `k` of a gate matrix (`K` gates of `H` rows per column) at `base`.
    ///
    /// # Safety
    /// `base` points to a `K H x B` matrix with `b < B`, and `k < K`.
    #[inline(always)]
    pub(crate) unsafe fn gate<const K: usize>(
        self,
        base: *mut f32,
        k: usize,
        q: usize,
    ) -> *mut f32 {
        // SAFETY: the caller's contract; the group's blocks are inside `H`.
        unsafe { base.add(self.b * K * H + k * H + self.j + L::W * q) }
    }

    /// The lanes of block `q` at `p` (a partial block's masked lanes read as 0).
    ///
    /// # Safety
    /// The CPU has `L`'s features; the block's units at `p` are readable.
    #[inline(always)]
    pub(crate) unsafe fn get(self, p: *const f32, q: usize) -> L::V {
        // SAFETY: the caller's contract; a partial block's masked lanes are not read.
        unsafe {
            if LAST_PARTIAL && q == NG - 1 {
                L::load_part(p, H % L::W)
            } else {
                L::load(p)
            }
        }
    }

    /// Stores block `q` at `p` (not a partial block's masked lanes).
    ///
    /// # Safety
    /// The CPU has `L`'s features; the block's units at `p` are writable.
    #[inline(always)]
    pub(crate) unsafe fn put(self, p: *mut f32, q: usize, v: L::V) {
        // SAFETY: the caller's contract; a partial block's masked lanes are not written.
        unsafe {
            if LAST_PARTIAL && q == NG - 1 {
                L::store_part(p, v, H % L::W);
            } else {
                L::store(p, v);
            }
        }
    }
}

/// Runs `$group::<L, H, NG, LAST_PARTIAL>($args.., UnitGroup { b, j, .. })` over the units of
/// a recurrent cell, `W = L::W` lanes per block ([`Lanes`]): for each of the `$b` columns,
/// groups of four blocks of `W` units from unit `j`, then one last group of one to four
/// blocks, its last block partial if `H % W != 0`. A cell's activations go through each stage
/// for all blocks of a group together, so that their long, independent chains interleave (one
/// block after another, they barely overlapped). The last group's shape is chosen by a
/// constant (an integer: a constant tuple is not pruned), so only the group functions a cell
/// needs are generated.
macro_rules! unit_groups {
    ($group:ident::<$l:ident, $h:ident $(, $extra:ident)*>($($arg:expr),*), $b:ident) => {{
        use $crate::kernels::simd::{Lanes, UnitGroup};
        let w = <$l as Lanes>::W;
        let full_groups = const { ($h.div_ceil(<$l as Lanes>::W) - 1) / 4 };
        for b in 0..$b {
            let j = 4 * w * full_groups;
            for g in 0..full_groups {
                $group::<$l, $h $(, $extra)*, 4, false>($($arg,)* UnitGroup::new(b, 4 * w * g));
            }
            // (blocks in the last group) * 2 + (its last block is partial).
            match const {
                (($h.div_ceil(<$l as Lanes>::W) - 1) % 4 + 1) * 2
                    + !$h.is_multiple_of(<$l as Lanes>::W) as usize
            } {
                2 => $group::<$l, $h $(, $extra)*, 1, false>($($arg,)* UnitGroup::new(b, j)),
                3 => $group::<$l, $h $(, $extra)*, 1, true>($($arg,)* UnitGroup::new(b, j)),
                4 => $group::<$l, $h $(, $extra)*, 2, false>($($arg,)* UnitGroup::new(b, j)),
                5 => $group::<$l, $h $(, $extra)*, 2, true>($($arg,)* UnitGroup::new(b, j)),
                6 => $group::<$l, $h $(, $extra)*, 3, false>($($arg,)* UnitGroup::new(b, j)),
                7 => $group::<$l, $h $(, $extra)*, 3, true>($($arg,)* UnitGroup::new(b, j)),
                8 => $group::<$l, $h $(, $extra)*, 4, false>($($arg,)* UnitGroup::new(b, j)),
                _ => $group::<$l, $h $(, $extra)*, 4, true>($($arg,)* UnitGroup::new(b, j)),
            }
        }
    }};
}
pub(crate) use unit_groups;
