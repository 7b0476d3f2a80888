//! `BiSequencer[ ... ]`: a bidirectional layer (Torch's `nn.BiSequencer`, PyTorch's
//! `bidirectional=True`).
//!
//! Two copies of the inner layers: `fwd` runs the sequence from its first step, `bwd` from its
//! last. Their outputs are joined per step, forward direction on top:
//!
//! ```text
//! y_t = [ fwd(x_1..x_t)_t ; bwd(x_T..x_t)_t ]        (2 * O rows, B columns)
//! dL/dx_t = dL/dx_t through fwd + dL/dx_t through bwd
//! ```
//!
//! ```
//! use rnn_core::prelude::*;
//!
//! network! {
//!     /// Each step's tag may depend on the steps after it.
//!     pub Both<seq_len = 6> = Sequential[ BiSequencer[ LSTM(4, 8) ], Linear(16, 2), LogSoftMax ];
//! }
//! let mut net = Both::new(0);
//! let x = [SMatrix::<f32, 4, 1>::from_element(0.3); 6];
//! let y = net.forward(&x).to_vec();
//! let gx = net.backward(&x, &y);
//! assert_eq!(gx.len(), 6);
//! assert!(net.parameters().iter().any(|p| p.name == "0.weight_ih_reverse"));
//! ```
//!
//! Shapes: input `I x B`, each direction `O x B`, output `2O x B`. The copies start from
//! different weights (drawn one after the other); the backward copy's parameters are named with
//! PyTorch's `_reverse` suffix (`0.weight_ih_reverse`), so a state_dict of
//! `nn.LSTM(..., bidirectional=True)` loads through `io::TorchNames`.
//!
//! State: `(forward direction's, backward direction's)`. The forward direction carries its
//! state as any layer does (it continues under `remember`); the backward direction starts
//! every sequence from the network's initial state (zero unless set): it cannot see beyond the
//! end of the sequence it is given (Torch's BiSequencer forgets both on every forward). After a
//! forward, [`crate::Network::state`] holds the forward direction's state after the last step
//! and the backward direction's start.
//!
//! With `mask_zero = true`, sequences of different lengths share a batch right-padded with
//! zero inputs: a masked step resets a sample's state in both directions, so the backward
//! direction starts at each sample's own last step, and each sample gets what it would alone
//! (tested against batch-1 networks).
//!
//! A `BiSequencer` sees whole sequences only: it has no [`Layer::forward_step`] (the backward
//! direction's first output needs the last input), so a network containing one implements
//! [`crate::Network`] but not [`crate::Online`].

use crate::layer::{
    BackwardSeq, BackwardStep, Dir, ForwardSeq, ForwardStep, Layer, Mask, StateGrads,
};
use crate::onnx::{Graph, Value};
use crate::{Float, ParamMut, ParamRef, Parameterized};
use nalgebra::SMatrix;

/// Two copies of a layer, one per direction, giving `O` outputs each (see the
/// [module docs](self)). `network!` builds the forward copy first, then the backward one, from
/// one generator, so that they start from different weights.
#[derive(Clone)]
pub struct BiSequencer<L, const O: usize> {
    /// The forward direction.
    pub fwd: L,
    /// The backward direction (parameters named `..._reverse`).
    pub bwd: L,
}

impl<L, const O: usize> BiSequencer<L, O> {
    /// The joined output has `2 * O` rows. `network!` computes the size; a hand-built
    /// `BiSequencer` with another output size fails to compile here.
    const fn joined<const O2: usize>() {
        assert!(
            O2 == 2 * O,
            "BiSequencer: the output joins both directions, 2 x the inner layers' outputs"
        );
    }
}

/// What each step keeps: both directions' caches and outputs, the output gradient split in
/// two, and the backward direction's input gradient before it is added to the forward's.
#[derive(bytemuck::Zeroable)]
pub struct BiCache<C, Y, X> {
    /// The forward direction's cache.
    pub fwd: C,
    /// The backward direction's cache.
    pub bwd: C,
    /// The forward direction's output.
    pub y_fwd: Y,
    /// The backward direction's output.
    pub y_bwd: Y,
    /// The gradient at `y_fwd` (top half of the output gradient).
    pub gy_fwd: Y,
    /// The gradient at `y_bwd` (bottom half).
    pub gy_bwd: Y,
    /// The input gradient through the backward direction.
    pub gx_bwd: X,
}

type Cache<S, C, const I: usize, const O: usize, const B: usize> =
    BiCache<C, SMatrix<S, O, B>, SMatrix<S, I, B>>;

