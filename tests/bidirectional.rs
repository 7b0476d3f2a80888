//! `BiSequencer[ ... ]`: the reference's check (outputs are the forward direction's joined
//! with the reversed backward direction's, gradients those of the two directions run
//! separately), finite differences, names, lengths and remembering.

use rnn_core::gradcheck::check_network;
use rnn_core::prelude::*;

network! {
    /// One bidirectional LSTM, nothing after it: the output is the joined directions.
    BiOnly<seq_len = 5, batch = 2, scalar = f64> = Sequential[ BiSequencer[ LSTM(3, 4) ] ];
    /// The directions alone, for the reference check.
    OneWay<seq_len = 5, batch = 2, scalar = f64> = Sequential[ LSTM(3, 4) ];

    /// A tagger: a bidirectional GRU with a layer inside each direction, then a classifier.
    Tagger<seq_len = 4, batch = 2, scalar = f64> = Sequential[
        Linear(3, 5),
        BiSequencer[ GRU(5, 3), Tanh ],
        Linear(6, 4),
        LogSoftMax
    ];

    /// Stacked: a bidirectional layer on a bidirectional layer (as `num_layers = 2`), a
    /// residual inside.
    Stacked<seq_len = 3, batch = 1, scalar = f64> = Sequential[
        BiSequencer[ RNN(2, 3) ],
        BiSequencer[ Residual[ Linear(6, 6) ], LSTM(6, 2) ],
        Linear(4, 2)
    ];

    /// In f32, through the SIMD kernels.
    BiF32<seq_len = 6, batch = 1> = Sequential[ BiSequencer[ LSTM(10, 20) ], Linear(40, 5) ];
}

fn inputs<const I: usize, const B: usize>(n: usize, seed: u64) -> Vec<SMatrix<f64, I, B>> {
    let mut rng = Rng::new(seed);
    (0..n)
        .map(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0)))
        .collect()
}

/// Copies the parameters of `from` whose names are `suffix`-ed versions of `to`'s.
fn copy_direction<A: Parameterized<f64>, B: Parameterized<f64>>(
    to: &mut A,
    from: &B,
    reverse: bool,
) {
    let want: Vec<(String, Vec<f64>)> = from
        .parameters()
        .iter()
        .filter(|p| (p.name.reversals() == 1) == reverse)
        .map(|p| {
            let name = p.name.to_string();
            let name = name.strip_suffix("_reverse").unwrap_or(&name).to_string();
            (name, p.value.iter().copied().collect())
        })
        .collect();
    let mut copied = 0;
    to.visit_parameters_mut(&mut |mut p| {
        let name = p.name.to_string();
        let (_, v) = want
            .iter()
            .find(|(n, _)| *n == name)
            .expect("same layer names");
        p.value.iter_mut().zip(v).for_each(|(d, s)| *d = *s);
        copied += 1;
    });
    assert_eq!(copied, want.len());
}

fn grads<P: Parameterized<f64>>(p: &P, reverse: bool) -> Vec<Vec<f64>> {
    p.parameters()
        .iter()
        .filter(|q| (q.name.reversals() == 1) == reverse)
        .map(|q| q.grad.expect("gradients").iter().copied().collect())
        .collect()
}

