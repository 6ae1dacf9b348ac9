//! The non-realtime side of the engine: compiles code, sends patches and JS channel data
//! to the audio thread, drops what the audio thread hands back, and keeps the session
//! (code + channel data) that is saved with the project.
//!
//! Shared as `Arc<Mutex<Controller>>` by the plugin (activate, state load), the editor and
//! the JS thread. The audio thread never touches it.
//!
//! DSL code is compiled without holding that lock ([`eval_dsl`]): the caller takes a
//! [`CompileSnapshot`] (sample rate, block size, `Arc`'d samples) under the lock, compiles
//! unlocked, and locks again only for [`Controller::install_dsl`]. If the environment
//! changed in between (`activate` with a new sample rate or block size, new samples) the
//! snapshot's generation is stale and the install recompiles the code against the current
//! environment, under the lock: a rare race, and a patch built for another sample rate or
//! block size is never sent to the engine.
//!
//! A message the engine cannot take (its queue is full) is an error the caller sees
//! ([`EvalError::QueueFull`], [`SendError::QueueFull`]), except while the plugin is not
//! active: then the engine does not process its queue, the session keeps the new code or
//! data and the next `activate` ([`Controller::resync`]) installs it, silently.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::audio::engine::{ControlEnds, Engine, Garbage, ToAudio, MAX_IN_FLIGHT};
use crate::audio::midi_in::Clip;
use crate::audio::patch::SampleBuffer;
use crate::audio::patch::{Patch, NUM_CHANNELS};
use crate::control::console::{Console, Level, Source};
use crate::control::samples::{self as sources, SampleService, SampleSources};
use crate::control::state::SessionState;
use crate::dsl::samples::Origin;
use crate::dsl::{self, CompileEnv, Diagnostic, SampleLibrary};

/// See the module documentation.
pub struct Controller {
    ends: ControlEnds,
    /// Messages sent whose garbage has not come back yet (see [`MAX_IN_FLIGHT`]; the
    /// engine hands back exactly one item per message).
    in_flight: usize,
    /// The sample folder has not been read yet (see [`Controller::new`]).
    samples_pending: bool,
    /// Where samples are looked for (read from the environment on first use).
    sources: Option<SampleSources>,
    /// This controller's own handle (see [`attach`]), for the sample thread.
    handle: Option<Weak<Mutex<Controller>>>,
    /// Downloads and folder rescans (started on first use when attached).
    service: Option<SampleService>,
    /// Missing sample names already reported on the console.
    warned: HashSet<String>,
    /// Sample rate, block size and samples the DSL compiles against.
    env: CompileEnv,
    /// Bumped whenever `env` changes: code compiled against an older [`CompileSnapshot`]
    /// is recompiled before it is installed.
    env_generation: u64,
    /// Bumped whenever DSL code is installed, so recompiling the playing code (new
    /// samples) never replaces code evaluated meanwhile.
    code_rev: u64,
    /// Whether the engine is processing its queue (between `activate` and `deactivate`).
    /// When it is not, a full queue is not an error: `resync` installs the session.
    active: bool,
    /// The code and data that are playing (and saved with the project).
    session: SessionState,
    /// Where errors and notices go.
    console: Arc<Console>,
    /// Counts `load_state` calls, so an open editor notices the host (or Open) replaced the
    /// session and reloads its text.
    loads: u64,
}

/// The audio engine did not take a message: its queue is full (the engine is not
/// processing, or far behind while the plugin is active).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

impl std::fmt::Display for QueueFull {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the audio engine is not taking new data (queue full)")
    }
}

/// Why a JS channel send was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum SendError {
    /// The channel id is outside `0..NUM_CHANNELS`.
    BadChannel(u32),
    /// The engine's queue is full: the channel keeps its previous data.
    QueueFull(u32),
    /// A clip's MIDI channel is outside `0..16`.
    BadMidiChannel(u8),
    /// The engine's queue is full: the clip was not sent.
    ClipQueueFull,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::BadChannel(id) => {
                write!(f, "channel id {id} is out of range (0..{})", NUM_CHANNELS - 1)
            }
            SendError::QueueFull(id) => write!(
                f,
                "the audio engine is not taking new data (queue full): channel {id} keeps its previous data"
            ),
            SendError::BadMidiChannel(ch) => {
                write!(f, "MIDI channel {ch} is out of range (0..15)")
            }
            SendError::ClipQueueFull => f.write_str(
                "the audio engine is not taking new data (queue full): the clip was not sent",
            ),
        }
    }
}