impl<S: Float, L: Parameterized<S>, const O: usize> Parameterized<S> for BiSequencer<L, O> {
    fn visit_parameters<'a>(&'a self, f: &mut dyn FnMut(ParamRef<'a, S>)) {
        self.fwd.visit_parameters(f);
        self.bwd.visit_parameters(&mut |p| {
            f(ParamRef {
                name: p.name.reversed(),
                ..p
            })
        });
    }
    fn visit_parameters_mut<'a>(&'a mut self, f: &mut dyn FnMut(ParamMut<'a, S>)) {
        self.fwd.visit_parameters_mut(f);
        self.bwd.visit_parameters_mut(&mut |p| {
            f(ParamMut {
                name: p.name.reversed(),
                ..p
            })
        });
    }
    fn visit_slots_mut(&mut self, f: &mut dyn FnMut(crate::ParamSlot<'_, S>)) {
        self.fwd.visit_slots_mut(f);
        self.bwd.visit_slots_mut(&mut |p| {
            f(crate::ParamSlot {
                name: p.name.reversed(),
                ..p
            })
        });
    }
    fn zero_grad(&mut self) {
        self.fwd.zero_grad();
        self.bwd.zero_grad();
    }
    fn update(&mut self, lr: S) {
        self.fwd.update(lr);
        self.bwd.update(lr);
    }
}

/// The forward direction's view of the steps: the first half of each state, its cache and
/// output.
struct Forwards<'v, V, const O2: usize>(&'v mut V);

/// The backward direction's view: step `j` is step `n - 1 - j` of the sequence, its states
/// paired the other way round (see [`Dir`]).
struct Backwards<'v, V, const O2: usize>(&'v mut V);

impl<S, V, St, C, const I: usize, const O: usize, const O2: usize, const B: usize>
    ForwardSeq<S, St, C, I, O, B> for Forwards<'_, V, O2>
where
    S: Float,
    V: ForwardSeq<S, (St, St), Cache<S, C, I, O, B>, I, O2, B>,
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
                prev: &s.prev.0,
                next: &mut s.next.0,
                cache: &mut s.cache.fwd,
                y: &mut s.cache.y_fwd,
            },
            m.map(|m| m.part(|st| &st.0)),
        )
    }
}

impl<S, V, St, C, const I: usize, const O: usize, const O2: usize, const B: usize>
    ForwardSeq<S, St, C, I, O, B> for Backwards<'_, V, O2>
where
    S: Float,
    V: ForwardSeq<S, (St, St), Cache<S, C, I, O, B>, I, O2, B>,
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        j: usize,
        dir: Dir,
    ) -> (ForwardStep<'_, S, St, C, I, O, B>, Option<Mask<'_, St, B>>) {
        let k = self.0.len() - 1 - j;
        let (s, m) = self.0.step_masked(k, dir.flip());
        (
            ForwardStep {
                x: s.x,
                prev: &s.prev.1,
                next: &mut s.next.1,
                cache: &mut s.cache.bwd,
                y: &mut s.cache.y_bwd,
            },
            m.map(|m| m.part(|st| &st.1)),
        )
    }
}

impl<S, V, St, C, const I: usize, const O: usize, const O2: usize, const B: usize>
    BackwardSeq<S, St, C, I, O, B> for Forwards<'_, V, O2>
where
    S: Float,
    V: BackwardSeq<S, (St, St), Cache<S, C, I, O, B>, I, O2, B>,
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
        let BiCache {
            fwd, y_fwd, gy_fwd, ..
        } = s.cache;
        (
            BackwardStep {
                x: s.x,
                y: y_fwd,
                prev: &s.prev.0,
                next: &s.next.0,
                cache: fwd,
                gy: gy_fwd,
                gx: s.gx,
                input_grad: s.input_grad,
            },
            m,
        )
    }
    #[inline(always)]
    fn kept(&self, k: usize, dir: Dir) -> (&SMatrix<S, I, B>, &St, &C) {
        let (x, p, c) = self.0.kept(k, dir);
        (x, &p.0, &c.fwd)
    }
}

impl<S, V, St, C, const I: usize, const O: usize, const O2: usize, const B: usize>
    BackwardSeq<S, St, C, I, O, B> for Backwards<'_, V, O2>
where
    S: Float,
    V: BackwardSeq<S, (St, St), Cache<S, C, I, O, B>, I, O2, B>,
{
    #[inline(always)]
    fn len(&self) -> usize {
        self.0.len()
    }
    #[inline(always)]
    fn step_masked(
        &mut self,
        j: usize,
        dir: Dir,
    ) -> (BackwardStep<'_, S, St, C, I, O, B>, Option<&[bool; B]>) {
        let k = self.0.len() - 1 - j;
        let (s, m) = self.0.step_masked(k, dir.flip());
        let BiCache {
            bwd,
            y_bwd,
            gy_bwd,
            gx_bwd,
            ..
        } = s.cache;
        (
            BackwardStep {
                x: s.x,
                y: y_bwd,
                prev: &s.prev.1,
                next: &s.next.1,
                cache: bwd,
                gy: gy_bwd,
                gx: gx_bwd,
                input_grad: s.input_grad,
            },
            m,
        )
    }
    #[inline(always)]
    fn kept(&self, j: usize, dir: Dir) -> (&SMatrix<S, I, B>, &St, &C) {
        let k = self.0.len() - 1 - j;
        let (x, p, c) = self.0.kept(k, dir.flip());
        (x, &p.1, &c.bwd)
    }
}

