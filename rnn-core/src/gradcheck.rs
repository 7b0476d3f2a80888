//! Finite-difference gradient checks, used by every layer's tests and available to users who
//! write their own layers.
//!
//! The check is central differences in `f64`: `(L(p + h) - L(p - h)) / 2h` with `h = 1e-5`,
//! compared with the analytic gradient per tensor as
//! `max_k |analytic_k - numeric_k| / max(max_k |analytic_k|, max_k |numeric_k|)`.

use crate::float::ZeroInit;
use crate::layer::{BackwardStep, ForwardStep};
use crate::{Float, Layer, Network, Parameterized, Rng};
use alloc::collections::BTreeMap;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// Reference values written by the repository's `tools/` scripts (PyTorch, run by hand): one
/// tensor per line, `name ndim dim... value...`, values row-major; `#` starts a comment line.
pub struct Fixture(BTreeMap<String, (Vec<usize>, Vec<f64>)>);

impl Fixture {
    /// Parses the text of a fixture file.
    ///
    /// # Panics
    /// On a malformed line (this is test support: a broken fixture must stop the test).
    #[must_use]
    pub fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let mut it = line.split(' ');
            let name = it.next().unwrap_or_default().to_string();
            let num = |s: Option<&str>| -> usize {
                s.and_then(|s| s.parse().ok())
                    .unwrap_or_else(|| panic!("fixture line `{name}`: bad size"))
            };
            let ndim = num(it.next());
            let shape: Vec<usize> = (0..ndim).map(|_| num(it.next())).collect();
            let vals: Vec<f64> = it
                .map(|v| {
                    v.parse()
                        .unwrap_or_else(|_| panic!("fixture line `{name}`: bad value {v}"))
                })
                .collect();
            assert_eq!(vals.len(), shape.iter().product::<usize>(), "{name}");
            map.insert(name, (shape, vals));
        }
        Self(map)
    }

    /// The values of tensor `name`, row-major.
    ///
    /// # Panics
    /// If the fixture has no such tensor.
    #[must_use]
    pub fn get(&self, name: &str) -> &[f64] {
        &self.entry(name).1
    }

    /// The shape of tensor `name`.
    ///
    /// # Panics
    /// If the fixture has no such tensor.
    #[must_use]
    pub fn shape(&self, name: &str) -> &[usize] {
        &self.entry(name).0
    }

    fn entry(&self, name: &str) -> &(Vec<usize>, Vec<f64>) {
        self.0
            .get(name)
            .unwrap_or_else(|| panic!("fixture has no {name}"))
    }
}

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
        out.push(match (grads, q.grad) {
            (false, _) => q.value.iter().copied().collect(),
            (true, Some(g)) => g.iter().copied().collect(),
            (true, None) => alloc::vec![0.0; q.value.len()],
        });
    });
    out
}

