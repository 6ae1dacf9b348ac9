//! Sema Live: live coding with machine learning inside the DAW.
//!
//! This file holds the plugin glue and little else: the `Plugin` impl wires the host's
//! transport, parameters, audio and MIDI to the [`audio::engine::Engine`], and the
//! [`control::controller::Controller`] to the editor, the JS runtime and the saved state.
//!
//! # Threads and queues
//!
//! ```text
//!  editor thread (egui)            JS thread (Boa, one per instance)      model worker
//!  editor/ ── DSL text ──┐         js/ ── channel.send ──┐                ml/worker.rs
//!          ── JS blocks ─┼───────▶ control/js_bridge    │   requests ──▶ (tract: music_rnn,
//!                        │         ◀── results, console ─┼── crossbeam ◀─  music_vae, MidiMe)
//!                        ▼                               ▼
//!  host main thread ──▶ control/controller (compiles DSL, keeps the session)
//!  (activate, state)       │ rtrb ToAudio: patches, channel data      ▲ rtrb Garbage: what
//!                          ▼                                          │ was replaced, dropped
//!  host audio thread:  process() → audio/engine (+ transport, midi_out) ┘ off the audio thread
//!   (host MIDI in ─▶ audio/midi_in, clips ─▶ audio/clip, both ─▶ the DSL's m* functions)
//!                          │ atomics: clock, DSP load, MIDI-in counts, host.* view; params
//!                          └ rtrb outlets (control/status): sent notes, scope, MIDI in →
//!                                  editor; toJS values, stamped MIDI in → JS thread
//! ```
//!
//! - The audio thread ([`audio`]) never allocates, locks or waits: everything it receives
//!   was built elsewhere and arrives through lock-free ring buffers; everything it replaces
//!   goes back the same way to be dropped by the controller. The one exception is the
//!   host's *offline* render mode (a bounce), where `process` waits, bounded, for the JS
//!   thread at bar lines and after JS input ([`js::offline`]), so a bounce equals playback.
//! - The control side ([`control`]) runs on the host's main thread, the editor's thread and
//!   the JS thread; [`dsl`] compiles there, its `Program` then runs on the audio thread
//!   with the [`dsp`] nodes.
//! - The JS runtime ([`js`]) runs on its own thread per instance; the Magenta models
//!   ([`ml`]) on a worker thread per instance, never on the audio or editor thread.
//! - [`cli`] holds session files, MIDI files and the offline renderer, shared by the
//!   `sema-live` command line and the editor's Open/Save/Export.

use nice_plug::midi::{Channel, Key, VoiceID};
use nice_plug::prelude::*;
use parking_lot::Mutex;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

pub mod audio;
pub mod cli;
pub(crate) mod control;
pub mod dsl;
pub(crate) mod dsp;
mod editor;
#[doc(hidden)]
pub mod fuzz;
pub mod js;
pub mod ml;

/// Counts the JS thread's allocations (its heap limit) and, in debug builds, aborts on an
/// allocation inside `process` (see [`js::heap`]).
#[global_allocator]
static ALLOCATOR: js::heap::CountingAlloc = js::heap::CountingAlloc;

use audio::engine::{self, BlockIo, Engine};
use audio::midi_in::MidiCapture;
use audio::transport::HostTime;
use control::console::Console;
use control::controller::Controller;
use control::js_bridge;
use control::params::SemaParams;
use control::state::SessionState;
use control::status::{self, AudioOutlets, Inlets, Status};

/// The instance's control side, shared with its editor: the controller, console and JS
/// runtime, and what the audio thread publishes for them (status atomics, note and scope
/// logs, the `host.*` view). [`SemaLive`] keeps the engine and the producer ends.
pub struct ControlSide {
    pub params: Arc<SemaParams>,
    pub controller: Arc<Mutex<Controller>>,
    pub console: Arc<Console>,
    pub status: Arc<Status>,
    pub inlets: Arc<Inlets>,
    /// The instance's JS runtime (started on first use; shared with the saved state, which
    /// resumes the recorded JS when it loads).
    pub js: Arc<js_bridge::JsBridge>,
    /// The Studio panels' state (jobs, variations, audition, keeps): editor thread only,
    /// kept here so it outlives a closed editor window.
    pub studio: Mutex<control::studio::Studio>,
}

pub struct SemaLive {
    params: Arc<SemaParams>,
    shared: Arc<ControlSide>,
    engine: Engine,
    outlets: AudioOutlets,
    /// This block's MIDI input from the host (preallocated).
    midi_in: MidiCapture,
    /// Realtime, or offline (a bounce: the audio thread renders in step with JS).
    process_mode: ProcessMode,
    /// The bar the JS thread last saw start in an offline render.
    js_bar: Option<i64>,
    editor_state: Arc<nice_plug_egui::EguiEditorState>,
}