impl std::error::Error for SendError {}

/// Why evaluating DSL code did not change what plays.
#[derive(Debug)]
pub enum EvalError {
    /// The code does not compile (the diagnostics are on the console too).
    Compile(Vec<Diagnostic>),
    /// The engine's queue is full: the previous code keeps playing (also on the console).
    QueueFull,
}

impl std::fmt::Display for EvalError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EvalError::Compile(errors) => {
                let list: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                write!(f, "the code does not compile: {}", list.join("; "))
            }
            EvalError::QueueFull => f.write_str(
                "the audio engine is not taking new code (queue full): the previous code keeps playing; \
                 evaluate again in a moment",
            ),
        }
    }
}

impl std::error::Error for EvalError {}

/// What DSL code is compiled against, taken from the controller so the compile can run
/// without holding its lock (see the module documentation).
#[derive(Clone, Debug)]
pub struct CompileSnapshot {
    env: CompileEnv,
    generation: u64,
    code_rev: u64,
}

impl CompileSnapshot {
    pub fn env(&self) -> &CompileEnv {
        &self.env
    }

    /// Compiles `src` (slow: call it without holding the controller's lock).
    pub fn compile(&self, src: &str) -> CompiledDsl {
        let (result, missing) = compile_with_missing(src, &self.env);
        CompiledDsl {
            src: src.to_string(),
            result,
            missing,
            generation: self.generation,
            code_rev: self.code_rev,
        }
    }
}

/// DSL code compiled against a [`CompileSnapshot`], for [`Controller::install_dsl`].
pub struct CompiledDsl {
    src: String,
    result: Result<Box<dyn Patch>, Vec<Diagnostic>>,
    /// Sample names without a buffer yet (see [`dsl::Program::missing_samples`]).
    missing: Vec<String>,
    /// The snapshot's environment generation and code revision.
    generation: u64,
    code_rev: u64,
}

/// Evaluates new DSL code (see [`Controller::install_dsl`]), compiling it without
/// holding `controller`'s lock.
pub fn eval_dsl(controller: &Mutex<Controller>, src: &str) -> Result<(), EvalError> {
    let snapshot = {
        let mut c = controller.lock();
        c.ensure_samples();
        c.snapshot()
    };
    let compiled = snapshot.compile(src);
    controller.lock().install_dsl(compiled)
}

/// A compiled patch, or why the code does not compile.
type Compiled = Result<Box<dyn Patch>, Vec<Diagnostic>>;

/// Compiles `src`, noting the sample names that have no buffer yet.
fn compile_with_missing(src: &str, env: &CompileEnv) -> (Compiled, Vec<String>) {
    match dsl::compile(src, env) {
        Ok(p) => {
            let missing = p.missing_samples().to_vec();
            (Ok(Box::new(p) as Box<dyn Patch>), missing)
        }
        Err(e) => (Err(e), Vec::new()),
    }
}

/// Replaces the sample library (e.g. a new WAV folder): the audio thread gets the new
/// buffers at once, players already compiled included (see [`Controller::set_samples`]).
#[cfg(test)]
pub fn set_samples(
    controller: &Mutex<Controller>,
    samples: Arc<SampleLibrary>,
) -> Result<(), EvalError> {
    controller.lock().set_samples(samples).map_err(|QueueFull| EvalError::QueueFull)
}

/// Adds (or replaces) the buffer `name` that JS sent with `sema.sendBuffer`, at the audio
/// rate as in Sema's audio worklet. Players of `name` play it from their next trigger,
/// without recompiling (see [`Controller::add_sample`]).
pub fn insert_buffer(
    controller: &Mutex<Controller>,
    name: &str,
    data: Vec<f32>,
) -> Result<(), EvalError> {
    let mut c = controller.lock();
    let rate = c.sample_rate();
    let buffer = SampleBuffer { data: data.into_boxed_slice(), rate };
    c.add_sample(name, Arc::new(buffer), Origin::Js).map_err(|QueueFull| {
        c.console.error(Source::System, EvalError::QueueFull.to_string());
        EvalError::QueueFull
    })
}

/// Gives `controller` a weak handle on itself, so its sample thread (downloads from
/// Sema's pack, rescans of the sample folder) can install what arrives. Without it
/// (tests, tools) nothing arrives in the background.
pub fn attach(controller: &Arc<Mutex<Controller>>) {
    controller.lock().handle = Some(Arc::downgrade(controller));
}

