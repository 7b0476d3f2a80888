//! The template of the batched products ([`products!`]), instantiated once per vector width
//! in the parent module (`avx2`, `avx512`).

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
        ///
        /// Its callers have the kernel's target features themselves and mark `run`
        /// `#[inline(always)]`: a closure gets the features of the function it is written in,
        /// and when that function had none, each primitive in the closure stayed a call
        /// whenever the optimiser did not inline the closure first (the AVX2 path's training
        /// steps, 21x slower in one build: `lstm128_b32_train_split` 4.66 ms against 0.20 ms
        /// on a Zen 4).
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
        #[inline]
        #[target_feature(enable = $feature)]
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
                    let to = runs(
                        p,
                        from,
                        #[inline(always)]
                        |_, (a, _), k0, k1, at| {
                            for kk in k0..k1 {
                                let src = a.add(kk * p.m + i);
                                let dst = buf.add((at + kk - k0) * R);
                                for r in 0..$rv {
                                    storeu(dst.add(r * L), loadu(src.add(r * L)));
                                }
                            }
                        },
                    );
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
        #[inline]
        #[target_feature(enable = $feature)]
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
                runs(
                    p,
                    from,
                    #[inline(always)]
                    |part, (_, b), k0, k1, at| {
                        let b = b.add(j * part.bcs);
                        for kk in k0..k1 {
                            let col = buf.add((at + kk - k0) * R);
                            let mut av = [zero(); $rv];
                            for (r, v) in av.iter_mut().enumerate() {
                                *v = loadu(col.add(r * L));
                            }
                            tile_fma(&mut acc, &av, b.add(kk * part.brs), part.bcs, cols);
                        }
                    },
                );
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
                let mut bv = [zero(); TN];
                for (r, v) in bv.iter_mut().enumerate().take(nb) {
                    *v = load_rows(pb.add(r * k), lanes, 0);
                }
                for (q, row) in acc.iter_mut().enumerate().take(ma) {
                    let av = load_rows(pa.add(q * k), lanes, 0);
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
pub(super) use products;
