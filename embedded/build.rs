//! The memory map of the QEMU board for the target (`memory.x` for the runtime crate's
//! linker script).

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let memory = match std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        // mps2-an386 (Cortex-M4): 4 MiB of code memory at 0, 4 MiB of data memory above.
        Ok("arm") => {
            "MEMORY\n{\n  FLASH : ORIGIN = 0x00000000, LENGTH = 4M\n  RAM : ORIGIN = 0x20000000, LENGTH = 4M\n}\n"
        }
        // QEMU `virt`: RAM from 0x8000_0000, where `-bios none` starts the program.
        _ => {
            "MEMORY\n{\n  RAM : ORIGIN = 0x80000000, LENGTH = 16M\n}\n\
              REGION_ALIAS(\"REGION_TEXT\", RAM);\nREGION_ALIAS(\"REGION_RODATA\", RAM);\n\
              REGION_ALIAS(\"REGION_DATA\", RAM);\nREGION_ALIAS(\"REGION_BSS\", RAM);\n\
              REGION_ALIAS(\"REGION_HEAP\", RAM);\nREGION_ALIAS(\"REGION_STACK\", RAM);\n"
        }
    };
    std::fs::write(out.join("memory.x"), memory).expect("OUT_DIR is writable");
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rerun-if-changed=build.rs");
}
