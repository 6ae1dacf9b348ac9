//! The non-realtime side of the engine: compiles code, sends patches and JS channel data
//! to the audio thread, drops what the audio thread hands back, and keeps the session
//! (code + channel data) that is saved with the project.
//!
//! Shared as `Arc<Mutex<Controller>>` by the plugin (activate, state load), the editor and
//! the JS thread. The audio thread never touches it.

use std::sync::Arc;

use crate::control::console::{Console, Source};
use crate::dsl::{self, CompileEnv, Diagnostic, SampleLibrary};
use crate::audio::engine::{ControlEnds, Engine, Garbage, ToAudio, MAX_IN_FLIGHT};
use crate::audio::patch::{Patch, NUM_CHANNELS};
use crate::control::state::SessionState;

/// See the module documentation.
pub struct Controller {
    ends: ControlEnds,
    /// Messages sent whose garbage has not come back yet (see [`MAX_IN_FLIGHT`]).
    in_flight: usize,
    /// Sample rate, block size and samples the DSL compiles against.
    env: CompileEnv,
    /// The code and data that are playing (and saved with the project).
    session: SessionState,
    /// Where errors and notices go.
    console: Arc<Console>,
    /// Counts `load_state` calls, so an open editor notices the host (or Open) replaced the
    /// session and reloads its text.
    loads: u64,
}

/// Why a JS channel send was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// The channel id is outside `0..NUM_CHANNELS`.
    BadChannel(u32),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::BadChannel(id) => {
                write!(f, "channel id {id} is out of range (0..{})", NUM_CHANNELS - 1)
            }
        }
    }
}

/// The user's sample folder for `\name` players: `$SEMA_LIVE_SAMPLES`, else
/// `<user data dir>/sema-live/samples` (e.g. `~/.local/share/sema-live/samples`).
pub fn default_samples_dir() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("SEMA_LIVE_SAMPLES") {
        return p.into();
    }
    dirs::data_dir().unwrap_or_else(std::env::temp_dir).join("sema-live").join("samples")
}

/// Loads the WAV files of `dir` (if it exists); problems go to the console.
fn load_samples(dir: &std::path::Path, console: &Console) -> SampleLibrary {
    if !dir.is_dir() {
        return SampleLibrary::new();
    }
    let (lib, warnings) = SampleLibrary::from_dir(dir);
    for w in warnings {
        console.push(crate::control::console::Level::Warn, Source::System, w);
    }
    lib
}

impl Controller {
    /// A controller whose DSL sees the samples of [`default_samples_dir`].
    pub fn new(ends: ControlEnds, session: SessionState, console: Arc<Console>) -> Self {
        let samples = load_samples(&default_samples_dir(), &console);
        Self {
            ends,
            in_flight: 0,
            env: CompileEnv { sample_rate: 48_000.0, max_block: 512, samples: Arc::new(samples) },
            session,
            console,
            loads: 0,
        }
    }

    pub fn console(&self) -> &Arc<Console> {
        &self.console
    }

    /// The session as it is playing now.
    pub fn session(&self) -> &SessionState {
        &self.session
    }

    /// Mutable access for fields the controller does not act on (JS text, editor layout).
    pub fn session_mut(&mut self) -> &mut SessionState {
        &mut self.session
    }

    /// Compiles `src` for the current audio configuration.
    pub fn compile(&self, src: &str) -> Result<Box<dyn Patch>, Vec<Diagnostic>> {
        dsl::compile(src, &self.env).map(|p| Box::new(p) as Box<dyn Patch>)
    }

    /// Evaluates new DSL code: on success it replaces the playing patch (now or at the next
    /// bar, as the code says) and becomes the saved code. On error the old patch keeps
    /// playing, the errors go to the console and are returned.
    pub fn eval_dsl(&mut self, src: &str) -> Result<(), Vec<Diagnostic>> {
        match self.compile(src) {
            Ok(patch) => {
                self.session.dsl = src.to_string();
                self.send(ToAudio::Patch(patch));
                Ok(())
            }
            Err(errors) => {
                for e in &errors {
                    self.console.error(Source::Dsl { line: e.line, col: e.col }, e.to_string());
                }
                Err(errors)
            }
        }
    }

