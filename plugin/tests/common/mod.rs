//! Helpers shared by the integration tests (each test binary uses a part of them).
#![allow(dead_code)]

use serde_json::Value;
use sema_live::ml::note_seq::NoteSequence;
use std::ffi::CStr;
use std::path::PathBuf;

/// The plugin's CLAP id.
pub const PLUGIN_ID: &CStr = c"org.semalive.sema-live";

/// The plugin binary: `$SEMA_LIVE_CLAP` (CI points it at the bundled `Sema Live.clap`),
/// or else the cdylib cargo built next to the running test.
pub fn plugin_path() -> PathBuf {
    if let Some(p) = std::env::var_os("SEMA_LIVE_CLAP") {
        return PathBuf::from(p);
    }
    // Tests live in target/<profile>/deps, where the test build also leaves the cdylib
    // (target/<profile>/ may hold an older one from a plain `cargo build`).
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().expect("target dir");
    let name = if cfg!(target_os = "macos") {
        "libsema_live.dylib"
    } else if cfg!(windows) {
        "sema_live.dll"
    } else {
        "libsema_live.so"
    };
    dir.join(name)
}

/// Notes of a JSON NoteSequence (as magenta.js returns it) as (pitch, start, end) steps.
pub fn notes_of(v: &Value) -> Vec<(i64, i64, i64)> {
    v["notes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|n| {
                    (
                        n["pitch"].as_i64().unwrap_or(-1),
                        n["quantizedStartStep"].as_i64().unwrap_or(0),
                        n["quantizedEndStep"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The same for a sequence Sema Live produced.
pub fn rust_notes(ns: &NoteSequence) -> Vec<(i64, i64, i64)> {
    ns.notes
        .iter()
        .map(|n| (n.pitch as i64, n.quantized_start_step.unwrap_or(0), n.quantized_end_step.unwrap_or(0)))
        .collect()
}
