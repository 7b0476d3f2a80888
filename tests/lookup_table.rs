//! `LookupTable(vocab, dim)` as a network's first layer: token inputs, the same numbers as the
//! looked-up vectors fed to the rest of the network, gradients that touch only the rows used,
//! finite differences, padding, online steps and names.

use rnn_core::gradcheck::{assert_parameter_gradients, parameter_vectors};
use rnn_core::prelude::*;

network! {
    /// Tokens of a 7-symbol vocabulary, 3-wide vectors, batch 2.
    Tokens<seq_len = 4, batch = 2, scalar = f64> =
        Sequential[ LookupTable(7, 3), LSTM(3, 4), Linear(4, 7), LogSoftMax ];
    /// The same layers after the table, fed the vectors directly.
    Vectors<seq_len = 4, batch = 2, scalar = f64> = Sequential[ LSTM(3, 4), Linear(4, 7), LogSoftMax ];
    /// With a padding token 0 that masks its step (Torch's LookupTableMaskZero).
    Padded<seq_len = 4, batch = 2, scalar = f64, mask_zero = true> =
        Sequential[ Embedding(7, 3, padding = 0), GRU(3, 2), Linear(2, 7) ];
    /// In f32.
    CharLm<seq_len = 6> = Sequential[ LookupTable(96, 16), LSTM(16, 32), Linear(32, 96), LogSoftMax ];
}

type Step = [Class<7>; 2];

fn tokens(n: usize, seed: usize) -> Vec<Step> {
    (0..n)
        .map(|t| {
            [
                Class::new((3 * t + seed) % 7).unwrap(),
                Class::new((5 * t + 2 * seed + 1) % 7).unwrap(),
            ]
        })
        .collect()
}

/// The looked-up vectors of `steps`, by hand from the table.
fn looked_up(table: &ParamRef<'_, f64>, steps: &[Step]) -> Vec<SMatrix<f64, 3, 2>> {
    steps
        .iter()
        .map(|s| SMatrix::from_fn(|d, b| table.value[(s[b].index(), d)]))
        .collect()
}

/// Copies `from`'s parameters after the table (names `k.x` -> `(k-1).x`) into `to`.
fn copy_after_table(to: &mut Vectors, from: &Tokens) {
    let src = from.parameters();
    to.visit_parameters_mut(&mut |mut p| {
        let name = p.name.to_string();
        let (k, rest) = name.split_once('.').unwrap();
        let want = format!("{}.{rest}", k.parse::<usize>().unwrap() + 1);
        let q = src.iter().find(|q| q.name == want.as_str()).unwrap();
        p.value.copy_from(&q.value);
    });
}

#[test]
fn a_token_network_is_its_looked_up_vectors_through_the_rest() {
    let mut net = Tokens::new(1);
    let mut rest = Vectors::new(0);
    copy_after_table(&mut rest, &net);
    let same = [Class::new(2).unwrap(); 2];
    // The last: one token everywhere, so that its row adds eight gradients (in an order).
    for steps in [tokens(4, 1), tokens(2, 1), vec![same; 4]] {
        let n = steps.len();
        let table = &net.parameters()[0];
        let xs = looked_up(table, &steps);
        let gys: Vec<SMatrix<f64, 7, 2>> = (0..n)
            .map(|t| SMatrix::from_fn(|i, b| ((i + 2 * b + t) % 5) as f64 - 2.0))
            .collect();
        assert_eq!(net.forward(&steps), rest.forward(&xs));
        net.zero_grad_parameters();
        rest.zero_grad_parameters();
        let g_vectors = net.backward(&steps, &gys).to_vec();
        let gx = rest.backward(&xs, &gys).to_vec();
        assert_eq!(g_vectors, gx, "the gradient at the looked-up vectors");
        // The rest's gradients are the same numbers ...
        assert_eq!(
            parameter_vectors(&net, true)[1..],
            parameter_vectors(&rest, true)[..]
        );
        // ... and the table's is the scatter-add of the vectors' gradients, latest step first.
        let mut want = SMatrix::<f64, 7, 3>::zeros();
        for (s, g) in steps.iter().zip(&gx).rev() {
            for b in 0..2 {
                for d in 0..3 {
                    want[(s[b].index(), d)] += g[(d, b)];
                }
            }
        }
        let got = &net.parameters()[0];
        assert_eq!(got.grad.expect("gradients"), want);
        let used: Vec<usize> = steps.iter().flatten().map(|c| c.index()).collect();
        for v in (0..7).filter(|v| !used.contains(v)) {
            assert!(
                got.grad
                    .expect("gradients")
                    .row(v)
                    .iter()
                    .all(|g| *g == 0.0),
                "row {v} untouched"
            );
        }
    }
}

