#!/usr/bin/env bash
# Every kernel path on every case, side by side on this machine: what the library chose
# (default), the AVX-512 cells everywhere (RNN_CALIBRATE=off: the choice made without
# measuring), AVX2 only and the baseline, in interleaved rounds (each cell the fastest of its
# rounds, as in compare.sh), as a markdown table for BENCHMARKS.md. The "chosen / fastest"
# column shows whether the choice ran the fastest path available for that case.
#
#   bash benches/paths.sh            # ROUNDS=3 by default
set -euo pipefail
cd "$(dirname "$0")"
rounds=${ROUNDS:-3}
cargo build --release -q --bin profile
bin=target/release/profile
out=target/paths
rm -rf "$out" && mkdir -p "$out"

# case and time steps per run (each run about 0.2-1 s on the chosen path)
cases=(
    "seed_b1_step 1000000" "gru_step 1000000" "amp_gru16_step 1000000" "amp_lstm32_step 1000000"
    "amp_lstm2_block 4000000" "amp_lstm16_block 2000000" "amp_lstm24_block 2000000"
    "amp_lite_block 2000000"
    "seed_b1_train 400000" "gru_b1_train 400000"
    "seed_b32_sequence 64000" "lstm128_b32_sequence 8000" "gru128_b32_sequence 8000"
    "lstm256_b32_sequence 3200"
    "lstm128_b32_train_split 3200" "gru128_b32_train_split 3200" "lstm256_b32_train_split 1600"
)
configs=(chosen cells_wide avx2 baseline)
env_of() {
    case $1 in
        chosen) echo "" ;;
        cells_wide) echo "RNN_CALIBRATE=off" ;;
        avx2) echo "RNN_SIMD=avx2" ;;
        baseline) echo "RNN_SIMD=baseline" ;;
    esac
}
for round in $(seq 1 "$rounds"); do
    echo "== round $round of $rounds" >&2
    for c in "${cases[@]}"; do
        set -- $c
        for cfg in "${configs[@]}"; do
            # shellcheck disable=SC2046
            env $(env_of "$cfg") "$bin" "$1" "$2" | grep "^$1:" | awk '{print $2}' >> "$out/$1.$cfg"
        done
    done
done

echo "CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
    "(family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)," \
    "model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs)), $(date -u +%F)"
echo "Chosen: $(SHOW_KERNELS=1 "$bin" seed_b1_step 1000 | grep '^kernels:' | cut -d' ' -f2-)"
echo
echo "| case (ns per time step) | chosen | AVX-512 cells everywhere | AVX2 | baseline | chosen / fastest |"
echo "|---|---:|---:|---:|---:|---:|"
for c in "${cases[@]}"; do
    set -- $c
    row="| $1"
    best=""
    vals=()
    for cfg in "${configs[@]}"; do
        v=$(sort -g "$out/$1.$cfg" | head -1)
        vals+=("$v")
        row="$row | $v"
        if [ -z "$best" ] || awk "BEGIN{exit !($v < $best)}"; then best=$v; fi
    done
    ratio=$(awk "BEGIN{printf \"%.2f\", ${vals[0]} / $best}")
    echo "$row | $ratio |"
done