/// Runs one layer in `f32` (`l32`) and in `f64` (`l64`, with the same weights, e.g. both made
/// by `new` from the same seed) over `steps` steps of random inputs in `[-2, 2)` from a zero
/// state, then back with random output gradients, and asserts that the outputs, the input
/// gradients and the parameter gradients agree within `f32` rounding (`1e-5`, relative to
/// `1 + |value|`). The `f32` side runs the SIMD kernels where the CPU has them, the `f64` side
/// the generic code, so this checks the one against the other.
pub fn assert_f32_matches_f64<L32, L64, const I: usize, const O: usize, const B: usize>(
    l32: &mut L32,
    l64: &mut L64,
    steps: usize,
    seed: u64,
) where
    L32: Layer<f32, I, O, B> + Parameterized<f32>,
    L64: Layer<f64, I, O, B> + Parameterized<f64>,
{
    let mut rng = Rng::new(seed);
    let mut random = |_: usize, _: usize| rng.uniform(-2.0, 2.0);
    let xs: Vec<SMatrix<f64, I, B>> = (0..steps).map(|_| SMatrix::from_fn(&mut random)).collect();
    let gys: Vec<SMatrix<f64, O, B>> = (0..steps).map(|_| SMatrix::from_fn(&mut random)).collect();
    let xs32: Vec<SMatrix<f32, I, B>> = xs.iter().map(|x| x.cast()).collect();
    let gys32: Vec<SMatrix<f32, O, B>> = gys.iter().map(|g| g.cast()).collect();
    let check = |what: &str, got: &[f32], want: &[f64]| {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        for (k, (&g, &w)) in got.iter().zip(want).enumerate() {
            assert!(
                (f64::from(g) - w).abs() < 1e-5 * (1.0 + w.abs()),
                "{what}[{k}]: f32 {g}, f64 {w}"
            );
        }
    };
    let mut t64 = forward_sequence(l64, &xs, false);
    let mut t32 = forward_sequence(l32, &xs32, false);
    for (t, (y32, y64)) in t32.ys.iter().zip(&t64.ys).enumerate() {
        check(
            &alloc::format!("output of step {t}"),
            y32.as_slice(),
            y64.as_slice(),
        );
    }
    let g64 = backward_sequence(l64, &xs, &mut t64, &gys);
    let g32 = backward_sequence(l32, &xs32, &mut t32, &gys32);
    for (t, (g32, g64)) in g32.iter().zip(&g64).enumerate() {
        check(
            &alloc::format!("input gradient of step {t}"),
            g32.as_slice(),
            g64.as_slice(),
        );
    }
    let mut grads32 = Vec::new();
    l32.visit_parameters(&mut |q| {
        let g = match q.grad {
            Some(g) => g.iter().copied().collect::<Vec<f32>>(),
            None => alloc::vec![0.0; q.value.len()],
        };
        grads32.push((q.name, g));
    });
    for ((name, got), want) in grads32.iter().zip(parameter_vectors(l64, true)) {
        check(&alloc::format!("gradient of {name}"), got, &want);
    }
}

/// Random matrix with entries in `[-1, 1)`.
#[must_use]
pub fn random_matrix<const R: usize, const C: usize>(rng: &mut Rng) -> SMatrix<f64, R, C> {
    SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0))
}

/// What a forward pass over a sequence leaves for its backward: outputs, the states before and
/// after every step (`states[t]` before step `t`), and the caches.
pub struct Trace<S: Float, L: Layer<S, I, O, B>, const I: usize, const O: usize, const B: usize> {
    /// Output of every step.
    pub ys: Vec<SMatrix<S, O, B>>,
    /// `states[t]` is the state before step `t`; one more than steps.
    pub states: Vec<L::State>,
    /// Cache of every step.
    pub caches: Vec<L::Cache>,
}

/// One forward step of `layer` (the step interface with its parts passed one by one; for tests).
pub fn forward_once<S, L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    x: &SMatrix<S, I, B>,
    (prev, next): (&L::State, &mut L::State),
    cache: &mut L::Cache,
    y: &mut SMatrix<S, O, B>,
    training: bool,
) where
    S: Float,
    L: Layer<S, I, O, B>,
{
    let step = ForwardStep {
        x,
        prev,
        next,
        cache,
        y,
    };
    layer.forward_step(step, training);
}

/// One backward step of a layer without state (`State = ()`), parameter gradients included
/// (for tests).
pub fn backward_once<S, L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    (x, y): (&SMatrix<S, I, B>, &SMatrix<S, O, B>),
    cache: &mut L::Cache,
    gy: &SMatrix<S, O, B>,
    gx: &mut SMatrix<S, I, B>,
) where
    S: Float,
    L: Layer<S, I, O, B, State = ()>,
{
    let step = BackwardStep {
        x,
        y,
        prev: &(),
        next: &(),
        cache,
        gy,
        gx,
        input_grad: true,
    };
    layer.backward_step(step, &(), &mut (), false);
}

