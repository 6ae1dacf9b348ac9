//! Sema's default live-coding language: lexer, parser, compiler and the compiled
//! [`Program`] the audio engine runs.
//!
//! ```text
//! source ──lex/parse──▶ syntax tree ──compile (function table)──▶ Program ──process()──▶ audio
//! ```
//!
//! Compilation happens off the audio thread and allocates everything the program will
//! need; [`Program::process`] never allocates, locks or does I/O.
//!
//! Semantics follow Sema (grammar.ne, sema-engine's IR.js and maxi-processor.js, the
//! Maximilian classes behind each function): every statement runs once per sample in
//! order; variables are memory slots (read before written = last sample's value);
//! lists are values; `clp`/`clt` count cycles per bar from the host's bar position.
//! Every function is defined in one place, [`functions::FUNCTIONS`].
//!
//! Beyond Sema: `midi`, `param`, `mtof`, `ftom`; the MIDI input functions `{}mnote`,
//! `{}mvel`, `{}mgate`, `{}mheld`, `{}mtrig`, `{n}mcc`, `{}mbend`, `{}mtouch` (what the
//! host plays into the plugin and the clip it plays, sample-accurate, see
//! [`crate::audio::midi_in::MidiInState`]); `0tN` as an argument means `{N}clt`;
//! `{signal}scop` feeds the scope every sample; extra arguments are ignored as in Sema.
//! Own designs where Sema wraps large libraries: `o303` (a 303-style voice, not an
//! Open303 port), `freeverb` (standard Freeverb layout), `stretch` grains, and `pvshift`
//! (which keeps shifted bins phase-coherent).
//! `oscin`/`oscout` (OSC networking) report "not supported yet".

pub(crate) mod ast;
pub(crate) mod compiler;
pub(crate) mod functions;
pub(crate) mod lexer;
pub(crate) mod parser;
pub(crate) mod program;
pub(crate) mod samples;

#[cfg(test)]
mod tests;

use std::fmt;
use std::sync::Arc;

/// MIDI note to Hz, as the DSL's `mtof` computes it.
pub use crate::dsp::maps::mtof;
pub use program::Program;
pub use samples::SampleLibrary;

/// A located error in a DSL program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// What went wrong, and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, col {}: {}", self.line, self.col, self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// What the compiler needs to know about the audio setup.
#[derive(Clone, Debug)]
pub struct CompileEnv {
    /// Audio sample rate in Hz.
    pub sample_rate: f64,
    /// Largest block `process` will be given (registers are sized for it).
    pub max_block: usize,
    /// Sample buffers the players can use.
    pub samples: Arc<SampleLibrary>,
}

/// Parses and compiles `src` into a program ready to play.
pub fn compile(src: &str, env: &CompileEnv) -> Result<Program, Vec<Diagnostic>> {
    let stmts = parser::parse(src).map_err(|d| vec![d])?;
    compiler::compile_program(&stmts, env, true)
}

/// The sample names `src` plays (each once, sorted), or why it does not
/// compile. A renderer whose code cannot change loads only these.
pub fn sample_names(src: &str) -> Result<Vec<String>, Vec<Diagnostic>> {
    let stmts = parser::parse(src).map_err(|d| vec![d])?;
    let env =
        CompileEnv { sample_rate: 48_000.0, max_block: 1, samples: Arc::new(SampleLibrary::new()) };
    // With no library every name the program plays is missing.
    compiler::compile_program(&stmts, &env, true).map(|p| p.missing_samples().to_vec())
}

/// Parses and compiles `src` without audio: reports every error the compiler finds
/// (sample names are not checked, as no sample folder is known here).
pub fn check(src: &str) -> Result<(), Vec<Diagnostic>> {
    let stmts = parser::parse(src).map_err(|d| vec![d])?;
    let env =
        CompileEnv { sample_rate: 48_000.0, max_block: 1, samples: Arc::new(SampleLibrary::new()) };
    compiler::compile_program(&stmts, &env, false).map(|_| ())
}
