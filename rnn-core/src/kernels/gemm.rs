//! Batched `f32` products with intrinsics, once for AVX2 + FMA ([`avx2`]) and once for
//! AVX-512F ([`avx512`]): `C (+)= A B` ([`avx2::nn`]) and `C (+)= Aᵀ B` ([`avx2::tn`]), all
//! column-major, every size a const parameter.
//!
//! The generic register tiles of [`super`] (written for LLVM to vectorise) ran these products
//! at 33-66 GFLOP/s on one Zen 4 core (`A B`, `1024 x 256 x 32` and `512 x 128 x 32`) and the
//! `Aᵀ B` tiles far lower; written out with intrinsics, with the accumulators in named
//! registers and every edge a masked load, the same products run at 79-121 (AVX2) and 110-116
//! (AVX-512, whose 32 registers hold a 32 x 8 tile: a quarter of the passes over `A` instead of
//! a sixth) against an FMA peak of 115 (measured by `benches/src/bin/fma_peak.rs`).
//!
//! Both variants come from one template ([`products!`]): the tile shapes and the few vector
//! primitives (load, masked load and store, fused multiply-add, broadcast, horizontal sum)
//! are what differs. Results equal the generic kernels' up to the order of the sums.

/// The product kernels, written once over each module's vector primitives (`V`, `L` lanes,
/// `zero`, `loadu`, `load_part`, `storeu`, `store_part`, `fmadd`, `add`, `splat`, `hsum`) and tile
/// shapes: `A B` in `RV` vectors of rows by `NR` columns (`SHORT_NR` columns of one vector
/// when `A` has at most `L` rows), `Aᵀ B` in `TM x TN` dot products.
macro_rules! products {
    ($feature:literal, rv = $rv:literal, nr = $nr:literal, short_nr = $short_nr:literal,
     tm = $tm:literal, tn = $tnn:literal,
     prepack_min_m = $prepack_min_m:literal, steps_pack_min_m = $steps_pack_min_m:literal) => {
        /// Columns of `A` per packed panel ([`nn_rows_packed`]).
        const KC: usize = 256;

        /// The fewest rows of `A` for which [`nn_rows_packed`] is used: at 1024 rows a
        /// block's columns of `A` lie 4 KiB apart, on one L1 set, and packing paid (LSTM(32,
        /// 256), 0.86-0.89x the time per step); at 384 (GRU(64, 128)) it cost 1.08-1.12x and
        /// at 512 (LSTM(64, 128)) it was level (`profile`, alternated, AVX2 Zen 4).
        const PACK_MIN_M: usize = 1024;

        /// [`PACK_MIN_M`] for the products over a sequence's steps ([`nn_steps`],
        /// [`nn_steps2`]: the weight gradients), where `A` is a gate gradient with one row per
        /// gate and a copy of a block serves every tile of the weight gradient's columns (a
        /// parameter of the path, as [`PREPACK_MIN_M`]).
        const STEPS_PACK_MIN_M: usize = $steps_pack_min_m;

        /// `c[M x N] (+)= a[M x K] b`, where `b(kk, j) = b[kk * BRS + j * BCS]` (so `BRS = 1,
        /// BCS = K` is a column-major `K x N` matrix and `BRS = N, BCS = 1` its transpose).
        /// Panics if a slice is shorter than its shape.
        #[target_feature(enable = $feature)]
        pub(crate) fn nn<
            const M: usize,
            const K: usize,
            const N: usize,
            const BRS: usize,
            const BCS: usize,
        >(
            a: &[f32],
            b: &[f32],
            c: &mut [f32],
            accumulate: bool,
        ) {
            assert!(a.len() >= M * K && c.len() >= M * N);
            assert!(N == 0 || K == 0 || b.len() > (K - 1) * BRS + (N - 1) * BCS);
            // SAFETY: the lengths were checked above.
            unsafe {
                nn_sum::<M, K, N, BRS, BCS>(&[(a.as_ptr(), b.as_ptr())], c, accumulate, PACK_MIN_M)
            }
        }

        /// `c += Σ_s a_s b_s` over the `(a_s, b_s)` of `steps`, each product shaped as in
        /// [`nn`]: the weight gradient of a whole sequence with every tile of `c` loaded and
        /// stored once (from the first step to the last, so each output gets the same chain of
        /// fused multiply-adds as one [`nn`] per step in that order).
        ///
        /// # Safety
        /// Every `a_s` points to `M x K` readable `f32` and every `b_s` covers the `K x N`
        /// strided operand of [`nn`].
        #[target_feature(enable = $feature)]
        pub(crate) unsafe fn nn_steps<
            const M: usize,
            const K: usize,
            const N: usize,
            const BRS: usize,
            const BCS: usize,
        >(
            steps: &[(*const f32, *const f32)],
            c: &mut [f32],
        ) {
            assert!(c.len() >= M * N);
            // SAFETY: the caller's contract, and `c`'s length checked above.
            unsafe { nn_sum::<M, K, N, BRS, BCS>(steps, c, true, STEPS_PACK_MIN_M) }
        }

        /// [`nn_steps`] for two products over the same `a_s`: `c1 += Σ_s a_s b1_s` and
        /// `c2 += Σ_s a_s b2_s`, `b1_s`, `b2_s` transposed (`K x N1`, `K x N2` read from
        /// column-major `N x K`), the two `(a_s, b_s)` lists pairing the same `a_s`. Both
        /// products go through each block of rows before the next, so that the block of every
        /// `a_s` comes from memory once for both (a recurrent cell's two weight gradients from
        /// one gate gradient: for LSTM(32, 256) that gradient is 2 MiB per sequence). Each
        /// output gets the chain of fused multiply-adds of [`nn_steps`].
        ///
        /// # Safety
        /// As [`nn_steps`] for each product; `c1` holds `M x N1`, `c2` `M x N2`.
        #[target_feature(enable = $feature)]
        pub(crate) unsafe fn nn_steps2<
            const M: usize,
            const K: usize,
            const N1: usize,
            const N2: usize,
        >(
            [steps1, steps2]: [&[(*const f32, *const f32)]; 2],
            c1: &mut [f32],
            c2: &mut [f32],
        ) {
            assert!(c1.len() >= M * N1 && c2.len() >= M * N2);
            let nn = |steps, n, c: &mut [f32]| Nn {
                parts: [Part {
                    steps,
                    k: K,
                    brs: n,
                    bcs: 1,
                }],
                c: c.as_mut_ptr(),
                m: M,
                start: Start::C,
                pack_from: STEPS_PACK_MIN_M,
            };
            let (p1, p2) = (nn(steps1, N1, c1), nn(steps2, N2, c2));
            row_blocks::<M>(
                #[inline(always)]
                |i, rows| {
                    // SAFETY: the caller's contract, and the lengths of `c1`, `c2` checked
                    // above; the block lies inside `M` rows.
                    unsafe {
                        nn_block::<M, 1>(&p1, i, rows, N1);
                        nn_block::<M, 1>(&p2, i, rows, N2);
                    }
                },
            );
        }

        /// [`nn_steps`], starting from zero unless `accumulate`.
        ///
        /// # Safety
        /// As [`nn_steps`]; `c` holds `M x N`.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn nn_sum<
            const M: usize,
            const K: usize,
            const N: usize,
            const BRS: usize,
            const BCS: usize,
        >(
            steps: &[(*const f32, *const f32)],
            c: &mut [f32],
            accumulate: bool,
            pack_from: usize,
        ) {
            let p = Nn {
                parts: [Part {
                    steps,
                    k: K,
                    brs: BRS,
                    bcs: BCS,
                }],
                c: c.as_mut_ptr(),
                m: M,
                start: if accumulate { Start::C } else { Start::Zero },
                pack_from,
            };
            // SAFETY: the caller's contract; every tile lies inside `M x N`.
            unsafe { nn_all::<M, N, 1>(&p) }
        }

        /// `c[M x N] = a1 b1 + a2 b2 + bias1 + bias2` (each bias added to every column), for
        /// column-major `[a1, b1]` (`M x K1`, `K1 x N`) and `[a2, b2]` (`M x K2`, `K2 x N`):
        /// a recurrent cell's pre-activation in one pass over `c`, every tile starting from the
        /// biases (in that order, then the products' terms in order of `k`: the order of the
        /// batch-1 kernel). Panics if a slice is shorter than its shape.
        #[target_feature(enable = $feature)]
        pub(crate) fn nn2<const M: usize, const K1: usize, const K2: usize, const N: usize>(
            [a1, b1]: [&[f32]; 2],
            [a2, b2]: [&[f32]; 2],
            [bias1, bias2]: [Option<&[f32]>; 2],
            c: &mut [f32],
        ) {
            assert!(a1.len() >= M * K1 && b1.len() >= K1 * N && c.len() >= M * N);
            assert!(a2.len() >= M * K2 && b2.len() >= K2 * N);
            assert!(bias1.is_none_or(|b| b.len() >= M) && bias2.is_none_or(|b| b.len() >= M));
            let (s1, s2) = ([(a1.as_ptr(), b1.as_ptr())], [(a2.as_ptr(), b2.as_ptr())]);
            let part = |steps, k| Part {
                steps,
                k,
                brs: 1,
                bcs: k,
            };
            let p = Nn {
                parts: [part(&s1[..], K1), part(&s2[..], K2)],
                c: c.as_mut_ptr(),
                m: M,
                start: Start::Bias(bias1.map(<[f32]>::as_ptr), bias2.map(<[f32]>::as_ptr)),
                pack_from: PACK_MIN_M,
            };
            // SAFETY: the lengths were checked above; every tile lies inside `M x N`.
            unsafe { nn_all::<M, N, 2>(&p) }
        }

        /// The fewest rows of `A` for which [`prepacks`]: packing once per sequence removes
        /// the per-call copy that made [`nn_rows_packed`] lose below [`PACK_MIN_M`], and the
        /// tiles still read contiguous panels (`profile`, alternated, AVX2 Zen 4: LSTM(32,
        /// 256) sequences 0.72x the time per step, LSTM(64, 128) 0.84x; the seed network's
        /// 80 rows level, so they stay unpacked). A parameter of the path: AVX2 packs from
        /// 256 rows, AVX-512 from 1024 (on a Zen 5 with 512-bit FMA units, from 512 rows
        /// LSTM(64, 128) read 1.01-1.02x the time of the unpacked kernel in both phases,
        /// alternated; at 1024, LSTM(32, 256), see [`super::avx512`]).
        const PREPACK_MIN_M: usize = $prepack_min_m;

        /// Rows per block of a panel of [`pack2`].
        const PANEL_ROWS: usize = $rv * L;

        /// Whether [`nn2_packed`] over weights packed once ([`pack2`]) is this path's product
        /// for an `m`-row [`nn2`]: from [`PREPACK_MIN_M`] rows.
        pub(crate) const fn prepacks(m: usize) -> bool {
            m >= PREPACK_MIN_M
        }

        /// The number of `f32` of `m` rows and `k` columns packed by [`pack2`].
        pub(crate) const fn packed_len(m: usize, k: usize) -> usize {
            m.div_ceil(PANEL_ROWS) * PANEL_ROWS * k
        }

        /// Packs `[a1 a2]` (column-major `M x K1` and `M x K2`) for [`nn2_packed`]: blocks of
        /// [`PANEL_ROWS`] rows, each block's `K1 + K2` columns one after another (the rows
        /// past `M` of the last block zero). Panics if a slice is shorter than its shape.
        pub(crate) fn pack2<const M: usize, const K1: usize, const K2: usize>(
            a1: &[f32],
            a2: &[f32],
            out: &mut [f32],
        ) {
            let (a1, a2) = (&a1[..M * K1], &a2[..M * K2]);
            let out = &mut out[..packed_len(M, K1 + K2)];
            if M == 0 || K1 + K2 == 0 {
                return;
            }
            for (b, block) in out.chunks_exact_mut(PANEL_ROWS * (K1 + K2)).enumerate() {
                let (i, rows) = (b * PANEL_ROWS, PANEL_ROWS.min(M - b * PANEL_ROWS));
                let columns = a1.chunks_exact(M).chain(a2.chunks_exact(M));
                for (dst, src) in block.chunks_exact_mut(PANEL_ROWS).zip(columns) {
                    dst[..rows].copy_from_slice(&src[i..i + rows]);
                    dst[rows..].fill(0.0);
                }
            }
        }

        /// [`nn2`] with `[a1 a2]` packed by [`pack2`]: the same sums in the same order (the
        /// same bits), each block's tiles reading one contiguous panel instead of columns `4
        /// M` bytes apart or a copy made at this call. Panics if a slice is shorter than its
        /// shape.
        #[target_feature(enable = $feature)]
        pub(crate) fn nn2_packed<
            const M: usize,
            const K1: usize,
            const K2: usize,
            const N: usize,
        >(
            packed: &[f32],
            [b1, b2]: [&[f32]; 2],
            [bias1, bias2]: [Option<&[f32]>; 2],
            c: &mut [f32],
        ) {
            assert!(packed.len() >= packed_len(M, K1 + K2) && c.len() >= M * N);
            assert!(b1.len() >= K1 * N && b2.len() >= K2 * N);
            assert!(bias1.is_none_or(|b| b.len() >= M) && bias2.is_none_or(|b| b.len() >= M));
            let part = |k| Part {
                steps: &[],
                k,
                brs: 1,
                bcs: k,
            };
            let p = Nn {
                parts: [part(K1), part(K2)],
                c: c.as_mut_ptr(),
                m: M,
                start: Start::Bias(bias1.map(<[f32]>::as_ptr), bias2.map(<[f32]>::as_ptr)),
                pack_from: PACK_MIN_M,
            };
            let bs = [b1.as_ptr(), b2.as_ptr()];
            let blocks = packed.as_ptr();
            let mut i = 0;
            while i < M {
                let rows = PANEL_ROWS.min(M - i);
                // SAFETY: the lengths were checked above: block `i / PANEL_ROWS` of the panel
                // holds `K1 + K2` columns of `PANEL_ROWS` values from `i * (K1 + K2)`, and
                // every tile lies inside `M x N`.
                unsafe {
                    let panel = blocks.add(i * (K1 + K2));
                    let full = N - N % $nr;
                    let mut j = 0;
                    while j < full {
                        nn_tile_panel(&p, panel, bs, i, j, rows, $nr);
                        j += $nr;
                    }
                    if full < N {
                        nn_tile_panel(&p, panel, bs, i, full, rows, N % $nr);
                    }
                }
                i += PANEL_ROWS;
            }
        }

        /// One `rows x cols` tile of [`nn2_packed`] at `(i, j)`: from `p.start`, the columns
        /// of the block's `panel` (its parts' `k` one after another) times the rows of `bs`.
        ///
        /// # Safety
        /// As [`nn_tile`]; `panel` holds `Σ k` columns of [`PANEL_ROWS`] values, `bs` the
        /// parts' column-major `k x N` operands.
        #[inline(always)]
        unsafe fn nn_tile_panel<const P: usize>(
            p: &Nn<'_, P>,
            panel: *const f32,
            bs: [*const f32; P],
            i: usize,
            j: usize,
            rows: usize,
            cols: usize,
        ) {
            // SAFETY: the caller's contract: every pointer below stays inside its operand.
            unsafe {
                let mut acc = tile_start::<$rv, $nr, P>(p, p.start, i, j, rows, cols);
                let mut col = panel;
                for (part, b) in p.parts.iter().zip(bs) {
                    let b = b.add(j * part.bcs);
                    for kk in 0..part.k {
                        let mut av = [zero(); $rv];
                        for (r, v) in av.iter_mut().enumerate() {
                            *v = loadu(col.add(r * L));
                        }
                        tile_fma(&mut acc, &av, b.add(kk * part.brs), part.bcs, cols);
                        col = col.add(PANEL_ROWS);
                    }
                }
                tile_store(p, &acc, i, j, rows, cols);
            }
        }

        /// Every tile of an `M x N` product of [`Nn`].
        ///
        /// # Safety
        /// `p` covers its shapes: each part's steps point to `M x k` and `k x N` operands,
        /// `c` to `M x N`, the biases to `M`.
        #[inline]
        #[target_feature(enable = $feature)]
        unsafe fn nn_all<const M: usize, const N: usize, const P: usize>(p: &Nn<'_, P>) {
            row_blocks::<M>(
                #[inline(always)]
                |i, rows| {
                    // SAFETY: the caller's contract; the block lies inside `M` rows.
                    unsafe { nn_block::<M, P>(p, i, rows, N) }
                },
            );
        }

        /// Calls `block(i, rows)` for the blocks of rows of an `M`-row product in order: one
        /// block if `M <= L` (one vector of rows), else blocks of `RV` vectors and the rest.
        #[inline(always)]
        fn row_blocks<const M: usize>(mut block: impl FnMut(usize, usize)) {
            if const { M <= L } {
                block(0, M);
            } else {
                let tile = $rv * L;
                let full = M - M % tile;
                let mut i = 0;
                while i < full {
                    block(i, tile);
                    i += tile;
                }
                if const { !M.is_multiple_of($rv * L) } {
                    block(full, M % tile);
                }
            }
        }

        /// [`nn_rows`] for one block of [`row_blocks`], in the tile shape the block has: one
        /// vector of rows by `SHORT_NR` columns if `M <= L`, else `RV` vectors by `NR`.
        ///
        /// # Safety
        /// As [`nn_rows`], with `n` columns.
        #[inline(always)]
        unsafe fn nn_block<const M: usize, const P: usize>(
            p: &Nn<'_, P>,
            i: usize,
            rows: usize,
            n: usize,
        ) {
            // SAFETY: the caller's contract.
            unsafe {
                if const { M <= L } {
                    nn_rows::<1, $short_nr, P>(p, i, rows, n);
                } else if M >= p.pack_from && rows == $rv * L && n > $nr {
                    nn_rows_packed::<P>(p, i, n);
                } else {
                    nn_rows::<$rv, $nr, P>(p, i, rows, n);
                }
            }
        }

        /// Where a walk over the columns of `A` ([`runs`]) is: part, step, column of the step.
        #[derive(Clone, Copy, PartialEq)]
        struct Cursor {
            part: usize,
            step: usize,
            kk: usize,
        }

        /// Calls `run(part, (a, b), k0, k1, at)` for the runs of columns `k0..k1` of one step
        /// of one part, from `from` on in the order of the sums (parts, their steps, their
        /// columns), until [`KC`] columns are visited or the product ends; `at` counts the
        /// columns visited before the run. Returns where the walk stopped.
        #[inline(always)]
        fn runs<const P: usize>(
            p: &Nn<'_, P>,
            from: Cursor,
            mut run: impl FnMut(&Part<'_>, (*const f32, *const f32), usize, usize, usize),
        ) -> Cursor {
            let mut at = 0;
            let mut c = from;
            while c.part < P && at < KC {
                let part = &p.parts[c.part];
                if c.step == part.steps.len() || part.k == 0 {
                    c = Cursor {
                        part: c.part + 1,
                        step: 0,
                        kk: 0,
                    };
                    continue;
                }
                let k1 = part.k.min(c.kk + KC - at);
                run(part, part.steps[c.step], c.kk, k1, at);
                at += k1 - c.kk;
                c = if k1 == part.k {
                    Cursor {
                        part: c.part,
                        step: c.step + 1,
                        kk: 0,
                    }
                } else {
                    Cursor { kk: k1, ..c }
                };
            }
            c
        }

        /// [`nn_rows`] for a full block of `RV` vectors of rows, through a copy of its rows of
        /// `A` packed column after column ([`KC`] columns at a time, on the stack): the
        /// block's columns of a column-major `A` lie `4 M` bytes apart, on few L1 sets (every
        /// one of them for `M = 1024`), so each tile after the first read them from L2 again;
        /// packed, the tiles read one contiguous panel. Each output gets the same chain of
        /// fused multiply-adds (a tile stores its sums after a panel and loads them for the
        /// next: exact).
        ///
        /// # Safety
        /// As [`nn_rows`] with `rows = RV * L`.
        #[inline(always)]
        unsafe fn nn_rows_packed<const P: usize>(p: &Nn<'_, P>, i: usize, n: usize) {
            const R: usize = $rv * L;
            let mut panel = core::mem::MaybeUninit::<[[f32; R]; KC]>::uninit();
            let buf = panel.as_mut_ptr().cast::<f32>();
            let mut from = Cursor {
                part: 0,
                step: 0,
                kk: 0,
            };
            let (mut start, mut first) = (p.start, true);
            // SAFETY: the caller's contract; `runs` visits at most `KC` columns per panel, so
            // every copy stays inside `panel`, and the tiles read only the columns copied.
            unsafe {
                loop {
                    let to = runs(p, from, |_, (a, _), k0, k1, at| {
                        for kk in k0..k1 {
                            let src = a.add(kk * p.m + i);
                            let dst = buf.add((at + kk - k0) * R);
                            for r in 0..$rv {
                                storeu(dst.add(r * L), loadu(src.add(r * L)));
                            }
                        }
                    });
                    if to == from {
                        if first {
                            // No columns at all: the tiles are their start.
                            nn_rows::<$rv, $nr, P>(p, i, R, n);
                        }
                        break;
                    }
                    let full = n - n % $nr;
                    let mut j = 0;
                    while j < full {
                        nn_tile_packed(p, buf, from, start, i, j, $nr);
                        j += $nr;
                    }
                    if full < n {
                        nn_tile_packed(p, buf, from, start, i, full, n % $nr);
                    }
                    (start, first) = (Start::C, false);
                    from = to;
                }
            }
        }

        /// One `RV * L x cols` tile of [`nn_rows_packed`] at `(i, j)` over the panel's columns
        /// (the walk of [`runs`] from `from`), starting from `start`.
        ///
        /// # Safety
        /// As [`nn_tile`]; `buf` holds the panel [`runs`] from `from` visits.
        #[inline(always)]
        unsafe fn nn_tile_packed<const P: usize>(
            p: &Nn<'_, P>,
            buf: *const f32,
            from: Cursor,
            start: Start,
            i: usize,
            j: usize,
            cols: usize,
        ) {
            const R: usize = $rv * L;
            // SAFETY: the caller's contract: every pointer below stays inside its operand.
            unsafe {
                let mut acc = tile_start::<$rv, $nr, P>(p, start, i, j, R, cols);
                runs(p, from, |part, (_, b), k0, k1, at| {
                    let b = b.add(j * part.bcs);
                    for kk in k0..k1 {
                        let col = buf.add((at + kk - k0) * R);
                        let mut av = [zero(); $rv];
                        for (r, v) in av.iter_mut().enumerate() {
                            *v = loadu(col.add(r * L));
                        }
                        tile_fma(&mut acc, &av, b.add(kk * part.brs), part.bcs, cols);
                    }
                });
                tile_store(p, &acc, i, j, R, cols);
            }
        }

        /// The operands of a product as pointers, with their sizes (constants once inlined):
        /// `c (+)= Σ_parts Σ_steps a b`, each part with its own `k` and layout of `b`.
        struct Nn<'s, const P: usize> {
            parts: [Part<'s>; P],
            c: *mut f32,
            m: usize,
            start: Start,
            /// The fewest rows of `A` at which a block is copied into a panel
            /// ([`nn_rows_packed`]): [`PACK_MIN_M`] or [`STEPS_PACK_MIN_M`].
            pack_from: usize,
        }

        /// One part of [`Nn`]: `(a, b)` pairs sharing `k` and the strides of `b`.
        struct Part<'s> {
            steps: &'s [(*const f32, *const f32)],
            k: usize,
            brs: usize,
            bcs: usize,
        }

        /// What a tile of `c` starts from: zero, the old `c`, or bias rows added to every
        /// column.
        #[derive(Clone, Copy)]
        enum Start {
            Zero,
            C,
            Bias(Option<*const f32>, Option<*const f32>),
        }

        /// Rows `i..i + rows` of every column of `c`: `NR` columns at a time, then the rest.
        ///
        /// # Safety
        /// `p` covers the shapes of [`nn`]; `i + rows <= M`, `rows <= RV * L`.
        #[inline(always)]
        unsafe fn nn_rows<const RV: usize, const NR: usize, const P: usize>(
            p: &Nn<'_, P>,
            i: usize,
            rows: usize,
            n: usize,
        ) {
            let full = n - n % NR;
            let mut j = 0;
            // SAFETY: the caller's contract; every tile lies inside `n` columns.
            unsafe {
                while j < full {
                    nn_tile::<RV, NR, P>(p, i, j, rows, NR);
                    j += NR;
                }
                if full < n {
                    nn_tile::<RV, NR, P>(p, i, full, rows, n % NR);
                }
            }
        }

        /// One `rows x cols` tile of `c` at `(i, j)`, its accumulators in registers over all
        /// of `k`. `rows` and `cols` are constants once inlined, so the unused accumulators and
        /// the masks fold away.
        ///
        /// # Safety
        /// `p` covers the shapes of [`nn`]; the tile lies inside `M x N`, `rows <= RV * L`,
        /// `cols <= NR`.
        #[inline(always)]
        unsafe fn nn_tile<const RV: usize, const NR: usize, const P: usize>(
            p: &Nn<'_, P>,
            i: usize,
            j: usize,
            rows: usize,
            cols: usize,
        ) {
            // SAFETY: the caller's contract: every pointer below stays inside its operand.
            unsafe {
                let mut acc = tile_start::<RV, NR, P>(p, p.start, i, j, rows, cols);
                for part in &p.parts {
                    for &(a, b) in part.steps {
                        let (a, b) = (a.add(i), b.add(j * part.bcs));
                        for kk in 0..part.k {
                            let at = a.add(kk * p.m);
                            let mut av = [zero(); RV];
                            for (r, v) in av.iter_mut().enumerate() {
                                *v = load_rows(at.add(r * L), rows, r);
                            }
                            tile_fma(&mut acc, &av, b.add(kk * part.brs), part.bcs, cols);
                        }
                    }
                }
                tile_store(p, &acc, i, j, rows, cols);
            }
        }

        /// One column `k` of a tile's sums: `acc[q] += av * b(k, j + q)` for its `cols` columns,
        /// `bk` pointing to `b(k, j)` and the columns `bcs` apart.
        ///
        /// # Safety
        /// The `cols` values of `b` from `bk` are readable.
        #[inline(always)]
        unsafe fn tile_fma<const RV: usize, const NR: usize>(
            acc: &mut [[V; RV]; NR],
            av: &[V; RV],
            bk: *const f32,
            bcs: usize,
            cols: usize,
        ) {
            // SAFETY: the caller's contract.
            unsafe {
                for (q, col) in acc.iter_mut().enumerate().take(cols) {
                    let bv = splat(*bk.add(q * bcs));
                    for (v, &a) in col.iter_mut().zip(av) {
                        *v = fmadd(a, bv, *v);
                    }
                }
            }
        }

        /// The accumulators of a `rows x cols` tile at `(i, j)` as `start` has them.
        ///
        /// # Safety
        /// As [`nn_tile`].
        #[inline(always)]
        unsafe fn tile_start<const RV: usize, const NR: usize, const P: usize>(
            p: &Nn<'_, P>,
            start: Start,
            i: usize,
            j: usize,
            rows: usize,
            cols: usize,
        ) -> [[V; RV]; NR] {
            // SAFETY: the caller's contract: every pointer below stays inside its operand.
            unsafe {
                let mut acc = [[zero(); RV]; NR];
                match start {
                    Start::Zero => {}
                    Start::C => {
                        for (q, col) in acc.iter_mut().enumerate().take(cols) {
                            let at = p.c.add((j + q) * p.m + i);
                            for (r, v) in col.iter_mut().enumerate() {
                                *v = load_rows(at.add(r * L), rows, r);
                            }
                        }
                    }
                    Start::Bias(b1, b2) => {
                        let mut bias = [zero(); RV];
                        for b in [b1, b2].into_iter().flatten() {
                            for (r, v) in bias.iter_mut().enumerate() {
                                *v = add(*v, load_rows(b.add(i + r * L), rows, r));
                            }
                        }
                        for col in acc.iter_mut().take(cols) {
                            *col = bias;
                        }
                    }
                }
                acc
            }
        }

        /// Stores the accumulators of a `rows x cols` tile at `(i, j)`.
        ///
        /// # Safety
        /// As [`nn_tile`].
        #[inline(always)]
        unsafe fn tile_store<const RV: usize, const NR: usize, const P: usize>(
            p: &Nn<'_, P>,
            acc: &[[V; RV]; NR],
            i: usize,
            j: usize,
            rows: usize,
            cols: usize,
        ) {
            // SAFETY: the caller's contract: every pointer below stays inside its operand.
            unsafe {
                for (q, col) in acc.iter().enumerate().take(cols) {
                    let at = p.c.add((j + q) * p.m + i);
                    for (r, &v) in col.iter().enumerate() {
                        if r * L + L <= rows {
                            storeu(at.add(r * L), v);
                        } else if r * L < rows {
                            store_part(at.add(r * L), v, rows - r * L);
                        }
                    }
                }
            }
        }

        /// Vector `r` of a tile `rows` high from `at` (the start of vector `r`): whole, masked
        /// or (past the tile) zero.
        ///
        /// # Safety
        /// The tile's `rows` values from `at - r * L` are readable.
        #[inline(always)]
        unsafe fn load_rows(at: *const f32, rows: usize, r: usize) -> V {
            // SAFETY: the caller's contract.
            unsafe {
                if r * L + L <= rows {
                    loadu(at)
                } else if r * L < rows {
                    load_part(at, rows - r * L)
                } else {
                    zero()
                }
            }
        }

        /// Adds `L` values of `k` (or the last `lanes < L`) from `pa` (`ma` columns `k` apart)
        /// times those from `pb` (`nb` columns) into `acc`.
        ///
        /// # Safety
        /// The `lanes` values from every column start are readable.
        #[inline(always)]
        unsafe fn tn_chunk<const TM: usize, const TN: usize>(
            mut acc: [[V; TN]; TM],
            pa: *const f32,
            pb: *const f32,
            k: usize,
            ma: usize,
            nb: usize,
            lanes: usize,
        ) -> [[V; TN]; TM] {
            // SAFETY: the caller's contract.
            unsafe {
                let load = |p: *const f32| {
                    if lanes == L {
                        loadu(p)
                    } else {
                        load_part(p, lanes)
                    }
                };
                let mut bv = [zero(); TN];
                for (r, v) in bv.iter_mut().enumerate().take(nb) {
                    *v = load(pb.add(r * k));
                }
                for (q, row) in acc.iter_mut().enumerate().take(ma) {
                    let av = load(pa.add(q * k));
                    for (v, &b) in row.iter_mut().zip(&bv).take(nb) {
                        *v = fmadd(av, b, *v);
                    }
                }
            }
            acc
        }

        /// `c[M x N] (+)= aᵀ b` for `a: K x M`, `b: K x N`, column-major: every output is a dot
        /// product of two contiguous columns, in tiles of `TM` columns of `a` by `TN` of `b`
        /// sharing their loads. Panics if a slice is shorter than its shape.
        #[target_feature(enable = $feature)]
        pub(crate) fn tn<const M: usize, const K: usize, const N: usize>(
            a: &[f32],
            b: &[f32],
            c: &mut [f32],
            accumulate: bool,
        ) {
            assert!(a.len() >= K * M && b.len() >= K * N && c.len() >= M * N);
            let p = Tn {
                a: a.as_ptr(),
                b: b.as_ptr(),
                c: c.as_mut_ptr(),
                m: M,
                k: K,
                accumulate,
            };
            let (tm, tn) = ($tm, $tnn);
            let (full_m, full_n) = (M - M % tm, N - N % tn);
            // Columns of `a` outermost: a tile's `TM` columns stay in L1 while every column of
            // `b` passes by (from L2), so a weight matrix larger than L2 is read from memory
            // once, not once per `TN` columns of `b` (W_hhᵀ da of LSTM(32, 256), batch 32:
            // 10-15 % faster).
            // SAFETY: the lengths were checked above; every tile lies inside `M x N`.
            unsafe {
                let mut i = 0;
                while i < full_m {
                    let mut j = 0;
                    while j < full_n {
                        tn_tile::<$tm, $tnn>(&p, [i, j], [tm, tn]);
                        j += tn;
                    }
                    if full_n < N {
                        tn_tile::<$tm, $tnn>(&p, [i, full_n], [tm, N % tn]);
                    }
                    i += tm;
                }
                if full_m < M {
                    let mut j = 0;
                    while j < full_n {
                        tn_tile::<$tm, $tnn>(&p, [full_m, j], [M % tm, tn]);
                        j += tn;
                    }
                    if full_n < N {
                        let (ma, nb) = (M % tm, N % tn);
                        tn_tile::<$tm, $tnn>(&p, [full_m, full_n], [ma, nb]);
                    }
                }
            }
        }

        /// The operands of [`tn`] as pointers: `c (+)= aᵀ b` for `a: k x m`, `b: k x n`.
        struct Tn {
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            m: usize,
            k: usize,
            accumulate: bool,
        }

        /// Outputs `(i..i + ma, j..j + nb)` of [`tn`] (`[i, j]` and `[ma, nb]`): `ma x nb`
        /// vector accumulators over `k`, the last `k % L` values masked, each summed across its
        /// lanes at the end.
        ///
        /// # Safety
        /// `p.a`, `p.b`, `p.c` hold `k x m`, `k x n`, `m x n`; the tile lies inside `m x n`,
        /// `ma <= TM`, `nb <= TN`.
        #[inline(always)]
        unsafe fn tn_tile<const TM: usize, const TN: usize>(
            p: &Tn,
            [i, j]: [usize; 2],
            [ma, nb]: [usize; 2],
        ) {
            let Tn {
                a,
                b,
                c,
                m,
                k,
                accumulate,
            } = *p;
            // SAFETY: the caller's contract: every pointer below stays inside its operand.
            unsafe {
                let mut acc = [[zero(); TN]; TM];
                let (pa, pb) = (a.add(i * k), b.add(j * k));
                let full = k - k % L;
                let mut kk = 0;
                while kk < full {
                    acc = tn_chunk(acc, pa.add(kk), pb.add(kk), k, ma, nb, L);
                    kk += L;
                }
                if full < k {
                    acc = tn_chunk(acc, pa.add(full), pb.add(full), k, ma, nb, k % L);
                }
                for (q, row) in acc.iter().enumerate().take(ma) {
                    for (r, &v) in row.iter().enumerate().take(nb) {
                        let out = c.add((j + r) * m + i + q);
                        let s = hsum(v);
                        *out = if accumulate { *out + s } else { s };
                    }
                }
            }
        }
    };
}

