//! Magenta Studio inside the plugin, control side: the state behind the editor's
//! Continue / Generate / Interpolate / Drums panels, kept here (not in the widgets) so it
//! survives closing the editor. It builds each job's input (the phrase played in, a kept
//! clip or a .mid file), sends the job to a model worker of its own (never blocking the
//! editor: [`Studio::poll`] collects answers each frame), and turns results into clips:
//! audition one on the host's loop from the next bar line (MIDI out and the live code's
//! MIDI input, through the engine's clip player), step through the variations, keep one
//! into the session, as a .mid file or onto a JS channel, and undo a keep.
//!
//! The Drums panel's model is download-only: while it is missing, its **Fetch** button
//! downloads it into the model cache with `sema-live model fetch`'s code
//! ([`crate::ml::core::resolve::fetch`]) on a thread of its own ([`Studio::poll`] shows its
//! progress and outcome), and the model is loaded once it is there.
//!
//! New model families plug in as a [`Family`] (which model a tool needs) and a job kind
//! of [`crate::ml::studio::StudioJob`].

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Instant;

use crate::audio::midi_in::Clip;
use crate::cli::midi_file::{self, TimedEvent};
use crate::control::console::Source;
use crate::control::state::KeptClip;
use crate::js::phrase::{sequence_to_clip, ClipOptions};
use crate::ml::core::note_seq::{Note, NoteSequence, QuantizationInfo};
use crate::ml::core::resolve::{cache_path, cached, default_cache_dir, fetch};
use crate::ml::studio::{ScaleChoice, StudioJob, MAX_VARIATIONS};
use crate::ml::worker::{ModelId, ModelWorker, Request, Response, WorkerConfig};
use crate::ControlSide;

/// Steps per quarter note of everything the Studio makes (the melody models' grid).
const SPQ: u32 = 4;
/// Longest input or result, in bars.
pub const MAX_BARS: u32 = 8;
/// Where the Drums panel's model comes from (download-only: read from the model cache,
/// which `sema-live model fetch` fills).
pub const DRUM_KIT_RNN_URL: &str =
    "https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/drum_kit_rnn";

/// The panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Continue,
    Generate,
    Interpolate,
    Drums,
}

impl Tool {
    pub const ALL: [Tool; 4] = [Tool::Continue, Tool::Generate, Tool::Interpolate, Tool::Drums];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Continue => "Continue",
            Tool::Generate => "Generate",
            Tool::Interpolate => "Interpolate",
            Tool::Drums => "Drums",
        }
    }
}

/// The model a tool runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Family {
    /// The bundled `basic_rnn` MusicRNN.
    MelodyRnn,
    /// The bundled `mel_2bar_small` MusicVAE.
    MelodyVae,
    /// MusicRNN `drum_kit_rnn`, from the model cache (not bundled).
    DrumRnn,
}

impl Family {
    fn model_name(self) -> &'static str {
        match self {
            Family::MelodyRnn => "basic_rnn",
            Family::MelodyVae => "mel_2bar_small",
            Family::DrumRnn => "drum_kit_rnn",
        }
    }
}

/// Where a tool's input melody comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Input {
    /// What was played into the plugin in the last complete bars.
    Played,
    /// A clip kept in the session (index into `SessionState::studio_clips`).
    Kept(usize),
    /// A MIDI file (its notes; a melody model reads the highest of simultaneous ones).
    File(String),
}