impl Default for SemaLive {
    fn default() -> Self {
        let console = Arc::new(Console::new());
        let (control_ends, audio_ends) = engine::queues();
        let controller = Arc::new(Mutex::new(Controller::new(
            control_ends,
            SessionState::default(),
            console.clone(),
        )));
        // Downloads and sample-folder rescans install what arrives (started on first use).
        control::controller::attach(&controller);
        // No work here (a host's plugin scan creates instances it never activates): the
        // session is compiled and installed by `activate`, before the first `process`.
        let engine = Engine::new(audio_ends, 48_000.0, 512);
        let (outlets, inlets, to_js, midi_in) = status::outlets();
        let js = Arc::new(js_bridge::JsBridge::new(to_js, midi_in));
        let params = Arc::new(SemaParams::new(controller.clone(), js.clone()));
        let shared = Arc::new(ControlSide {
            params: params.clone(),
            controller,
            console,
            status: Arc::new(Status::default()),
            inlets: Arc::new(inlets),
            js,
            studio: Mutex::new(control::studio::Studio::new()),
        });
        Self {
            params,
            shared,
            engine,
            outlets,
            midi_in: MidiCapture::new(),
            process_mode: ProcessMode::Realtime,
            js_bar: None,
            editor_state: editor::default_state(),
        }
    }
}

impl Plugin for SemaLive {
    const NAME: &'static str = "Sema Live";
    const VENDOR: &'static str = "Sema Live";
    const URL: &'static str = "https://github.com/mimic-sussex/sema";
    const EMAIL: &'static str = "info@example.com";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");

    const AUDIO_IO_LAYOUTS: &'static [AudioIOLayout] = &[
        // Stereo out with an optional stereo sidechain for the DSL's `adc`.
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: NonZeroU32::new(2),
            aux_input_ports: &[new_nonzero_u32(2)],
            aux_output_ports: &[],
            names: PortNames {
                layout: Some("Stereo + sidechain"),
                main_input: None,
                main_output: Some("Output"),
                aux_inputs: &["Sidechain"],
                aux_outputs: &[],
            },
        },
        AudioIOLayout {
            main_input_channels: None,
            main_output_channels: NonZeroU32::new(2),
            ..AudioIOLayout::const_default()
        },
    ];

    // Notes, controllers, pitch bend and pressure (the DSL's m* functions, JS callbacks).
    const MIDI_INPUT: MidiConfig = MidiConfig::MidiCCs;
    const MIDI_OUTPUT: MidiConfig = MidiConfig::Basic;
    const SAMPLE_ACCURATE_AUTOMATION: bool = false;

    type Editor = nice_plug_egui::EguiEditor<editor::SemaEditor>;
    type SysExMessage = ();
    type BackgroundTask = ();

    fn params(&self) -> Arc<dyn Params> {
        self.params.clone()
    }

    fn editor(&mut self, _async_executor: AsyncExecutor<Self>) -> Option<Self::Editor> {
        editor::create(self.shared.clone(), self.editor_state.clone())
    }

    fn activate(
        &mut self,
        _audio_io_layout: &AudioIOLayout,
        buffer_config: &BufferConfig,
        _context: &mut impl ActivateContext<Self>,
    ) -> bool {
        let sr = buffer_config.sample_rate as f64;
        self.process_mode = buffer_config.process_mode;
        self.js_bar = None;
        let max_block = buffer_config.max_buffer_size.max(1) as usize;
        let mut controller = self.shared.controller.lock();
        controller.resync(&mut self.engine, sr, max_block);
        controller.set_active(true);
        true
    }

    fn reset(&mut self) {
        self.engine.reset();
    }

    fn deactivate(&mut self) {
        self.shared.controller.lock().set_active(false);
        self.engine.reset();
    }

    fn process(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        // Debug builds abort on any allocation in here (what nice-plug's
        // `assert_process_allocs` does; the plugin installs the allocator itself).
        #[cfg(debug_assertions)]
        return nice_assert_no_alloc::assert_no_alloc(|| self.process_block(buffer, aux, context));
        #[cfg(not(debug_assertions))]
        self.process_block(buffer, aux, context)
    }
}

