//! Finite-difference gradient checks, used by every layer's tests and available to users who
//! write their own layers.
//!
//! The check is central differences in `f64`: `(L(p + h) - L(p - h)) / 2h` with `h = 1e-5`,
//! compared with the analytic gradient per tensor as
//! `max_k |analytic_k - numeric_k| / max(max_k |analytic_k|, max_k |numeric_k|)`.

use crate::float::ZeroInit;
use crate::{Layer, Parameterized, Rng};
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// The step used for central differences.
pub const STEP: f64 = 1e-5;

/// The relative error that [`check_layer`] accepts.
pub const TOLERANCE: f64 = 1e-6;

/// Relative error of `analytic` against `numeric`, as described in the [module docs](self).
#[must_use]
pub fn relative_error(analytic: &[f64], numeric: &[f64]) -> f64 {
    assert_eq!(analytic.len(), numeric.len(), "gradient lengths differ");
    let scale = analytic
        .iter()
        .chain(numeric)
        .fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        return 0.0;
    }
    let diff = analytic
        .iter()
        .zip(numeric)
        .fold(0.0f64, |m, (a, n)| m.max((a - n).abs()));
    diff / scale
}

/// Adds `delta` to element `k` (column-major) of parameter number `which`.
pub fn nudge_parameter<P: Parameterized<f64> + ?Sized>(
    p: &mut P,
    which: usize,
    k: usize,
    delta: f64,
) {
    let mut i = 0;
    p.visit_parameters_mut(&mut |mut q| {
        if i == which {
            let rows = q.value.nrows();
            q.value[(k % rows, k / rows)] += delta;
        }
        i += 1;
    });
}

/// Every parameter's value (or gradient) flattened column-major, in visiting order.
pub fn parameter_vectors<P: Parameterized<f64> + ?Sized>(p: &P, grads: bool) -> Vec<Vec<f64>> {
    let mut out = Vec::new();
    p.visit_parameters(&mut |q| {
        let m = if grads { q.grad } else { q.value };
        out.push(m.iter().copied().collect());
    });
    out
}

/// Random matrix with entries in `[-1, 1)`.
#[must_use]
pub fn random_matrix<const R: usize, const C: usize>(rng: &mut Rng) -> SMatrix<f64, R, C> {
    SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0))
}

/// Runs `layer` over `xs` from a zero state and returns `Σ_t Σ r_t ⊙ y_t` together with the
/// per-step outputs, states and caches.
#[allow(clippy::type_complexity)]
fn run_sequence<L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    xs: &[SMatrix<f64, I, B>],
    rs: &[SMatrix<f64, O, B>],
) -> (f64, Vec<SMatrix<f64, O, B>>, Vec<L::State>, Vec<L::Cache>)
where
    L: Layer<f64, I, O, B>,
{
    let mut states = Vec::with_capacity(xs.len() + 1);
    states.push(L::State::zero_init());
    let mut caches = Vec::with_capacity(xs.len());
    let mut ys = Vec::with_capacity(xs.len());
    let mut loss = 0.0;
    for (t, x) in xs.iter().enumerate() {
        let mut next = L::State::zero_init();
        let mut cache = L::Cache::zero_init();
        let mut y = SMatrix::zeros();
        layer.forward_step(x, &states[t], &mut next, &mut cache, &mut y, false);
        loss += y.dot(&rs[t]);
        states.push(next);
        caches.push(cache);
        ys.push(y);
    }
    (loss, ys, states, caches)
}

/// Checks every parameter gradient and every input gradient of `layer` against central
/// differences, through a sequence of `steps` steps from a zero state (so that for recurrent
/// cells the gradient flows through the state), in evaluation mode.
///
/// Returns the largest relative error found. Panics with the offending tensor's name if any
/// error exceeds [`TOLERANCE`].
pub fn check_layer<L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    steps: usize,
    seed: u64,
) -> f64
where
    L: Layer<f64, I, O, B>,
{
    let mut rng = Rng::new(seed);
    let mut xs: Vec<SMatrix<f64, I, B>> = (0..steps).map(|_| random_matrix(&mut rng)).collect();
    let rs: Vec<SMatrix<f64, O, B>> = (0..steps).map(|_| random_matrix(&mut rng)).collect();

    // Analytic gradients.
    layer.zero_grad();
    let (_, ys, states, caches) = run_sequence(layer, &xs, &rs);
    let mut g_state = L::State::zero_init();
    let mut gxs = alloc::vec![SMatrix::<f64, I, B>::zeros(); steps];
    for t in (0..steps).rev() {
        let mut g_prev = L::State::zero_init();
        layer.backward_step(
            &xs[t],
            &ys[t],
            &states[t],
            &states[t + 1],
            &caches[t],
            &rs[t],
            &g_state,
            &mut g_prev,
            &mut gxs[t],
        );
        g_state = g_prev;
    }
    let analytic = parameter_vectors(layer, true);

    let mut names = Vec::new();
    layer.visit_parameters(&mut |p| names.push(p.name));
    let values = parameter_vectors(layer, false);
    let mut worst = 0.0f64;
    for (which, vals) in values.iter().enumerate() {
        let numeric: Vec<f64> = (0..vals.len())
            .map(|k| {
                nudge_parameter(layer, which, k, STEP);
                let up = run_sequence(layer, &xs, &rs).0;
                nudge_parameter(layer, which, k, -2.0 * STEP);
                let down = run_sequence(layer, &xs, &rs).0;
                nudge_parameter(layer, which, k, STEP);
                (up - down) / (2.0 * STEP)
            })
            .collect();
        let err = relative_error(&analytic[which], &numeric);
        assert!(
            err <= TOLERANCE,
            "parameter {}: relative error {err:e}",
            names[which]
        );
        worst = worst.max(err);
    }

    for t in 0..steps {
        let mut numeric = Vec::with_capacity(I * B);
        for k in 0..I * B {
            let x0 = xs[t][k];
            xs[t][k] = x0 + STEP;
            let up = run_sequence(layer, &xs, &rs).0;
            xs[t][k] = x0 - STEP;
            let down = run_sequence(layer, &xs, &rs).0;
            xs[t][k] = x0;
            numeric.push((up - down) / (2.0 * STEP));
        }
        let err = relative_error(gxs[t].as_slice(), &numeric);
        assert!(
            err <= TOLERANCE,
            "input at step {t}: relative error {err:e}"
        );
        worst = worst.max(err);
    }
    worst
}
