//! Links the `sema-live` command-line program as a position-dependent executable on Linux.
//!
//! The program carries the whole plugin (JS engine, ML runtime, editor): as a
//! position-independent executable its 2 MB of relocated read-only data is written by the
//! dynamic loader at every start, page by page, which took half of the start-up time of
//! a render (about 3 ms of `sema-live --version`'s 5 ms). Linked at a fixed address, the
//! linker resolves those relocations once. The plugin library and the standalone program
//! are unchanged.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let env = std::env::var("CARGO_CFG_TARGET_ENV").unwrap_or_default();
    if os == "linux" && env == "gnu" {
        // After rustc's own `-pie`: the last of the two wins.
        println!("cargo:rustc-link-arg-bin=sema-live=-no-pie");
    }
}
