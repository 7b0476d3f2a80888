//! `backward_parameters`: the parameter gradients of `backward`, bit for bit, without the input
//! gradients (which the first layers then skip), for every kind of first item: each recurrent
//! layer (the `f32` kernels at batch 1, 2 and 32), `Linear`, a nested `Sequential`, a
//! `BiSequencer`, a `Residual`, an encoder that reads its gradient (`LookupTable`), masking,
//! unrolled code and a `Repeater`; and the same errors as `try_backward`.

use core::fmt::Debug;
use rnn_core::prelude::*;

network! {
    /// The seed network in f32 at batch 1 (the matrix-vector kernels).
    Seed<seq_len = 4> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
    /// LSTM at batch 32: the transposed products of the AVX-512 path.
    Lstm32<seq_len = 3, batch = 32> = Sequential[ LSTM(6, 24), Linear(24, 3) ];
    /// Two stacked LSTMs at batch 32: the second one's input gradient is the first's output's.
    Stacked32<seq_len = 3, batch = 32> = Sequential[ LSTM(6, 8), LSTM(8, 5), Linear(5, 2) ];
    /// GRU, Elman and the LSTM with peepholes first, batch 2.
    Gru2<seq_len = 4, batch = 2> = Sequential[ GRU(3, 11), Linear(11, 2) ];
    /// Elman first.
    Elman2<seq_len = 4, batch = 2> = Sequential[ RNN(3, 9), Tanh, Linear(9, 4) ];
    /// Peepholes first.
    Peephole2<seq_len = 4, batch = 2> = Sequential[ PeepholeLSTM(3, 9), Linear(9, 4) ];
    /// A feed-forward layer first, a nested Sequential next.
    LinearFirst<seq_len = 3, batch = 2> =
        Sequential[ Linear(3, 4), Sequential[ LSTM(4, 5), Dropout(0.25) ], Linear(5, 2) ];
    /// A nested Sequential first.
    NestedFirst<seq_len = 3, batch = 2> =
        Sequential[ Sequential[ GRU(3, 4), Tanh ], LSTM(4, 3), Linear(3, 2) ];
    /// A BiSequencer first.
    BiFirst<seq_len = 3, batch = 2> = Sequential[ BiSequencer[ LSTM(3, 4) ], Linear(8, 2) ];
    /// A Residual first.
    ResidualFirst<seq_len = 3, batch = 2> =
        Sequential[ Residual[ Linear(3, 3), Tanh ], GRU(3, 4), Linear(4, 2) ];
    /// Masked samples.
    Masked<seq_len = 4, batch = 4, mask_zero = true> = Sequential[ LSTM(2, 3), Linear(3, 2) ];
    /// Unrolled time steps.
    Unrolled<seq_len = 4, batch = 2, unroll = full> = Sequential[ LSTM(3, 4), Linear(4, 2) ];
    /// One input fed at every step.
    Repeated<seq_len = 4, batch = 2> = Repeater[ LSTM(3, 4), Linear(4, 2) ];
    /// An encoder that reads its input gradient (the table's gradient is made of it).
    Tokens<seq_len = 4, batch = 2> = Sequential[ LookupTable(7, 3), LSTM(3, 4), Linear(4, 2) ];
    /// The same, unrolled.
    TokensUnrolled<seq_len = 4, batch = 2, unroll = full> =
        Sequential[ LookupTable(7, 3), LSTM(3, 4), Linear(4, 2) ];
}

/// Every parameter gradient, exactly (`Debug` of a float round-trips).
fn grads<N: Network>(net: &N) -> Vec<String>
where
    N::Scalar: Debug,
{
    let mut out = Vec::new();
    net.visit_parameters(&mut |p| {
        out.extend(
            p.grad
                .expect("gradients")
                .iter()
                .map(|g| format!("{}: {g:?}", p.name)),
        );
    });
    out
}

fn matrix<const R: usize, const C: usize>(rng: &mut Rng) -> SMatrix<f32, R, C> {
    SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32)
}

/// Two backwards after one forward of the same network, with `backward` and with
/// `backward_parameters`: the same parameter gradients, bit for bit, and not zero.
fn check<N: Network + Clone>(mut net: N, inputs: &N::Inputs, grad_outputs: &N::Outputs)
where
    N::Scalar: Debug,
{
    net.training();
    // Gradients already there, to show both accumulate.
    net.forward(inputs);
    net.backward(inputs, grad_outputs);
    let mut other = net.clone();
    net.forward(inputs);
    net.backward(inputs, grad_outputs);
    other.forward(inputs);
    other.backward_parameters(inputs, grad_outputs);
    assert_eq!(grads(&net), grads(&other));
    let zero = format!(": {:?}", N::Scalar::default());
    let nonzero = grads(&net).iter().filter(|g| !g.ends_with(&zero)).count();
    assert!(
        nonzero > grads(&net).len() / 2,
        "most gradients are not zero"
    );
}