impl SemaLive {
    /// One `process` call (see [`Plugin::process`]): never allocates, locks or waits.
    fn process_block(
        &mut self,
        buffer: &mut Buffer,
        aux: &mut AuxiliaryBuffers,
        context: &mut impl ProcessContext<Self>,
    ) -> ProcessStatus {
        let started = Instant::now();
        // Denormal samples (a decaying sidechain, filter tails) would slow the DSP down
        // several times over: flush them for this call, restoring the host's mode after.
        let _denormals = audio::denormals::DenormalGuard::new();
        // MIDI input: into the preallocated capture buffer (what does not fit is counted).
        self.midi_in.clear();
        while let Some(event) = context.next_event() {
            self.midi_in.capture(&event);
        }

        let t = context.transport();
        let host = HostTime {
            playing: t.playing,
            tempo: t.tempo,
            time_sig: t.time_sig_numerator.zip(t.time_sig_denominator),
            pos_beats: t.pos_beats(),
            bar_start_beats: t.bar_start_pos_beats(),
            bar_number: t.bar_number(),
        };
        let len = buffer.samples();
        let sample_rate = t.sample_rate;
        let sync = self.params.sync.value();
        let empty: &[f32] = &[];
        let sidechain: [&[f32]; 2] = match aux.inputs.first() {
            Some(sc) if sc.channels() >= 2 => {
                let s = sc.as_slice_immutable();
                [&s[0][..], &s[1][..]]
            }
            Some(sc) if sc.channels() == 1 => {
                let s = sc.as_slice_immutable();
                [&s[0][..], &s[0][..]]
            }
            _ => [empty, empty],
        };
        let outputs = buffer.as_slice();
        let [l, r, ..] = outputs else {
            return ProcessStatus::Normal;
        };
        let status = &self.shared.status;
        if self.midi_in.received > 0 {
            status.midi_in_events.fetch_add(self.midi_in.received, Ordering::Relaxed);
        }
        if self.midi_in.dropped > 0 {
            status.midi_in_dropped.fetch_add(self.midi_in.dropped, Ordering::Relaxed);
        }

        // Offline (a bounce): render in step with the JS thread, see `js::offline`. The
        // block is split at a bar line so what `host.onBar` sends plays from its first
        // sample. In realtime nothing here waits.
        let view = &*self.shared.js.view;
        let offline = &view.offline;
        offline.set_offline(self.process_mode == ProcessMode::Offline);
        let lockstep = offline.active();
        let bar_line =
            if lockstep && sync { host.next_bar_start(sample_rate as f64, len) } else { None };
        // Whether the last part gave JS input (the bar line's wait drains an earlier part's).
        let js_input = if let Some((k, bar)) = bar_line {
            let (l1, l2) = l.split_at_mut(k);
            let (r1, r2) = r.split_at_mut(k);
            let n = self.midi_in.split_at(k as u32);
            if k > 0 {
                let part = Part {
                    host,
                    sync,
                    inputs: [head(sidechain[0], k), head(sidechain[1], k)],
                    outputs: [l1, r1],
                    midi_in: &self.midi_in.events()[..n],
                    offset: 0,
                };
                render_part(&mut self.engine, &mut self.outlets, &self.shared, part, context);
                offline.advance(k as f64 / sample_rate.max(1.0) as f64);
            }
            // The bar starts: JS sees it (its onBar callbacks run, the models they call
            // answer) before a sample of it is rendered.
            view.bar.store(bar, Ordering::Relaxed);
            view.bar_phase.store(0.0, Ordering::Relaxed);
            view.playing.store(true, Ordering::Relaxed);
            offline.wait();
            self.js_bar = Some(bar);
            let part = Part {
                host: host.advanced(k, sample_rate as f64),
                sync,
                inputs: [tail(sidechain[0], k), tail(sidechain[1], k)],
                outputs: [l2, r2],
                midi_in: &self.midi_in.events()[n..],
                offset: k as u32,
            };
            let js_input =
                render_part(&mut self.engine, &mut self.outlets, &self.shared, part, context);
            offline.advance((len - k) as f64 / sample_rate.max(1.0) as f64);
            js_input
        } else {
            let part = Part {
                host,
                sync,
                inputs: sidechain,
                outputs: [&mut **l, &mut **r],
                midi_in: self.midi_in.events(),
                offset: 0,
            };
            let js_input =
                render_part(&mut self.engine, &mut self.outlets, &self.shared, part, context);
            if lockstep {
                offline.advance(len as f64 / sample_rate.max(1.0) as f64);
            }
            js_input
        };
        if lockstep {
            // After a block that gave JS something to answer (toJS values, MIDI input), in
            // which a JS timer came due, that reached a bar the split did not catch
            // (free-running clock), or any block while call-and-response listens: JS
            // answers before the next block.
            let bar = view.bar.load(Ordering::Relaxed);
            let new_bar = view.playing.load(Ordering::Relaxed) && self.js_bar != Some(bar);
            let due = offline.every_block() || offline.timer_due_by(offline.render_secs());
            if js_input || new_bar || due {
                offline.wait();
                self.js_bar = Some(bar);
            }
            status.offline_timeouts.store(offline.timeouts(), Ordering::Relaxed);
        } else {
            self.js_bar = None;
            let budget = len as f32 / sample_rate.max(1.0);
            let load = started.elapsed().as_secs_f32() / budget.max(1e-6);
            let old = status.dsp_load.load(Ordering::Relaxed);
            status.dsp_load.store(old + (load - old) * 0.1, Ordering::Relaxed);
        }
        ProcessStatus::KeepAlive
    }
}