/// The kernels with AVX2 + FMA: `A B` in 16 x 6 tiles (12 accumulators, two loads of `A` and
/// one broadcast of `B`: 15 of the 16 registers), 8 x 12 for outputs of at most 8 rows; `Aᵀ B`
/// in 4 x 3 tiles.
pub(crate) mod avx2 {
    use core::arch::x86_64::*;

    type V = __m256;
    const L: usize = 8;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn zero() -> V {
        _mm256_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn splat(x: f32) -> V {
        _mm256_set1_ps(x)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn fmadd(a: V, b: V, c: V) -> V {
        _mm256_fmadd_ps(a, b, c)
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn add(a: V, b: V) -> V {
        _mm256_add_ps(a, b)
    }
    /// # Safety
    /// Eight `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn loadu(p: *const f32) -> V {
        // SAFETY: the caller's contract.
        unsafe { _mm256_loadu_ps(p) }
    }
    /// The first `n < 8` lanes from `p`, the others zero (never reading past them).
    ///
    /// # Safety
    /// `n` `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn load_part(p: *const f32, n: usize) -> V {
        // SAFETY: the caller's contract; the masked lanes are not read.
        unsafe { super::super::simd::load::<true>(p, super::super::simd::lane_mask(n)) }
    }
    /// # Safety
    /// Eight `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn storeu(p: *mut f32, v: V) {
        // SAFETY: the caller's contract.
        unsafe { _mm256_storeu_ps(p, v) }
    }
    /// # Safety
    /// `n` `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn store_part(p: *mut f32, v: V, n: usize) {
        // SAFETY: the caller's contract.
        unsafe { super::super::simd::store::<true>(p, v, n) }
    }
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum(v: V) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        _mm_cvtss_f32(_mm_add_ss(s, _mm_shuffle_ps(s, s, 1)))
    }

    products!(
        "avx2,fma",
        rv = 2,
        nr = 6,
        short_nr = 12,
        tm = 4,
        tn = 3,
        prepack_min_m = 256,
        steps_pack_min_m = 256
    );
}