/// Runs `layer` over `xs` from a zero state (a reference sequencer, allocating as it goes; the
/// generated networks use the allocation-free `Sequencer`).
pub fn forward_sequence<S, L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    xs: &[SMatrix<S, I, B>],
    training: bool,
) -> Trace<S, L, I, O, B>
where
    S: Float,
    L: Layer<S, I, O, B>,
{
    let mut trace = Trace {
        ys: Vec::new(),
        states: alloc::vec![L::State::zero_init()],
        caches: Vec::new(),
    };
    for (t, x) in xs.iter().enumerate() {
        let (mut next, mut cache, mut y) = (
            L::State::zero_init(),
            L::Cache::zero_init(),
            SMatrix::zeros(),
        );
        forward_once(
            layer,
            x,
            (&trace.states[t], &mut next),
            &mut cache,
            &mut y,
            training,
        );
        trace.states.push(next);
        trace.caches.push(cache);
        trace.ys.push(y);
    }
    trace
}

/// Back-propagates output gradients `gys` through the sequence of `trace` (zero gradient into
/// the last state), accumulating parameter gradients; returns the input gradients.
pub fn backward_sequence<S, L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    xs: &[SMatrix<S, I, B>],
    trace: &mut Trace<S, L, I, O, B>,
    gys: &[SMatrix<S, O, B>],
) -> Vec<SMatrix<S, I, B>>
where
    S: Float,
    L: Layer<S, I, O, B>,
{
    let mut gxs = alloc::vec![SMatrix::<S, I, B>::zeros(); xs.len()];
    let mut g_state = L::State::zero_init();
    for t in (0..xs.len()).rev() {
        let mut g_prev = L::State::zero_init();
        let step = BackwardStep {
            x: &xs[t],
            y: &trace.ys[t],
            prev: &trace.states[t],
            next: &trace.states[t + 1],
            cache: &mut trace.caches[t],
            gy: &gys[t],
            gx: &mut gxs[t],
            input_grad: true,
        };
        layer.backward_step(step, &g_state, &mut g_prev, false);
        g_state = g_prev;
    }
    gxs
}

/// `Σ_t Σ r_t ⊙ y_t` over a forward pass from a zero state, in evaluation mode.
fn projected_loss<L, const I: usize, const O: usize, const B: usize>(
    layer: &mut L,
    xs: &[SMatrix<f64, I, B>],
    rs: &[SMatrix<f64, O, B>],
) -> f64
where
    L: Layer<f64, I, O, B>,
{
    forward_sequence(layer, xs, false)
        .ys
        .iter()
        .zip(rs)
        .map(|(y, r)| y.dot(r))
        .sum()
}

/// Central differences of `loss` with respect to every parameter of `p`, tensor by tensor
/// (column-major, in visiting order, as [`parameter_vectors`]). `p` is left as it was.
pub fn numeric_parameter_gradients<P: Parameterized<f64> + ?Sized>(
    p: &mut P,
    mut loss: impl FnMut(&mut P) -> f64,
) -> Vec<Vec<f64>> {
    let sizes: Vec<usize> = parameter_vectors(p, false).iter().map(Vec::len).collect();
    sizes
        .iter()
        .enumerate()
        .map(|(which, &n)| {
            (0..n)
                .map(|k| {
                    nudge_parameter(p, which, k, STEP);
                    let up = loss(p);
                    nudge_parameter(p, which, k, -2.0 * STEP);
                    let down = loss(p);
                    nudge_parameter(p, which, k, STEP);
                    (up - down) / (2.0 * STEP)
                })
                .collect()
        })
        .collect()
}

