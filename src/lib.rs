//! Workspace root of `rnn`: it exists so that `examples/` and `tests/` live at the top of the
//! repository. Depend on [`rnn_core`], which holds everything that computes.
#![no_std]
pub use rnn_core;