/// The panels' settings.
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub tool: Tool,
    /// Continue's input.
    pub input: Input,
    /// Bars of input taken from the played phrase or a file.
    pub input_bars: u32,
    /// Length of each continuation, in bars.
    pub bars: u32,
    pub temperature: f32,
    /// Variations per run, 1..=8 (Interpolate: steps, 2..=8).
    pub variations: usize,
    /// Interpolate's two ends.
    pub from: Input,
    pub to: Input,
    /// The drum pattern Drums continues.
    pub drum_input: Input,
    /// Sample under the host's key/scale parameters (else unconstrained).
    pub use_key: bool,
    /// MIDI channel (0..=15) the audition of melodies plays on.
    pub midi_channel: u8,
    /// MIDI channel (0..=15) of drum results (auditioned and written to .mid files);
    /// 9, General MIDI's drum channel 10, by default.
    pub drum_channel: u8,
    /// JS channel a kept clip goes to ("Keep → JS channel").
    pub js_channel: u32,
    /// Folder of the kept .mid files.
    pub folder: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            tool: Tool::Continue,
            input: Input::Played,
            input_bars: 2,
            bars: 2,
            temperature: 1.0,
            variations: 4,
            from: Input::Played,
            to: Input::Kept(0),
            drum_input: Input::Played,
            use_key: true,
            midi_channel: 0,
            drum_channel: 9,
            js_channel: 1,
            folder: crate::control::samples::data_dir().join("clips").display().to_string(),
        }
    }
}

/// A model the Studio's worker holds (or is loading).
#[derive(Clone, Debug, PartialEq)]
enum Slot {
    None,
    Loading(u64),
    Ready(ModelId),
}

/// The variations of the last run.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    pub tool: Tool,
    /// Quantized (4 steps per quarter), each `totalQuantizedSteps` long.
    pub variations: Vec<NoteSequence>,
    /// Time the worker took for the whole batch, in ms.
    pub ms: f64,
}

/// Where a variation is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepTo {
    Session,
    MidiFile,
    JsChannel,
}

/// A keep that [`Studio::undo`] takes back.
#[derive(Clone, Debug, PartialEq)]
enum Kept {
    Session { name: String },
    File { path: PathBuf },
    Channel { id: u32, before: Option<Vec<f64>> },
}

/// What the panels ask for (drawn, then applied, so tests can apply them directly).
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Run,
    Select(usize),
    /// Audition the selected variation (again from the next bar), or stop.
    Audition(bool),
    Keep(KeepTo),
    Undo,
    /// Download the Drums panel's model into the model cache.
    FetchDrums,
}

/// What the download thread of [`Action::FetchDrums`] reports.
enum FetchEvent {
    Progress(String),
    Done(Result<PathBuf, String>),
}

/// A download of the Drums panel's model in progress.
struct Fetching {
    events: mpsc::Receiver<FetchEvent>,
    /// The latest progress message.
    status: String,
    started: Instant,
}

/// A job waiting for its model to load.
struct Waiting {
    family: Family,
    job: StudioJob,
    variations: usize,
    tool: Tool,
}

/// See the module documentation.
pub struct Studio {
    pub settings: Settings,
    worker: Option<ModelWorker>,
    rnn: Slot,
    vae: Slot,
    drums: Slot,
    waiting: Option<Waiting>,
    /// The job in flight: request id, tool, when it was sent.
    running: Option<(u64, Tool, Instant)>,
    pub results: Option<Results>,
    pub selected: usize,
    /// The variation the engine plays on the host's loop, if any.
    pub auditioning: Option<usize>,
    undo: Vec<Kept>,
    /// The last thing that happened, for the panel (`true`: an error).
    pub message: Option<(bool, String)>,
    /// Overrides the worker's configuration (tests: seed, bundled models).
    pub config: Option<WorkerConfig>,
    /// Where the Drums panel's model comes from: [`DRUM_KIT_RNN_URL`] (tests: a local
    /// server).
    pub drum_url: String,
    /// The download of the Drums panel's model, while it runs.
    fetching: Option<Fetching>,
}

impl Default for Studio {
    fn default() -> Self {
        Self::new()
    }
}

impl Studio {
    pub fn new() -> Self {
        Studio {
            settings: Settings::default(),
            worker: None,
            rnn: Slot::None,
            vae: Slot::None,
            drums: Slot::None,
            waiting: None,
            running: None,
            results: None,
            selected: 0,
            auditioning: None,
            undo: Vec::new(),
            message: None,
            config: None,
            drum_url: DRUM_KIT_RNN_URL.to_string(),
            fetching: None,
        }
    }