/// Compares the gradients `p` holds (computed by the caller for `loss`) with central
/// differences of `loss`, tensor by tensor. Returns the largest relative error; panics with the
/// tensor's name if one exceeds [`TOLERANCE`].
pub fn assert_parameter_gradients<P: Parameterized<f64> + ?Sized>(
    p: &mut P,
    loss: impl FnMut(&mut P) -> f64,
) -> f64 {
    let analytic = parameter_vectors(p, true);
    let mut names = Vec::new();
    p.visit_parameters(&mut |q| names.push(q.name));
    let mut worst = 0.0f64;
    let numeric = numeric_parameter_gradients(p, loss);
    for (which, (grad, numeric)) in analytic.iter().zip(&numeric).enumerate() {
        let err = relative_error(grad, numeric);
        assert!(
            err <= TOLERANCE,
            "parameter {}: relative error {err:e}",
            names[which]
        );
        worst = worst.max(err);
    }
    worst
}

/// Compares `analytic`, the gradient of `loss` with respect to the inputs of step `t`, with
/// central differences. Returns the relative error; panics if it exceeds [`TOLERANCE`].
pub fn assert_input_gradient<const R: usize, const C: usize>(
    xs: &mut [SMatrix<f64, R, C>],
    t: usize,
    analytic: &SMatrix<f64, R, C>,
    mut loss: impl FnMut(&[SMatrix<f64, R, C>]) -> f64,
) -> f64 {
    let numeric: Vec<f64> = (0..R * C)
        .map(|k| {
            let x0 = xs[t][k];
            xs[t][k] = x0 + STEP;
            let up = loss(xs);
            xs[t][k] = x0 - STEP;
            let down = loss(xs);
            xs[t][k] = x0;
            (up - down) / (2.0 * STEP)
        })
        .collect();
    let err = relative_error(analytic.as_slice(), &numeric);
    assert!(
        err <= TOLERANCE,
        "input at step {t}: relative error {err:e}"
    );
    err
}

/// Checks every parameter gradient and every input gradient of a whole network `net` over the
/// sequence `xs` against central differences, for the loss that `loss` computes from the
/// outputs (with its gradient at the outputs). Runs in evaluation mode (no dropout), so that
/// the loss is a function of the parameters. Returns the worst relative error.
///
/// # Panics
/// If a relative error exceeds `1e-6`, naming the parameter or step.
pub fn check_network<N, const I: usize, const O: usize, const B: usize>(
    net: &mut N,
    xs: &mut [SMatrix<f64, I, B>],
    loss: impl Fn(&[SMatrix<f64, O, B>]) -> (f64, Vec<SMatrix<f64, O, B>>),
) -> f64
where
    N: Network<
            Scalar = f64,
            Inputs = [SMatrix<f64, I, B>],
            Outputs = [SMatrix<f64, O, B>],
            GradInputs = [SMatrix<f64, I, B>],
        >,
{
    net.evaluate();
    net.zero_grad_parameters();
    let grads = loss(net.forward(xs)).1;
    let gx = net.backward(xs, &grads).to_vec();
    let mut worst = assert_parameter_gradients(net, |net| loss(net.forward(xs)).0);
    for (t, g) in gx.iter().enumerate() {
        let err = assert_input_gradient(xs, t, g, |xs| loss(net.forward(xs)).0);
        worst = worst.max(err);
    }
    worst
}

/// Checks every parameter gradient and every input gradient of `layer` against central
/// differences, through a sequence of `steps` steps from a zero state (so that for recurrent
/// cells the gradient flows through the state), in evaluation mode, for the loss
/// `Σ_t Σ r_t ⊙ y_t` with random `r_t`.
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

    layer.zero_grad();
    let mut trace = forward_sequence(layer, &xs, false);
    let gxs = backward_sequence(layer, &xs, &mut trace, &rs);
    let mut worst = assert_parameter_gradients(layer, |l| projected_loss(l, &xs, &rs));
    for (t, gx) in gxs.iter().enumerate() {
        let err = assert_input_gradient(&mut xs, t, gx, |xs| projected_loss(layer, xs, &rs));
        worst = worst.max(err);
    }
    worst
}
