//! `Conv1d(in, out, kernel, dilation = d)` against PyTorch's `nn.Conv1d` with left padding
//! (fixture: `tools/conv1d_fixture.py`): PyTorch's state_dict loads as saved (at run time and
//! compiled in) and saves back as it was; outputs and gradients equal PyTorch's over a whole
//! sequence and one step at a time; under `remember`, a sequence cut in two calls gives the
//! outputs of one call and the truncated gradients of the second. The ONNX export (a `Conv`
//! with left pads) runs in onnxruntime with PyTorch's outputs.

use rnn_core::gradcheck::{Fixture, check_network};
use rnn_core::io::{TorchNames, WeightsError, load_state_dict, to_onnx, to_state_dict};
use rnn_core::prelude::*;

network! {
    /// The fixture's network, over its whole 12 steps.
    pub Wave<seq_len = 12, batch = 2, scalar = f64> =
        Sequential[ Conv1d(3, 4, 3, dilation = 2), Tanh, Linear(4, 2) ];
}
network! {
    /// The same network in `f32`.
    pub Wave32<seq_len = 12, batch = 2> =
        Sequential[ Conv1d(3, 4, 3, dilation = 2), Tanh, Linear(4, 2) ];
}
network! {
    /// The same network over 6 steps: the sequence in two calls.
    pub Half<seq_len = 6, batch = 2, scalar = f64> =
        Sequential[ Conv1d(3, 4, 3, dilation = 2), Tanh, Linear(4, 2) ];
}
network! {
    /// The same network with PyTorch's weights compiled in.
    pub Compiled<seq_len = 12, batch = 2, scalar = f64,
                 weights = "tests/fixtures/conv1d/weights.safetensors"> =
        Sequential[ Conv1d(3, 4, 3, dilation = 2), Tanh, Linear(4, 2) ];
}
/// The kernel and dilation as constants.
const KERNEL: usize = 3;
const DILATION: usize = 2;
network! {
    /// The fixture's network with constant sizes.
    pub WaveConst<seq_len = 12, batch = 2, scalar = f64> =
        Sequential[ Conv1d(3, 4, KERNEL, dilation = DILATION), Tanh, Linear(4, 2) ];
}
network! {
    /// Kernel 1 (no state), a default dilation, and a convolution after another layer.
    pub Stack<seq_len = 5, batch = 3, scalar = f64> =
        Sequential[ Conv1d(2, 3, 1), Tanh, Conv1d(3, 3, 2), Conv1d(3, 2, 4, dilation = 3) ];
}

network! {
    /// Both directions: the backward copy sees the sequence reversed (its window holds later
    /// inputs).
    pub Bi<seq_len = 6, batch = 2, scalar = f64> =
        Sequential[ BiSequencer[ Conv1d(2, 3, 2, dilation = 2) ], Tanh, Linear(6, 2) ];
}
network! {
    /// Masking: a masked sample's window resets to the initial state (zeros).
    pub Masked<seq_len = 6, batch = 2, scalar = f64, mask_zero = true> =
        Sequential[ Conv1d(2, 3, 3), Tanh, Linear(3, 2) ];
}

const WEIGHTS: &[u8] = include_bytes!("fixtures/conv1d/weights.safetensors");
const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/conv1d");
const T: usize = 12;

fn fixture() -> Fixture {
    Fixture::parse(include_str!("fixtures/conv1d/torch.txt"))
}

/// Steps `range` of a PyTorch `(T, B, F)` tensor.
fn steps<S: Float, const F: usize>(
    flat: &[f64],
    range: core::ops::Range<usize>,
) -> Vec<SMatrix<S, F, 2>> {
    range
        .map(|t| SMatrix::from_fn(|i, b| S::cast(flat[(t * 2 + b) * F + i])))
        .collect()
}

/// Time-major `(T, B, F)` values, as the fixture holds them.
fn flat<S: Float, const F: usize>(m: &[SMatrix<S, F, 2>]) -> Vec<f64> {
    m.iter()
        .flat_map(|s| (0..2).flat_map(move |b| (0..F).map(move |i| s[(i, b)].to_f64())))
        .collect()
}

