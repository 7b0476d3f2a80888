//! `Sequential[ ... ]`: layers composed into one [`Layer`], with PyTorch-style parameter names.
//!
//! `Sequential[ L0, L1, L2 ]` is `Chain<Named<L0, 0>, Chain<Named<L1, 1>, Named<L2, 2>, M2>, M1>`,
//! where `M1`, `M2` are the sizes between the layers. A chain is itself a layer, so sequentials
//! nest, and the whole network is monomorphised into straight calls from layer to layer.

use crate::block::{BlockStage, BlockStages};
use crate::float::Columns;
use crate::layer::{
    BackwardSeq, BackwardStep, Dir, Encoder, ForwardSeq, ForwardStep, Layer, Mask, Skew, StateGrads,
};
use crate::one_step::{backward_step_by_seq, forward_step_by_seq};
use crate::onnx::{Cell, Graph, Value};
use crate::{Float, ParamMut, ParamRef, ParamSlot, Parameterized};
use core::marker::PhantomData;
use nalgebra::SMatrix;

/// Layer `L` at position `K` of its `Sequential`: parameter names get the prefix `K.`
/// (`0.weight_ih`, and `2.0.bias` inside a nested sequential at position 2).
#[derive(Clone)]
pub struct Named<L, const K: usize>(pub L);

impl<S: Float, L: Parameterized<S>, const K: usize> Parameterized<S> for Named<L, K> {
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, S>)) {
        self.0.visit_parameters(&mut |p| {
            f(ParamRef {
                name: p.name.with_index_prefix(K),
                ..p
            })
        });
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, S>)) {
        self.0.visit_parameters_mut(&mut |p| {
            f(ParamMut {
                name: p.name.with_index_prefix(K),
                ..p
            })
        });
    }
    fn visit_slots_mut(&mut self, f: &mut dyn FnMut(ParamSlot<'_, S>)) {
        self.0.visit_slots_mut(&mut |p| {
            f(ParamSlot {
                name: p.name.with_index_prefix(K),
                ..p
            })
        });
    }
    fn zero_grad(&mut self) {
        self.0.zero_grad();
    }
    fn update(&mut self, lr: S) {
        self.0.update(lr);
    }
}

impl<S: Float, L, const I: usize, const O: usize, const B: usize, const K: usize> Layer<S, I, O, B>
    for Named<L, K>
where
    L: Layer<S, I, O, B>,
{
    type State = L::State;
    type Cache = L::Cache;
    const ONLINE: bool = L::ONLINE;
    const SKEWS: bool = L::SKEWS;
    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, initial: &L::State) -> Value {
        g.at(K, |g| self.0.to_onnx(g, x, initial))
    }

    fn onnx_cell(&self, initial: &L::State) -> Option<Cell<S>> {
        self.0.onnx_cell(initial)
    }

    fn reseed(&mut self, stream: u64) {
        self.0.reseed(stream);
    }

    fn set_fast_activations(&mut self, on: bool) {
        self.0.set_fast_activations(on);
    }

    #[inline(always)]
    fn forward_step_skewed(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        lag: &mut Self::Cache,
        part: Skew,
        training: bool,
    ) {
        self.0.forward_step_skewed(s, lag, part, training);
    }

    fn block_stage<'a>(
        &'a self,
        prev: &'a Self::State,
        next: &'a mut Self::State,
        training: bool,
    ) -> Option<BlockStage<'a>> {
        self.0.block_stage(prev, next, training)
    }

    fn block_stages<'a>(
        &'a self,
        prev: &'a Self::State,
        next: &'a mut Self::State,
        training: bool,
        out: &mut BlockStages<'a>,
    ) -> bool {
        self.0.block_stages(prev, next, training, out)
    }

    #[inline(always)]
    fn forward_step(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        training: bool,
    ) {
        self.0.forward_step(s, training);
    }

    #[inline(always)]
    fn backward_step(
        &mut self,
        s: BackwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        g_next: &Self::State,
        g_prev: &mut Self::State,
        defer: bool,
    ) {
        self.0.backward_step(s, g_next, g_prev, defer);
    }

    fn accumulate_weight_grads<'s, It>(&mut self, steps: It)
    where
        It: Iterator<Item = (&'s SMatrix<S, I, B>, &'s Self::State, &'s Self::Cache)> + Clone,
    {
        self.0.accumulate_weight_grads(steps);
    }

    #[inline(always)]
    fn forward_seq<V>(&mut self, seq: &mut V, training: bool)
    where
        V: ForwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        self.0.forward_seq(seq, training);
    }

    #[inline(always)]
    fn backward_seq<V>(&mut self, seq: &mut V, g: StateGrads<'_, Self::State>)
    where
        V: BackwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        self.0.backward_seq(seq, g);
    }
}