macro_rules! sequence {
    ($net:ident, $i:literal, $o:literal, $b:literal, $t:literal, $seed:literal) => {{
        let mut rng = Rng::new($seed);
        let xs: [SMatrix<f32, $i, $b>; $t] = core::array::from_fn(|_| matrix(&mut rng));
        let gs: [SMatrix<f32, $o, $b>; $t] = core::array::from_fn(|_| matrix(&mut rng));
        check($net::new($seed), &xs, &gs);
        // A shorter sequence too.
        check($net::new($seed), &xs[..$t - 1], &gs[..$t - 1]);
    }};
}

#[test]
fn recurrent_layers_first() {
    sequence!(Seed, 10, 5, 1, 4, 1);
    sequence!(Lstm32, 6, 3, 32, 3, 2);
    sequence!(Stacked32, 6, 2, 32, 3, 3);
    sequence!(Gru2, 3, 2, 2, 4, 4);
    sequence!(Elman2, 3, 4, 2, 4, 5);
    sequence!(Peephole2, 3, 4, 2, 4, 6);
}

#[test]
fn containers_and_feed_forward_layers_first() {
    sequence!(LinearFirst, 3, 2, 2, 3, 7);
    sequence!(NestedFirst, 3, 2, 2, 3, 8);
    sequence!(BiFirst, 3, 2, 2, 3, 9);
    sequence!(ResidualFirst, 3, 2, 2, 3, 10);
}

#[test]
fn masking_unrolling_repeating_and_encoders() {
    let mut rng = Rng::new(11);
    let mut xs: [SMatrix<f32, 2, 4>; 4] = core::array::from_fn(|_| matrix(&mut rng));
    xs[1].column_mut(2).fill(0.0);
    xs[3].column_mut(0).fill(0.0);
    let gs: [SMatrix<f32, 2, 4>; 4] = core::array::from_fn(|_| matrix(&mut rng));
    check(Masked::new(11), &xs, &gs);

    sequence!(Unrolled, 3, 2, 2, 4, 12);

    let x: SMatrix<f32, 3, 2> = matrix(&mut rng);
    let gs: [SMatrix<f32, 2, 2>; 4] = core::array::from_fn(|_| matrix(&mut rng));
    check(Repeated::new(13), &x, &gs);

    let tokens: Vec<[Class<7>; 2]> = (0..4)
        .map(|t| {
            [
                Class::new(t % 7).unwrap(),
                Class::new((3 * t + 1) % 7).unwrap(),
            ]
        })
        .collect();
    let gs: [SMatrix<f32, 2, 2>; 4] = core::array::from_fn(|_| matrix(&mut rng));
    check(Tokens::new(14), &tokens, &gs);
    check(TokensUnrolled::new(14), &tokens, &gs);
}

/// The gradient at the initial state is still computed.
#[test]
fn the_initial_state_gradient_is_kept() {
    let mut rng = Rng::new(15);
    let xs: [SMatrix<f32, 6, 32>; 3] = core::array::from_fn(|_| matrix(&mut rng));
    let gs: [SMatrix<f32, 3, 32>; 3] = core::array::from_fn(|_| matrix(&mut rng));
    let mut a = Lstm32::new(15);
    let mut b = a.clone();
    a.forward(&xs);
    a.backward(&xs, &gs);
    b.forward(&xs);
    b.backward_parameters(&xs, &gs);
    let (ga, gb) = (&a.grad_initial_state().0, &b.grad_initial_state().0);
    assert_eq!((ga.h, ga.c), (gb.h, gb.c));
    assert!(ga.h.iter().any(|&v| v != 0.0));
}

#[test]
fn misuse_is_the_same_error_as_backward() {
    let mut rng = Rng::new(16);
    let xs: [SMatrix<f32, 10, 1>; 4] = core::array::from_fn(|_| matrix(&mut rng));
    let gs: [SMatrix<f32, 5, 1>; 4] = core::array::from_fn(|_| matrix(&mut rng));
    let mut net = Seed::new(16);
    let before = grads(&net);
    assert_eq!(
        net.try_backward_parameters(&xs, &gs).unwrap_err(),
        net.try_backward(&xs, &gs).unwrap_err()
    );
    net.forward(&xs);
    let mut other = xs;
    other[2][(0, 0)] += 1.0;
    let err = net.try_backward_parameters(&other, &gs).unwrap_err();
    assert_eq!(err, net.try_backward(&other, &gs).unwrap_err());
    assert_eq!(
        net.try_backward_parameters(&xs[..3], &gs[..3]).unwrap_err(),
        net.try_backward(&xs[..3], &gs[..3]).unwrap_err()
    );
    assert_eq!(grads(&net), before, "nothing changed on error");
    assert!(net.try_backward_parameters(&xs, &gs).is_ok());
    assert_ne!(grads(&net), before);
}