    /// Whether a job is loading its model or running.
    pub fn busy(&self) -> bool {
        self.running.is_some() || self.waiting.is_some()
    }

    /// What the panel shows beside the run button.
    pub fn activity(&self) -> Option<String> {
        if let Some(w) = &self.waiting {
            return Some(format!("loading {}…", w.family.model_name()));
        }
        self.running.as_ref().map(|(_, tool, t)| {
            format!("{} running… {:.0} ms", tool.name(), t.elapsed().as_secs_f64() * 1e3)
        })
    }

    /// Keeps left to undo.
    pub fn undo_depth(&self) -> usize {
        self.undo.len()
    }

    /// Applies one action of the panels.
    pub fn apply(&mut self, action: Action, shared: &ControlSide) {
        let outcome = match action {
            Action::Run => self.run(shared),
            Action::Select(i) => self.select(i, shared),
            Action::Audition(on) => self.audition(on, shared),
            Action::Keep(to) => self.keep(to, shared),
            Action::Undo => self.undo(shared),
            Action::FetchDrums => self.fetch_drums(),
        };
        match outcome {
            Ok(Some(text)) => self.message = Some((false, text)),
            Ok(None) => {}
            Err(text) => self.message = Some((true, text)),
        }
    }

    /// Starts the selected tool's job (after loading its model if needed).
    fn run(&mut self, shared: &ControlSide) -> Result<Option<String>, String> {
        if self.busy() {
            return Err("a job is still running: wait for its variations".into());
        }
        let s = self.settings.clone();
        let variations = s.variations.clamp(1, MAX_VARIATIONS);
        let (family, job, variations) = match s.tool {
            Tool::Continue => {
                let primer = self.input(&s.input, shared)?;
                if primer.notes.is_empty() {
                    return Err(match s.input {
                        Input::Played => format!(
                            "Continue: nothing was played in the last {} bar(s): play a phrase \
                             (the transport must run) or pick a kept clip or a .mid file",
                            s.input_bars
                        ),
                        _ => "Continue: the input has no notes".into(),
                    });
                }
                let bpb = shared.status.clock().beats_per_bar.max(1.0);
                let steps = (s.bars.clamp(1, MAX_BARS) as f64 * bpb * SPQ as f64).round();
                (
                    Family::MelodyRnn,
                    StudioJob::Continue { primer, steps: steps as usize },
                    variations,
                )
            }
            Tool::Generate => (Family::MelodyVae, StudioJob::Generate, variations),
            Tool::Interpolate => {
                let a = self.input(&s.from, shared)?;
                let b = self.input(&s.to, shared)?;
                if a.notes.is_empty() || b.notes.is_empty() {
                    return Err("Interpolate: both ends need notes".into());
                }
                (Family::MelodyVae, StudioJob::Interpolate { a, b }, variations.max(2))
            }
            Tool::Drums => {
                if let Some(missing) = self.drum_model_missing() {
                    return Err(missing);
                }
                let primer = self.input(&s.drum_input, shared)?;
                if primer.notes.is_empty() {
                    return Err(match s.drum_input {
                        Input::Played => format!(
                            "Drums: nothing was played in the last {} bar(s): play a beat (the \
                             transport must run) or pick a kept clip or a .mid file",
                            s.input_bars
                        ),
                        _ => "Drums: the input has no notes".into(),
                    });
                }
                let bpb = shared.status.clock().beats_per_bar.max(1.0);
                let steps = (s.bars.clamp(1, MAX_BARS) as f64 * bpb * SPQ as f64).round();
                (Family::DrumRnn, StudioJob::Drums { primer, steps: steps as usize }, variations)
            }
        };
        self.waiting = Some(Waiting { family, job, variations, tool: s.tool });
        self.message = None;
        self.dispatch(shared);
        Ok(None)
    }