impl Controller {
    /// A controller whose DSL sees the samples of [`default_samples_dir`].
    ///
    /// Does no work: a host's plugin scan creates instances it never activates. The
    /// sample folder is read on first use ([`Controller::ensure_samples`]: activation, the
    /// first evaluation, a state load while active).
    pub fn new(ends: ControlEnds, session: SessionState, console: Arc<Console>) -> Self {
        Self {
            ends,
            in_flight: 0,
            samples_pending: true,
            sources: None,
            handle: None,
            service: None,
            warned: HashSet::new(),
            env: CompileEnv {
                sample_rate: 48_000.0,
                max_block: 512,
                samples: Arc::new(SampleLibrary::new()),
            },
            env_generation: 0,
            code_rev: 0,
            active: false,
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

    /// Compiles `src` for the current audio configuration (holding the lock: prefer
    /// [`eval_dsl`] or a [`CompileSnapshot`]).
    pub fn compile(&self, src: &str) -> Result<Box<dyn Patch>, Vec<Diagnostic>> {
        dsl::compile(src, &self.env).map(|p| Box::new(p) as Box<dyn Patch>)
    }

    /// Compiles `src` like [`Controller::compile`] and reports its missing samples.
    fn compile_reporting(&mut self, src: &str) -> Result<Box<dyn Patch>, Vec<Diagnostic>> {
        let (result, missing) = compile_with_missing(src, &self.env);
        self.report_missing(&missing);
        result
    }

    /// Warns once per name about samples a program plays that have no buffer yet, and
    /// asks for the ones Sema's pack has.
    fn report_missing(&mut self, missing: &[String]) {
        for name in missing {
            if self.env.samples.contains(name) || !self.warned.insert(name.clone()) {
                continue;
            }
            let src = self.sources.get_or_insert_with(SampleSources::from_env).clone();
            let pack = sources::pack_file(name).is_some();
            let next = if !pack {
                "it is not in Sema's pack either".to_string()
            } else if self.service.is_some() && src.pack_url.is_some() {
                "it is in Sema's pack: downloading it".to_string()
            } else {
                "it is in Sema's pack: import a Sema checkout's assets/samples (`sema-live samples import DIR`)".to_string()
            };
            self.console.push(
                Level::Warn,
                Source::System,
                format!(
                    "sample '{name}' is not loaded (looked in {}; {next}): it plays silence until it arrives \
                     (sema.sendBuffer('{name}', data), a WAV file named {name}.wav in {}, or an import)",
                    src.looked_in(),
                    src.folder.display()
                ),
            );
            if pack {
                if let Some(s) = &self.service {
                    s.fetch(name);
                }
            }
        }
    }

    /// What DSL code compiles against now, to compile without holding the lock.
    pub fn snapshot(&self) -> CompileSnapshot {
        CompileSnapshot {
            env: self.env.clone(),
            generation: self.env_generation,
            code_rev: self.code_rev,
        }
    }

    /// Installs evaluated DSL code: on success it replaces the playing patch (now or at the
    /// next bar, as the code says) and becomes the saved code. On a compile error the old
    /// patch keeps playing, the errors go to the console and are returned. Code compiled
    /// against an outdated environment is recompiled first (see the module documentation).
    /// A full engine queue is an error while the plugin is active ([`EvalError::QueueFull`],
    /// on the console too; the session keeps the old code).
    pub fn install_dsl(&mut self, compiled: CompiledDsl) -> Result<(), EvalError> {
        let CompiledDsl { src, result, missing, generation, .. } = compiled;
        let result = if generation == self.env_generation {
            self.report_missing(&missing);
            result
        } else {
            // The environment changed while the code compiled: that patch is for another
            // sample rate, block size or sample set. Rare; recompile here.
            drop(result);
            self.compile_reporting(&src)
        };
        match result {
            Ok(patch) => {
                if self.send(ToAudio::Patch(patch)).is_err() {
                    self.console.error(Source::System, EvalError::QueueFull.to_string());
                    return Err(EvalError::QueueFull);
                }
                self.session.dsl = src;
                self.code_rev += 1;
                Ok(())
            }
            Err(errors) => {
                for e in &errors {
                    self.console.error(Source::Dsl { line: e.line, col: e.col }, e.to_string());
                }
                Err(EvalError::Compile(errors))
            }
        }
    }

    /// Like [`Controller::install_dsl`] for a recompile of the playing code: skipped (Ok)
    /// when other code was installed since the snapshot, as that is newer and was compiled
    /// against an environment at least as new.
    pub fn refresh_dsl(&mut self, compiled: CompiledDsl) -> Result<(), EvalError> {
        if compiled.code_rev != self.code_rev {
            return Ok(());
        }
        self.install_dsl(compiled)
    }

    /// Stores and sends data for JS channel `id` (what `fromJS` reads). A full engine queue is an error while the plugin is active (the channel keeps its
    /// previous data, in the engine and the session).
    pub fn send_channel(&mut self, id: u32, data: Vec<f64>) -> Result<(), SendError> {
        if id as usize >= NUM_CHANNELS {
            return Err(SendError::BadChannel(id));
        }
        let boxed: Box<[f64]> = data.clone().into_boxed_slice();
        self.send(ToAudio::Channel { id, data: boxed })
            .map_err(|QueueFull| SendError::QueueFull(id))?;
        self.session.channels.insert(id, data);
        Ok(())
    }

    /// Sends a clip for the engine to play from its `start_bar` (`host.play`,
    /// call-and-response answers); it replaces the clip playing, and a clip without notes
    /// stops clip playback. Its notes are sorted by start here, off the audio thread (the
    /// clip player relies on it). Clips are not part of the saved session. A full engine
    /// queue is an error while the plugin is active.
    pub fn send_clip(&mut self, mut clip: Clip) -> Result<(), SendError> {
        if clip.channel > 15 {
            return Err(SendError::BadMidiChannel(clip.channel));
        }
        clip.notes.sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats));
        self.send(ToAudio::Clip(Box::new(clip))).map_err(|QueueFull| SendError::ClipQueueFull)
    }

