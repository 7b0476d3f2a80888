//! `Residual[ ... ]`: `y = f(x) + x` around a sequence of layers (a skip connection).
//!
//! Shapes: `x, f(x), y: N x B`; the inner layers must give as many outputs as they take inputs
//! (`network!` checks it at compile time). Forward `y = f(x) + x`; backward
//! `gx = f'(x)ᵀ gy + gy`, and the inner layers' parameter gradients as they would be alone.
//! The inner layers keep their own state (a recurrent `f` stays recurrent) and their names:
//! `Residual[ LSTM(1, 16), Linear(16, 1) ]` at position 0 has `0.0.weight_ih`, `0.1.weight`.
//!
//! ```
//! use rnn_core::prelude::*;
//!
//! network! {
//!     /// A guitar-amp style model: the LSTM learns the difference to the dry signal.
//!     pub Amp<seq_len = 32> = Sequential[ Residual[ LSTM(1, 16), Linear(16, 1) ] ];
//! }
//! let mut amp = Amp::new(1);
//! amp.evaluate();
//! let dry = SMatrix::<f32, 1, 1>::new(0.25);
//! let wet = amp.step(&dry)[0];
//! assert!(wet.is_finite());
//! assert_eq!(amp.parameters()[0].name, "0.0.weight_ih");
//! ```

use crate::layer::{
    BackwardSeq, BackwardStep, Dir, ForwardSeq, ForwardStep, Layer, Mask, StateGrads,
};
use crate::one_step::{backward_step_by_seq, forward_step_by_seq};
use crate::onnx::{Graph, Value};
use crate::{Float, ParamMut, ParamRef, Parameterized};
use nalgebra::SMatrix;

/// `y = f(x) + x` for the layer (usually a chain) `L` from `N` features to `N`. See the
/// [module docs](self).
#[derive(Clone)]
pub struct Residual<L>(pub L);

/// The cache of a [`Residual`]: the inner layer's cache and its output `f(x)` (its backward
/// needs its own output, not `y`).
#[derive(bytemuck::Zeroable)]
pub struct ResidualCache<C, Y> {
    /// The inner layer's cache.
    pub inner: C,
    /// `f(x)`.
    pub fx: Y,
}

impl<S: Float, L: Parameterized<S>> Parameterized<S> for Residual<L> {
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, S>)) {
        self.0.visit_parameters(f);
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, S>)) {
        self.0.visit_parameters_mut(f);
    }
    fn visit_slots_mut(&mut self, f: &mut dyn FnMut(crate::ParamSlot<'_, S>)) {
        self.0.visit_slots_mut(f);
    }
    fn zero_grad(&mut self) {
        self.0.zero_grad();
    }
    fn update(&mut self, lr: S) {
        self.0.update(lr);
    }
}

/// `acc += x`, element by element (the sizes are equal: `Residual::same_size`).
#[inline(always)]
fn add_into<S: Float, const O: usize, const I: usize, const B: usize>(
    acc: &mut SMatrix<S, O, B>,
    x: &SMatrix<S, I, B>,
) {
    for (a, x) in acc.as_mut_slice().iter_mut().zip(x.as_slice()) {
        *a += *x;
    }
}

/// The inner layers' view of a [`Residual`]'s steps: the same input and states, the inner
/// cache, and `f(x)` as output.
struct Inner<'v, V>(&'v mut V);

impl<S, V, St, C, const I: usize, const O: usize, const B: usize> ForwardSeq<S, St, C, I, O, B>
    for Inner<'_, V>
where
    S: Float,
    V: ForwardSeq<S, St, ResidualCache<C, SMatrix<S, O, B>>, I, O, B>,
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (ForwardStep<'_, S, St, C, I, O, B>, Option<Mask<'_, St, B>>) {
        let (s, m) = self.0.step_masked(k, dir);
        (
            ForwardStep {
                x: s.x,
                prev: s.prev,
                next: s.next,
                cache: &mut s.cache.inner,
                y: &mut s.cache.fx,
            },
            m,
        )
    }
}

impl<S, V, St, C, const I: usize, const O: usize, const B: usize> BackwardSeq<S, St, C, I, O, B>
    for Inner<'_, V>
where
    S: Float,
    V: BackwardSeq<S, St, ResidualCache<C, SMatrix<S, O, B>>, I, O, B>,
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        k: usize,
        dir: Dir,
    ) -> (BackwardStep<'_, S, St, C, I, O, B>, Option<&[bool; B]>) {
        let (s, m) = self.0.step_masked(k, dir);
        let ResidualCache { inner, fx } = s.cache;
        (
            BackwardStep {
                x: s.x,
                y: fx,
                prev: s.prev,
                next: s.next,
                cache: inner,
                gy: s.gy,
                gx: s.gx,
                input_grad: s.input_grad,
            },
            m,
        )
    }
    #[inline(always)]
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, I, B>, &St, &C) {
        let (x, p, c) = self.0.kept(k, dir);
        (x, p, &c.inner)
    }
}

