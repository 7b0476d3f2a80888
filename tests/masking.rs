//! `mask_zero = true` (Torch's `maskZero`): a sample whose input column is exactly zero at a
//! step is masked there (output zero, state reset to the initial state, no gradient). Ports of
//! the reference's checks: left-padded copies of one sequence, a zero step in the middle as
//! `forget`, masking on unmasked data as no masking; and a finite-difference check through a
//! masked batch.

use rnn_core::gradcheck::{assert_parameter_gradients, parameter_vectors};
use rnn_core::prelude::*;

network! {
    /// Four samples, masking on.
    LstmMasked<seq_len = 4, batch = 4, scalar = f64, mask_zero = true> =
        Sequential[ LSTM(2, 3), Linear(3, 2) ];
    /// The same with a GRU.
    GruMasked<seq_len = 4, batch = 4, scalar = f64, mask_zero = true> =
        Sequential[ GRU(2, 3), Tanh, Linear(3, 2) ];
    /// The GRU without masking.
    GruPlain<seq_len = 4, batch = 4, scalar = f64> = Sequential[ GRU(2, 3), Tanh, Linear(3, 2) ];
    /// One sample, masking on.
    Single<seq_len = 4, scalar = f64, mask_zero = true> = Sequential[ LSTM(2, 3), Linear(3, 2) ];
}

/// The sequence every sample holds a part of.
fn sequence() -> [SMatrix<f64, 2, 1>; 4] {
    [
        SMatrix::<f64, 2, 1>::new(0.5, -1.0),
        SMatrix::<f64, 2, 1>::new(-0.3, 0.8),
        SMatrix::<f64, 2, 1>::new(1.2, 0.1),
        SMatrix::<f64, 2, 1>::new(-0.7, -0.4),
    ]
}

/// Sample `l - 1` holds the first `l` steps of the sequence, left-padded with zero steps.
fn left_padded() -> [SMatrix<f64, 2, 4>; 4] {
    let s = sequence();
    core::array::from_fn(|t| {
        SMatrix::from_fn(|i, b| {
            let len = b + 1;
            if t + len >= 4 { s[t + len - 4][i] } else { 0.0 }
        })
    })
}

fn left_padded_copies_give_zero_then_the_unpadded_outputs<N>(mut net: N)
where
    N: Network<Scalar = f64, Inputs = [SMatrix<f64, 2, 4>], Outputs = [SMatrix<f64, 2, 4>]>,
{
    let ys = net.forward(&left_padded()).to_vec();
    for len in 1..=4 {
        let b = len - 1;
        for (t, y) in ys.iter().enumerate().take(4 - len) {
            assert_eq!(y.column(b).amax(), 0.0, "padded step {t} of length {len}");
        }
        // Step j of the unpadded sequence is step 4 - len + j of the padded one; the full
        // sequence (column 3) is the reference.
        for j in 0..len {
            assert_eq!(
                ys[4 - len + j].column(b),
                ys[j].column(3),
                "length {len}, step {j}"
            );
        }
    }
}

#[test]
fn left_padded_copies_of_one_sequence_align_lstm_and_gru() {
    left_padded_copies_give_zero_then_the_unpadded_outputs(LstmMasked::new(3));
    left_padded_copies_give_zero_then_the_unpadded_outputs(GruMasked::new(3));
}

#[test]
fn a_zero_step_in_the_middle_is_forget_and_continue() {
    let s = sequence();
    let mut net = Single::new(5);
    let with_gap = net.forward(&[s[0], s[1], SMatrix::zeros(), s[3]]).to_vec();
    assert_eq!(with_gap[2].amax(), 0.0, "the masked step's output is zero");
    // After the zero step the state is the initial one: s[3] alone gives the same output.
    net.forget();
    let fresh = *net.step(&s[3]);
    assert_eq!(with_gap[3], fresh);
}

#[test]
fn masking_on_unmasked_data_is_no_masking() {
    let (mut masked, mut plain) = (GruMasked::new(7), GruPlain::new(7));
    let x: [SMatrix<f64, 2, 4>; 4] =
        core::array::from_fn(|t| SMatrix::from_fn(|i, b| 0.3 * (i + 2 * b + t) as f64 - 1.0));
    let g: [SMatrix<f64, 2, 4>; 4] =
        core::array::from_fn(|t| SMatrix::from_fn(|i, b| 0.1 * (i + b) as f64 - 0.2 * t as f64));
    assert_eq!(masked.forward(&x), plain.forward(&x));
    assert_eq!(masked.backward(&x, &g), plain.backward(&x, &g));
    assert_eq!(
        parameter_vectors(&masked, true),
        parameter_vectors(&plain, true)
    );
}

#[test]
fn a_masked_batch_passes_finite_differences_and_masked_samples_add_no_gradient() {
    let x = left_padded();
    let r: [SMatrix<f64, 2, 4>; 4] =
        core::array::from_fn(|t| SMatrix::from_fn(|i, b| 0.2 * (i + 3 * b + t) as f64 - 0.9));
    let loss = |net: &mut LstmMasked| -> f64 {
        let ys = net.forward(&x);
        ys.iter().zip(&r).map(|(y, r)| y.dot(r)).sum()
    };
    let mut net = LstmMasked::new(11);
    net.zero_grad_parameters();
    net.forward(&x);
    let gx = net.backward(&x, &r).to_vec();
    let worst = assert_parameter_gradients(&mut net, loss);
    println!("masked batch: worst relative error {worst:e}");
    // The input gradient at unmasked entries against central differences (a masked entry is
    // not differentiable: nudging it unmasks it).
    let mut xs = x;
    let mut numeric = Vec::new();
    let mut analytic = Vec::new();
    for t in 0..4 {
        for b in (0..4).filter(|&b| t + b + 1 >= 4) {
            for i in 0..2 {
                let h = rnn_core::gradcheck::STEP;
                let at = (i, b);
                xs[t][at] += h;
                let up: f64 = net.forward(&xs).iter().zip(&r).map(|(y, r)| y.dot(r)).sum();
                xs[t][at] -= 2.0 * h;
                let down: f64 = net.forward(&xs).iter().zip(&r).map(|(y, r)| y.dot(r)).sum();
                xs[t][at] += h;
                numeric.push((up - down) / (2.0 * h));
                analytic.push(gx[t][at]);
            }
        }
    }
    let error = rnn_core::gradcheck::relative_error(&analytic, &numeric);
    assert!(error <= 1e-6, "input gradient: relative error {error:e}");
    // No gradient reaches the inputs of masked steps, nor through them to earlier steps.
    for len in 1..4 {
        for g in gx.iter().take(4 - len) {
            assert_eq!(g.column(len - 1).amax(), 0.0);
        }
    }
    // The gradient equals the sum over the samples of each one's own, unpadded.
    let mut alone = Single::new(11);
    let mut total = vec![0.0; parameter_vectors(&alone, true).concat().len()];
    for len in 1..=4 {
        alone.zero_grad_parameters();
        let xs: [SMatrix<f64, 2, 1>; 4] =
            core::array::from_fn(|t| x[t].column(len - 1).into_owned());
        let rs: [SMatrix<f64, 2, 1>; 4] =
            core::array::from_fn(|t| r[t].column(len - 1).into_owned());
        alone.forward(&xs);
        alone.backward(&xs, &rs);
        for (acc, g) in total
            .iter_mut()
            .zip(parameter_vectors(&alone, true).concat())
        {
            *acc += g;
        }
    }
    let batched = parameter_vectors(&net, true).concat();
    for (a, b) in batched.iter().zip(&total) {
        assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "{a} vs {b}");
    }
}
