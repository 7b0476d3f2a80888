//! Numerical health: `check_finite` finds the first NaN or infinity (which step, which
//! parameter), ReLU keeps NaN visible, and clipping refuses non-finite gradients.

use rnn_core::prelude::*;

network! {
    /// A small network ending in ReLU (which used to turn NaN into 0).
    pub Net<seq_len = 4> = Sequential[ LSTM(3, 5), Linear(5, 2), ReLU ];
    /// A regression network.
    pub Reg<seq_len = 4> = Sequential[ LSTM(3, 5), Linear(5, 2) ];
}

fn inputs() -> [SMatrix<f32, 3, 1>; 4] {
    core::array::from_fn(|t| SMatrix::from_fn(|i, _| (i + t) as f32 * 0.25 - 0.5))
}

#[test]
fn a_healthy_network_passes() {
    let mut net = Net::new(1);
    assert_eq!(net.check_finite(), Ok(()));
    let x = inputs();
    net.forward(&x);
    net.backward(&x, &[SMatrix::from_element(1.0); 4]);
    assert_eq!(net.check_finite(), Ok(()));
}

#[test]
fn a_nan_input_is_found_at_its_step_and_not_hidden_by_relu() {
    let mut net = Net::new(1);
    let mut x = inputs();
    x[2][1] = f32::NAN;
    let y = net.forward(&x);
    assert!(y[2].iter().all(|v| v.is_nan()), "{}", y[2]);
    match net.check_finite() {
        Err(NonFinite::Output {
            step, row, sample, ..
        }) => assert_eq!((step, row, sample), (2, 0, 0)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn non_finite_parameters_and_gradients_are_named() {
    let mut net = Net::new(1);
    net.parameters_mut()[4].grad[(1, 0)] = f32::INFINITY;
    let e = net.check_finite().expect_err("an infinite gradient");
    assert_eq!(e.to_string(), "the gradient of `1.weight` at (1, 0) is inf");
    assert!(matches!(
        clip_grad_norm(&mut net, 1.0),
        Err(OptimError::NonFiniteGradient { .. })
    ));
    net.parameters_mut()[1].value[(4, 2)] = f32::NAN;
    match net.check_finite() {
        Err(NonFinite::Parameter {
            name,
            gradient: false,
            row: 4,
            col: 2,
            ..
        }) => assert_eq!(name, "0.weight_hh"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn divergence_is_caught_before_it_spreads() {
    // lr = 1e6: the loss explodes; the loop stops at the first non-finite value instead of
    // printing plausible numbers.
    let mut net = Reg::new(3);
    let sgd = Sgd::new(1e6).expect("valid, if unwise");
    let crit = SequencerCriterion::new(Mse::default());
    let x = inputs();
    let target = [SMatrix::<f32, 2, 1>::from_element(1.0); 4];
    let mut stopped = None;
    for k in 0..50 {
        net.zero_grad_parameters();
        let out = net.forward(&x);
        let g = crit.backward(out, &target);
        net.backward(&x, &g);
        if let Err(e) = net.check_finite() {
            stopped = Some((k, e));
            break;
        }
        sgd.step(&mut net).expect("valid");
    }
    let (k, e) = stopped.expect("lr = 1e6 diverges within 50 steps");
    assert!(k > 0, "step {k}: {e}");
}
