//! The layers, one file each. Every file documents shapes, equations and initialisation.

mod cell_params;
pub mod conv1d;
pub mod dropout;
pub mod elman;
pub mod gru;
pub mod identity;
pub mod linear;
pub mod logsoftmax;
pub mod lookup_table;
pub mod lstm;
pub mod peephole_lstm;
pub mod relu;
pub mod sigmoid;
pub mod softmax;
pub mod tanh;

pub use cell_params::CellParams;
pub use conv1d::{Conv1d, Conv1dCache};
pub use dropout::Dropout;
pub use elman::Rnn;
pub use gru::{Gru, GruCache};
pub use identity::Identity;
pub use linear::Linear;
pub use logsoftmax::LogSoftMax;
pub use lookup_table::LookupTable;
pub use lstm::{FastLstm, Lstm, LstmCache, LstmState};
pub use peephole_lstm::PeepholeLstm;
pub use relu::ReLU;
pub use sigmoid::Sigmoid;
pub use softmax::SoftMax;
pub use tanh::Tanh;

#[cfg(test)]
mod format_table {
    //! `rnn_format::layers` (which `network!` reads to check a weights file at build time)
    //! against every layer's parameters: names, order and PyTorch shapes.
    use super::*;
    use crate::{Parameterized, Rng};
    use alloc::vec::Vec;

    fn check<P: Parameterized<f32>>(layer: &P, ty: &str, sizes: &[usize]) {
        let (table, gates) = rnn_format::layers::tensors(ty);
        let mut ours = Vec::new();
        layer.visit_parameters(&mut |p| {
            let (rows, cols) = p.value.shape();
            ours.push((p.name.tensor(), p.kind.torch_shape(rows, cols)));
        });
        let listed: Vec<(&str, Vec<usize>)> = table
            .iter()
            .map(|t| {
                let shape = t.shape.iter().map(|d| d.value(sizes, gates).unwrap());
                (t.name, shape.collect())
            })
            .collect();
        assert_eq!(ours, listed, "{ty}");
    }

    #[test]
    fn every_layer_has_the_tensors_the_format_table_lists() {
        let rng = &mut Rng::new(1);
        check(&Linear::<f32, 3, 5>::new(rng), "Linear", &[3, 5]);
        check(&Lstm::<f32, 3, 5, 20>::new(rng), "Lstm", &[3, 5]);
        check(&Gru::<f32, 3, 5, 15>::new(rng), "Gru", &[3, 5]);
        check(&Rnn::<f32, 3, 5>::new(rng), "Rnn", &[3, 5]);
        check(
            &PeepholeLstm::<f32, 3, 5, 20>::new(rng),
            "PeepholeLstm",
            &[3, 5],
        );
        check(&LookupTable::<f32, 7, 4>::new(rng), "LookupTable", &[7, 4]);
        check(&LogSoftMax::<f32, 4>::new(), "LogSoftMax", &[4, 4]);
        check(&Tanh::<f32, 4>::new(), "Tanh", &[4, 4]);
        check(
            &Conv1d::<f32, 3, 5, 4, 2, 12, 18>::new(rng),
            "Conv1d",
            &[3, 5, 4, 2],
        );
    }
}
