//! Networks that must compile, and run: one module per case in `tests/compiles/`.
//!
//! These were trybuild pass cases; as modules of one test crate they build with the other
//! tests, and trybuild checks only what must not compile (`tests/ui.rs`): all its cases in one
//! `cargo check` instead of a build per case. The modules are public so that `options`'s
//! `#![deny(missing_docs)]` sees the generated items as a user's crate exports them; the other
//! cases allow undocumented items.

#[path = "compiles/bisequencer.rs"]
#[allow(missing_docs)]
pub mod bisequencer;

#[path = "compiles/const_sizes.rs"]
#[allow(missing_docs)]
pub mod const_sizes;

#[path = "compiles/deepest.rs"]
#[allow(missing_docs)]
pub mod deepest;

#[path = "compiles/every_layer.rs"]
#[allow(missing_docs)]
pub mod every_layer;

#[path = "compiles/lookup_table.rs"]
#[allow(missing_docs)]
pub mod lookup_table;

#[path = "compiles/nested.rs"]
#[allow(missing_docs)]
pub mod nested;

#[path = "compiles/options.rs"]
pub mod options;

#[path = "compiles/repeater.rs"]
#[allow(missing_docs)]
pub mod repeater;

#[path = "compiles/residual.rs"]
#[allow(missing_docs)]
pub mod residual;

#[path = "compiles/seed.rs"]
#[allow(missing_docs)]
pub mod seed;

#[path = "compiles/unroll_full.rs"]
#[allow(missing_docs)]
pub mod unroll_full;

#[path = "compiles/unroll_long.rs"]
#[allow(missing_docs)]
pub mod unroll_long;

#[test]
fn bisequencer() {
    bisequencer::main();
}

#[test]
fn const_sizes() {
    const_sizes::main();
}

#[test]
fn deepest() {
    deepest::main();
}

#[test]
fn every_layer() {
    every_layer::main();
}

#[test]
fn lookup_table() {
    lookup_table::main();
}

#[test]
fn nested() {
    nested::main();
}

#[test]
fn options() {
    options::main();
}

#[test]
fn repeater() {
    repeater::main();
}

#[test]
fn residual() {
    residual::main();
}

#[test]
fn seed() {
    seed::main();
}

#[test]
fn unroll_full() {
    unroll_full::main();
}

#[test]
fn unroll_long() {
    unroll_long::main();
}