    /// Sends the waiting job if its model is ready, else asks for the model once.
    fn dispatch(&mut self, shared: &ControlSide) {
        let Some(family) = self.waiting.as_ref().map(|w| w.family) else { return };
        let slot = self.slot(family).clone();
        match slot {
            Slot::Loading(_) => {}
            Slot::None => {
                let req = match family {
                    Family::MelodyRnn | Family::MelodyVae => {
                        let dir = bundled_dir(shared).join(family.model_name());
                        let url_or_path = dir.display().to_string();
                        if family == Family::MelodyRnn {
                            Request::LoadRnn { url_or_path }
                        } else {
                            Request::LoadVae { url_or_path }
                        }
                    }
                    // The worker reads URLs from the cache only (its network is off).
                    Family::DrumRnn => Request::LoadRnn { url_or_path: self.drum_url.clone() },
                };
                let id = self.worker(shared).submit(req);
                *self.slot(family) = Slot::Loading(id);
            }
            Slot::Ready(model) => {
                let Some(w) = self.waiting.take() else { return };
                let scale =
                    if self.settings.use_key { ScaleChoice::Host } else { ScaleChoice::Off };
                let temperature = Some(self.settings.temperature.clamp(0.0, 2.0));
                let id = self.worker(shared).submit(Request::Studio {
                    model,
                    job: w.job,
                    variations: w.variations,
                    temperature,
                    scale,
                    seed: None,
                });
                self.running = Some((id, w.tool, Instant::now()));
            }
        }
    }

    fn slot(&mut self, family: Family) -> &mut Slot {
        match family {
            Family::MelodyRnn => &mut self.rnn,
            Family::MelodyVae => &mut self.vae,
            Family::DrumRnn => &mut self.drums,
        }
    }

    /// The model cache the worker reads URLs from.
    fn cache_dir(&self) -> PathBuf {
        self.config.as_ref().map_or_else(default_cache_dir, |c| c.cache_dir.clone())
    }

    /// None when the Drums panel's model is in the model cache, else what the panel says:
    /// which model is missing and how to get it.
    pub fn drum_model_missing(&self) -> Option<String> {
        let cache = self.cache_dir();
        cached(&cache, &self.drum_url)
            .is_none()
            .then(|| drums_missing_message(&cache, &self.drum_url))
    }

    /// What the download of the Drums panel's model is doing ("downloading … KB, 3 s"),
    /// while it runs.
    pub fn fetch_status(&self) -> Option<String> {
        self.fetching
            .as_ref()
            .map(|f| format!("{} ({:.0} s)", f.status, f.started.elapsed().as_secs_f64()))
    }

    /// Starts downloading the Drums panel's model into the model cache on a thread of its
    /// own (`sema-live model fetch`'s download); [`Studio::poll`] reports how it went.
    fn fetch_drums(&mut self) -> Result<Option<String>, String> {
        if self.fetching.is_some() {
            return Err("drum_kit_rnn is already being downloaded".into());
        }
        if self.drum_model_missing().is_none() {
            return Ok(Some("drum_kit_rnn is in the model cache already".into()));
        }
        let (url, cache) = (self.drum_url.clone(), self.cache_dir());
        let (tx, events) = mpsc::channel();
        let spawned =
            std::thread::Builder::new().name("sema-studio-fetch".into()).spawn(move || {
                let progress = tx.clone();
                let result = fetch(&url, &cache, &mut |p| {
                    let _ = progress.send(FetchEvent::Progress(p.message));
                });
                // The Studio may be gone (the plugin closed): nobody to tell.
                let _ = tx
                    .send(FetchEvent::Done(result.map(|(dir, _)| dir).map_err(|e| e.to_string())));
            });
        if let Err(e) = spawned {
            return Err(format!("cannot start the download of drum_kit_rnn: {e}"));
        }
        self.fetching = Some(Fetching {
            events,
            status: format!("fetching drum_kit_rnn from {}", self.drum_url),
            started: Instant::now(),
        });
        Ok(None)
    }