impl<S, L, const I: usize, const O: usize, const O2: usize, const B: usize> Layer<S, I, O2, B>
    for BiSequencer<L, O>
where
    S: Float,
    L: Layer<S, I, O, B>,
{
    type State = (L::State, L::State);
    type Cache = Cache<S, L::Cache, I, O, B>;
    const ONLINE: bool = false;
    /// One bidirectional operator when the directions are one recurrent layer each
    /// (`BiSequencer[ LSTM(4, 8) ]`: `LSTM` with `direction = "bidirectional"`); otherwise
    /// the forward layers on `x`, the backward ones on `x` reversed in time (their output
    /// reversed back), joined along the features.
    fn to_onnx(&self, g: &mut Graph<S>, x: &Value, initial: &Self::State) -> Value {
        let cells = self
            .fwd
            .onnx_cell(&initial.0)
            .zip(self.bwd.onnx_cell(&initial.1));
        if let Some(both) = cells.and_then(|(f, b)| f.joined(b)) {
            return g.recurrent(x, both);
        }
        let y_fwd = self.fwd.to_onnx(g, x, &initial.0);
        let y_bwd = g.reversed(|g| {
            let rx = g.reverse_time(x);
            let ry = self.bwd.to_onnx(g, &rx, &initial.1);
            g.reverse_time(&ry)
        });
        g.concat_features(&y_fwd, &y_bwd)
    }

    fn reseed(&mut self, stream: u64) {
        self.fwd.reseed(stream);
        // The copies' generators already differ (forked one after the other).
        self.bwd.reseed(stream);
    }

    fn set_fast_activations(&mut self, on: bool) {
        self.fwd.set_fast_activations(on);
        self.bwd.set_fast_activations(on);
    }

    /// Not available: a `BiSequencer` runs whole sequences ([`Layer::forward_seq`]). Never
    /// called: `ONLINE` is `false`, and every engine path that steps a layer (`step`,
    /// `backward_step`, `unroll`, `Repeater`) fails to compile for such a layer.
    fn forward_step(
        &mut self,
        _s: ForwardStep<'_, S, Self::State, Self::Cache, I, O2, B>,
        _training: bool,
    ) {
        Self::no_step();
    }

    /// Not available, as [`BiSequencer::forward_step`].
    fn backward_step(
        &mut self,
        _s: BackwardStep<'_, S, Self::State, Self::Cache, I, O2, B>,
        _g_next: &Self::State,
        _g_prev: &mut Self::State,
        _defer: bool,
    ) {
        Self::no_step();
    }

    fn forward_seq<V>(&mut self, seq: &mut V, training: bool)
    where
        V: ForwardSeq<S, Self::State, Self::Cache, I, O2, B>,
    {
        const { Self::joined::<O2>() };
        self.fwd.forward_seq(&mut Forwards::<_, O2>(seq), training);
        self.bwd.forward_seq(&mut Backwards::<_, O2>(seq), training);
        for k in 0..seq.len() {
            let s = seq.step(k, Dir::Forward);
            s.y.fixed_rows_mut::<O>(0).copy_from(&s.cache.y_fwd);
            s.y.fixed_rows_mut::<O>(O).copy_from(&s.cache.y_bwd);
        }
    }

    fn backward_seq<V>(&mut self, seq: &mut V, g: StateGrads<'_, Self::State>)
    where
        V: BackwardSeq<S, Self::State, Self::Cache, I, O2, B>,
    {
        const { Self::joined::<O2>() };
        for k in 0..seq.len() {
            let s = seq.step(k, Dir::Forward);
            s.cache.gy_fwd.copy_from(&s.gy.fixed_rows::<O>(0));
            s.cache.gy_bwd.copy_from(&s.gy.fixed_rows::<O>(O));
        }
        let (g_fwd, g_bwd) = g.split();
        self.fwd.backward_seq(&mut Forwards::<_, O2>(seq), g_fwd);
        self.bwd.backward_seq(&mut Backwards::<_, O2>(seq), g_bwd);
        for k in 0..seq.len() {
            let s = seq.step(k, Dir::Forward);
            if s.input_grad {
                *s.gx += &s.cache.gx_bwd;
            }
        }
    }
}

impl<L, const O: usize> BiSequencer<L, O> {
    /// Unreachable (see [`BiSequencer::forward_step`]).
    fn no_step() -> ! {
        unreachable!(
            "a BiSequencer has no online step: its backward direction needs the whole \
             sequence (run it with forward/backward)"
        );
    }
}