#[test]
fn outputs_and_gradients_are_the_two_directions_run_separately() {
    let mut bi = BiOnly::new(1);
    let (mut fwd, mut bwd) = (OneWay::new(0), OneWay::new(0));
    copy_direction(&mut fwd, &bi, false);
    copy_direction(&mut bwd, &bi, true);
    for n in [5, 3, 1] {
        let xs = inputs::<3, 2>(n, 2);
        let gys = inputs::<8, 2>(n, 3);
        let reversed: Vec<_> = xs.iter().rev().copied().collect();
        let ys = bi.forward(&xs).to_vec();
        let ys_fwd = fwd.forward(&xs).to_vec();
        let ys_bwd = bwd.forward(&reversed).to_vec();
        for t in 0..n {
            assert_eq!(
                ys[t].fixed_rows::<4>(0),
                ys_fwd[t],
                "forward half, step {t}"
            );
            assert_eq!(
                ys[t].fixed_rows::<4>(4),
                ys_bwd[n - 1 - t],
                "backward half, step {t}"
            );
        }
        for net in [&mut fwd, &mut bwd] {
            net.zero_grad_parameters();
        }
        bi.zero_grad_parameters();
        let gx = bi.backward(&xs, &gys).to_vec();
        let top: Vec<SMatrix<f64, 4, 2>> =
            gys.iter().map(|g| g.fixed_rows::<4>(0).into()).collect();
        let bottom: Vec<SMatrix<f64, 4, 2>> = gys
            .iter()
            .rev()
            .map(|g| g.fixed_rows::<4>(4).into())
            .collect();
        let gx_fwd = fwd.backward(&xs, &top).to_vec();
        let gx_bwd = bwd.backward(&reversed, &bottom).to_vec();
        for t in 0..n {
            assert_eq!(
                gx[t],
                gx_fwd[t] + gx_bwd[n - 1 - t],
                "input gradient, step {t}"
            );
        }
        assert_eq!(grads(&bi, false), grads(&fwd, false));
        assert_eq!(grads(&bi, true), grads(&bwd, false));
    }
}

#[test]
fn gradients_match_finite_differences() {
    let crit = SequencerCriterion::new(ClassNll::default());
    let targets: Vec<[Class<4>; 2]> = (0..4)
        .map(|t| [Class::new(t % 4).unwrap(), Class::new(3 - t).unwrap()])
        .collect();
    let mut net = Tagger::new(4);
    let worst = check_network(&mut net, &mut inputs::<3, 2>(4, 5), |ys| {
        (crit.forward(ys, &targets), crit.backward(ys, &targets))
    });
    assert!(worst <= 1e-6, "{worst}");
    // A shorter sequence of the same network.
    let worst = check_network(&mut net, &mut inputs::<3, 2>(3, 6), |ys| {
        (
            crit.forward(ys, &targets[..3]),
            crit.backward(ys, &targets[..3]),
        )
    });
    assert!(worst <= 1e-6, "{worst}");

    let mse = SequencerCriterion::new(Mse::default());
    let want = inputs::<2, 1>(3, 7);
    let mut stacked = Stacked::new(8);
    let worst = check_network(&mut stacked, &mut inputs::<2, 1>(3, 9), |ys| {
        (mse.forward(ys, &want), mse.backward(ys, &want))
    });
    assert!(worst <= 1e-6, "{worst}");
}

#[test]
fn reverse_parameters_have_pytorchs_suffix_and_their_own_weights() {
    let net = Tagger::new(4);
    let names: Vec<String> = net
        .parameters()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    assert_eq!(
        names,
        [
            "0.weight",
            "0.bias",
            "1.0.weight_ih",
            "1.0.weight_hh",
            "1.0.bias_ih",
            "1.0.bias_hh",
            "1.0.weight_ih_reverse",
            "1.0.weight_hh_reverse",
            "1.0.bias_ih_reverse",
            "1.0.bias_hh_reverse",
            "2.weight",
            "2.bias"
        ]
    );
    let bi = BiOnly::new(1);
    let names: Vec<String> = bi.parameters().iter().map(|p| p.name.to_string()).collect();
    assert_eq!(names[0], "0.weight_ih");
    assert_eq!(names[4], "0.weight_ih_reverse");
    let p = bi.parameters();
    assert_ne!(
        p[0].value, p[4].value,
        "the copies start from different weights"
    );
    assert!(p[4].name == "0.weight_ih_reverse");
    assert!(p[4].name != "0.weight_ih");
}

#[test]
fn the_backward_direction_starts_every_sequence_afresh_while_the_forward_one_remembers() {
    let xs = inputs::<3, 2>(5, 10);
    let mut bi = BiOnly::new(1);
    let mut fwd = OneWay::new(0);
    copy_direction(&mut fwd, &bi, false);
    let mut bwd = OneWay::new(0);
    copy_direction(&mut bwd, &bi, true);
    bi.remember(Remember::Both);
    fwd.remember(Remember::Both);
    for seg in [&xs[..2], &xs[2..]] {
        let ys = bi.forward(seg).to_vec();
        let ys_fwd = fwd.forward(seg).to_vec();
        let rev: Vec<_> = seg.iter().rev().copied().collect();
        let ys_bwd = bwd.forward(&rev).to_vec();
        let n = seg.len();
        for t in 0..n {
            assert_eq!(ys[t].fixed_rows::<4>(0), ys_fwd[t]);
            assert_eq!(ys[t].fixed_rows::<4>(4), ys_bwd[n - 1 - t]);
        }
    }
}