fn assert_close(what: &str, ours: &[f64], torch: &[f64], tol: f64) {
    assert_eq!(ours.len(), torch.len(), "{what}: length");
    for (k, (a, b)) in ours.iter().zip(torch).enumerate() {
        assert!(
            (a - b).abs() <= tol * b.abs().max(1.0),
            "{what}[{k}]: ours {a} torch {b}"
        );
    }
}

/// Every parameter gradient of `net` against the fixture's `prefix.grad.<name>` (row-major;
/// the convolution's weight `[4, 3, 3]`).
fn check_grads<S: Float>(net: &impl Parameterized<S>, fx: &Fixture, prefix: &str, tol: f64) {
    net.visit_parameters(&mut |p| {
        let grad = p.grad.expect("gradients");
        let row_major: Vec<f64> = (0..grad.nrows())
            .flat_map(|r| (0..grad.ncols()).map(move |c| grad[(r, c)].to_f64()))
            .collect();
        let name = format!("{prefix}.grad.{}", p.name);
        assert_eq!(
            p.kind.torch_shape(grad.nrows(), grad.ncols()),
            fx.shape(&name),
            "{name}"
        );
        assert_close(&name, &row_major, fx.get(&name), tol);
    });
}

#[test]
fn pytorch_weights_give_pytorchs_outputs_and_gradients() {
    let fx = fixture();
    let mut net = Wave::new(0);
    load_state_dict(&mut net, WEIGHTS, &TorchNames::new()).expect("PyTorch's state_dict");
    let xs = steps::<f64, 3>(fx.get("x"), 0..T);
    let rs = steps::<f64, 2>(fx.get("r"), 0..T);
    net.zero_grad_parameters();
    let ys = net.forward(&xs).to_vec();
    assert_close("y", &flat(&ys), fx.get("whole.y"), 1e-12);
    let gx = net.backward(&xs, &rs).to_vec();
    assert_close("grad_x", &flat(&gx), fx.get("whole.grad_x"), 1e-12);
    check_grads(&net, &fx, "whole", 1e-12);

    // Constant sizes: the same network.
    let mut konst = WaveConst::new(0);
    load_state_dict(&mut konst, WEIGHTS, &TorchNames::new()).expect("state_dict");
    assert_eq!(konst.forward(&xs), &ys[..]);

    // One step at a time: the same numbers.
    let mut online = Wave::new(1);
    load_state_dict(&mut online, WEIGHTS, &TorchNames::new()).expect("state_dict");
    online.zero_grad_parameters();
    online.forget();
    let ys: Vec<_> = xs.iter().map(|x| *online.step(x)).collect();
    assert_close("online y", &flat(&ys), fx.get("whole.y"), 1e-12);
    let mut gx = vec![SMatrix::<f64, 3, 2>::zeros(); T];
    for t in (0..T).rev() {
        gx[t] = *online.backward_step(&xs[t], &rs[t]);
    }
    assert_close("online grad_x", &flat(&gx), fx.get("whole.grad_x"), 1e-12);
    check_grads(&online, &fx, "whole", 1e-12);

    // f32.
    let mut net = Wave32::new(0);
    load_state_dict(&mut net, WEIGHTS, &TorchNames::new().convert_dtype()).expect("to f32");
    let xs = steps::<f32, 3>(fx.get("x"), 0..T);
    let rs = steps::<f32, 2>(fx.get("r"), 0..T);
    net.zero_grad_parameters();
    let ys = net.forward(&xs).to_vec();
    assert_close("f32 y", &flat(&ys), fx.get("whole.y"), 1e-5);
    let gx = net.backward(&xs, &rs).to_vec();
    assert_close("f32 grad_x", &flat(&gx), fx.get("whole.grad_x"), 1e-5);
    check_grads(&net, &fx, "whole", 1e-5);
}

