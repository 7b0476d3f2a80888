#!/usr/bin/env bash
# Builds the firmware for a Cortex-M4F (thumbv7em-none-eabihf, QEMU mps2-an386) and a RV32IMAC
# (riscv32imac-unknown-none-elf, QEMU virt, f32 in software) and runs it under QEMU: the seed
# network trained 20 SGD steps on the device, its 60 values compared bit for bit with the
# host's generic path (exit code 0 if equal). Installs what it needs from Debian's packages
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
for target in "${targets[@]}"; do
    echo "== $target under QEMU"
    # Debian's toolchain, not rustup's: it has the library sources -Zbuild-std compiles.
    env PATH=/usr/bin:/bin RUSTC_BOOTSTRAP=1 timeout 900 \
        /usr/bin/cargo run --quiet --release --target "$target" | tail -1
done
