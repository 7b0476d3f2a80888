//! The layers, one file each. Every file documents shapes, equations and initialisation.

mod cell_params;
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
