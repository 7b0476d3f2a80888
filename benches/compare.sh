#!/usr/bin/env bash
# Every benchmark, side by side on this machine (in interleaved rounds), then the tables for
# BENCHMARKS.md.
#
#   bash benches/compare.sh                 # everything (builds candle: ~3 min on 2 cores)
#   PYTHON=/path/to/venv/bin/python bash benches/compare.sh
#   ROUNDS=1 bash benches/compare.sh        # one round instead of three (see below)
#
# Needs: the Rust toolchain; for the Python peers a Python with torch and jax (see
# peers/README.md); peers that are missing are skipped. Raw outputs go to target/compare/.
set -euo pipefail
cd "$(dirname "$0")"
out=target/compare
mkdir -p "$out"
py=${PYTHON:-python3}

echo "== machine" | tee "$out/machine.txt"
{ lscpu | grep -E 'Model name|^CPU\(s\)|Flags' | cut -c1-160; rustc -V; date -u; } >> "$out/machine.txt"
{
    echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
        "(family $(grep -m1 'cpu family' /proc/cpuinfo | cut -d: -f2 | xargs)," \
        "model $(grep -m1 '^model[[:space:]]' /proc/cpuinfo | cut -d: -f2 | xargs))"
    # What the kernels chose on this CPU (the paths each case ran: see paths.sh).
    SHOW_KERNELS=1 cargo run --release -q --bin profile seed_b1_step 1000 | grep '^kernels:'
} | tee -a "$out/machine.txt"
echo "== FMA peak"
cargo run --release -q --bin fma_peak | tee "$out/fma.txt"
echo "== Rust: ours, data-parallel on 2 threads"
cargo bench -q --bench parallel > "$out/parallel.txt"
# The host runs in slow and fast phases lasting minutes, which one pass over the columns
# cannot tell from a real difference. So the columns are measured in ROUNDS interleaved rounds
# (ours, ours native, candle, PyTorch, JAX, then again) and every cell reports the smallest of
# its medians: each column at its best phase.
rounds=${ROUNDS:-3}
rm -rf "$out"/round*
for round in $(seq 1 "$rounds"); do
    dir="$out/round$round"
    mkdir -p "$dir"
    # Ours from a binary without candle, as a user's build would be: linking candle into the
    # same benchmark binary moved our code's placement, and the seed network's online step
    # read 0.245 us there against 0.18-0.19 without it (a 2026-12-02 run).
    echo "== round $round of $rounds: Rust: ours, dynamic baseline (default target)"
    cargo bench -q --bench networks > "$dir/divan.txt"
    echo "== round $round: Rust: candle"
    RAYON_NUM_THREADS=1 cargo bench -q --features candle --bench networks -- candle > "$dir/divan_candle.txt"
    echo "== round $round: Rust: ours with -C target-cpu=native"
    RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=target/native cargo bench -q -- ours > "$dir/divan_native.txt"
    for peer in torch jax; do
        echo "== round $round: $peer"
        if "$py" -c "import $peer" 2>/dev/null; then
            "$py" "peers/${peer}_bench.py" > "$dir/$peer.txt" || echo "$peer failed"
        else
            echo "no $peer in $py: skipped" | tee "$dir/$peer.txt"
        fi
    done
done
"$py" report.py "$out"
