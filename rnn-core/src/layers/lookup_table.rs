//! `LookupTable(vocab, dim)` (alias `Embedding(vocab, dim)`): token indices to vectors.
//!
//! Shapes: a step's input is `[Class<V>; B]` (one 0-based token index per sample, of a type
//! that cannot hold an index `>= V`), `W: V x D` (`weight`, PyTorch's `nn.Embedding.weight`),
//! output `x: D x B`.
//!
//! Forward: column `b` of `x` is row `token[b]` of `W`; the padding index, if set, gives a zero
//! vector.
//!
//! Backward: `gW[token[b], :] += gx[:, b]ᵀ` for every sample whose token is not the padding
//! index: only the rows used are touched. A token has no gradient (the network returns the
//! gradient at the looked-up vectors instead).
//!
//! Initialisation (PyTorch `nn.Embedding`, Torch `nn.LookupTable`): `W ~ N(0, 1)`, the padding
//! row zero.
//!
//! It is the network's encoder ([`Encoder`]): `network!` takes a leading `LookupTable` (and
//! only a leading one) as the step that turns the user's tokens into the first layer's input,
//! so `Sequential[ LookupTable(96, 32), LSTM(32, 128), ... ]` reads `[Class<96>; B]` per step
//! instead of 96-wide one-hot columns. `LookupTable(96, 32, padding = 0)` sets the padding
//! index; with `mask_zero = true` its zero vectors mask the step (Torch's `LookupTableMaskZero`).

use crate::criterion::Class;
use crate::float::AllocError;
use crate::layer::Encoder;
use crate::onnx::{Graph, Value};
use crate::param::Param;
use crate::{Float, Rng};
use alloc::vec::Vec;
use nalgebra::SMatrix;

/// An embedding table of `V` vectors of `D` features. See the [module docs](self).
#[derive(Clone)]
pub struct LookupTable<S: Float, const V: usize, const D: usize> {
    /// `weight`, `V x D`: row `v` is token `v`'s vector.
    pub weight: Param<S, V, D>,
    padding: Option<Class<V>>,
}

impl<S: Float, const V: usize, const D: usize> LookupTable<S, V, D> {
    /// PyTorch's initialisation from `rng`, no padding index.
    #[must_use]
    pub fn new(rng: &mut Rng) -> Self {
        Self::try_new(rng).unwrap_or_else(|e| e.abort())
    }

    /// [`LookupTable::new`], or the allocation that failed.
    ///
    /// # Errors
    /// [`AllocError`] if the table cannot be allocated.
    pub fn try_new(rng: &mut Rng) -> Result<Self, AllocError> {
        let mut weight = Param::<S, V, D>::try_zeros()?;
        // Row by row, as PyTorch fills its row-major table.
        for v in 0..V {
            for d in 0..D {
                weight.value[(v, d)] = S::cast(rng.normal());
            }
        }
        Ok(Self {
            weight,
            padding: None,
        })
    }

    /// With `padding` as the padding index: its vector is zero and gets no gradient (PyTorch's
    /// `padding_idx`; its row is set to zero here, as PyTorch does at construction).
    #[must_use]
    pub fn with_padding(mut self, padding: Class<V>) -> Self {
        self.weight.value.row_mut(padding.index()).fill(S::zero());
        self.padding = Some(padding);
        self
    }

    /// The padding index, if any.
    #[must_use]
    pub fn padding(&self) -> Option<Class<V>> {
        self.padding
    }
}

crate::param::parameters!(LookupTable<V, D> { weight: Matrix });