    /// Takes the download thread's news: progress, then the outcome. Once the model is in
    /// the cache, the worker loads it (so the panel's next run need not wait).
    fn poll_fetch(&mut self, shared: &ControlSide) {
        let Some(f) = self.fetching.as_mut() else { return };
        let mut done = None;
        loop {
            match f.events.try_recv() {
                Ok(FetchEvent::Progress(text)) => f.status = text,
                Ok(FetchEvent::Done(result)) => {
                    done = Some(result);
                    break;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    done = Some(Err("the download thread ended without an answer".into()));
                    break;
                }
            }
        }
        let Some(result) = done else { return };
        let secs = f.started.elapsed().as_secs_f64();
        self.fetching = None;
        match result {
            Ok(dir) => {
                self.message = Some((
                    false,
                    format!("drum_kit_rnn downloaded in {secs:.1} s to {}", dir.display()),
                ));
                if self.drums == Slot::None {
                    let url_or_path = self.drum_url.clone();
                    let id = self.worker(shared).submit(Request::LoadRnn { url_or_path });
                    self.drums = Slot::Loading(id);
                }
            }
            Err(e) => {
                self.message = Some((true, format!("the download of drum_kit_rnn failed: {e}")))
            }
        }
    }

    /// The worker, started on first use with the instance's settings (seed, host
    /// temperature and key), local bundled models only.
    fn worker(&mut self, shared: &ControlSide) -> &ModelWorker {
        self.worker.get_or_insert_with(|| {
            let config = self.config.clone().unwrap_or_else(|| {
                let mut c = WorkerConfig::new(bundled_dir(shared));
                c.allow_network = false;
                c.seed = shared.controller.lock().session().seed;
                let view = shared.js.view.clone();
                c.temperature = std::sync::Arc::new(move || {
                    view.temperature.load(std::sync::atomic::Ordering::Relaxed)
                });
                let view = shared.js.view.clone();
                c.scale = std::sync::Arc::new(move || view.scale());
                c
            });
            ModelWorker::spawn(config)
        })
    }

    /// Collects the worker's answers and the model download's news (call every frame;
    /// never blocks).
    pub fn poll(&mut self, shared: &ControlSide) {
        self.poll_fetch(shared);
        let Some(worker) = self.worker.as_ref() else { return };
        while let Some(p) = worker.try_progress() {
            shared.console.info(Source::Model, format!("Studio: {}", p.message));
        }
        let mut done = Vec::new();
        while let Some(c) = worker.try_recv() {
            done.push(c);
        }
        for (id, result) in done {
            for (slot, family) in [
                (&mut self.rnn, Family::MelodyRnn),
                (&mut self.vae, Family::MelodyVae),
                (&mut self.drums, Family::DrumRnn),
            ] {
                if *slot == Slot::Loading(id) {
                    match &result {
                        Ok(Response::Loaded { model, .. }) => *slot = Slot::Ready(*model),
                        other => {
                            *slot = Slot::None;
                            let why = match other {
                                Err(e) => e.to_string(),
                                Ok(r) => format!("unexpected answer {r:?}"),
                            };
                            if self.waiting.as_ref().is_some_and(|w| w.family == family) {
                                self.waiting = None;
                            }
                            self.message =
                                Some((true, format!("cannot load {}: {why}", family.model_name())));
                        }
                    }
                }
            }
            if let Some((rid, tool, started)) = self.running {
                if rid == id {
                    self.running = None;
                    match result {
                        Ok(Response::Sequences(variations)) => {
                            let n = variations.len();
                            let ms = started.elapsed().as_secs_f64() * 1e3;
                            self.results = Some(Results { tool, variations, ms });
                            self.selected = 0;
                            self.message = Some((
                                false,
                                format!("{}: {n} variation(s) in {ms:.0} ms", tool.name()),
                            ));
                            if self.auditioning.is_some() {
                                self.apply(Action::Audition(true), shared);
                            }
                        }
                        Ok(other) => {
                            self.message = Some((true, format!("unexpected answer {other:?}")))
                        }
                        Err(e) => self.message = Some((true, format!("{}: {e}", tool.name()))),
                    }
                }
            }
        }
        self.dispatch(shared);
    }

