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
//!   callbacks, DSL input), [`JsHost`] (the thread the plugin talks to) and [`run_file`]
//!   (headless runs: `sema-live js run FILE.js`).
//! - [`api`]: the globals installed in the context.
//! - [`cli`]: `sema-live js run FILE.js`.
//! - [`error`]: [`ScriptError`], what the runtime reports (uncaught exceptions with their
//!   block and line, runtime limits, time-outs, set-up failures).

pub mod api;
pub mod blocks;
pub mod cli;
pub mod error;
pub mod runtime;
pub mod tokenizer;

use std::sync::atomic::{AtomicBool, AtomicI64};

use atomic_float::{AtomicF32, AtomicF64};

pub use error::{ScriptError, ScriptErrorKind};
pub use runtime::{run_file, run_source, JsHost, JsInput, JsIo, RunOptions, RunReport, Runtime};

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
}

impl Default for HostView {
    fn default() -> Self {
        HostView {
            temperature: AtomicF32::new(1.0),
            macros: std::array::from_fn(|_| AtomicF32::new(0.0)),
            bpm: AtomicF64::new(120.0),
            playing: AtomicBool::new(false),
            bar: AtomicI64::new(0),
        }
    }
}

/// Severity of a console line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConsoleLevel {
    /// `console.log` / `console.debug`.
    Log,
    /// `console.info` and runtime notices (model loaded, downloads).
    Info,
    /// `console.warn`.
    Warn,
    /// `console.error` and uncaught errors.
    Error,
}

impl ConsoleLevel {
    /// Short lowercase name, as printed by headless runs.
    pub fn name(self) -> &'static str {
        match self {
            ConsoleLevel::Log => "log",
            ConsoleLevel::Info => "info",
            ConsoleLevel::Warn => "warn",
            ConsoleLevel::Error => "error",
        }
    }
}

/// One line for the editor's console panel (or stdout when headless).
#[derive(Clone, Debug, PartialEq)]
pub struct ConsoleLine {
    /// Severity.
    pub level: ConsoleLevel,
    /// The text (may contain newlines, e.g. a backtrace).
    pub text: String,
    /// Index of the block the line comes from, when known.
    pub block: Option<usize>,
    /// File line (1-based) of an error, when known.
    pub line: Option<usize>,
}

impl std::fmt::Display for ConsoleLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.level {
            ConsoleLevel::Log => {}
            level => write!(f, "[{}] ", level.name())?,
        }
        f.write_str(&self.text)?;
        match (self.block, self.line) {
            (Some(b), Some(l)) => write!(f, " (block {}, line {l})", b + 1),
            (None, Some(l)) => write!(f, " (line {l})"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod model_tests;
#[cfg(test)]
mod tests;