#[test]
fn f32_through_the_simd_kernels_matches_f64() {
    let xs: Vec<SMatrix<f32, 10, 1>> = inputs::<10, 1>(6, 11).iter().map(|x| x.cast()).collect();
    let mut net = BiF32::new(3);
    let ys = net.forward(&xs).to_vec();
    let gys = vec![SMatrix::<f32, 5, 1>::from_element(0.1); 6];
    let gx = net.backward(&xs, &gys).to_vec();
    assert!(
        ys.iter()
            .chain(&gys)
            .all(|y| y.iter().all(|v| v.is_finite()))
    );
    assert!(gx.iter().all(|g| g.iter().all(|v| v.is_finite())));
    assert!(net.try_forward(&[]).is_err());
}

network! {
    /// Right-padded sentences of different lengths in one batch (`mask_zero`): the backward
    /// direction starts at each sample's own last step.
    Padded<seq_len = 5, batch = 3, scalar = f64, mask_zero = true> =
        Sequential[ BiSequencer[ GRU(2, 3) ], Linear(6, 2) ];
    /// One sample at a time, for reference.
    Alone<seq_len = 5, scalar = f64> = Sequential[ BiSequencer[ GRU(2, 3) ], Linear(6, 2) ];
}

#[test]
fn masked_padding_gives_each_sample_what_it_gives_alone() {
    let lengths = [5, 3, 1];
    let mut rng = Rng::new(12);
    let mut x: Vec<SMatrix<f64, 2, 3>> = (0..5)
        .map(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0)))
        .collect();
    for (b, &len) in lengths.iter().enumerate() {
        for step in &mut x[len..] {
            step.column_mut(b).fill(0.0); // padding after the sample's end
        }
    }
    let gys: Vec<SMatrix<f64, 2, 3>> = (0..5)
        .map(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0)))
        .collect();
    let mut net = Padded::new(3);
    let ys = net.forward(&x).to_vec();
    net.zero_grad_parameters();
    let gx = net.backward(&x, &gys).to_vec();
    let mut summed: Option<Vec<Vec<f64>>> = None;
    for (b, &len) in lengths.iter().enumerate() {
        let mut alone = Alone::new(0);
        alone.copy_parameters_from(&net).expect("same layout");
        alone.zero_grad_parameters();
        let xb: Vec<SMatrix<f64, 2, 1>> = x[..len].iter().map(|s| s.column(b).into()).collect();
        let gb: Vec<SMatrix<f64, 2, 1>> = gys[..len].iter().map(|s| s.column(b).into()).collect();
        let yb = alone.forward(&xb).to_vec();
        let gxb = alone.backward(&xb, &gb).to_vec();
        for t in 0..5 {
            if t < len {
                assert!(
                    (ys[t].column(b) - yb[t]).amax() < 1e-12,
                    "sample {b} step {t}"
                );
                assert!(
                    (gx[t].column(b) - gxb[t]).amax() < 1e-12,
                    "gradient {b} {t}"
                );
            } else {
                assert_eq!(ys[t].column(b).amax(), 0.0, "padding gives zero");
                assert_eq!(gx[t].column(b).amax(), 0.0, "and no gradient");
            }
        }
        let g = grads(&alone, false)
            .into_iter()
            .chain(grads(&alone, true))
            .collect::<Vec<_>>();
        summed = Some(match summed {
            None => g,
            Some(acc) => acc
                .iter()
                .zip(&g)
                .map(|(a, b)| a.iter().zip(b).map(|(p, q)| p + q).collect())
                .collect(),
        });
    }
    // The batch's parameter gradients are the sum of each sample's own.
    let want = summed.expect("three samples");
    let got: Vec<Vec<f64>> = grads(&net, false)
        .into_iter()
        .chain(grads(&net, true))
        .collect();
    for (w, g) in want.iter().zip(&got) {
        for (a, b) in w.iter().zip(g) {
            assert!((a - b).abs() < 1e-12, "{a} {b}");
        }
    }
}
