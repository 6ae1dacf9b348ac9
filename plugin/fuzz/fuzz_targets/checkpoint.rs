//! libFuzzer target for [`sema_live::fuzz::checkpoint`]: the input is split at its first
//! two NUL bytes into `config.json`, `weights_manifest.json` and one weight shard, which
//! are written to a temporary folder (one per process; libFuzzer leaves with `exit`, which
//! runs no destructor, so the folder, a few kilobytes, stays in the system's temp folder)
//! and loaded.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let dir =
        DIR.get_or_init(|| tempfile::tempdir().expect("a temporary folder for the checkpoint"));
    sema_live::fuzz::checkpoint(data, &dir.path().join("ckpt"));
});
