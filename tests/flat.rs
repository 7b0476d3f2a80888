//! Torch's `getParameters` and `backwardUpdate`: every parameter and every gradient as one flat
//! vector (`flat_parameters`, `flat_gradients`, `set_flat_parameters`), and `backward_update`,
//! which leaves the gradient storage as it was.

use rnn_core::prelude::*;
use rnn_core::{BpttError, FlatLengthError};

network! {
    /// Containers and several kinds of parameters (matrices, biases, peephole vectors).
    pub Mixed<seq_len = 4, batch = 2> = Sequential[
        LSTM(3, 5),
        Residual[ Linear(5, 5), Tanh ],
        PeepholeLSTM(5, 4),
        Linear(4, 2)
    ];
    /// The same in f64, whole-sequence only (a BiSequencer).
    pub Bi<seq_len = 4, batch = 2, scalar = f64> =
        Sequential[ BiSequencer[ GRU(3, 4) ], Linear(8, 2) ];
}

fn inputs<const I: usize, S: Float>(k: usize) -> Vec<SMatrix<S, I, 2>> {
    (0..4)
        .map(|t| SMatrix::from_fn(|i, b| S::cast(((t * 7 + i * 3 + b + k) as f64 * 0.1).sin())))
        .collect()
}

/// The values' bytes, to compare bit for bit.
fn bits<S: Float>(v: &[S]) -> Vec<u8> {
    let mut out = Vec::new();
    for x in v {
        x.extend_le_bytes(&mut out);
    }
    out
}

#[test]
fn the_flat_vectors_follow_parameters_order_column_major() {
    let mut net = Mixed::new(3);
    let xs = inputs::<3, f32>(0);
    net.forward(&xs);
    net.backward_parameters(&xs, &inputs::<2, f32>(1));
    let (mut values, mut grads) = (Vec::new(), Vec::new());
    for p in net.parameters() {
        values.extend(p.value.iter().copied());
        grads.extend(p.grad.expect("gradients").iter().copied());
    }
    assert_eq!(net.flat_parameters(), values);
    assert_eq!(net.flat_gradients(), grads);
    assert_eq!(values.len(), net.num_parameters());
    assert!(grads.iter().any(|g| *g != 0.0));

    // Round trip, and a changed vector lands where `parameters()` says.
    let mut changed = values.clone();
    changed[0] += 1.0;
    *changed.last_mut().expect("parameters") -= 1.0;
    net.set_flat_parameters(&changed).expect("right length");
    assert_eq!(net.flat_parameters(), changed);
    assert_eq!(net.parameters()[0].value[(0, 0)], values[0] + 1.0);
    assert_eq!(net.flat_gradients(), grads, "gradients untouched");

    // A wrong length is an error, and nothing changes.
    let e = net.set_flat_parameters(&changed[1..]).expect_err("short");
    assert_eq!(
        e,
        FlatLengthError {
            expected: changed.len(),
            got: changed.len() - 1
        }
    );
    assert_eq!(
        e.to_string(),
        format!(
            "a flat parameter vector of {} values for {} parameters",
            changed.len() - 1,
            changed.len()
        )
    );
    assert_eq!(net.flat_parameters(), changed);
}

/// Gradient descent on the flat vectors, written back, is `update_parameters` bit for bit.
#[test]
fn descent_on_the_flat_vector_is_update_parameters() {
    let (mut a, xs, gys) = (Mixed::new(5), inputs::<3, f32>(2), inputs::<2, f32>(3));
    a.forward(&xs);
    a.backward_parameters(&xs, &gys);
    let mut b = a.clone();
    let lr = 0.37f32;
    let (w, g) = (a.flat_parameters(), a.flat_gradients());
    let stepped: Vec<f32> = w.iter().zip(&g).map(|(w, g)| w - lr * g).collect();
    a.set_flat_parameters(&stepped).expect("length");
    b.update_parameters(lr);
    assert_eq!(bits(&a.flat_parameters()), bits(&b.flat_parameters()));
}

/// `backward_update` moves the weights as zero + backward + update does, bit for bit, and
/// leaves the gradients that were there; on misuse it changes nothing and a later backward of
/// the same forward still runs.
#[test]
fn backward_update_moves_the_weights_and_keeps_the_gradients() {
    fn check<S, N, const I: usize, const O: usize>(mut a: N)
    where
        S: Float,
        N: Network<Scalar = S, Inputs = [SMatrix<S, I, 2>], Outputs = [SMatrix<S, O, 2>]> + Clone,
    {
        let (xs, gys) = (inputs::<I, S>(4), inputs::<O, S>(5));
        // Gradients left over from an earlier backward.
        a.forward(&xs);
        a.backward_parameters(&xs, &inputs::<O, S>(6));
        let before = a.flat_gradients();
        assert!(before.iter().any(|g| *g != S::default()));
        let mut b = a.clone();
        let lr = S::cast(0.25);

        a.forward(&xs);
        a.backward_update(&xs, &gys, lr);
        b.zero_grad_parameters();
        b.forward(&xs);
        b.backward_parameters(&xs, &gys);
        b.update_parameters(lr);
        assert_eq!(bits(&a.flat_parameters()), bits(&b.flat_parameters()));
        assert_eq!(bits(&a.flat_gradients()), bits(&before), "gradients kept");

        // Misuse: gradients for 3 steps after a forward of 4.
        a.forward(&xs);
        let (w, g) = (a.flat_parameters(), a.flat_gradients());
        let e = a
            .try_backward_update(&xs, &gys[..3], lr)
            .expect_err("lengths differ");
        assert!(matches!(e, BpttError::Length { .. }), "{e}");
        assert_eq!(bits(&a.flat_parameters()), bits(&w));
        assert_eq!(bits(&a.flat_gradients()), bits(&g));
        // The gradients were put back without counting as a change of the parameters.
        a.try_backward_update(&xs, &gys, lr)
            .expect("the same forward's backward still runs");
    }
    check::<f32, _, 3, 2>(Mixed::new(7));
    check::<f64, _, 3, 2>(Bi::new(8));
}

/// Writing gradients (`visit_gradients_mut`) is not a change of the parameters; writing
/// through `visit_parameters_mut` is (the backward after it refuses).
#[test]
fn visiting_the_gradients_does_not_stop_a_backward() {
    let (mut net, xs, gys) = (Mixed::new(9), inputs::<3, f32>(0), inputs::<2, f32>(1));
    net.forward(&xs);
    net.visit_gradients_mut(&mut |mut g| g.fill(1.0));
    net.try_backward_parameters(&xs, &gys)
        .expect("gradients only");
    net.forward(&xs);
    net.visit_parameters_mut(&mut |_| {});
    let e = net
        .try_backward_parameters(&xs, &gys)
        .expect_err("parameters may have changed");
    assert!(matches!(e, BpttError::ParametersChanged), "{e}");
}