/// The kernels with AVX-512F: `A B` in 32 x 8 tiles (16 accumulators of the 32 registers),
/// 16 x 16 for outputs of at most 16 rows; `Aᵀ B` in 4 x 3 tiles of 16 lanes. Masked loads and
/// stores use mask registers.
///
/// They pack `A` as the AVX2 kernels do, from 1024 rows only: on a Zen 5 (512-bit FMA units,
/// 48 KiB L1), alternated with the unpacked kernels (`profile`, 6 rounds), LSTM(32, 256) at
/// batch 32 ran whole sequences at 0.82x the time per step and trained at 0.90-0.92x
/// (forward 0.82-0.83x, backward 0.95-0.97x); LSTM(64, 128) was level with the thresholds at
/// 1024 and 1.01-1.02x slower with AVX2's 256.
pub(crate) mod avx512 {
    use core::arch::x86_64::*;

    type V = __m512;
    const L: usize = 16;

    #[inline]
    #[target_feature(enable = "avx512f")]
    fn zero() -> V {
        _mm512_setzero_ps()
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn splat(x: f32) -> V {
        _mm512_set1_ps(x)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn fmadd(a: V, b: V, c: V) -> V {
        _mm512_fmadd_ps(a, b, c)
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn add(a: V, b: V) -> V {
        _mm512_add_ps(a, b)
    }
    /// # Safety
    /// Sixteen `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn loadu(p: *const f32) -> V {
        // SAFETY: the caller's contract.
        unsafe { _mm512_loadu_ps(p) }
    }
    /// Lanes `0..n` (`n < 16`).
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn mask(n: usize) -> __mmask16 {
        ((1u32 << n) - 1) as __mmask16
    }
    /// The first `n < 16` lanes from `p`, the others zero (masked lanes are not read).
    ///
    /// # Safety
    /// `n` `f32` at `p` are readable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn load_part(p: *const f32, n: usize) -> V {
        // SAFETY: the caller's contract; masked lanes are not read.
        unsafe { _mm512_maskz_loadu_ps(mask(n), p) }
    }
    /// # Safety
    /// Sixteen `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn storeu(p: *mut f32, v: V) {
        // SAFETY: the caller's contract.
        unsafe { _mm512_storeu_ps(p, v) }
    }
    /// # Safety
    /// `n` `f32` at `p` are writable.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn store_part(p: *mut f32, v: V, n: usize) {
        // SAFETY: the caller's contract; masked lanes are not written.
        unsafe { _mm512_mask_storeu_ps(p, mask(n), v) }
    }
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn hsum(v: V) -> f32 {
        _mm512_reduce_add_ps(v)
    }

    products!(
        "avx512f",
        rv = 2,
        nr = 8,
        short_nr = 16,
        tm = 4,
        tn = 3,
        prepack_min_m = 1024,
        steps_pack_min_m = 1024
    );
}