    /// How many times a session was loaded (see the `loads` field).
    pub fn loads(&self) -> u64 {
        self.loads
    }

    /// Replaces the whole session (project load): the engine plays the restored patch and
    /// channel data at once, before any JS runs. A restored program that no longer
    /// compiles keeps its text (nothing is lost) and reports why. If the engine's queue is
    /// full while the plugin is active, the session is still replaced (it is what the
    /// project saves) and the console says that it did not reach the engine.
    pub fn load_state(&mut self, state: SessionState) {
        let state = state.migrate();
        self.loads += 1;
        self.code_rev += 1;
        if !self.active {
            // Not processing: the next `activate` (resync) compiles and installs the
            // session, so it is compiled once, for the configuration it will play at.
            self.session = state;
            return;
        }
        self.ensure_samples();
        let dsl = state.dsl.clone();
        let channels: Vec<(u32, Vec<f64>)> =
            state.channels.iter().map(|(k, v)| (*k, v.clone())).collect();
        self.session = state;
        let mut full = false;
        for (id, data) in channels {
            let boxed: Box<[f64]> = data.into_boxed_slice();
            full |= self.send(ToAudio::Channel { id, data: boxed }).is_err();
        }
        match self.compile_reporting(&dsl) {
            Ok(patch) => full |= self.send(ToAudio::Patch(patch)).is_err(),
            Err(errors) => {
                self.console.error(
                    Source::System,
                    "the saved DSL program does not compile; it was kept as text",
                );
                for e in &errors {
                    self.console.error(Source::Dsl { line: e.line, col: e.col }, e.to_string());
                }
            }
        }
        if full {
            self.console.error(
                Source::System,
                "the audio engine is not taking new code (queue full): the loaded session plays once \
                 it is evaluated again or the plugin is re-activated",
            );
        }
    }

    /// Changes the audio configuration the DSL is compiled for and brings `engine` in line
    /// with the session: drains its queue, compiles the current code and installs it and
    /// every channel directly. Call from `activate` (not the audio thread).
    pub fn resync(&mut self, engine: &mut Engine, sample_rate: f64, max_block: usize) {
        // Samples are resampled to the rate they are first loaded at.
        if self.samples_pending {
            self.env.sample_rate = sample_rate;
        }
        self.ensure_samples();
        self.env.sample_rate = sample_rate;
        self.env.max_block = max_block;
        self.env_generation += 1;
        self.code_rev += 1;
        engine.configure(sample_rate, max_block);
        engine.drain_messages();
        self.collect_garbage();
        for (id, data) in &self.session.channels {
            drop(engine.install_channel(*id, data.clone().into_boxed_slice()));
        }
        drop(engine.install_samples(Box::new(self.env.samples.bank())));
        let src = self.session.dsl.clone();
        match self.compile_reporting(&src) {
            Ok(patch) => drop(engine.install_patch(patch)),
            Err(errors) => {
                for e in &errors {
                    self.console.error(Source::Dsl { line: e.line, col: e.col }, e.to_string());
                }
            }
        }
    }

