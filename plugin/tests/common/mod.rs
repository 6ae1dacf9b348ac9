//! Helpers shared by the integration tests (each test binary uses a part of them).
#![allow(dead_code)]

pub mod rounding_host;

use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_host::prelude::*;
use sema_live::ml::core::note_seq::NoteSequence;
use serde_json::Value;
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
        .map(|n| {
            (n.pitch as i64, n.quantized_start_step.unwrap_or(0), n.quantized_end_step.unwrap_or(0))
        })
        .collect()
}

/// The host's shared callbacks: requests are accepted and need no action in these tests.
pub struct TestShared;

impl SharedHandler<'_> for TestShared {
    fn request_restart(&self) {}
    fn request_process(&self) {}
    fn request_callback(&self) {}
}

/// The host side of the GUI extension, which plugins (and nice-plug) rely on: this host
/// grants resizes and show/hide requests, as a DAW's plugin window would.
impl HostGuiImpl for TestShared {
    fn resize_hints_changed(&self) {}
    fn request_resize(&self, _new_size: GuiSize) -> Result<(), HostError> {
        Ok(())
    }
    fn request_show(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn request_hide(&self) -> Result<(), HostError> {
        Ok(())
    }
    fn closed(&self, _was_destroyed: bool) {}
}

/// A minimal CLAP host offering the GUI extension.
pub struct TestHost;

impl HostHandlers for TestHost {
    type Shared<'a> = TestShared;
    type MainThread<'a> = ();
    type AudioProcessor<'a> = ();

    fn declare_extensions(builder: &mut HostExtensions<Self>, _shared: &Self::Shared<'_>) {
        builder.register::<HostGui>();
    }
}

/// Loads the plugin binary ([`plugin_path`]) and creates a Sema Live instance.
pub fn instantiate() -> PluginInstance<TestHost> {
    let path = plugin_path();
    assert!(path.exists(), "plugin binary not found at {}", path.display());
    // SAFETY: loading a CLAP plugin runs its entry code; it is our own plugin.
    let entry = unsafe { PluginEntry::load(&path) }.expect("load the .clap entry");
    // Never unload the library: test threads that ran plugin code keep thread-local
    // destructors pointing into it, which would crash at thread exit after a dlclose
    // (a real host keeps plugins loaded while their threads live, too).
    let entry: &'static PluginEntry = Box::leak(Box::new(entry));
    let factory = entry.get_plugin_factory().expect("plugin factory");
    let listed = factory.plugin_descriptors().any(|d| d.id() == Some(PLUGIN_ID));
    assert!(listed, "the factory lists Sema Live");
    let host_info = HostInfo::new("sema-live tests", "Sema Live", "https://example.com", "0.1")
        .expect("host info");
    PluginInstance::<TestHost>::new(|_| TestShared, |_| (), entry, PLUGIN_ID, &host_info)
        .expect("instantiate")
}
