//! The `network!` macro of `rnn`. Use it through `rnn_core::network!`.