    /// Whether the engine processes its queue: the plugin calls this on `activate` (true)
    /// and `deactivate` (false). While false, messages that do not fit are dropped silently
    /// and the next [`Controller::resync`] installs the session.
    pub fn set_active(&mut self, active: bool) {
        self.active = active;
    }

    /// Replaces the sample library the DSL compiles against and sends the audio thread
    /// its buffers. The new library takes over the slot numbering of the old one, so the
    /// playing code reads the new buffers without recompiling. A full queue while active
    /// is an error (the engine keeps the old buffers until the next change or activate).
    #[cfg(test)]
    pub fn set_samples(&mut self, samples: Arc<SampleLibrary>) -> Result<(), QueueFull> {
        self.samples_pending = false;
        let mut lib = (*samples).clone();
        lib.share_slots_with(&self.env.samples);
        self.env.samples = Arc::new(lib);
        self.send_samples()
    }

    /// Adds or replaces the sample `name` and sends the audio thread the new bank:
    /// players compiled against the name (already playing, or silent because it was
    /// missing) play it from their next trigger. Used for `sema.sendBuffer`, downloads
    /// from Sema's pack and files dropped into the sample folder.
    pub fn add_sample(
        &mut self,
        name: &str,
        buffer: Arc<SampleBuffer>,
        origin: Origin,
    ) -> Result<(), QueueFull> {
        self.ensure_samples();
        let mut lib = (*self.env.samples).clone();
        lib.insert_entry(name, buffer, origin);
        self.env.samples = Arc::new(lib);
        self.warned.remove(name);
        self.send_samples()
    }

    /// Sends the current library's bank to the audio thread.
    fn send_samples(&mut self) -> Result<(), QueueFull> {
        let bank = Box::new(self.env.samples.bank());
        self.send(ToAudio::Samples(bank))
    }

    /// The sample names `src` plays that have no buffer yet (empty if it does not compile).
    pub fn missing_samples(&mut self, src: &str) -> Vec<String> {
        self.ensure_samples();
        compile_with_missing(src, &self.env).1
    }

    /// Whether a sample named `name` is loaded.
    pub fn has_sample(&mut self, name: &str) -> bool {
        self.samples().contains(name)
    }

    /// Where samples are looked for.
    pub fn sample_sources(&mut self) -> SampleSources {
        self.sources.get_or_insert_with(SampleSources::from_env).clone()
    }

    /// Asks the sample thread to look at the sample folder now (after an import).
    pub fn rescan_samples(&mut self) {
        self.ensure_samples();
        if let Some(s) = &self.service {
            s.rescan();
        }
    }

    /// Loads the samples (kit, Sema's pack cache, the sample folder: see
    /// [`crate::control::samples`]) the first time they are needed, and starts the
    /// sample thread when the controller is [`attach`]ed.
    pub fn ensure_samples(&mut self) {
        if std::mem::take(&mut self.samples_pending) {
            let src = self.sample_sources();
            let (mut lib, stamps) =
                sources::load_library(&src, self.env.sample_rate, &self.console);
            lib.share_slots_with(&self.env.samples);
            self.env.samples = Arc::new(lib);
            self.env_generation += 1;
            if let Some(h) = self.handle.clone() {
                self.service = Some(SampleService::spawn(h, src, stamps));
            }
            if self.active {
                // Not through `resync` (which installs the bank itself).
                if self.send_samples().is_err() {
                    self.console.error(Source::System, "the audio engine is not taking the samples (queue full): they play after the next change or activation");
                }
            }
        }
    }

    /// Where samples are looked for, replacing the environment's (tests, the renderer):
    /// the samples are loaded again from there on next use.
    pub fn set_sample_sources(&mut self, src: SampleSources) {
        self.sources = Some(src);
        self.samples_pending = true;
    }

    /// Bumped whenever code is installed or recompiled (to check that something was not).
    pub fn code_revision(&self) -> u64 {
        self.code_rev
    }

    /// The sample rate the DSL is compiled for.
    pub fn sample_rate(&self) -> f64 {
        self.env.sample_rate
    }

    pub fn samples(&mut self) -> &Arc<SampleLibrary> {
        self.ensure_samples();
        &self.env.samples
    }