    /// Stores and sends data for JS channel `id` (what `fromJS` reads).
    pub fn send_channel(&mut self, id: u32, data: Vec<f64>) -> Result<(), SendError> {
        if id as usize >= NUM_CHANNELS {
            return Err(SendError::BadChannel(id));
        }
        let boxed: Box<[f64]> = data.clone().into_boxed_slice();
        self.session.channels.insert(id, data);
        self.send(ToAudio::Channel { id, data: boxed });
        Ok(())
    }

    /// Replaces the whole session (project load): the engine plays the restored patch and
    /// channel data at once, before any JS runs. A restored program that no longer
    /// compiles keeps its text (nothing is lost) and reports why.
    /// How many times a session was loaded (see the `loads` field).
    pub fn loads(&self) -> u64 {
        self.loads
    }

    pub fn load_state(&mut self, state: SessionState) {
        let state = state.migrate();
        self.loads += 1;
        let dsl = state.dsl.clone();
        let channels: Vec<(u32, Vec<f64>)> = state.channels.iter().map(|(k, v)| (*k, v.clone())).collect();
        self.session = state;
        for (id, data) in channels {
            let _ = self.send_channel(id, data);
        }
        match self.compile(&dsl) {
            Ok(patch) => self.send(ToAudio::Patch(patch)),
            Err(errors) => {
                self.console.error(Source::System, "the saved DSL program does not compile; it was kept as text");
                for e in &errors {
                    self.console.error(Source::Dsl { line: e.line, col: e.col }, e.to_string());
                }
            }
        }
    }

    /// Changes the audio configuration the DSL is compiled for and brings `engine` in line
    /// with the session: drains its queue, compiles the current code and installs it and
    /// every channel directly. Call from `activate` (not the audio thread).
    pub fn resync(&mut self, engine: &mut Engine, sample_rate: f64, max_block: usize) {
        self.env.sample_rate = sample_rate;
        self.env.max_block = max_block;
        engine.configure(sample_rate, max_block);
        engine.drain_messages();
        self.collect_garbage();
        for (id, data) in &self.session.channels {
            drop(engine.install_channel(*id, data.clone().into_boxed_slice()));
        }
        match self.compile(&self.session.dsl) {
            Ok(patch) => drop(engine.install_patch(patch)),
            Err(errors) => {
                for e in &errors {
                    self.console.error(Source::Dsl { line: e.line, col: e.col }, e.to_string());
                }
            }
        }
    }

    /// Replaces the sample library (new WAV folder, or a buffer from JS
    /// `sema.sendBuffer`), then recompiles the playing code so `\name` players see it.
    pub fn set_samples(&mut self, samples: Arc<SampleLibrary>) {
        self.env.samples = samples;
        let src = self.session.dsl.clone();
        let _ = self.eval_dsl(&src);
    }

    /// The sample rate the DSL is compiled for.
    pub fn sample_rate(&self) -> f64 {
        self.env.sample_rate
    }

    pub fn samples(&self) -> &Arc<SampleLibrary> {
        &self.env.samples
    }

    /// Drops what the audio thread handed back.
    pub fn collect_garbage(&mut self) {
        while let Ok(g) = self.ends.garbage.pop() {
            self.in_flight = self.in_flight.saturating_sub(1);
            match g {
                Garbage::Patch(p) => drop(p),
                Garbage::Channel(c) => drop(c),
            }
        }
    }

    /// Sends a message to the audio thread. When the engine is not running (plugin not
    /// active) the queue may be full: the message is dropped here and `resync` installs
    /// the session when the plugin is activated again.
    fn send(&mut self, msg: ToAudio) {
        self.collect_garbage();
        if self.in_flight >= MAX_IN_FLIGHT {
            return;
        }
        if self.ends.to_audio.push(msg).is_ok() {
            self.in_flight += 1;
        }
    }
}

impl Patch for dsl::Program {
    fn process(&mut self, ctx: &mut crate::audio::patch::BlockContext) {
        dsl::Program::process(self, ctx)
    }
    fn quantise(&self) -> bool {
        dsl::Program::quantise(self)
    }
    fn initial_clock(&self) -> Option<(f64, f64)> {
        dsl::Program::initial_clock(self)
    }
}