/// `dst = srcᵀ` for column-major `src: R x C` (`dst: C x R`, column-major): 8 x 8 blocks
/// through AVX registers, the edges one value at a time.
///
/// # Safety
/// The CPU has AVX; `src` holds `R x C` readable and `dst` `C x R` writable `f32`, apart.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn transpose<const R: usize, const C: usize>(src: *const f32, dst: *mut f32) {
    use core::arch::x86_64::*;
    let (r8, c8) = (R - R % 8, C - C % 8);
    // SAFETY: the caller's contract; every access is inside `R x C` (`C x R` for `dst`).
    unsafe {
        for c in (0..c8).step_by(8) {
            for r in (0..r8).step_by(8) {
                let at = src.add(c * R + r);
                let v: [__m256; 8] = core::array::from_fn(|q| _mm256_loadu_ps(at.add(q * R)));
                let t0 = _mm256_unpacklo_ps(v[0], v[1]);
                let t1 = _mm256_unpackhi_ps(v[0], v[1]);
                let t2 = _mm256_unpacklo_ps(v[2], v[3]);
                let t3 = _mm256_unpackhi_ps(v[2], v[3]);
                let t4 = _mm256_unpacklo_ps(v[4], v[5]);
                let t5 = _mm256_unpackhi_ps(v[4], v[5]);
                let t6 = _mm256_unpacklo_ps(v[6], v[7]);
                let t7 = _mm256_unpackhi_ps(v[6], v[7]);
                let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
                let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
                let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
                let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
                let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
                let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
                let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
                let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
                let out = [
                    _mm256_permute2f128_ps::<0x20>(u0, u4),
                    _mm256_permute2f128_ps::<0x20>(u1, u5),
                    _mm256_permute2f128_ps::<0x20>(u2, u6),
                    _mm256_permute2f128_ps::<0x20>(u3, u7),
                    _mm256_permute2f128_ps::<0x31>(u0, u4),
                    _mm256_permute2f128_ps::<0x31>(u1, u5),
                    _mm256_permute2f128_ps::<0x31>(u2, u6),
                    _mm256_permute2f128_ps::<0x31>(u3, u7),
                ];
                let to = dst.add(r * C + c);
                for (q, v) in out.into_iter().enumerate() {
                    _mm256_storeu_ps(to.add(q * C), v);
                }
            }
            for r in r8..R {
                for q in c..c + 8 {
                    *dst.add(r * C + q) = *src.add(q * R + r);
                }
            }
        }
        for c in c8..C {
            for r in 0..R {
                *dst.add(r * C + c) = *src.add(c * R + r);
            }
        }
    }
}