/// Under `remember`, the state (the last `(kernel - 1) * dilation` inputs) carries into the
/// next call: two calls of 6 steps give the 12-step outputs, and the second call's gradients
/// are PyTorch's with the first 6 steps as constants (truncated BPTT). `forget` starts from
/// zeros (PyTorch's padding) again.
#[test]
fn the_window_carries_across_calls_under_remember() {
    let fx = fixture();
    let mut net = Half::new(0);
    load_state_dict(&mut net, WEIGHTS, &TorchNames::new()).expect("state_dict");
    net.remember(Remember::Both);
    let (first, second) = (
        steps::<f64, 3>(fx.get("x"), 0..6),
        steps::<f64, 3>(fx.get("x"), 6..T),
    );
    let rs = steps::<f64, 2>(fx.get("r"), 6..T);
    let mut ys = net.forward(&first).to_vec();
    net.zero_grad_parameters();
    ys.extend_from_slice(net.forward(&second));
    assert_close("y in two calls", &flat(&ys), fx.get("whole.y"), 1e-12);
    let gx = net.backward(&second, &rs).to_vec();
    assert_close("second grad_x", &flat(&gx), fx.get("second.grad_x"), 1e-12);
    check_grads(&net, &fx, "second", 1e-12);

    net.forget();
    let ys = net.forward(&first).to_vec();
    assert_close(
        "after forget",
        &flat(&ys),
        &fx.get("whole.y")[..6 * 2 * 2],
        1e-12,
    );
}

#[test]
fn compiled_in_weights_are_pytorchs_and_save_back_as_they_were() {
    let fx = fixture();
    let mut net = Compiled::pretrained();
    let xs = steps::<f64, 3>(fx.get("x"), 0..T);
    let ys = net.forward(&xs).to_vec();
    assert_close("compiled y", &flat(&ys), fx.get("whole.y"), 1e-12);
    // `[4, 3, 3]` in the file, the same bytes saved back.
    assert_eq!(net.parameters()[0].value.shape(), (4, 9));
    let saved = to_state_dict(&net, &TorchNames::new()).expect("save");
    let mut back = Wave::new(5);
    load_state_dict(&mut back, &saved, &TorchNames::new()).expect("our file loads");
    let mut run = Wave::new(6);
    load_state_dict(&mut run, WEIGHTS, &TorchNames::new()).expect("theirs");
    for (a, b) in back.parameters().iter().zip(run.parameters()) {
        assert_eq!(a.value, b.value, "{}", a.name);
    }
}

/// Central differences through a network of convolutions (kernel 1, default dilation, and
/// dilation 3), whole sequence: every parameter and input gradient.
#[test]
fn gradients_of_a_stack_of_convolutions_match_finite_differences() {
    check_projected::<_, 2, 2, 3>(&mut Stack::new(3), 5, 4);
}

/// `n` steps of values drawn uniformly from [-1, 1).
fn random_steps<const R: usize, const C: usize>(
    rng: &mut Rng,
    n: usize,
) -> Vec<SMatrix<f64, R, C>> {
    (0..n)
        .map(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0)))
        .collect()
}

/// [`check_network`] on `net` over `steps` random inputs, for the loss `Σ_t r_t · y_t` with
/// random `r_t` (both drawn from `seed`): every parameter and input gradient within 1e-6.
fn check_projected<N, const I: usize, const O: usize, const B: usize>(
    net: &mut N,
    steps: usize,
    seed: u64,
) where
    N: Network<
            Scalar = f64,
            Inputs = [SMatrix<f64, I, B>],
            Outputs = [SMatrix<f64, O, B>],
            GradInputs = [SMatrix<f64, I, B>],
        >,
{
    let mut rng = Rng::new(seed);
    let mut xs = random_steps::<I, B>(&mut rng, steps);
    let rs = random_steps::<O, B>(&mut rng, steps);
    let worst = check_network(net, &mut xs, |ys| {
        let loss = ys.iter().zip(&rs).map(|(y, r)| y.dot(r)).sum();
        (loss, rs.clone())
    });
    assert!(worst <= 1e-6, "{worst:e}");
}

