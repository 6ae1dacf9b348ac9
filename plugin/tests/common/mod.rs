//! Helpers shared by the integration tests (each test binary uses a part of them).
#![allow(dead_code)]

pub mod parity;
pub mod rounding_host;

use clack_extensions::gui::{GuiSize, HostGui, HostGuiImpl};
use clack_host::prelude::*;
use sema_live::ml::NoteSequence;
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

/// Where a test host's transport is for one block.
#[derive(Clone, Copy, Debug)]
pub struct HostTransport {
    /// Song position of the block's first sample, in quarter-note beats.
    pub pos_beats: f64,
    pub tempo: f64,
    pub playing: bool,
    /// Time signature.
    pub num: u16,
    pub den: u16,
    /// Start (beats) and index of the bar the position is in.
    pub bar_start: f64,
    pub bar_number: i32,
}

impl HostTransport {
    /// 4/4 at `tempo`, bars counted from the song start.
    pub fn four_four(pos_beats: f64, tempo: f64, playing: bool) -> Self {
        let bar = (pos_beats / 4.0).floor();
        Self {
            pos_beats,
            tempo,
            playing,
            num: 4,
            den: 4,
            bar_start: bar * 4.0,
            bar_number: bar as i32,
        }
    }
}

/// Processes one block of `len` samples starting at absolute sample `now`, as a DAW would:
/// the transport `t`, a silent stereo sidechain, `in_events`. Returns the stereo output
/// and the events the plugin sent.
pub fn process_block(
    processor: &mut StartedPluginAudioProcessor<TestHost>,
    now: u64,
    len: usize,
    t: &HostTransport,
    in_events: &EventBuffer,
) -> ([Vec<f32>; 2], EventBuffer) {
    use clack_host::events::event_types::{TransportEvent, TransportFlags};
    use clack_host::events::{EventFlags, EventHeader};
    use clack_host::utils::{BeatTime, SecondsTime};
    let mut flags = TransportFlags::HAS_TEMPO
        | TransportFlags::HAS_BEATS_TIMELINE
        | TransportFlags::HAS_TIME_SIGNATURE;
    if t.playing {
        flags |= TransportFlags::IS_PLAYING;
    }
    let transport = TransportEvent {
        header: EventHeader::new_core(0, EventFlags::empty()),
        flags,
        song_pos_beats: BeatTime::from(t.pos_beats),
        song_pos_seconds: SecondsTime::from(t.pos_beats * 60.0 / t.tempo),
        tempo: t.tempo,
        tempo_inc: 0.0,
        loop_start_beats: BeatTime::from(0.0),
        loop_end_beats: BeatTime::from(0.0),
        loop_start_seconds: SecondsTime::from(0.0),
        loop_end_seconds: SecondsTime::from(0.0),
        bar_start: BeatTime::from(t.bar_start),
        bar_number: t.bar_number,
        time_signature_numerator: t.num,
        time_signature_denominator: t.den,
    };
    let mut sidechain = [vec![0.0f32; len], vec![0.0f32; len]];
    let mut out = [vec![0.0f32; len], vec![0.0f32; len]];
    let mut in_ports = AudioPorts::with_capacity(2, 1);
    let mut out_ports = AudioPorts::with_capacity(2, 1);
    let input = in_ports.with_input_buffers([AudioPortBuffer {
        latency: 0,
        channels: AudioPortBufferType::f32_input_only(
            sidechain.iter_mut().map(|b| InputChannel::constant(b.as_mut_slice())),
        ),
    }]);
    let mut output = out_ports.with_output_buffers([AudioPortBuffer {
        latency: 0,
        channels: AudioPortBufferType::f32_output_only(out.iter_mut().map(|b| b.as_mut_slice())),
    }]);
    let mut out_events = EventBuffer::new();
    processor
        .process(
            &input,
            &mut output,
            &InputEvents::from_buffer(in_events),
            &mut OutputEvents::from_buffer(&mut out_events),
            Some(now),
            Some(&transport),
        )
        .expect("process");
    (out, out_events)
}
