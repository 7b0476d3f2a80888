//! Compile-time behaviour of `network!`: the exact error messages of what must not compile
//! (reviewed `.stderr` snapshots). What must compile is `tests/compiles.rs`: without pass
//! cases trybuild checks every case in one `cargo check` run instead of a build per case.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail/*.rs");
}