/// One part of a block for [`SemaLive::render_part`] (the whole block, or the parts before
/// and after a bar line in an offline render).
struct Part<'a> {
    host: HostTime,
    sync: bool,
    inputs: [&'a [f32]; 2],
    outputs: [&'a mut [f32]; 2],
    /// The part's MIDI input, timed from its first sample.
    midi_in: &'a [audio::midi_in::MidiIn],
    /// The part's first sample within the host's block (added to outgoing note timings).
    offset: u32,
}

/// The first `k` samples of a sidechain channel (none when there is no sidechain).
fn head(x: &[f32], k: usize) -> &[f32] {
    x.get(..k).unwrap_or(&[])
}

/// A sidechain channel from sample `k` on (none when there is no sidechain).
fn tail(x: &[f32], k: usize) -> &[f32] {
    x.get(k..).unwrap_or(&[])
}

/// Renders one part of a block: the engine, MIDI out, the outlets to the editor and JS,
/// the status and the `host.*` view. Returns whether it gave JS input (`toJS` values or
/// MIDI input).
fn render_part(
    engine: &mut Engine,
    outlets: &mut AudioOutlets,
    shared: &ControlSide,
    part: Part<'_>,
    context: &mut impl ProcessContext<SemaLive>,
) -> bool {
    let params = &shared.params;
    let report = engine.process(BlockIo {
        host: part.host,
        sync: part.sync,
        gain: util::db_to_gain(params.gain.value()),
        params: params.values(),
        inputs: part.inputs,
        outputs: part.outputs,
        midi_in: part.midi_in,
        midi_thru: params.midi_thru.value(),
    });
    for e in report.midi {
        let timing = e.timing + part.offset;
        let event = if e.on {
            NoteEvent::NoteOn {
                timing,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(e.channel),
                key: Key::Number(e.key),
                velocity: e.velocity,
            }
        } else {
            NoteEvent::NoteOff {
                timing,
                voice_id: VoiceID::Wildcard,
                channel: Channel::Number(e.channel),
                key: Key::Number(e.key),
                velocity: 0.0,
            }
        };
        let _ = context.try_send_event(event);
    }
    let js_input = !report.to_js.is_empty() || !report.midi_in.is_empty();
    let queue_dropped =
        outlets.publish(&report.clocks, report.midi, report.to_js, report.scope, report.midi_in);
    let status = &shared.status;
    let dropped = report.midi_in_dropped + queue_dropped;
    if dropped > 0 {
        status.midi_in_dropped.fetch_add(dropped, Ordering::Relaxed);
    }
    status.publish(&report.clock);
    // What scripts see as `host.*` (atomics only).
    let view = &shared.js.view;
    let values = params.values();
    view.temperature.store(values[0], Ordering::Relaxed);
    view.set_scale(params.key.value(), params.scale.value());
    for (m, v) in view.macros.iter().zip(values[1..].iter()) {
        m.store(*v, Ordering::Relaxed);
    }
    view.bpm.store(report.clock.bpm, Ordering::Relaxed);
    view.playing.store(report.clock.playing, Ordering::Relaxed);
    view.bar.store(report.clock.bar, Ordering::Relaxed);
    view.bar_phase.store(report.clock.bar_phase, Ordering::Relaxed);
    view.beats_per_bar.store(report.clock.beats_per_bar, Ordering::Relaxed);
    js_input
}

impl ClapPlugin for SemaLive {
    const CLAP_ID: &'static str = "org.semalive.sema-live";
    const CLAP_DESCRIPTION: Option<&'static str> =
        Some("Live coding with machine learning: Sema's language, JS and Magenta models");
    const CLAP_MANUAL_URL: Option<&'static str> = None;
    const CLAP_SUPPORT_URL: Option<&'static str> = None;
    const CLAP_FEATURES: &'static [ClapFeature] =
        &[ClapFeature::Instrument, ClapFeature::Synthesizer, ClapFeature::Stereo];
}

impl Vst3Plugin for SemaLive {
    const VST3_CLASS_ID: [u8; 16] = *b"SemaLiveCodingML";
    const VST3_SUBCATEGORIES: &'static [Vst3SubCategory] =
        &[Vst3SubCategory::Instrument, Vst3SubCategory::Synth];
}

nice_export_clap!(SemaLive);
nice_export_vst3!(SemaLive);