#[test]
fn gradients_match_finite_differences_and_online_steps() {
    let steps = tokens(4, 2);
    let targets: Vec<[Class<7>; 2]> = tokens(4, 5);
    let crit = SequencerCriterion::new(ClassNll::default());
    let mut net = Tokens::new(3);
    net.evaluate();
    net.zero_grad_parameters();
    let ys = net.forward(&steps).to_vec();
    net.backward(&steps, &crit.backward(&ys, &targets));
    let worst = assert_parameter_gradients(&mut net, |n| crit.forward(n.forward(&steps), &targets));
    assert!(worst <= 1e-6, "{worst}");

    let mut whole = Tokens::new(3);
    let mut online = Tokens::new(3);
    let ys = whole.forward(&steps).to_vec();
    let gys = crit.backward(&ys, &targets);
    let gx = whole.backward(&steps, &gys).to_vec();
    for (t, s) in steps.iter().enumerate() {
        assert_eq!(*online.step(s), ys[t]);
    }
    for t in (0..4).rev() {
        assert_eq!(*online.backward_step(&steps[t], &gys[t]), gx[t]);
    }
    assert_eq!(
        parameter_vectors(&whole, true),
        parameter_vectors(&online, true)
    );
    // Other tokens than those forwarded are refused.
    whole.forward(&steps);
    let other = tokens(4, 3);
    assert!(matches!(
        whole.try_backward(&other, &gys),
        Err(BpttError::InputMismatch { .. })
    ));
}

#[test]
fn the_padding_token_gives_zero_masks_its_step_and_gets_no_gradient() {
    let c = |i| Class::<7>::new(i).unwrap();
    let mut net = Padded::new(4);
    assert!(net.parameters()[0].value.row(0).iter().all(|v| *v == 0.0));
    // Sample 1 is left-padded by two steps.
    let steps = [[c(3), c(0)], [c(5), c(0)], [c(1), c(2)], [c(6), c(4)]];
    let ys = net.forward(&steps).to_vec();
    for y in &ys[..2] {
        assert!(y.column(1).iter().all(|v| *v == 0.0), "masked output");
    }
    // The padded sample's outputs equal the sample run alone without its padding.
    let mut alone = Padded::new(4);
    let ys_alone = alone.forward(&[[c(2), c(2)], [c(4), c(4)]]).to_vec();
    assert_eq!(ys[2].column(1), ys_alone[0].column(0));
    assert_eq!(ys[3].column(1), ys_alone[1].column(0));
    let gys = vec![SMatrix::<f64, 7, 2>::from_element(0.5); 4];
    net.backward(&steps, &gys);
    assert!(
        net.parameters()[0]
            .grad
            .expect("gradients")
            .row(0)
            .iter()
            .all(|g| *g == 0.0)
    );
}

#[test]
fn the_table_is_named_weight_vocab_by_dim_and_starts_normal() {
    let net = CharLm::new(9);
    let p = net.parameters();
    assert_eq!(p[0].name.to_string(), "0.weight");
    assert_eq!(p[0].value.shape(), (96, 16));
    assert_eq!(p[1].name.to_string(), "1.weight_ih");
    assert_eq!(p[1].value.shape(), (128, 16));
    let (n, mean) = (96.0 * 16.0, p[0].value.mean());
    let var = p[0]
        .value
        .iter()
        .map(|v| (v - mean) * (v - mean))
        .sum::<f32>()
        / n;
    assert!(mean.abs() < 0.1 && (var - 1.0).abs() < 0.15, "{mean} {var}");
}

#[test]
fn a_char_model_trains_on_tokens() {
    let mut net = CharLm::new(2);
    let text = b"the quick brown fox jumps over the lazy dog";
    let tok = |i: usize| [Class::<96>::new(usize::from(text[i % text.len()] - 32)).unwrap()];
    let crit = SequencerCriterion::new(ClassNll::default());
    let adam = Adam {
        lr: 0.01,
        ..Adam::default()
    };
    let mut first = None;
    let mut last = 0.0;
    for epoch in 0..60 {
        let k = (epoch * 6) % text.len();
        let xs: Vec<_> = (k..k + 6).map(tok).collect();
        let ys: Vec<_> = (k + 1..k + 7).map(tok).collect();
        net.zero_grad_parameters();
        let out = net.forward(&xs).to_vec();
        last = crit.forward(&out, &ys);
        first.get_or_insert(last);
        net.backward(&xs, &crit.backward(&out, &ys));
        adam.step(&mut net).expect("valid Adam");
    }
    let first = first.unwrap();
    assert!(last < 0.5 * first, "{first} -> {last}");
}