impl<S: Float, E, const K: usize, const I: usize, const B: usize> Encoder<S, I, B> for Named<E, K>
where
    E: Encoder<S, I, B>,
{
    type Input = E::Input;
    type Kept = E::Kept;
    const READS_GRAD: bool = E::READS_GRAD;
    const IDENTITY: bool = E::IDENTITY;
    fn to_onnx(&self, g: &mut Graph<S>, repeat: Option<usize>) -> Value {
        g.at(K, |g| self.0.to_onnx(g, repeat))
    }

    #[inline(always)]
    fn encode(&mut self, input: &E::Input, kept: &mut E::Kept, x: &mut SMatrix<S, I, B>) {
        self.0.encode(input, kept, x);
    }
    fn same(input: &E::Input, kept: &E::Kept, x: &SMatrix<S, I, B>) -> bool {
        E::same(input, kept, x)
    }
    #[inline(always)]
    fn backward(&mut self, kept: &E::Kept, gx: &SMatrix<S, I, B>) {
        self.0.backward(kept, gx);
    }
}

/// `first` then `rest`, joined by `M` features. See the [module docs](self).
#[derive(Clone)]
pub struct Chain<A, R, const M: usize> {
    /// The first layer.
    pub first: A,
    /// The layers after it.
    pub rest: R,
}

/// The cache of a [`Chain`]: both parts' caches and the activation between them.
#[derive(bytemuck::Zeroable)]
pub struct ChainCache<CA, CR, Mid> {
    /// Cache of the first layer.
    pub first: CA,
    /// Cache of the rest.
    pub rest: CR,
    /// The first layer's output, the rest's input.
    pub mid: Mid,
    /// The gradient at `mid`: written by the rest's whole-sequence backward, read by the
    /// first's (layer-major; the step-by-step backward keeps it on the stack).
    pub g_mid: Mid,
}

type Mid<S, const M: usize, const B: usize> = SMatrix<S, M, B>;

/// The first layer's view of a [`Chain`]'s steps: the chain's input, the first part of each
/// state and cache, and `mid` as output.
struct FirstPart<'v, V, SR, CR, const O: usize>(&'v mut V, PhantomData<(SR, CR, [(); O])>);

/// The rest's view of a [`Chain`]'s steps: `mid` as input, the second part of each state and
/// cache, and the chain's output.
struct RestPart<'v, V, SA, CA, const I: usize>(&'v mut V, PhantomData<(SA, CA, [(); I])>);

impl<S, V, SA, SR, CA, CR, const I: usize, const M: usize, const O: usize, const B: usize>
    ForwardSeq<S, SA, CA, I, M, B> for FirstPart<'_, V, SR, CR, O>
where
    S: Float,
    V: ForwardSeq<S, (SA, SR), ChainCache<CA, CR, Mid<S, M, B>>, I, O, B>,
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
    ) -> (ForwardStep<'_, S, SA, CA, I, M, B>, Option<Mask<'_, SA, B>>) {
        let (s, m) = self.0.step_masked(k, dir);
        (
            ForwardStep {
                x: s.x,
                prev: &s.prev.0,
                next: &mut s.next.0,
                cache: &mut s.cache.first,
                y: &mut s.cache.mid,
            },
            m.map(|m| m.part(|st| &st.0)),
        )
    }
}

impl<S, V, SA, SR, CA, CR, const I: usize, const M: usize, const O: usize, const B: usize>
    ForwardSeq<S, SR, CR, M, O, B> for RestPart<'_, V, SA, CA, I>
