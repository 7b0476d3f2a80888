//! The generic path gives the same bits with `std` (`RNN_SIMD=baseline`) as without it
//! (`nostd-check`'s unit test, on the generic kernels there being no run-time CPU detection):
//! both compare `nostd_check::seed_sgd_bits` (the seed network trained 20 SGD steps) with the
//! committed `tests/fixtures/generic_path/seed_sgd.txt`. With `RNN_WRITE_FIXTURES=1` this test
//! writes that file instead. (Issue 35: the targets without a SIMD path run this code.)

#[test]
fn the_baseline_path_gives_the_committed_bits() {
    // The only test of this binary: the kernel path is chosen once, at the first network.
    // SAFETY: no other thread runs yet (one test, run first thing).
    unsafe { std::env::set_var("RNN_SIMD", "baseline") };
    let ours = nostd_check::seed_sgd_bits();
    assert_eq!(ours.len(), 60);
    if std::env::var_os("RNN_WRITE_FIXTURES").is_some() {
        let mut text = String::from(
            "# nostd_check::seed_sgd_bits() on the generic path: 20 losses, then 40 outputs (f32 bits)\n",
        );
        for b in &ours {
            text.push_str(&format!("{b:08x}\n"));
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/generic_path/seed_sgd.txt"
        );
        std::fs::write(path, text).unwrap();
        return;
    }
    let committed = nostd_check::committed_bits();
    let differ = ours.iter().zip(&committed).filter(|(a, b)| a != b).count();
    assert!(
        ours == committed,
        "{differ} of {} values differ from the committed bits",
        ours.len()
    );
}
