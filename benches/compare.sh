#!/usr/bin/env bash
# One run of every benchmark, side by side on this machine, then the tables for BENCHMARKS.md.
#
#   bash benches/compare.sh                 # everything (builds candle: ~3 min on 2 cores)
#   PYTHON=/path/to/venv/bin/python bash benches/compare.sh
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
echo "== FMA peak"
cargo run --release -q --bin fma_peak | tee "$out/fma.txt"
echo "== Rust: ours, dynamic baseline, candle (default target)"
RAYON_NUM_THREADS=1 cargo bench -q --features candle --bench networks > "$out/divan.txt"
echo "== Rust: ours, data-parallel on 2 threads"
cargo bench -q --bench parallel > "$out/parallel.txt"
echo "== Rust: ours with -C target-cpu=native"
RUSTFLAGS="-C target-cpu=native" CARGO_TARGET_DIR=target/native cargo bench -q -- ours > "$out/divan_native.txt"
for peer in torch jax; do
    echo "== $peer"
    if "$py" -c "import $peer" 2>/dev/null; then
        "$py" "peers/${peer}_bench.py" > "$out/$peer.txt" || echo "$peer failed"
    else
        echo "no $peer in $py: skipped" | tee "$out/$peer.txt"
    fi
done
"$py" report.py "$out"