where
    S: Float,
    V: ForwardSeq<S, (SA, SR), ChainCache<CA, CR, Mid<S, M, B>>, I, O, B>,
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
    ) -> (ForwardStep<'_, S, SR, CR, M, O, B>, Option<Mask<'_, SR, B>>) {
        let (s, m) = self.0.step_masked(k, dir);
        (
            ForwardStep {
                x: &s.cache.mid,
                prev: &s.prev.1,
                next: &mut s.next.1,
                cache: &mut s.cache.rest,
                y: s.y,
            },
            m.map(|m| m.part(|st| &st.1)),
        )
    }
}

impl<S, V, SA, SR, CA, CR, const I: usize, const M: usize, const O: usize, const B: usize>
    BackwardSeq<S, SA, CA, I, M, B> for FirstPart<'_, V, SR, CR, O>
where
    S: Float,
    V: BackwardSeq<S, (SA, SR), ChainCache<CA, CR, Mid<S, M, B>>, I, O, B>,
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
    ) -> (BackwardStep<'_, S, SA, CA, I, M, B>, Option<&[bool; B]>) {
        let (s, m) = self.0.step_masked(k, dir);
        (
            BackwardStep {
                x: s.x,
                y: &s.cache.mid,
                prev: &s.prev.0,
                next: &s.next.0,
                cache: &mut s.cache.first,
                gy: &s.cache.g_mid,
                gx: s.gx,
                input_grad: s.input_grad,
            },
            m,
        )
    }
    #[inline(always)]
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, I, B>, &SA, &CA) {
        let (x, p, c) = self.0.kept(k, dir);
        (x, &p.0, &c.first)
    }
}

impl<S, V, SA, SR, CA, CR, const I: usize, const M: usize, const O: usize, const B: usize>
    BackwardSeq<S, SR, CR, M, O, B> for RestPart<'_, V, SA, CA, I>
where
    S: Float,
    V: BackwardSeq<S, (SA, SR), ChainCache<CA, CR, Mid<S, M, B>>, I, O, B>,
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
    ) -> (BackwardStep<'_, S, SR, CR, M, O, B>, Option<&[bool; B]>) {
        let (s, m) = self.0.step_masked(k, dir);
        let ChainCache {
            rest, mid, g_mid, ..
        } = s.cache;
        (
            BackwardStep {
                x: mid,
                y: s.y,
                prev: &s.prev.1,
                next: &s.next.1,
                cache: rest,
                gy: s.gy,
                gx: g_mid,
                input_grad: true,
            },
            m,
        )
    }
    #[inline(always)]
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, M, B>, &SR, &CR) {
        let (_, p, c) = self.0.kept(k, dir);
        (&c.mid, &p.1, &c.rest)
    }
}

impl<S: Float, A: Parameterized<S>, R: Parameterized<S>, const M: usize> Parameterized<S>
    for Chain<A, R, M>
{
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, S>)) {
        self.first.visit_parameters(f);
        self.rest.visit_parameters(f);
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, S>)) {
        self.first.visit_parameters_mut(f);
        self.rest.visit_parameters_mut(f);
    }
    fn visit_slots_mut(&mut self, f: &mut dyn FnMut(ParamSlot<'_, S>)) {
        self.first.visit_slots_mut(f);
        self.rest.visit_slots_mut(f);
    }
    fn zero_grad(&mut self) {
        self.first.zero_grad();
        self.rest.zero_grad();
    }
    fn update(&mut self, lr: S) {
        self.first.update(lr);
        self.rest.update(lr);
    }
}

impl<S, A, R, const I: usize, const M: usize, const O: usize, const B: usize> Layer<S, I, O, B>
    for Chain<A, R, M>
