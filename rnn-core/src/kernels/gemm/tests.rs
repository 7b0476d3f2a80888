//! The batched products against the generic kernels and `f64`, at full tiles and every
//! edge, on both widths.

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
