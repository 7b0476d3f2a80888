#!/usr/bin/env bash
# What compiling trained weights in costs (`weights = "..."`, issue 29): for networks of about
# 10k, 100k and 1M parameters, the rebuild time of a small user crate and its binary's size,
# with the weights compiled in and without (the same network built by `new`), in release and
# debug builds; and at run time, `pretrained()` against `new(seed)` and against
# `load_state_dict` of the same bytes (already in memory).
#
#   bash benches/pretrained_cost.sh         # prints two markdown tables
#
# Each crate lives under target/pretrained_cost/ and depends on rnn-core by path; dependencies
# are built once, the time reported is the fastest of three rebuilds of the user crate alone
# after touching its source (wall clock and CPU). The weights file is the network's own save (`to_safetensors(&Net::new(1))`).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work="$root/target/pretrained_cost"
export CARGO_TARGET_DIR="$work/target"
# Not incremental (a debug build is by default): the user crate is compiled afresh each time.
export CARGO_INCREMENTAL=0
mkdir -p "$work"

# name:inputs:layers (parameters: 4h(i + h) + 8h + h + 1)
sizes=("10k:1:LSTM(1, 48), Linear(48, 1)" "100k:32:LSTM(32, 144), Linear(144, 1)" "1M:128:LSTM(128, 448), Linear(448, 1)")

crate() { # dir name main.rs [second binary's name and source]
    mkdir -p "$1/src/bin"
    cat > "$1/Cargo.toml" <<TOML
[package]
name = "$2"
version = "0.1.0"
edition = "2024"
publish = false

[dependencies]
rnn-core = { path = "$root/rnn-core" }

[workspace]
TOML
    printf '%s\n' "$3" > "$1/src/main.rs"
    printf '%s\n' "$5" > "$1/src/bin/$4.rs"
}

rebuild() { # dir profile-flag -> "wall cpu", the fastest of three rebuilds
    local tfile
    tfile=$(mktemp)
    local wall user sys best_wall=999 best_cpu=999
    for _ in 1 2 3; do
        touch "$1/src/main.rs"
        ( cd "$1" && /usr/bin/time -f "%e %U %S" -o "$tfile" cargo build -q $2 )
        read -r wall user sys < "$tfile"
        best_wall=$(echo "if ($wall < $best_wall) $wall else $best_wall" | bc)
        best_cpu=$(echo "c = $user + $sys; if (c < $best_cpu) c else $best_cpu" | bc)
    done
    rm -f "$tfile"
    echo "$best_wall $best_cpu"
}

build_rows=()
run_rows=()
for entry in "${sizes[@]}"; do
    label=${entry%%:*}
    rest=${entry#*:}
    inputs=${rest%%:*}
    layers=${rest#*:}
    # What a user's program does with the network: one forward pass over a sequence.
    use_net="let inputs = vec![SMatrix::<f32, $inputs, 1>::zeros(); 64];
    let y = net.forward(&inputs)[63][(0, 0)];
    println!(\"{} {y}\", net.num_parameters());"
    plain="$work/plain_$label"
    pre="$work/pre_$label"
    file="$work/weights_$label.safetensors"
    net="network! {
    pub Net<seq_len = 64> = Sequential[ $layers ];
}"
    crate "$plain" "plain_$label" "use rnn_core::prelude::*;

$net

fn main() {
    let mut net = std::hint::black_box(Net::new(1));
    $use_net
}" "write_$label" "use rnn_core::prelude::*;

$net

fn main() {
    let path = std::env::args().nth(1).expect(\"a path\");
    std::fs::write(path, rnn_core::io::to_safetensors(&Net::new(1)).expect(\"save\")).expect(\"write\");
}"
    pre_net="network! {
    pub Net<seq_len = 64, weights = \"$file\"> = Sequential[ $layers ];
}"
    crate "$pre" "pre_$label" "use rnn_core::prelude::*;

$pre_net

fn main() {
    let mut net = std::hint::black_box(Net::pretrained());
    $use_net
}" "timing_$label" "use rnn_core::prelude::*;
use std::time::Instant;

$pre_net

/// The median of 21 timings of \`f\`, in microseconds.
fn median(mut f: impl FnMut()) -> f64 {
    let mut t: Vec<f64> = (0..21)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed().as_secs_f64() * 1e6
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[10]
}

fn main() {
    static BYTES: &[u8] = include_bytes!(\"$file\");
    let names = rnn_core::io::TorchNames::new();
    let pretrained = median(|| drop(std::hint::black_box(Net::pretrained())));
    let new = median(|| drop(std::hint::black_box(Net::new(1))));
    let loaded = median(|| {
        let mut net = Net::new(1);
        rnn_core::io::load_state_dict(&mut net, BYTES, &names).expect(\"load\");
        drop(std::hint::black_box(net));
    });
    println!(\"{} {pretrained:.0} {new:.0} {loaded:.0}\", Net::new(1).num_parameters());
}"
    (cd "$plain" && cargo build -q --release 2>/dev/null && cargo build -q 2>/dev/null)
    "$CARGO_TARGET_DIR/release/write_$label" "$file"
    (cd "$pre" && cargo build -q --release && cargo build -q)
    for profile in release debug; do
        flag=""; [ "$profile" = release ] && flag="--release"
        # Both crates hold two binaries (the measured one and a helper): the rebuild times
        # include both, the sizes are the measured binaries'.
        read -r pw pc <<< "$(rebuild "$plain" "$flag")"
        read -r ww wc <<< "$(rebuild "$pre" "$flag")"
        ps=$(stat -c %s "$CARGO_TARGET_DIR/$profile/plain_$label")
        ws=$(stat -c %s "$CARGO_TARGET_DIR/$profile/pre_$label")
        fs=$(stat -c %s "$file")
        build_rows+=("| $label | $profile | $fs | ${pw} / ${pc} s | ${ww} / ${wc} s | $((ps / 1024)) KiB | $((ws / 1024)) KiB | $(( (ws - ps) / 1024 )) KiB |")
    done
    read -r n pre_us new_us load_us <<< "$("$CARGO_TARGET_DIR/release/timing_$label")"
    run_rows+=("| $label | $n | $pre_us us | $new_us us | $load_us us |")
done
echo "| network | build | file (bytes) | rebuild without (wall / CPU) | rebuild with weights | binary without | binary with | difference |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${build_rows[@]}"
echo
echo "| network | parameters | \`pretrained()\` | \`new(seed)\` | \`new\` + \`load_state_dict\` (bytes in memory) |"
echo "|---|---:|---:|---:|---:|"
printf '%s\n' "${run_rows[@]}"