/// Our ONNX export of the f32 network with PyTorch's weights is the file onnxruntime ran
/// (`tools/conv1d_fixture.py check`; with `RNN_WRITE_FIXTURES=1` this test writes it first),
/// and onnxruntime's outputs are PyTorch's and ours. An initial state that is not zero has no
/// ONNX form (`Conv` pads with zeros): the export fails, naming the layer.
#[test]
fn the_onnx_export_runs_in_onnxruntime_with_pytorchs_outputs() {
    let fx = fixture();
    let mut net = Wave32::new(0);
    load_state_dict(&mut net, WEIGHTS, &TorchNames::new().convert_dtype()).expect("to f32");
    let bytes = to_onnx(&net).expect("export");
    let path = format!("{DIR}/ours.onnx");
    if std::env::var_os("RNN_WRITE_FIXTURES").is_some() {
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, &bytes).expect("write");
        std::fs::rename(&tmp, &path).expect("rename");
    }
    assert!(
        std::fs::read(&path).expect("committed export") == bytes,
        "the export changed: re-run onnxruntime (see tools/conv1d_fixture.py)"
    );
    let ort = Fixture::parse(include_str!("fixtures/conv1d/onnxruntime.txt"));
    assert_close(
        "onnxruntime vs torch",
        ort.get("y"),
        fx.get("whole.y"),
        1e-5,
    );
    let xs = steps::<f32, 3>(fx.get("x"), 0..T);
    net.evaluate();
    let ours = flat(net.forward(&xs));
    assert_close("onnxruntime vs ours", ort.get("y"), &ours, 1e-6);

    let mut start = *net.state();
    start.0[(0, 1)] = 0.5;
    net.set_initial_state(start);
    match to_onnx(&net) {
        Err(WeightsError::Onnx(problems)) => {
            assert!(
                problems.iter().any(|p| p.starts_with("Conv1d (layer 0)")),
                "{problems:?}"
            );
        }
        other => panic!("exported a graph that starts from zeros: {other:?}"),
    }

    // Reading ONNX's `Conv` back is not supported: a typed error that changes nothing.
    let before = net.flat_parameters();
    let e = rnn_core::io::load_onnx(&mut net, &bytes).expect_err("no Conv reader");
    assert!(matches!(e, WeightsError::Onnx(_)), "{e}");
    assert_eq!(net.flat_parameters(), before);
}

/// Central differences through a `BiSequencer` around a convolution (its backward copy runs on
/// the sequence reversed, through `Dir::Reversed` views).
#[test]
fn gradients_both_ways_match_finite_differences() {
    check_projected::<_, 2, 2, 2>(&mut Bi::new(7), 6, 8);
}

/// With `mask_zero`, a sample masked at a step has a zero output there and its window starts
/// again from zeros: its later outputs are those of the rest of its sequence run alone. The
/// parameter gradients (the mask does not depend on them) match central differences.
#[test]
fn a_masked_sample_starts_its_window_again() {
    let mut net = Masked::new(9);
    let mut rng = Rng::new(10);
    let mut xs = random_steps::<2, 2>(&mut rng, 6);
    xs[2].column_mut(1).fill(0.0);
    net.evaluate();
    let ys = net.forward(&xs).to_vec();
    assert_eq!(
        ys[2].column(1).iter().copied().collect::<Vec<_>>(),
        [0.0, 0.0]
    );
    let alone = net.forward(&xs[3..]).to_vec();
    for (t, y) in alone.iter().enumerate() {
        assert_eq!(y.column(1), ys[3 + t].column(1), "step {}", 3 + t);
    }

    let rs = random_steps::<2, 2>(&mut rng, 6);
    let loss = |net: &mut Masked| -> f64 {
        net.forward(&xs)
            .iter()
            .zip(&rs)
            .map(|(y, r)| y.dot(r))
            .sum()
    };
    net.zero_grad_parameters();
    net.forward(&xs);
    net.backward(&xs, &rs);
    let worst = rnn_core::gradcheck::assert_parameter_gradients(&mut net, loss);
    assert!(worst <= 1e-6, "{worst:e}");
}
