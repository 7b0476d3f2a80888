//! Forward values and gradients equal PyTorch's (fixtures from `tools/make_fixtures.py`):
//! to 1e-9 in f64 and 1e-5 in f32, relative to `max(1, |value|)`.

use nalgebra::SMatrix;
use rnn_core::criterion::{Class, ClassNll, Criterion};
use rnn_core::gradcheck::{
    Fixture, backward_once, backward_sequence, forward_once, forward_sequence,
};
use rnn_core::layers::{Gru, Linear, LogSoftMax, Lstm, Rnn};
use rnn_core::optim::{Adam, Optimizer, Sgd};
use rnn_core::param::Param;
use rnn_core::{Float, Layer, ParamKind, ParamMut, ParamRef, Parameterized, Rng};

fn fixture() -> Fixture {
    Fixture::parse(include_str!("fixtures/torch_reference.txt"))
}

fn tol<S: Float>() -> f64 {
    if S::DTYPE == "F64" { 1e-9 } else { 1e-5 }
}

fn assert_close<S: Float>(what: &str, ours: impl IntoIterator<Item = S>, torch: &[f64]) {
    let ours: Vec<f64> = ours.into_iter().map(Float::to_f64).collect();
    assert_eq!(ours.len(), torch.len(), "{what}: length");
    for (k, (a, b)) in ours.iter().zip(torch).enumerate() {
        assert!(
            (a - b).abs() <= tol::<S>() * b.abs().max(1.0),
            "{what}[{k}]: ours {a} torch {b}"
        );
    }
}

/// Sets every parameter named `prefix.<name>` from the fixture (row-major `out x in`).
fn load_params<S: Float, P: Parameterized<S>>(p: &mut P, fx: &Fixture, prefix: &str) {
    p.visit_parameters_mut(&mut |mut q: ParamMut<'_, S>| {
        let vals = fx.get(&format!("{prefix}.{}", q.name));
        let cols = q.value.ncols();
        for (k, &v) in vals.iter().enumerate() {
            q.value[(k / cols, k % cols)] = S::cast(v);
        }
    });
}

/// Compares every parameter gradient with `prefix.grad_<name>`.
fn check_param_grads<S: Float, P: Parameterized<S>>(p: &P, fx: &Fixture, prefix: &str) {
    p.visit_parameters(&mut |q: ParamRef<'_, S>| {
        let row_major = q.grad.expect("gradients").transpose();
        let row_major: Vec<S> = row_major.iter().copied().collect();
        assert_close(
            &format!("{prefix}.grad_{}", q.name),
            row_major,
            fx.get(&format!("{prefix}.grad_{}", q.name)),
        );
    });
}

/// `x[t][(i, b)]` from a PyTorch `(T, B, F)` tensor.
fn steps<S: Float, const F: usize, const B: usize, const T: usize>(
    flat: &[f64],
) -> [SMatrix<S, F, B>; T] {
    std::array::from_fn(|t| SMatrix::from_fn(|i, b| S::cast(flat[(t * B + b) * F + i])))
}

fn flatten<S: Float, const F: usize, const B: usize>(m: &[SMatrix<S, F, B>]) -> Vec<S> {
    m.iter().flat_map(|s| s.as_slice().to_vec()).collect()
}

/// Runs a recurrent layer over the fixture's 4-step sequence, then BPTT with `r` as the output
/// gradient, and compares everything with PyTorch.
fn check_recurrent<S, L, const I: usize, const H: usize>(mut layer: L, fx: &Fixture, name: &str)
where
    S: Float,
    L: Layer<S, I, H, 2>,
{
    const T: usize = 4;
    load_params(&mut layer, fx, name);
    let xs: [SMatrix<S, I, 2>; T] = steps(fx.get(&format!("{name}.x")));
    let rs: [SMatrix<S, H, 2>; T] = steps(fx.get(&format!("{name}.r")));
    let mut trace = forward_sequence(&mut layer, &xs, true);
    let gxs = backward_sequence(&mut layer, &xs, &mut trace, &rs);
    let ys = &trace.ys;
    assert_close(
        &format!("{name}.y"),
        flatten(ys),
        fx.get(&format!("{name}.y")),
    );
    assert_close(
        &format!("{name}.grad_x"),
        flatten(&gxs),
        fx.get(&format!("{name}.grad_x")),
    );
    check_param_grads(&layer, fx, name);
}

fn lstm_gru_rnn<S: Float>() {
    let fx = fixture();
    let rng = &mut Rng::new(0);
    check_recurrent::<S, _, 3, 4>(Lstm::<S, 3, 4, 16>::new(rng), &fx, "lstm");
    check_recurrent::<S, _, 3, 4>(Gru::<S, 3, 4, 12>::new(rng), &fx, "gru");
    check_recurrent::<S, _, 3, 5>(Rnn::<S, 3, 5>::new(rng), &fx, "rnn");
}