impl<L> Residual<L> {
    /// `y = f(x) + x` needs `f`'s output size to be its input size. `network!` reports a
    /// mismatch (spanned at `Residual`) before this is ever evaluated; the `Layer` impl is for
    /// any sizes so that such a mismatch is one error, not a cascade of unmet bounds.
    const fn same_size<const I: usize, const O: usize>() {
        assert!(
            I == O,
            "Residual: the inner layers must give as many outputs as inputs"
        );
    }
}

impl<S, L, const I: usize, const O: usize, const B: usize> Layer<S, I, O, B> for Residual<L>
where
    S: Float,
    L: Layer<S, I, O, B>,
{
    type State = L::State;
    type Cache = ResidualCache<L::Cache, SMatrix<S, O, B>>;
    const ONLINE: bool = L::ONLINE;
    /// `Add(x, f(x))`.
    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, initial: &L::State) -> Value {
        let fx = self.0.to_onnx(g, x, initial);
        g.node("Add", &[x, &fx], &[])
    }

    fn reseed(&mut self, stream: u64) {
        self.0.reseed(stream);
    }

    fn set_fast_activations(&mut self, on: bool) {
        self.0.set_fast_activations(on);
    }

    /// [`Layer::forward_seq`] over one step ([`crate::one_step`]).
    #[inline(always)]
    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        training: bool,
    ) {
        forward_step_by_seq(self, s, training);
    }

    /// [`Layer::backward_seq`] over one step ([`crate::one_step`]): nothing deferred.
    #[inline(always)]
    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        g_next: &Self::State,
        g_prev: &mut Self::State,
        _defer: bool,
    ) {
        backward_step_by_seq(self, s, g_next, g_prev);
    }

    #[inline(always)]
    fn forward_seq<V>(&mut self, seq: &mut V, training: bool)
    where
        V: ForwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        const { Self::same_size::<I, O>() };
        self.0.forward_seq(&mut Inner(seq), training);
        for k in 0..seq.len() {
            let s = seq.step(k, Dir::Forward);
            s.y.copy_from(&s.cache.fx);
            add_into(s.y, s.x);
        }
    }

    #[inline(always)]
    fn backward_seq<V>(&mut self, seq: &mut V, g: StateGrads<'_, Self::State>)
    where
        V: BackwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        const { Self::same_size::<I, O>() };
        self.0.backward_seq(&mut Inner(seq), g);
        for k in 0..seq.len() {
            let s = seq.step(k, Dir::Forward);
            if s.input_grad {
                add_into(s.gx, s.gy);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::check_layer;
    use crate::gradcheck::forward_once;
    use crate::layers::{Linear, Lstm, Tanh};
    use crate::sequential::{Chain, Named};
    use crate::{Rng, ZeroInit};

    #[test]
    fn output_is_the_inner_output_plus_the_input() {
        use crate::gradcheck::random_matrix;
        let mut rng = Rng::new(2);
        let mut lin = Linear::<f64, 3, 3>::new(&mut rng);
        let mut res = Residual(lin.clone());
        let x: SMatrix<f64, 3, 2> = random_matrix(&mut rng);
        let (mut y, mut z) = (SMatrix::zeros(), SMatrix::zeros());
        let mut inner = <Linear<f64, 3, 3> as Layer<f64, 3, 3, 2>>::Cache::zero_init();
        forward_once(&mut lin, &x, (&(), &mut ()), &mut inner, &mut y, true);
        let mut cache = ResidualCache {
            inner,
            fx: SMatrix::zeros(),
        };
        forward_once(&mut res, &x, (&(), &mut ()), &mut cache, &mut z, true);
        assert_eq!(z, y + x);
        assert_eq!(cache.fx, y);
    }

    #[test]
    fn gradients_match_finite_differences() {
        let mut rng = Rng::new(4);
        check_layer::<_, 4, 4, 2>(&mut Residual(Lstm::<f64, 4, 4, 16>::new(&mut rng)), 3, 5);
        let inner: Chain<Named<Linear<f64, 4, 4>, 0>, Named<Tanh<f64, 4>, 1>, 4> = Chain {
            first: Named(Linear::new(&mut rng)),
            rest: Named(Tanh::new()),
        };
        check_layer::<_, 4, 4, 2>(&mut Residual(inner), 3, 6);
    }
}