    /// The MIDI channel of the results: the drum channel for Drums, else the melodies'.
    pub fn channel(&self) -> u8 {
        let drums = self.results.as_ref().is_some_and(|r| r.tool == Tool::Drums);
        if drums { self.settings.drum_channel } else { self.settings.midi_channel }.min(15)
    }

    /// The variation shown and auditioned.
    pub fn current(&self) -> Option<&NoteSequence> {
        self.results.as_ref()?.variations.get(self.selected)
    }

    fn select(&mut self, i: usize, shared: &ControlSide) -> Result<Option<String>, String> {
        let n = self.results.as_ref().map_or(0, |r| r.variations.len());
        if i >= n {
            return Err(format!("no variation {} (there are {n})", i + 1));
        }
        self.selected = i;
        if self.auditioning.is_some() {
            return self.audition(true, shared);
        }
        Ok(None)
    }

    /// Plays the selected variation looped from the next bar line, or stops.
    fn audition(&mut self, on: bool, shared: &ControlSide) -> Result<Option<String>, String> {
        let clock = shared.status.clock();
        let bpb = clock.beats_per_bar.max(1.0);
        let clip = if on {
            let seq = self.current().ok_or("nothing to audition: run a panel first")?;
            let options = ClipOptions {
                start_bar: clock.bar + 1,
                channel: self.channel(),
                velocity: Some(0.8),
                looping: true,
                bpm: clock.bpm,
                beats_per_bar: bpb,
            };
            sequence_to_clip(seq, &options)?
        } else {
            Clip {
                start_bar: clock.bar,
                notes: Vec::new(),
                length_beats: bpb,
                channel: 0,
                looping: false,
            }
        };
        let start = clip.start_bar;
        shared.controller.lock().send_clip(clip).map_err(|e| e.to_string())?;
        self.auditioning = on.then_some(self.selected);
        Ok(Some(if on {
            format!("variation {} plays from bar {} (looped)", self.selected + 1, start + 1)
        } else {
            "audition stopped".into()
        }))
    }

    /// Keeps the selected variation.
    fn keep(&mut self, to: KeepTo, shared: &ControlSide) -> Result<Option<String>, String> {
        let tool = self.results.as_ref().map(|r| r.tool).ok_or("nothing to keep yet")?;
        let seq = self.current().ok_or("nothing to keep yet")?.clone();
        match to {
            KeepTo::Session => {
                let mut c = shared.controller.lock();
                let clips = &mut c.session_mut().studio_clips;
                if clips.len() >= MAX_KEPT {
                    return Err(format!("the session keeps at most {MAX_KEPT} clips"));
                }
                let name = unique_name(tool.name(), clips.iter().map(|k| k.name.as_str()));
                clips.push(KeptClip { name: name.clone(), sequence: seq });
                self.undo.push(Kept::Session { name: name.clone() });
                Ok(Some(format!("kept as \"{name}\" in the session")))
            }
            KeepTo::MidiFile => {
                let clock = shared.status.clock();
                let folder = PathBuf::from(self.settings.folder.trim());
                std::fs::create_dir_all(&folder)
                    .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
                let path = free_path(&folder, &tool.name().to_ascii_lowercase());
                let bytes = sequence_to_midi(&seq, clock.bpm, clock.beats_per_bar, self.channel());
                std::fs::write(&path, bytes)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                self.undo.push(Kept::File { path: path.clone() });
                Ok(Some(format!("written to {}", path.display())))
            }
            KeepTo::JsChannel => {
                let id = self.settings.js_channel;
                let mut notes: Vec<&Note> = seq.notes.iter().collect();
                notes.sort_by_key(|n| n.quantized_start_step);
                let freqs: Vec<f64> =
                    notes.iter().map(|n| crate::dsp::maps::mtof(n.pitch as f64)).collect();
                let mut c = shared.controller.lock();
                let before = c.session().channels.get(&id).cloned();
                c.send_channel(id, freqs).map_err(|e| e.to_string())?;
                self.undo.push(Kept::Channel { id, before });
                Ok(Some(format!("{} note(s) sent to JS channel {id}", notes.len())))
            }
        }
    }