#[test]
fn lstm_gru_rnn_match_pytorch_f64() {
    lstm_gru_rnn::<f64>();
}

#[test]
fn lstm_gru_rnn_match_pytorch_f32() {
    lstm_gru_rnn::<f32>();
}

fn linear<S: Float>() {
    let fx = fixture();
    let mut l = Linear::<S, 4, 3>::new(&mut Rng::new(0));
    load_params(&mut l, &fx, "linear");
    let x: [SMatrix<S, 4, 2>; 1] = steps(fx.get("linear.x"));
    let r: [SMatrix<S, 3, 2>; 1] = steps(fx.get("linear.r"));
    let (mut y, mut gx) = (SMatrix::zeros(), SMatrix::zeros());
    let mut cache = SMatrix::zeros();
    forward_once(&mut l, &x[0], (&(), &mut ()), &mut cache, &mut y, true);
    backward_once(&mut l, (&x[0], &y), &mut cache, &r[0], &mut gx);
    assert_close("linear.y", flatten(&[y]), fx.get("linear.y"));
    assert_close("linear.grad_x", flatten(&[gx]), fx.get("linear.grad_x"));
    check_param_grads(&l, &fx, "linear");
}

#[test]
fn linear_matches_pytorch() {
    linear::<f64>();
    linear::<f32>();
}

fn log_softmax_nll<S: Float>() {
    let fx = fixture();
    let scores: [SMatrix<S, 5, 3>; 1] = steps(fx.get("nll.scores"));
    let target: [Class<5>; 3] =
        std::array::from_fn(|b| Class::new(fx.get("nll.target")[b] as usize).expect("in range"));
    let mut lsm = LogSoftMax::<S, 5>::new();
    let mut logp = SMatrix::zeros();
    forward_once(
        &mut lsm,
        &scores[0],
        (&(), &mut ()),
        &mut (),
        &mut logp,
        true,
    );
    assert_close("nll.logp", flatten(&[logp]), fx.get("nll.logp"));
    let w = fx.get("nll.class_weight");
    for (tag, crit) in [
        ("plain", ClassNll::default()),
        (
            "weighted",
            ClassNll::with_weights(nalgebra::SVector::from_fn(|i, _| S::cast(w[i]))),
        ),
    ] {
        let loss = crit.forward(&logp, &target);
        assert_close(
            &format!("nll.{tag}.loss"),
            [loss],
            fx.get(&format!("nll.{tag}.loss")),
        );
        let g = crit.backward(&logp, &target);
        let mut gx = SMatrix::zeros();
        backward_once(&mut lsm, (&scores[0], &logp), &mut (), &g, &mut gx);
        assert_close(
            &format!("nll.{tag}.grad"),
            flatten(&[gx]),
            fx.get(&format!("nll.{tag}.grad_scores")),
        );
    }
}

#[test]
fn log_softmax_and_class_nll_match_pytorch() {
    log_softmax_nll::<f64>();
    log_softmax_nll::<f32>();
}

/// One `3 x 2` parameter, for the optimiser traces.
struct One(Param<f64, 3, 2>);

impl Parameterized<f64> for One {
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, f64>)) {
        f(self.0.as_ref("p", ParamKind::Matrix));
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, f64>)) {
        f(self.0.as_mut("p", ParamKind::Matrix));
    }
}

fn trace<O: Optimizer>(opt: O, fx: &Fixture) -> Vec<f64> {
    let row_major = |m: &SMatrix<f64, 3, 2>| m.transpose().iter().copied().collect::<Vec<_>>();
    let from_row_major = |v: &[f64]| SMatrix::<f64, 3, 2>::from_row_slice(v);
    let mut p = One(Param::zeros());
    **p.0.value = from_row_major(fx.get("optim.start"));
    let grads = fx.get("optim.grads");
    let mut out = Vec::new();
    for k in 0..5 {
        *p.0.grad_mut() = from_row_major(&grads[k * 6..k * 6 + 6]);
        opt.step(&mut p).expect("valid optimiser");
        out.extend(row_major(&p.0.value));
    }
    out
}

#[test]
fn adam_and_sgd_match_torch_optim_for_five_steps() {
    let fx = fixture();
    let adam = Adam {
        lr: 0.01,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
    };
    assert_close::<f64>("adam", trace(adam, &fx), fx.get("optim.adam.trace"));
    let sgd = Sgd {
        lr: 0.1,
        momentum: 0.9,
        weight_decay: 0.01,
        nesterov: true,
    };
    assert_close::<f64>("sgd", trace(sgd, &fx), fx.get("optim.sgd.trace"));
}