    /// Messages sent whose garbage has not come back yet.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Drops what the audio thread handed back.
    pub fn collect_garbage(&mut self) {
        while let Ok(g) = self.ends.garbage.pop() {
            self.in_flight = self.in_flight.saturating_sub(1);
            match g {
                Garbage::Patch(p) => drop(p),
                Garbage::Channel(c) => drop(c),
                Garbage::Clip(c) => drop(c),
                Garbage::Samples(b) => drop(b),
                Garbage::Nothing => {}
            }
        }
    }

    /// Sends a message to the audio thread. Err when it does not fit (`MAX_IN_FLIGHT`
    /// messages in flight, or the ring buffer is full) while the plugin is active. When
    /// the plugin is not active the engine does not drain its queue: a message that does
    /// not fit is dropped here (Ok) and `resync` installs the session on the next activate.
    fn send(&mut self, msg: ToAudio) -> Result<(), QueueFull> {
        self.collect_garbage();
        let refused = if self.in_flight >= MAX_IN_FLIGHT {
            Some(msg)
        } else {
            match self.ends.to_audio.push(msg) {
                Ok(()) => {
                    self.in_flight += 1;
                    None
                }
                Err(rtrb::PushError::Full(msg)) => Some(msg),
            }
        };
        match refused {
            None => Ok(()),
            Some(msg) => {
                drop(msg);
                if self.active {
                    Err(QueueFull)
                } else {
                    Ok(())
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::engine::{BlockIo, QUEUE_CAPACITY};
    use crate::audio::patch::NUM_PARAMS;
    use crate::audio::transport::HostTime;
    use crate::control::console::Level;

    const QUIET: &str = ">0 {0.25}const;";
    const LOUD: &str = ">0 {0.5}const;";

    /// A controller whose session plays `dsl` (no channel data), its engine (nothing
    /// installed yet) and its console.
    fn rig(dsl: &str) -> (Controller, Engine, Arc<Console>) {
        let console = Arc::new(Console::new());
        let (ends, audio) = crate::audio::engine::queues();
        let session = SessionState {
            dsl: dsl.into(),
            channels: Default::default(),
            ..SessionState::default()
        };
        let controller = Controller::new(ends, session, console.clone());
        (controller, Engine::new(audio, 48_000.0, 512), console)
    }

    /// Processes one block of `len` samples; returns the last left sample.
    fn block(engine: &mut Engine, len: usize) -> f32 {
        let (mut l, mut r) = (vec![0.0f32; len], vec![0.0f32; len]);
        engine.process(BlockIo {
            host: HostTime::playing_at(120.0, 4, 0.0),
            sync: true,
            gain: 1.0,
            params: [0.0; NUM_PARAMS],
            inputs: [&[], &[]],
            outputs: [&mut l, &mut r],
            midi_in: &[],
            midi_thru: false,
        });
        l[len - 1]
    }

    fn install(c: &mut Controller, src: &str) -> Result<(), EvalError> {
        let compiled = c.snapshot().compile(src);
        c.install_dsl(compiled)
    }

    fn queue_full_lines(console: &Console) -> usize {
        let lines = console.snapshot();
        lines.iter().filter(|l| l.level == Level::Error && l.text.contains("(queue full)")).count()
    }

    #[test]
    fn the_first_patch_into_an_empty_engine_is_counted_back() {
        let (mut c, mut engine, _) = rig("");
        c.set_active(true);
        // No resync: the engine has no patch; the first one replaces nothing.
        install(&mut c, QUIET).expect("installed");
        assert_eq!(c.in_flight(), 1);
        assert_eq!(block(&mut engine, 512), 0.25);
        c.collect_garbage();
        assert_eq!(c.in_flight(), 0);
        // The next one retires the first (after its crossfade, within the block).
        install(&mut c, LOUD).expect("installed");
        assert_eq!(block(&mut engine, 512), 0.5);
        c.collect_garbage();
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn a_full_queue_is_an_error_while_active() {
        let (mut c, mut engine, console) = rig(QUIET);
        c.resync(&mut engine, 48_000.0, 512);
        c.set_active(true);
        // The engine does not process: its queue fills up.
        for i in 0..MAX_IN_FLIGHT {
            c.send_channel(1, vec![i as f64]).expect("room in the queue");
        }
        assert_eq!(c.send_channel(2, vec![9.0]), Err(SendError::QueueFull(2)));
        assert!(SendError::QueueFull(2).to_string().contains("not taking new data (queue full)"));
        assert!(!c.session().channels.contains_key(&2), "the session keeps what the engine has");
        assert!(matches!(install(&mut c, LOUD), Err(EvalError::QueueFull)));
        assert!(
            matches!(eval_dsl(&Mutex::new(rig(QUIET).0), QUIET), Ok(())),
            "a fresh controller takes it"
        );
        assert_eq!(c.session().dsl, QUIET, "the previous code keeps playing and is what is saved");
        assert_eq!(queue_full_lines(&console), 1);
        assert!(console
            .snapshot()
            .iter()
            .any(|l| l.text.starts_with("the audio engine is not taking new code (queue full)")));
        // Once the engine caught up, everything gets through again.
        assert_eq!(block(&mut engine, 512), 0.25);
        assert_eq!(engine.channel(1), &[(MAX_IN_FLIGHT - 1) as f64]);
        install(&mut c, LOUD).expect("room again");
        c.send_channel(2, vec![9.0]).expect("room again");
        assert_eq!(block(&mut engine, 512), 0.5);
        assert_eq!(engine.channel(2), &[9.0]);
        c.collect_garbage();
        assert_eq!(c.in_flight(), 0);
        assert_eq!(
            (c.session().dsl.as_str(), c.session().channels.get(&2)),
            (LOUD, Some(&vec![9.0]))
        );
    }

    #[test]
    fn a_full_queue_while_inactive_is_silent_and_the_next_activate_installs_the_session() {
        let (mut c, mut engine, console) = rig(QUIET);
        c.resync(&mut engine, 48_000.0, 512);
        // Not active (the host has not activated the plugin, or deactivated it).
        for i in 0..QUEUE_CAPACITY + 10 {
            c.send_channel(1, vec![i as f64]).expect("not an error while inactive");
        }
        install(&mut c, LOUD).expect("not an error while inactive");
        assert_eq!(c.session().dsl, LOUD);
        assert_eq!(c.session().channels.get(&1), Some(&vec![(QUEUE_CAPACITY + 9) as f64]));
        assert_eq!(queue_full_lines(&console), 0);
        // Activation: the session is installed as it is now.
        c.resync(&mut engine, 44_100.0, 256);
        c.set_active(true);
        assert_eq!(c.in_flight(), 0);
        assert_eq!(engine.channel(1), &[(QUEUE_CAPACITY + 9) as f64]);
        assert_eq!(block(&mut engine, 256), 0.5);
    }

    #[test]
    fn code_compiled_against_an_outdated_environment_is_recompiled() {
        let (mut c, mut engine, _) = rig(QUIET);
        c.resync(&mut engine, 48_000.0, 512);
        c.set_active(true);
        // A sample that is not there yet is not an error: the program compiles against
        // its (empty) slot.
        let src = ">0 {{1}imp}\\semalivetestbuffer;";
        let compiled = c.snapshot().compile(src);
        assert!(compiled.result.is_ok(), "a missing sample compiles");
        assert_eq!(compiled.missing, vec!["semalivetestbuffer".to_string()]);
        c.install_dsl(compiled).expect("installed");
        assert_eq!(c.session().dsl, src);
        // Activation with another sample rate or block size makes snapshots stale too.
        let before = c.snapshot();
        c.resync(&mut engine, 44_100.0, 256);
        assert_ne!(before.generation, c.snapshot().generation);
        assert_eq!((c.snapshot().env().sample_rate, c.snapshot().env().max_block), (44_100.0, 256));
        // A stale patch compiled for 512-sample blocks is replaced by one for 256.
        c.install_dsl(before.compile(LOUD)).expect("recompiled");
        block(&mut engine, 256);
        // Past the crossfade (441 samples at 44.1 kHz).
        assert_eq!(block(&mut engine, 256), 0.5);
    }

    #[test]
    fn a_sample_arriving_later_plays_without_recompiling_and_is_warned_about_once() {
        let (mut c, mut engine, console) = rig("");
        c.set_sample_sources(SampleSources {
            folder: std::path::PathBuf::from("/nonexistent/sema-live-samples"),
            data: tempfile::tempdir().expect("tempdir").keep(),
            pack_url: None,
            only: None,
        });
        c.resync(&mut engine, 48_000.0, 512);
        c.set_active(true);
        let src = ">0 {{8}clt}\\semalivelater;";
        install(&mut c, src).expect("a missing sample compiles");
        install(&mut c, src).expect("again");
        let warnings: Vec<String> = console
            .snapshot()
            .iter()
            .filter(|l| l.level == Level::Warn && l.text.contains("'semalivelater'"))
            .map(|l| l.text.clone())
            .collect();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("/nonexistent/sema-live-samples"), "{}", warnings[0]);
        let rev = c.code_revision();
        // Blocks at the song position `pos` (120 bpm: 24 000 samples a beat).
        let mut pos = 0usize;
        let mut run = |engine: &mut Engine| {
            let (mut l, mut r) = (vec![0.0f32; 512], vec![0.0f32; 512]);
            engine.process(BlockIo {
                host: HostTime::playing_at(120.0, 4, pos as f64 / 24_000.0),
                sync: true,
                gain: 1.0,
                params: [0.0; NUM_PARAMS],
                inputs: [&[], &[]],
                outputs: [&mut l, &mut r],
                midi_in: &[],
                midi_thru: false,
            });
            pos += 512;
            (pos - 512, l)
        };
        // Silence while the buffer is missing (the player is triggered at 0).
        for _ in 0..4 {
            assert!(run(&mut engine).1.iter().all(|&x| x == 0.0));
        }
        // The buffer arrives: one bank message, no new patch.
        c.add_sample(
            "semalivelater",
            Arc::new(SampleBuffer { data: vec![0.5; 48_000].into_boxed_slice(), rate: 48_000.0 }),
            Origin::Js,
        )
        .expect("sent");
        assert_eq!(c.code_revision(), rev, "not recompiled");
        // The next trigger (every 1/8 bar = 12 000 samples at 120 bpm) plays it.
        let mut heard = None;
        for _ in 0..60 {
            let (start, l) = run(&mut engine);
            if let Some(i) = l.iter().position(|&x| x == 0.5) {
                heard = Some(start + i);
                break;
            }
            assert!(l.iter().all(|&x| x == 0.0), "silent until the trigger");
        }
        let at = heard.expect("the buffer plays");
        assert!((12_000..12_002).contains(&at), "first heard at {at}");
        // What the engine handed back (the empty bank) is dropped here.
        c.collect_garbage();
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn recompiling_for_new_samples_never_replaces_newer_code() {
        let (c, mut engine, _) = rig(QUIET);
        let c = Mutex::new(c);
        c.lock().resync(&mut engine, 48_000.0, 512);
        c.lock().set_active(true);
        // The JS thread took the playing code to recompile it...
        let playing = c.lock().snapshot().compile(QUIET);
        // ...while the editor evaluated new code.
        eval_dsl(&c, LOUD).expect("evaluated");
        c.lock().refresh_dsl(playing).expect("skipped");
        assert_eq!(c.lock().session().dsl, LOUD);
        assert_eq!(block(&mut engine, 512), 0.5);
        // Without newer code the recompile goes through.
        set_samples(&c, Arc::new(SampleLibrary::new())).expect("recompiled");
        assert_eq!(c.lock().session().dsl, LOUD);
        assert_eq!(c.lock().in_flight(), 1);
        assert_eq!(block(&mut engine, 512), 0.5);
        c.lock().collect_garbage();
        assert_eq!(c.lock().in_flight(), 0);
    }

    #[test]
    fn clips_go_to_the_engine_queue() {
        use crate::audio::midi_in::ClipNote;
        let (to_audio, mut from_control) = rtrb::RingBuffer::new(4);
        let (mut garbage_tx, garbage) = rtrb::RingBuffer::new(4);
        let mut c = Controller::new(
            ControlEnds { to_audio, garbage },
            SessionState::default(),
            Arc::new(Console::new()),
        );
        c.set_active(true);
        let note =
            ClipNote { start_beats: 0.5, end_beats: 1.0, pitch: 64, velocity: 0.8, channel: None };
        let clip =
            Clip { start_bar: 3, notes: vec![note], length_beats: 4.0, channel: 1, looping: false };
        c.send_clip(clip.clone()).expect("sent");
        assert_eq!(c.in_flight(), 1);
        match from_control.pop() {
            Ok(ToAudio::Clip(got)) => {
                assert_eq!(*got, clip);
                // The engine hands it back as garbage, counted like every message.
                assert!(garbage_tx.push(Garbage::Clip(got)).is_ok());
            }
            _ => panic!("expected a clip message"),
        }
        c.collect_garbage();
        assert_eq!(c.in_flight(), 0);
        let bad = Clip { channel: 16, ..clip.clone() };
        assert_eq!(c.send_clip(bad), Err(SendError::BadMidiChannel(16)));
        // A full queue is an error the caller reports.
        for _ in 0..4 {
            c.send_clip(clip.clone()).expect("room");
        }
        assert_eq!(c.send_clip(clip), Err(SendError::ClipQueueFull));
        assert!(SendError::ClipQueueFull.to_string().contains("the clip was not sent"));
    }
}
