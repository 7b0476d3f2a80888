//! The generic path gives the same bits with `std` (`RNN_SIMD=baseline`) as without it
//! (`nostd-check`'s unit test, on the generic kernels there being no run-time CPU detection):
//! both compare `nostd_check::seed_sgd_bits` (the seed network trained 20 SGD steps) with the
//! committed `tests/fixtures/generic_path/seed_sgd.txt`, and the two inference runs
//! (`seed_inference_bits`, `amp_inference_bits`: networks built for inference, weights
//! compiled in) with `inference.txt`. With `RNN_WRITE_FIXTURES=1` this test writes those files
//! instead. (Issue 35: the targets without a SIMD path run this code, and the firmware in
//! `embedded/` compares its own runs with the same files.)

/// Writes `bits` under `header` to `tests/fixtures/generic_path/{name}` (temporary file, then
/// rename).
fn write(name: &str, header: &str, bits: &[u32]) {
    let mut text = format!("# {header}\n");
    for b in bits {
        text.push_str(&format!("{b:08x}\n"));
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/generic_path");
    let tmp = format!("{dir}/.{name}.tmp");
    std::fs::write(&tmp, text).unwrap();
    std::fs::rename(&tmp, format!("{dir}/{name}")).unwrap();
}

fn compare(what: &str, ours: &[u32], committed: &[u32]) {
    let differ = ours.iter().zip(committed).filter(|(a, b)| a != b).count();
    assert!(
        ours == committed,
        "{what}: {differ} of {} values differ from the committed bits",
        ours.len()
    );
}

#[test]
fn the_baseline_path_gives_the_committed_bits() {
    // The only test of this binary: the kernel path is chosen once, at the first network.
    // SAFETY: no other thread runs yet (one test, run first thing).
    unsafe { std::env::set_var("RNN_SIMD", "baseline") };
    let training = nostd_check::seed_sgd_bits();
    assert_eq!(training.len(), 60);
    let inference = [
        nostd_check::seed_inference_bits(),
        nostd_check::amp_inference_bits(),
    ]
    .concat();
    assert_eq!(inference.len(), 104);
    if std::env::var_os("RNN_WRITE_FIXTURES").is_some() {
        write(
            "seed_sgd.txt",
            "nostd_check::seed_sgd_bits() on the generic path: 20 losses, then 40 outputs (f32 bits)",
            &training,
        );
        write(
            "inference.txt",
            "nostd_check::seed_inference_bits() (40 outputs), then amp_inference_bits() (64) on the generic path (f32 bits)",
            &inference,
        );
        return;
    }
    compare("training", &training, &nostd_check::committed_bits());
    compare(
        "inference",
        &inference,
        &nostd_check::committed_inference_bits(),
    );
}
