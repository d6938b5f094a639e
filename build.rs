//! Decides, once, whether this target maps files: `cfg(mapped_io)` on the
//! platforms where the crate has a copy routine and a fault handler (see
//! `src/arch/` and `src/os/linux/`). Everywhere else every `MmapFile` uses
//! system calls.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(mapped_io)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if os == "linux" && (arch == "x86_64" || arch == "aarch64") {
        println!("cargo::rustc-cfg=mapped_io");
    }
    println!("cargo::rerun-if-changed=build.rs");
}
