//! Compile-time behaviour of `network!`: what must compile, and the exact error messages of
//! what must not (reviewed `.stderr` snapshots).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("tests/ui/pass/*.rs");
    t.compile_fail("tests/ui/fail/*.rs");
}