    /// Takes the last keep back.
    fn undo(&mut self, shared: &ControlSide) -> Result<Option<String>, String> {
        let last = self.undo.pop().ok_or("nothing to undo")?;
        match last {
            Kept::Session { name } => {
                let mut c = shared.controller.lock();
                c.session_mut().studio_clips.retain(|k| k.name != name);
                Ok(Some(format!("\"{name}\" removed from the session")))
            }
            Kept::File { path } => {
                std::fs::remove_file(&path)
                    .map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                Ok(Some(format!("{} removed", path.display())))
            }
            Kept::Channel { id, before } => {
                let mut c = shared.controller.lock();
                let data = before.clone().unwrap_or_default();
                c.send_channel(id, data).map_err(|e| e.to_string())?;
                if before.is_none() {
                    c.session_mut().channels.remove(&id);
                }
                Ok(Some(format!("JS channel {id} has its previous data again")))
            }
        }
    }

    /// The melody an input names, quantized at 4 steps per quarter.
    fn input(&self, input: &Input, shared: &ControlSide) -> Result<NoteSequence, String> {
        let bars = self.settings.input_bars.clamp(1, MAX_BARS);
        match input {
            Input::Played => Ok(shared.js.phrase(bars as i64)),
            Input::Kept(i) => {
                let c = shared.controller.lock();
                let clips = &c.session().studio_clips;
                clips.get(*i).map(|k| k.sequence.clone()).ok_or_else(|| {
                    format!("no kept clip {} (the session has {})", i + 1, clips.len())
                })
            }
            Input::File(path) => {
                let bpb = shared.status.clock().beats_per_bar.max(1.0);
                let bytes = std::fs::read(path.trim())
                    .map_err(|e| format!("cannot read {}: {e}", path.trim()))?;
                let notes =
                    midi_file::decode_notes(&bytes).map_err(|e| format!("{}: {e}", path.trim()))?;
                Ok(notes_to_sequence(&notes, bars as f64 * bpb))
            }
        }
    }
}

/// What the Drums panel says while its model (from `url`) is not in the model cache
/// `cache`.
pub fn drums_missing_message(cache: &Path, url: &str) -> String {
    format!(
        "Drums needs the model MusicRNN drum_kit_rnn (11.9 MB), which is not in the model \
         cache ({}). Sema Live does not bundle it (download-only: no licence-clean drum data \
         to train one). Get it once with the network on: press Fetch below, or run \
         `sema-live model fetch {url}`, or load it once from live code (`new \
         mm.MusicRNN('{url}')`); or copy its checkpoint folder from that URL to {}. Then \
         run Drums again.",
        cache.display(),
        cache_path(cache, url).display()
    )
}

/// Most clips a session keeps (they are saved with the project).
pub const MAX_KEPT: usize = 256;

/// `host.studio.keep(seq, name)`: keeps `seq` in the session's Studio clips as the
/// panels' **Keep → Session** does (an input of later runs, saved with the project).
/// A clip of the same `name` is replaced (live code may keep one every few bars);
/// without a name it is kept as "JS 1", "JS 2", …. An unquantized sequence is quantized
/// at 4 steps per quarter first. Returns the name.
pub fn keep_in_session(
    clips: &mut Vec<KeptClip>,
    name: Option<&str>,
    seq: NoteSequence,
) -> Result<String, String> {
    let seq = if seq.is_quantized() {
        seq
    } else {
        crate::ml::core::note_seq::quantize_note_sequence(&seq, SPQ).map_err(|e| e.to_string())?
    };
    if seq.notes.len() > crate::js::phrase::MAX_CLIP_NOTES {
        return Err(format!(
            "a kept clip holds at most {} notes, this one has {}",
            crate::js::phrase::MAX_CLIP_NOTES,
            seq.notes.len()
        ));
    }
    let name = match name.map(str::trim) {
        Some("") => return Err("the clip's name is empty".into()),
        Some(n) if n.chars().count() > 64 => {
            return Err("the clip's name is longer than 64 characters".into())
        }
        Some(n) => n.to_string(),
        None => unique_name("JS", clips.iter().map(|k| k.name.as_str())),
    };
    match clips.iter().position(|k| k.name == name) {
        Some(i) => clips[i].sequence = seq,
        None if clips.len() >= MAX_KEPT => {
            return Err(format!("the session keeps at most {MAX_KEPT} clips"))
        }
        None => clips.push(KeptClip { name: name.clone(), sequence: seq }),
    }
    Ok(name)
}

