#!/usr/bin/env bash
# Release build time of a small user crate holding the seed network, and its training speed,
# for several sequence lengths, with the time loop (default) and with `unroll = full`.
#
#   bash benches/build_times.sh            # prints a markdown table
#
# Each configuration is a fresh crate under target/buildtime/ depending on rnn-core by path.
# Dependencies are built once; the time reported is the rebuild of the user crate alone
# (wall clock and CPU), after touching its source.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/buildtime"
export CARGO_TARGET_DIR="$work/target"
mkdir -p "$work"

configs=("8 loop" "64 loop" "512 loop" "8 full" "32 full")
echo "| seq_len | time steps | build (wall) | build (CPU) | binary .text | train step / T |"
echo "|---:|---|---:|---:|---:|---:|"
for cfg in "${configs[@]}"; do
    set -- $cfg
    t=$1; mode=$2
    name="seed_t${t}_${mode}"
    dir="$work/$name"
    mkdir -p "$dir/src"
    opt=""; [ "$mode" = full ] && opt=", unroll = full"
    cat > "$dir/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
rnn-core = { path = "$root/rnn-core" }

[workspace]
TOML
    cat > "$dir/src/main.rs" <<RS
use rnn_core::prelude::*;

network! {
    /// The seed network.
    pub Tagger<seq_len = $t$opt> = Sequential[ LSTM(10, 20), Linear(20, 5), LogSoftMax ];
}

fn main() {
    let mut net = Tagger::new(42);
    let crit = SequencerCriterion::new(ClassNll::default());
    let mut rng = Rng::new(1);
    let inputs: [SMatrix<f32, 10, 1>; $t] = std::array::from_fn(|_| SMatrix::from_fn(|_, _| rng.uniform(-1.0, 1.0) as f32));
    let targets: [[Class<5>; 1]; $t] = std::array::from_fn(|t| [Class::new(t % 5).expect("< 5")]);
    let mut run = |n: usize| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            net.zero_grad_parameters();
            let outputs = net.forward(std::hint::black_box(&inputs));
            let grads = crit.backward(outputs, &targets);
            net.backward_parameters(&inputs, &grads);
            net.update_parameters(0.01);
        }
        start.elapsed().as_secs_f64()
    };
    let n = (200_000 / $t).max(200);
    run(n / 10);
    let best = (0..5).map(|_| run(n)).fold(f64::INFINITY, f64::min);
    println!("{:.3}", best * 1e6 / (n * $t) as f64);
}
RS
    (cd "$dir" && cargo build --release -q 2>/dev/null)
    touch "$dir/src/main.rs"
    tfile=$(mktemp)
    ( cd "$dir" && /usr/bin/time -f "%e %U %S" -o "$tfile" cargo build --release -q )
    read -r wall user sys < "$tfile"
    rm -f "$tfile"
    cpu=$(echo "$user + $sys" | bc)
    bin="$CARGO_TARGET_DIR/release/$name"
    text=$(size -A "$bin" | awk '$1 == ".text" { printf "%.0f KiB", $2 / 1024 }')
    us=$("$bin")
    echo "| $t | $mode | ${wall} s | ${cpu} s | $text | ${us} us |"
done