/// `gx1 = w1ᵀ g` (if `gx1` is given) and `gx2 = w2ᵀ g` for `g: R x B`, `w1: R x C1`, `w2: R x
/// C2` (column-major):
/// the input and state gradients of a recurrent cell from its gate gradients, with AVX-512.
/// Computed transposed, `gxᵀ = gᵀ w`, as `A B` products (no horizontal sums, and `gᵀ`'s short
/// columns instead of the dot-product kernel's 4 KiB-apart columns of `w` and `g`, which share
/// their L1 sets), through `gᵀ`, `gx1ᵀ` and `gx2ᵀ` on this function's stack: `B (R + C1 + C2)`
/// values, which the caller keeps to [`TRANSPOSED_MAX`]. Panics if a slice is shorter than
/// its shape.
///
/// # Safety
/// The CPU has AVX-512F (and so AVX2 and FMA).
#[inline(never)]
#[target_feature(enable = "avx512f,avx2,fma")]
pub(crate) unsafe fn transposed_products<
    const R: usize,
    const C1: usize,
    const C2: usize,
    const B: usize,
>(
    gx1: Option<&mut [f32]>,
    w1: &[f32],
    gx2: &mut [f32],
    w2: &[f32],
    g: &[f32],
) {
    use core::mem::MaybeUninit;
    assert!(g.len() >= R * B && w1.len() >= R * C1 && w2.len() >= R * C2);
    assert!(gx1.as_ref().is_none_or(|gx1| gx1.len() >= C1 * B) && gx2.len() >= C2 * B);
    let mut gt = MaybeUninit::<[[f32; B]; R]>::uninit();
    let mut t1 = MaybeUninit::<[[f32; B]; C1]>::uninit();
    let mut t2 = MaybeUninit::<[[f32; B]; C2]>::uninit();
    let (gt, t1, t2) = (
        gt.as_mut_ptr().cast::<f32>(),
        t1.as_mut_ptr().cast::<f32>(),
        t2.as_mut_ptr().cast::<f32>(),
    );
    // SAFETY: the lengths were checked above; `transpose` writes every value of `gt` before
    // the products read it, and the products write every value of `t1`, `t2` (not
    // accumulating) before they are transposed out.
    unsafe {
        transpose::<R, B>(g.as_ptr(), gt);
        let gts = core::slice::from_raw_parts(gt, B * R);
        if let Some(gx1) = gx1 {
            avx512::nn::<B, R, C1, 1, R>(
                gts,
                w1,
                core::slice::from_raw_parts_mut(t1, B * C1),
                false,
            );
            transpose::<B, C1>(t1, gx1.as_mut_ptr());
        }
        avx512::nn::<B, R, C2, 1, R>(gts, w2, core::slice::from_raw_parts_mut(t2, B * C2), false);
        transpose::<B, C2>(t2, gx2.as_mut_ptr());
    }
}

