#!/usr/bin/env bash
# The MPI trainer's time per training step of lstm128_b64 on 1 and 2 ranks (loopback, this
# machine), alternated over three rounds, beside DataParallel on 1 and 2 threads (printed by
# the 1-rank runs): see src/bin/mpi_step.rs. Needs an MPI library (Debian: libopenmpi-dev,
# libclang-dev for the bindings).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --quiet --release --features mpi --bin mpi_step
flags=()
if mpirun --version 2>/dev/null | grep -q "Open MPI"; then
    # Not bound to one core each (OpenMPI binds by default): the 1-rank run's DataParallel
    # uses both cores with its threads.
    flags=(--allow-run-as-root --oversubscribe --bind-to none)
fi
for round in 1 2 3; do
    echo "== round $round"
    for ranks in 1 2; do
        mpirun "${flags[@]}" -np "$ranks" target/release/mpi_step
    done
done