/// The folder of the bundled models (written to the user cache on first use).
fn bundled_dir(shared: &ControlSide) -> PathBuf {
    crate::ml::core::embedded::bundled_dir().unwrap_or_else(|e| {
        shared.console.error(Source::Model, format!("bundled models unavailable: {e}"));
        crate::ml::core::resolve::default_bundled_dir()
    })
}

/// `"Continue 3"`: the first of `base 1`, `base 2`, … not in `taken`.
fn unique_name<'a>(base: &str, taken: impl Iterator<Item = &'a str> + Clone) -> String {
    (1..)
        .map(|n| format!("{base} {n}"))
        .find(|name| !taken.clone().any(|t| t == name))
        .unwrap_or_else(|| base.to_string())
}

/// `folder/stem-N.mid` for the first N not taken.
fn free_path(folder: &Path, stem: &str) -> PathBuf {
    (1..)
        .map(|n| folder.join(format!("{stem}-{n}.mid")))
        .find(|p| !p.exists())
        .unwrap_or_else(|| folder.join(format!("{stem}.mid")))
}

/// A quantized sequence as a MIDI file on `channel` (0..=15), its notes' velocities or 100.
pub fn sequence_to_midi(seq: &NoteSequence, bpm: f64, beats_per_bar: f64, channel: u8) -> Vec<u8> {
    let channel = channel.min(15);
    let spq = seq.steps_per_quarter().unwrap_or(SPQ) as f64;
    let mut events = Vec::with_capacity(2 * seq.notes.len());
    for n in &seq.notes {
        let (Some(s), Some(e)) = (n.quantized_start_step, n.quantized_end_step) else { continue };
        let key = n.pitch.clamp(0, 127) as u8;
        let velocity = n.velocity.map_or(100.0, |v| v.clamp(1, 127) as f32) / 127.0;
        events.push(TimedEvent { beats: s as f64 / spq, on: true, channel, key, velocity });
        events.push(TimedEvent { beats: e as f64 / spq, on: false, channel, key, velocity: 0.0 });
    }
    let end = seq.total_quantized_steps.map(|t| t as f64 / spq);
    midi_file::encode_until(&events, bpm, beats_per_bar.round().clamp(1.0, 32.0) as u8, end)
}

/// Notes (start beat, end beat, key) of the first `beats` beats as a quantized sequence of
/// that length (4 steps per quarter; a note lasts at least one step).
pub fn notes_to_sequence(notes: &[(f64, f64, u8)], beats: f64) -> NoteSequence {
    let total = (beats * SPQ as f64).round().max(1.0) as i64;
    let mut out: Vec<Note> = Vec::new();
    for &(s, e, key) in notes {
        let start = (s * SPQ as f64).round() as i64;
        if !(0..total).contains(&start) {
            continue;
        }
        let end = ((e * SPQ as f64).round() as i64).clamp(start + 1, total);
        out.push(Note {
            pitch: key.into(),
            velocity: Some(100),
            quantized_start_step: Some(start),
            quantized_end_step: Some(end),
            ..Default::default()
        });
    }
    out.sort_by_key(|n| (n.quantized_start_step, -n.pitch));
    NoteSequence {
        notes: out,
        total_quantized_steps: Some(total),
        quantization_info: Some(QuantizationInfo { steps_per_quarter: SPQ }),
        ..Default::default()
    }
}