/// The most values (`B (R + C1 + C2)`, 256 KiB of `f32`) that [`transposed_products`] keeps on
/// its stack; larger shapes use the dot-product kernel.
pub(crate) const TRANSPOSED_MAX: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use crate::Rng;
    use alloc::vec::Vec;

    fn random(rng: &mut Rng, n: usize) -> Vec<f32> {
        (0..n).map(|_| rng.uniform(-1.0, 1.0) as f32).collect()
    }

    /// `got` equals `start + Σ_k a(i, k) b(k, j)` (computed in `f64` from the same `f32`
    /// values) within a few roundings of the sum of the terms' magnitudes.
    fn assert_product(
        got: &[f32],
        start: Option<&[f32]>,
        (m, k, n): (usize, usize, usize),
        a: impl Fn(usize, usize) -> f32,
        b: impl Fn(usize, usize) -> f32,
        what: &str,
    ) {
        for j in 0..n {
            for i in 0..m {
                let c0 = start.map_or(0.0, |s| f64::from(s[j * m + i]));
                let (mut sum, mut mag) = (c0, c0.abs());
                for kk in 0..k {
                    let t = f64::from(a(i, kk)) * f64::from(b(kk, j));
                    sum += t;
                    mag += t.abs();
                }
                let err = (f64::from(got[j * m + i]) - sum).abs();
                assert!(
                    err <= 4.0 * (k as f64 + 1.0) * f64::from(f32::EPSILON) * mag + 1e-30,
                    "{what} {m}x{k}x{n} at ({i}, {j}): {} vs {sum}",
                    got[j * m + i]
                );
            }
        }
    }

    /// A product kernel of one path at one shape: `(a, b, c, accumulate)`.
    type Product = fn(&[f32], &[f32], &mut [f32], bool);

    /// Both products of one path at `M x K x N`, with and without accumulating, `B` column-major
    /// and transposed; every tile shape and edge is reached by the sizes below.
    fn check<const M: usize, const K: usize, const N: usize>(
        nn: [Product; 2],
        tn: Product,
        path: &str,
    ) {
        let mut rng = Rng::new((M * 1000 + K * 10 + N) as u64);
        let a = random(&mut rng, M * K);
        let b = random(&mut rng, K * N);
        let start = random(&mut rng, M * N);
        let col_a = |i: usize, kk: usize| a[kk * M + i];
        for accumulate in [false, true] {
            let s = accumulate.then_some(&start[..]);
            // B column-major (`BRS = 1, BCS = K`), then the same values read as its transpose
            // stored row-major (`BRS = N, BCS = 1`).
            let mut c = start.clone();
            nn[0](&a, &b, &mut c, accumulate);
            let what = alloc::format!("{path} nn");
            assert_product(&c, s, (M, K, N), col_a, |kk, j| b[j * K + kk], &what);
            let mut c = start.clone();
            nn[1](&a, &b, &mut c, accumulate);
            assert_product(&c, s, (M, K, N), col_a, |kk, j| b[kk * N + j], &what);
            // aᵀ b with `a: K x M` (the same values), `b: K x N`.
            let mut c = start.clone();
            tn(&a, &b, &mut c, accumulate);
            let what = alloc::format!("{path} tn");
            let at = |i: usize, kk: usize| a[i * K + kk];
            assert_product(&c, s, (M, K, N), at, |kk, j| b[j * K + kk], &what);
        }
    }

    macro_rules! shapes {
        ($module:ident, $path:literal, $(($m:literal, $k:literal, $n:literal)),* $(,)?) => {
            $(check::<$m, $k, $n>(
                [
                    // SAFETY (all three): the caller checked the CPU's features.
                    |a, b, c, acc| unsafe { super::$module::nn::<$m, $k, $n, 1, $k>(a, b, c, acc) },
                    |a, b, c, acc| unsafe { super::$module::nn::<$m, $k, $n, $n, 1>(a, b, c, acc) },
                ],
                |a, b, c, acc| unsafe { super::$module::tn::<$m, $k, $n>(a, b, c, acc) },
                $path,
            );)*
        };
    }

    /// Rows: a short output (1, 5, 8), one vector and its edges (13, 16, 17), a full AVX2 tile
    /// (16) and an AVX-512 one (32) with partial ones beside them (33, 47, 80); columns: single,
    /// partial and full tiles of 3, 6, 8, 12 and 16; `k` below, at and past a vector's lanes.
    macro_rules! all_shapes {
        ($module:ident, $path:literal) => {
            shapes!(
                $module,
                $path,
                (1, 1, 1),
                (5, 20, 32),
                (8, 3, 13),
                (13, 7, 2),
                (16, 16, 6),
                (17, 9, 17),
                (32, 33, 8),
                (33, 5, 9),
                (47, 17, 12),
                (80, 20, 32),
                (64, 40, 7),
                (3, 64, 5),
                (20, 80, 1),
                (24, 1, 16),
                (100, 31, 33),
                // Packed panels of `A` (at least `PACK_MIN_M` rows): `k`
                // over one panel (256 columns) with a partial block of rows, and at two.
                (1029, 300, 13),
                (1024, 512, 7),
            )
        };
    }

    /// `nn_steps` over three steps equals three `nn` calls accumulating in the same order,
    /// bit for bit (what lets the whole-sequence backward defer the weight gradients without
    /// changing a bit), and the sum in `f64`.
    macro_rules! steps_shapes {
        ($module:ident, $(($m:literal, $k:literal, $n:literal)),* $(,)?) => {$({
            let mut rng = Rng::new(($m * 100 + $k * 10 + $n) as u64);
            let a: Vec<Vec<f32>> = (0..3).map(|_| random(&mut rng, $m * $k)).collect();
            let b: Vec<Vec<f32>> = (0..3).map(|_| random(&mut rng, $k * $n)).collect();
            let start = random(&mut rng, $m * $n);
            let mut one_by_one = start.clone();
            for (a, b) in a.iter().zip(&b) {
                // SAFETY: the caller checked the CPU's features.
                unsafe { super::$module::nn::<$m, $k, $n, $n, 1>(a, b, &mut one_by_one, true) };
            }
            let steps: Vec<(*const f32, *const f32)> =
                a.iter().zip(&b).map(|(a, b)| (a.as_ptr(), b.as_ptr())).collect();
            let mut summed = start.clone();
            // SAFETY: the caller checked the CPU's features; every pointer covers its shape.
            unsafe { super::$module::nn_steps::<$m, $k, $n, $n, 1>(&steps, &mut summed) };
            assert_eq!(summed, one_by_one, "{}x{}x{}", $m, $k, $n);
            // Two products over the same `a`: each as `nn_steps` alone, bit for bit.
            let b2: Vec<Vec<f32>> = (0..3).map(|_| random(&mut rng, $k * 5)).collect();
            let steps2: Vec<(*const f32, *const f32)> =
                a.iter().zip(&b2).map(|(a, b)| (a.as_ptr(), b.as_ptr())).collect();
            let start2 = random(&mut rng, $m * 5);
            let mut alone2 = start2.clone();
            // SAFETY: as above.
            unsafe { super::$module::nn_steps::<$m, $k, 5, 5, 1>(&steps2, &mut alone2) };
            let (mut both1, mut both2) = (start.clone(), start2.clone());
            // SAFETY: as above.
            unsafe {
                super::$module::nn_steps2::<$m, $k, $n, 5>([&steps, &steps2], &mut both1, &mut both2)
            };
            assert_eq!((both1, both2), (summed.clone(), alone2), "two: {}x{}x{}", $m, $k, $n);
            let mut want = start.clone();
            for j in 0..$n {
                for i in 0..$m {
                    let t: f64 = (0..3)
                        .flat_map(|s| (0..$k).map(move |kk| (s, kk)))
                        .map(|(s, kk)| f64::from(a[s][kk * $m + i]) * f64::from(b[s][kk * $n + j]))
                        .sum();
                    want[j * $m + i] = (f64::from(start[j * $m + i]) + t) as f32;
                }
            }
            for (x, y) in summed.iter().zip(&want) {
                assert!((x - y).abs() < 1e-4, "{x} vs {y}");
            }
        })*};
    }

    /// `nn2` (two products and two bias vectors, the batched pre-activation of a recurrent
    /// cell) against the sum in `f64`, with both biases, one and none.
    macro_rules! two_product_shapes {
        ($module:ident, $(($m:literal, $k1:literal, $k2:literal, $n:literal)),* $(,)?) => {$({
            let mut rng = Rng::new(($m * 1000 + $k1 * 100 + $k2 * 10 + $n) as u64);
            let (a1, b1) = (random(&mut rng, $m * $k1), random(&mut rng, $k1 * $n));
            let (a2, b2) = (random(&mut rng, $m * $k2), random(&mut rng, $k2 * $n));
            let (bias1, bias2) = (random(&mut rng, $m), random(&mut rng, $m));
            for (with1, with2) in [(true, true), (false, true), (true, false), (false, false)] {
                let (o1, o2) = (with1.then_some(&bias1[..]), with2.then_some(&bias2[..]));
                let mut c = random(&mut rng, $m * $n); // overwritten, not accumulated
                // SAFETY: the caller checked the CPU's features.
                unsafe { super::$module::nn2::<$m, $k1, $k2, $n>([&a1, &b1], [&a2, &b2], [o1, o2], &mut c) };
                // The same product over the weights packed once: the same bits.
                let mut packed = alloc::vec![f32::NAN; super::$module::packed_len($m, $k1 + $k2)];
                super::$module::pack2::<$m, $k1, $k2>(&a1, &a2, &mut packed);
                let mut cp = random(&mut rng, $m * $n);
                // SAFETY: the caller checked the CPU's features.
                unsafe { super::$module::nn2_packed::<$m, $k1, $k2, $n>(&packed, [&b1, &b2], [o1, o2], &mut cp) };
                assert!(
                    c.iter().zip(&cp).all(|(x, y)| x.to_bits() == y.to_bits()),
                    "{} nn2_packed {}x({}+{})x{}, biases {with1} {with2}: not nn2's bits",
                    stringify!($module), $m, $k1, $k2, $n
                );
                for j in 0..$n {
                    for i in 0..$m {
                        let (mut sum, mut mag) = (0.0f64, 0.0f64);
                        for b in [o1, o2].into_iter().flatten() {
                            sum += f64::from(b[i]);
                            mag += f64::from(b[i]).abs();
                        }
                        let terms = (0..$k1)
                            .map(|kk| f64::from(a1[kk * $m + i]) * f64::from(b1[j * $k1 + kk]))
                            .chain((0..$k2).map(|kk| {
                                f64::from(a2[kk * $m + i]) * f64::from(b2[j * $k2 + kk])
                            }));
                        for t in terms {
                            sum += t;
                            mag += t.abs();
                        }
                        let err = (f64::from(c[j * $m + i]) - sum).abs();
                        let k = ($k1 + $k2 + 2) as f64;
                        assert!(
                            err <= 4.0 * k * f64::from(f32::EPSILON) * mag + 1e-30,
                            "{} nn2 {}x({}+{})x{} at ({i}, {j}), biases {with1} {with2}: {} vs {sum}",
                            stringify!($module), $m, $k1, $k2, $n, c[j * $m + i]
                        );
                    }
                }
            }
        })*};
    }

    #[test]
    fn two_products_with_biases_match_f64() {
        // One product (`K2 = 0`, as `affine` uses it), short outputs (one vector), full and
        // partial tiles of rows and columns.
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            two_product_shapes!(
                avx2,
                (5, 3, 0, 7),
                (33, 7, 0, 9),
                (5, 3, 4, 7),
                (16, 8, 20, 13),
                (37, 5, 9, 12),
                (80, 10, 20, 32),
                // No columns at all (the tiles are the biases), and both parts over more
                // than one packed panel of `A` (256 columns).
                (1024, 0, 0, 13),
                (1029, 200, 100, 13)
            );
        }
        if std::is_x86_feature_detected!("avx512f") {
            two_product_shapes!(
                avx512,
                (5, 3, 0, 7),
                (33, 7, 0, 9),
                (5, 3, 4, 7),
                (16, 8, 20, 17),
                (37, 5, 9, 12),
                (80, 10, 20, 32),
                // Packed from 1024 rows on this path too (see the AVX2 list).
                (1024, 0, 0, 13),
                (1029, 200, 100, 13)
            );
        }
    }

    /// `transposed_products` against `wᵀ g` in `f64`, and `transpose` exactly, at shapes with
    /// full and partial 8 x 8 blocks.
    macro_rules! transposed_shapes {
        ($(($r:literal, $c1:literal, $c2:literal, $b:literal)),* $(,)?) => {$({
            let mut rng = Rng::new(($r * 1000 + $c1 * 100 + $c2 * 10 + $b) as u64);
            let g = random(&mut rng, $r * $b);
            let (w1, w2) = (random(&mut rng, $r * $c1), random(&mut rng, $r * $c2));
            let mut gt = alloc::vec![0.0f32; $r * $b];
            // SAFETY (both): the caller checked the CPU's features; the slices hold the shapes.
            unsafe { super::transpose::<$r, $b>(g.as_ptr(), gt.as_mut_ptr()) };
            for r in 0..$r {
                for b in 0..$b {
                    assert_eq!(gt[r * $b + b], g[b * $r + r], "transpose {}x{}", $r, $b);
                }
            }
            let (mut gx1, mut gx2) = (random(&mut rng, $c1 * $b), random(&mut rng, $c2 * $b));
            unsafe { super::transposed_products::<$r, $c1, $c2, $b>(Some(&mut gx1), &w1, &mut gx2, &w2, &g) };
            let wt1 = |i: usize, kk: usize| w1[i * $r + kk];
            let wt2 = |i: usize, kk: usize| w2[i * $r + kk];
            let gk = |kk: usize, j: usize| g[j * $r + kk];
            assert_product(&gx1, None, ($c1, $r, $b), wt1, gk, "transposed gx1");
            assert_product(&gx2, None, ($c2, $r, $b), wt2, gk, "transposed gx2");
            // Without the input gradient: the state gradient is the same, bit for bit.
            let mut alone = random(&mut rng, $c2 * $b);
            unsafe { super::transposed_products::<$r, $c1, $c2, $b>(None, &w1, &mut alone, &w2, &g) };
            assert_eq!(alone, gx2, "transposed gx2 without gx1");
        })*};
    }

    #[test]
    fn transposed_products_match_f64() {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        transposed_shapes!(
            (1024, 32, 256, 32),
            (80, 10, 20, 32),
            (37, 5, 9, 3),
            (24, 7, 8, 9),
            (16, 1, 17, 8)
        );
    }

    #[test]
    fn sequence_products_equal_the_steps_one_by_one() {
        // The same shapes on both paths. 1029 and 1024 rows: three steps over two packed
        // panels of `A` (256 columns), the second cut inside a step, and exactly one panel; 384
        // and 261 rows: packed from AVX2's `STEPS_PACK_MIN_M` (256), unpacked on AVX-512's
        // (1024).
        macro_rules! both_paths_steps_shapes {
            ($module:ident) => {
                steps_shapes!(
                    $module,
                    (80, 8, 20),
                    (37, 9, 13),
                    (5, 12, 7),
                    (64, 4, 9),
                    (1029, 100, 9),
                    (1024, 128, 7),
                    (384, 64, 9),
                    (261, 40, 13)
                )
            };
        }
        if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
            both_paths_steps_shapes!(avx2);
        }
        if std::is_x86_feature_detected!("avx512f") {
            both_paths_steps_shapes!(avx512);
        }
    }

    #[test]
    fn avx2_products_match_f64() {
        if !(std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")) {
            return;
        }
        all_shapes!(avx2, "avx2");
    }

    #[test]
    fn avx512_products_match_f64() {
        if !std::is_x86_feature_detected!("avx512f") {
            return;
        }
        all_shapes!(avx512, "avx512");
    }
}