where
    S: Float,
    A: Layer<S, I, M, B>,
    R: Layer<S, M, O, B>,
{
    type State = (A::State, R::State);
    type Cache = ChainCache<A::Cache, R::Cache, SMatrix<S, M, B>>;
    const ONLINE: bool = A::ONLINE && R::ONLINE;
    const SKEWS: bool = true;
    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, initial: &Self::State) -> Value {
        let mid = self.first.to_onnx(g, x, &initial.0);
        self.rest.to_onnx(g, &mid, &initial.1)
    }

    fn reseed(&mut self, stream: u64) {
        self.first.reseed(stream);
        self.rest.reseed(stream);
    }

    fn set_fast_activations(&mut self, on: bool) {
        self.first.set_fast_activations(on);
        self.rest.set_fast_activations(on);
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

    /// The first layer on step `t + 1`, then the rest on step `t` from the first layer's
    /// output of step `t` kept in `lag.mid` (see [`Layer::forward_step_skewed`]); a part that
    /// does not run carries its state over.
    #[inline(always)]
    fn forward_step_skewed(
        &mut self,
        s: ForwardStep<'_, S, Self::State, Self::Cache, I, O, B>,
        lag: &mut Self::Cache,
        part: Skew,
        training: bool,
    ) {
        let ForwardStep {
            x,
            prev,
            next,
            cache,
            y,
        } = s;
        let ChainCache {
            first, rest, mid, ..
        } = cache;
        if part == Skew::Rest {
            next.0.copy_all(&prev.0);
        } else {
            let step = ForwardStep {
                x,
                prev: &prev.0,
                next: &mut next.0,
                cache: first,
                y: &mut *mid,
            };
            self.first.forward_step(step, training);
        }
        if part == Skew::First {
            next.1.copy_all(&prev.1);
        } else {
            let step = ForwardStep {
                x: &lag.mid,
                prev: &prev.1,
                next: &mut next.1,
                cache: rest,
                y,
            };
            self.rest.forward_step(step, training);
        }
        if part != Skew::Rest {
            lag.mid.copy_from(mid);
        }
    }

    /// The first layer's stages, then the rest's.
    fn block_stages<'a>(
        &'a self,
        prev: &'a Self::State,
        next: &'a mut Self::State,
        training: bool,
        out: &mut BlockStages<'a>,
    ) -> bool {
        self.first.block_stages(&prev.0, &mut next.0, training, out)
            && self.rest.block_stages(&prev.1, &mut next.1, training, out)
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

    /// Layer-major: the first layer over every step, then the rest over every step.
    #[inline(always)]
    fn forward_seq<V>(&mut self, seq: &mut V, training: bool)
    where
        V: ForwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        self.first.forward_seq(
            &mut FirstPart::<_, R::State, R::Cache, O>(seq, PhantomData),
            training,
        );
        self.rest.forward_seq(
            &mut RestPart::<_, A::State, A::Cache, I>(seq, PhantomData),
            training,
        );
    }

    /// Layer-major: the rest over every step (latest first), then the first layer.
    #[inline(always)]
    fn backward_seq<V>(&mut self, seq: &mut V, g: StateGrads<'_, Self::State>)
    where
        V: BackwardSeq<S, Self::State, Self::Cache, I, O, B>,
    {
        let (g_first, g_rest) = g.split();
        self.rest.backward_seq(
            &mut RestPart::<_, A::State, A::Cache, I>(seq, PhantomData),
            g_rest,
        );
        self.first.backward_seq(
            &mut FirstPart::<_, R::State, R::Cache, O>(seq, PhantomData),
            g_first,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;
    use crate::gradcheck::check_layer;
    use crate::layers::{Gru, Linear, LogSoftMax, Lstm, Tanh};

    #[test]
    fn a_chain_is_gradient_checked_through_the_state_of_both_cells() {
        let rng = &mut Rng::new(21);
        // Sequential[ LSTM(3, 4), Sequential[ GRU(4, 3), Tanh ], Linear(3, 2), LogSoftMax ]
        let mut net = Chain::<_, _, 4> {
            first: Named::<_, 0>(Lstm::<f64, 3, 4, 16>::new(rng)),
            rest: Chain::<_, _, 3> {
                first: Named::<_, 1>(Chain::<_, _, 3> {
                    first: Named::<_, 0>(Gru::<f64, 4, 3, 9>::new(rng)),
                    rest: Named::<_, 1>(Tanh::<f64, 3>::new()),
                }),
                rest: Chain::<_, _, 2> {
                    first: Named::<_, 2>(Linear::<f64, 3, 2>::new(rng)),
                    rest: Named::<_, 3>(LogSoftMax::<f64, 2>::new()),
                },
            },
        };
        check_layer::<_, 3, 2, 2>(&mut net, 4, 33);
        let names: alloc::vec::Vec<_> = net.parameters().iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "0.weight_ih",
                "0.weight_hh",
                "0.bias_ih",
                "0.bias_hh",
                "1.0.weight_ih",
                "1.0.weight_hh",
                "1.0.bias_ih",
                "1.0.bias_hh",
                "2.weight",
                "2.bias"
            ]
        );
    }
}
