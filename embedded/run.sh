#!/usr/bin/env bash
# Builds the firmware for a Cortex-M4F (thumbv7em-none-eabihf, QEMU mps2-an386) and a RV32IMAC
# (riscv32imac-unknown-none-elf, QEMU virt, f32 in software) and runs its three binaries under
# QEMU: `train` (the seed network trained 20 SGD steps on the device), `seed` and `amp` (the seed
# network and LSTM(1, 16) -> Linear(16, 1) built for inference, weights compiled in, stepped
# online); each compares its values bit for bit with the host's generic path and exits 0 only if
# they are equal (and, for inference, if nothing was allocated while it ran). Installs what it needs from Debian's packages
# when missing (as root): rustc-web, cargo-web and rust-web-src (a Rust with the library
# sources, for -Zbuild-std; rustup here has no rust-src), lld, and QEMU from bookworm-backports
# (the machine's qemu-utils is that version).
#
#   bash embedded/run.sh                 # both targets
#   bash embedded/run.sh thumbv7em-none-eabihf
set -euo pipefail
cd "$(dirname "$0")"

need=()
[ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src/rust/library ] || need+=(rustc-web cargo-web rust-web-src)
command -v ld.lld > /dev/null || need+=(lld)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -q > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${need[@]}" > /dev/null
fi
if ! command -v qemu-system-arm > /dev/null || ! command -v qemu-system-riscv32 > /dev/null; then
    echo "deb http://deb.debian.org/debian bookworm-backports main" > /etc/apt/sources.list.d/backports.list
    apt-get update -q > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t bookworm-backports qemu-system-arm qemu-system-misc > /dev/null
fi

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(thumbv7em-none-eabihf riscv32imac-unknown-none-elf)
# Debian's toolchain, not rustup's: it has the library sources -Zbuild-std compiles.
cargo=(env PATH=/usr/bin:/bin RUSTC_BOOTSTRAP=1 timeout 900 /usr/bin/cargo)
# Flash (what the image loads: vector table, code, read-only data, initialised data) and
# static RAM (.data, .bss, .uninit: the heap arena is in .bss) of a firmware, from its sections.
sizes() {
    command -v readelf > /dev/null || return 0
    local flash=0 ram=0 name size
    while read -r name size; do
        size=$((16#$size))
        case $name in
            .vector_table | .text | .init.rust | .rodata) flash=$((flash + size)) ;;
            .data) flash=$((flash + size)); ram=$((ram + size)) ;;
            .bss | .uninit) ram=$((ram + size)) ;;
        esac
    done < <(readelf -S --wide "$1" | sed 's/\[ */[/' | awk '$2 ~ /^\./ {print $2, $6}')
    echo "   $(basename "$1"): flash $flash bytes, static RAM $ram bytes (with the heap arena)"
}

for target in "${targets[@]}"; do
    echo "== $target under QEMU"
    "${cargo[@]}" build --quiet --release --target "$target"
    for bin in train seed amp; do
        # The last line is the run's summary; the exit code is the firmware's.
        "${cargo[@]}" run --quiet --release --target "$target" --bin "$bin" | tail -1
        sizes "target/$target/release/$bin"
    done
done
