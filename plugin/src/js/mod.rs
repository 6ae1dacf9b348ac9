//! The JavaScript runtime: a Boa context per plugin instance that runs the live coder's
//! JS blocks with Sema's API (`createOutputChannel`, `input`/`output`, `importScripts`,
//! `sema.sendBuffer`, `console`), a `host` object (parameters, transport, `onBar`) and
//! built-in equivalents of tfjs and magenta.js whose models run on the `ml` worker.
//!
//! - [`blocks`]: splitting a file into blocks, mapping errors back to file lines, loop
//!   instrumentation.
//! - [`tokenizer`]: the JS lexer shared by the loop instrumentation and the editor's
//!   syntax highlighting.
//! - [`runtime`]: the context and its event loop (Promises, timers, model results, bar
//!   callbacks, DSL input, MIDI input); `host_thread`: [`JsHost`], the runtime on the
//!   thread the plugin talks to; `headless`: [`run_file`] and [`run_source`] (headless
//!   runs: `sema-live js run FILE.js`, tests).
//! - [`input`]: values from the DSL's `toJS`, read by the JS thread straight from the
//!   audio thread's ring buffer.
//! - [`phrase`]: the phrase recorder (what the musician played, as a quantised
//!   NoteSequence) and NoteSequence → clip for `host.play`.
//! - [`call_response`]: the timing of `host.callAndResponse`.
//! - [`heap`]: the plugin's allocator, which counts the JS thread's heap (its limit).
//! - [`api`]: the globals installed in the context.
//! - [`cli`]: `sema-live js run FILE.js`, `sema-live js cache add URL FILE`.
//! - [`script_cache`]: `importScripts` of other libraries, downloaded once and cached.
//! - [`error`]: [`ScriptError`], what the runtime reports (uncaught exceptions with their
//!   block and line, runtime limits, time-outs, set-up failures).

pub(crate) mod api;
pub(crate) mod blocks;
pub(crate) mod call_response;
pub(crate) mod cli;
pub(crate) mod error;
mod headless;
pub(crate) mod heap;
mod host_thread;
pub(crate) mod input;
pub(crate) mod offline;
pub(crate) mod phrase;
pub(crate) mod runtime;
pub(crate) mod script_cache;
pub(crate) mod tokenizer;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU32, Ordering};

use crate::ml::core::scale::{Scale, ScaleKind};

use atomic_float::{AtomicF32, AtomicF64};

pub use blocks::split_blocks;
pub use error::{ScriptError, ScriptErrorKind};
pub use headless::{run_file, run_source, RunOptions, RunReport};
pub use host_thread::{panic_message, Crashes, JsHost};
pub use input::JsInput;
pub use phrase::{sequence_to_clip, ClipOptions, PhraseRecorder};
pub use runtime::{no_session, JsIo, JsLimits, KeepSink, Runtime};
pub use script_cache::{add_to_cache, scripts_dir};

/// Number of macro parameters `host.macros[i]` exposes.
pub const NUM_MACROS: usize = 8;

/// What the JS runtime can see of the host, written by the plugin (audio or GUI thread)
/// and read by the JS thread. Plain atomics, so neither side ever waits.
#[derive(Debug)]
pub struct HostView {
    /// The plugin's `temperature` parameter (also the default temperature of model calls).
    pub temperature: AtomicF32,
    /// The plugin's macro parameters, 0..=1.
    pub macros: [AtomicF32; NUM_MACROS],
    /// Host tempo in quarter notes per minute.
    pub bpm: AtomicF64,
    /// Whether the host transport is playing.
    pub playing: AtomicBool,
    /// Index of the current bar (0 = first bar of the song).
    pub bar: AtomicI64,
    /// Position within the current bar, 0..1 (with `bar`: where the host is, in bars).
    pub bar_phase: AtomicF64,
    /// Quarter notes per bar (the time signature).
    pub beats_per_bar: AtomicF64,
    /// The `key` and `scale` parameters: 0 while `scale` is off, else
    /// `16 * (scale index + 1) + key` (see [`HostView::scale`]).
    pub key_scale: AtomicU32,
    /// What the musician played (`host.phrase`, call-and-response, the Studio's
    /// Continue): fed by the JS thread from the stamped MIDI input, read there and by the
    /// editor's Studio (a short lock; the audio thread never touches it).
    pub phrases: parking_lot::Mutex<phrase::PhraseRecorder>,
    /// The offline-render handshake between the audio thread and the JS thread.
    pub offline: offline::OfflineSync,
}

impl HostView {
    /// The host position in bars (bar index + phase).
    pub fn position(&self) -> f64 {
        self.bar.load(Ordering::Relaxed) as f64 + self.bar_phase.load(Ordering::Relaxed)
    }

    /// The key sampling is constrained to (the `key` and `scale` parameters), if any.
    pub fn scale(&self) -> Option<Scale> {
        let v = self.key_scale.load(Ordering::Relaxed);
        let kind = ScaleKind::ALL.get((v / 16).checked_sub(1)? as usize)?;
        Some(Scale::new((v % 16) as u8, *kind))
    }

    /// Publishes the `key` (0..=11) and `scale` (0 = off, else 1 + an index into
    /// [`ScaleKind::ALL`]) parameters.
    pub fn set_scale(&self, key: i32, scale: i32) {
        let v = if scale <= 0 { 0 } else { 16 * scale as u32 + key.clamp(0, 11) as u32 };
        self.key_scale.store(v, Ordering::Relaxed);
    }
}

impl Default for HostView {
    fn default() -> Self {
        HostView {
            temperature: AtomicF32::new(1.0),
            macros: std::array::from_fn(|_| AtomicF32::new(0.0)),
            bpm: AtomicF64::new(120.0),
            playing: AtomicBool::new(false),
            bar: AtomicI64::new(0),
            bar_phase: AtomicF64::new(0.0),
            beats_per_bar: AtomicF64::new(4.0),
            key_scale: AtomicU32::new(0),
            phrases: Default::default(),
            offline: offline::OfflineSync::default(),
        }
    }
}

#[cfg(test)]
mod family_tests;
#[cfg(test)]
mod layers_tests;
#[cfg(test)]
mod limit_tests;
#[cfg(test)]
mod midi_tests;
#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