impl<S: Float, const V: usize, const D: usize, const B: usize> Encoder<S, D, B>
    for LookupTable<S, V, D>
{
    type Input = [Class<V>; B];
    /// The indices, `u32` as [`Class`] stores them.
    type Kept = [u32; B];
    /// ONNX's `Gather` of the table's rows at the input's token indices (`int64`).
    fn to_onnx(&self, g: &mut Graph<S>, repeat: Option<usize>) -> Value {
        let idx = g.index_input(repeat);
        let rows: Vec<S> = (0..V)
            .flat_map(|v| (0..D).map(move |d| (v, d)))
            .map(|(v, d)| self.weight.value[(v, d)])
            .collect();
        let w = g.constant("weight", &[V, D], &rows);
        g.node("Gather", &[&w, &idx], &[("axis", 0)])
    }

    fn encode(&mut self, input: &[Class<V>; B], kept: &mut [u32; B], x: &mut SMatrix<S, D, B>) {
        for (b, token) in input.iter().enumerate() {
            kept[b] = token.index() as u32;
            let mut col = x.column_mut(b);
            if self.padding == Some(*token) {
                col.fill(S::zero());
            } else {
                col.tr_copy_from(&self.weight.value.row(token.index()));
            }
        }
    }

    fn same(input: &[Class<V>; B], kept: &[u32; B], _x: &SMatrix<S, D, B>) -> bool {
        input
            .iter()
            .zip(kept)
            .all(|(t, k)| t.index() == *k as usize)
    }

    fn backward(&mut self, kept: &[u32; B], gx: &SMatrix<S, D, B>) {
        for (b, &k) in kept.iter().enumerate() {
            let v = k as usize;
            if self.padding.map(Class::index) == Some(v) {
                continue;
            }
            let mut row = self.weight.grad_mut().row_mut(v);
            for (g, d) in row.iter_mut().zip(gx.column(b).iter()) {
                *g += *d;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::float::ZeroInit;
    use crate::gradcheck::{assert_parameter_gradients, random_matrix};

    fn class<const V: usize>(i: usize) -> Class<V> {
        Class::new(i).expect("in range")
    }

    #[test]
    fn looks_up_rows_and_the_padding_index_gives_zero() {
        let mut rng = Rng::new(1);
        let mut t = LookupTable::<f64, 5, 3>::new(&mut rng).with_padding(class(0));
        assert!(t.weight.value.row(0).iter().all(|v| *v == 0.0));
        let tokens = [class(2), class(0), class(4), class(2)];
        let (mut kept, mut x) = ([0u32; 4], SMatrix::<f64, 3, 4>::zeros());
        t.encode(&tokens, &mut kept, &mut x);
        assert_eq!(x.column(0), t.weight.value.row(2).transpose());
        assert_eq!(x.column(2), t.weight.value.row(4).transpose());
        assert_eq!(x.column(3), x.column(0));
        // Zero even if the padding row was given values (e.g. loaded).
        t.weight.value.row_mut(0).fill(7.0);
        t.encode(&tokens, &mut kept, &mut x);
        assert!(x.column(1).iter().all(|v| *v == 0.0));
        assert!(LookupTable::<f64, 5, 3>::same(&tokens, &kept, &x));
        assert!(!LookupTable::<f64, 5, 3>::same(&[class(1); 4], &kept, &x));
    }

    #[test]
    fn backward_touches_only_the_rows_used_and_matches_finite_differences() {
        let mut rng = Rng::new(2);
        let mut t = LookupTable::<f64, 6, 4>::new(&mut rng).with_padding(class(5));
        // Three steps, batch 3; token 1 appears twice in a step and again later.
        let steps = [
            [class(1), class(3), class(1)],
            [class(5), class(1), class(0)],
            [class(3), class(5), class(5)],
        ];
        let weights: [SMatrix<f64, 4, 3>; 3] = core::array::from_fn(|_| random_matrix(&mut rng));
        // loss = sum over steps of <weights_t, x_t>, so dL/dx_t = weights_t.
        let loss = |t: &mut LookupTable<f64, 6, 4>| {
            steps.iter().zip(&weights).fold(0.0, |acc, (tok, w)| {
                let (mut kept, mut x) = (<[u32; 3]>::zero_init(), SMatrix::zeros());
                t.encode(tok, &mut kept, &mut x);
                acc + x.component_mul(w).sum()
            })
        };
        for (tok, w) in steps.iter().zip(&weights) {
            let (mut kept, mut x) = ([0u32; 3], SMatrix::<f64, 4, 3>::zeros());
            t.encode(tok, &mut kept, &mut x);
            t.backward(&kept, w);
        }
        for unused in [2, 4, 5] {
            assert!(
                t.weight
                    .grad()
                    .expect("trained")
                    .row(unused)
                    .iter()
                    .all(|g| *g == 0.0),
                "row {unused}"
            );
        }
        let worst = assert_parameter_gradients(&mut t, loss);
        assert!(worst <= 1e-6, "{worst}");
    }

    #[test]
    fn initialisation_is_standard_normal() {
        let t = LookupTable::<f64, 200, 50>::new(&mut Rng::new(3));
        let n = (200 * 50) as f64;
        let mean = t.weight.value.sum() / n;
        let var = t.weight.value.map(|v| (v - mean) * (v - mean)).sum() / n;
        assert!(
            mean.abs() < 0.05 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
