//! Magenta Studio inside the plugin, control side: the state behind the editor's
//! Continue / Generate / Interpolate / Drums panels, kept here (not in the widgets) so it
//! survives closing the editor. It builds each job's input (the phrase played in, a kept
//! clip or a .mid file), sends the job to a model worker of its own (never blocking the
//! editor: [`Studio::poll`] collects answers each frame), and turns results into clips:
//! audition one on the host's loop from the next bar line (MIDI out and the live code's
//! MIDI input, through the engine's clip player), step through the variations, keep one
//! into the session, as a .mid file or onto a JS channel, and undo a keep.
//!
//! Each panel runs the model picked for it ([`StudioModels`], saved with the session)
//! from the [`MODELS`] it offers ([`Tool::models`]). A model that is neither bundled nor
//! in the model cache is offered with a **Fetch** button: it downloads it with `sema-live
//! model fetch`'s code ([`crate::ml::core::resolve::fetch_cancellable`]) on a thread of
//! its own ([`Studio::poll`] shows its progress and outcome); **Cancel** stops it, and so
//! does dropping the Studio (the plugin closing), which waits for the thread to end. The
//! model is loaded once it is in the cache.
//!
//! New model families plug in as a [`StudioModel`] and a job kind of
//! [`crate::ml::studio::StudioJob`].

use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use crate::audio::midi_in::{Clip, ClipNote};
use crate::cli::midi_file::{self, TimedEvent};
use crate::control::console::Source;
use crate::control::state::KeptClip;
pub use crate::control::state::StudioModels;
use crate::js::phrase::{sequence_to_clip, ClipOptions};
use crate::ml::core::note_seq::{Note, NoteSequence, QuantizationInfo};
use crate::ml::core::resolve::{
    cache_path, cached, default_cache_dir, fetch_cancellable, CancelDownload,
};
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::studio::{ScaleChoice, StudioJob, MAX_VARIATIONS};
use crate::ml::worker::{ModelId, ModelKind, ModelWorker, Request, Response, WorkerConfig};
use crate::ControlSide;

/// Steps per quarter note of everything the Studio makes (the melody models' grid).
const SPQ: u32 = 4;
/// Longest input or result, in bars.
pub const MAX_BARS: u32 = 8;
/// Where magenta.js's hosted checkpoints are (a model's URL is this, `/`, its path).
pub const CHECKPOINTS: &str = "https://storage.googleapis.com/magentadata/js/checkpoints";
/// Where the Drums panel's model comes from (download-only: read from the model cache,
/// which `sema-live model fetch` fills); the tests' name for its URL.
#[cfg(test)]
pub const DRUM_KIT_RNN_URL: &str =
    "https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/drum_kit_rnn";
/// How long dropping the Studio waits for a cancelled download's thread to end (it ends
/// at once unless it is still connecting; then it ends within the 10 s connect timeout,
/// on its own, leaving nothing in the cache).
const FETCH_JOIN: Duration = Duration::from_secs(3);

/// The panels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Continue,
    Generate,
    Interpolate,
    Drums,
    Drumify,
    Groove,
}

impl Tool {
    pub const ALL: [Tool; 6] = [
        Tool::Continue,
        Tool::Generate,
        Tool::Interpolate,
        Tool::Drums,
        Tool::Drumify,
        Tool::Groove,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tool::Continue => "Continue",
            Tool::Generate => "Generate",
            Tool::Interpolate => "Interpolate",
            Tool::Drums => "Drums",
            Tool::Drumify => "Drumify",
            Tool::Groove => "Groove",
        }
    }

    /// The models the panel offers (names in [`MODELS`]), its default (bundled or, for
    /// Drums, the only one) first: melody MusicRNNs for Continue (the chord-conditioned
    /// one needs chords, which the panel has no input for), MusicVAEs for Generate and
    /// Interpolate, the drum MusicRNN for Drums, GrooVAE's tap-to-drums models for Drumify
    /// and its groove models for Groove.
    pub fn models(self) -> &'static [&'static str] {
        match self {
            Tool::Continue => &["basic_rnn", "melody_rnn", "attention_rnn"],
            Tool::Generate | Tool::Interpolate => &[
                "mel_2bar_small",
                "mel_4bar_small_q2",
                "mel_16bar_small_q2",
                "drums_2bar_lokl_small",
                "trio_4bar",
            ],
            Tool::Drums => &["drum_kit_rnn"],
            Tool::Drumify => &["tap2drum_2bar", "tap2drum_1bar", "tap2drum_3bar", "tap2drum_4bar"],
            Tool::Groove => &["groovae_2bar_humanize", "groovae_4bar"],
        }
    }

    /// The panel's model in `models` (its default when the name is not one it offers).
    pub fn model(self, models: &StudioModels) -> &'static StudioModel {
        let name = match self {
            Tool::Continue => &models.continuation,
            Tool::Generate => &models.generate,
            Tool::Interpolate => &models.interpolate,
            Tool::Drums => &models.drums,
            Tool::Drumify => &models.drumify,
            Tool::Groove => &models.groove,
        };
        let offered = self.models();
        let name = offered.iter().find(|m| **m == name.as_str()).unwrap_or(&offered[0]);
        // Every offered name is in MODELS (tested); the first entry keeps this total.
        StudioModel::named(name).unwrap_or(&MODELS[0])
    }

    /// Picks `name` for the panel in `models`.
    pub fn pick(self, models: &mut StudioModels, name: &str) {
        let slot = match self {
            Tool::Continue => &mut models.continuation,
            Tool::Generate => &mut models.generate,
            Tool::Interpolate => &mut models.interpolate,
            Tool::Drums => &mut models.drums,
            Tool::Drumify => &mut models.drumify,
            Tool::Groove => &mut models.groove,
        };
        *slot = name.to_string();
    }
}

/// What a model's results hold, for their MIDI channels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parts {
    /// One melody.
    Melody,
    /// Drum hits (`isDrum`), on the drum channel.
    Drums,
    /// Melody (instrument 0), bass (instrument 1) and drums (`isDrum`), each on its channel.
    Trio,
    /// Drum performances (GrooVAE): hits off the grid with their own velocities, on the
    /// drum channel.
    Groove,
}

/// A model the panels offer.
#[derive(Debug, PartialEq)]
pub struct StudioModel {
    /// magenta.js's name for it (the last part of its URL).
    pub name: &'static str,
    /// Its path under [`CHECKPOINTS`].
    pub path: &'static str,
    pub kind: ModelKind,
    /// What it makes (the picker's hover text and Generate's description).
    pub what: &'static str,
    /// Length of its results (MusicVAE) in bars of 4/4; 0 for a MusicRNN (any length).
    pub bars: u32,
    pub parts: Parts,
    /// Download size, where known.
    pub size: Option<&'static str>,
    /// Bundled with the plugin: always there, offline.
    pub bundled: bool,
}

/// The models of the panels (see [`Tool::models`]).
pub const MODELS: &[StudioModel] = &[
    StudioModel {
        name: "basic_rnn",
        path: "music_rnn/basic_rnn",
        kind: ModelKind::MusicRnn,
        what: "melodies",
        bars: 0,
        parts: Parts::Melody,
        size: None,
        bundled: true,
    },
    StudioModel {
        name: "melody_rnn",
        path: "music_rnn/melody_rnn",
        kind: ModelKind::MusicRnn,
        what: "melodies",
        bars: 0,
        parts: Parts::Melody,
        size: None,
        bundled: false,
    },
    StudioModel {
        name: "attention_rnn",
        path: "music_rnn/attention_rnn",
        kind: ModelKind::MusicRnn,
        what: "melodies (attention over the last steps)",
        bars: 0,
        parts: Parts::Melody,
        size: None,
        bundled: false,
    },
    StudioModel {
        name: "drum_kit_rnn",
        path: "music_rnn/drum_kit_rnn",
        kind: ModelKind::MusicRnn,
        what: "drum beats (9 drum classes)",
        bars: 0,
        parts: Parts::Drums,
        size: Some("11.9 MB"),
        bundled: false,
    },
    StudioModel {
        name: "mel_2bar_small",
        path: "music_vae/mel_2bar_small",
        kind: ModelKind::MusicVae,
        what: "2-bar melodies",
        bars: 2,
        parts: Parts::Melody,
        size: None,
        bundled: true,
    },
    StudioModel {
        name: "mel_4bar_small_q2",
        path: "music_vae/mel_4bar_small_q2",
        kind: ModelKind::MusicVae,
        what: "4-bar melodies",
        bars: 4,
        parts: Parts::Melody,
        size: Some("26.5 MB"),
        bundled: false,
    },
    StudioModel {
        name: "mel_16bar_small_q2",
        path: "music_vae/mel_16bar_small_q2",
        kind: ModelKind::MusicVae,
        what: "16-bar melodies (hierarchical)",
        bars: 16,
        parts: Parts::Melody,
        size: Some("23.5 MB"),
        bundled: false,
    },
    StudioModel {
        name: "drums_2bar_lokl_small",
        path: "music_vae/drums_2bar_lokl_small",
        kind: ModelKind::MusicVae,
        what: "2-bar drum beats",
        bars: 2,
        parts: Parts::Drums,
        size: Some("18.5 MB"),
        bundled: false,
    },
    StudioModel {
        name: "trio_4bar",
        path: "music_vae/trio_4bar",
        kind: ModelKind::MusicVae,
        what: "4 bars of melody, bass and drums",
        bars: 4,
        parts: Parts::Trio,
        size: Some("17.6 MB"),
        bundled: false,
    },
    StudioModel {
        name: "tap2drum_1bar",
        path: "groovae/tap2drum_1bar",
        kind: ModelKind::MusicVae,
        what: "1 bar of drums from a tapped rhythm",
        bars: 1,
        parts: Parts::Groove,
        size: Some("15.6 MB"),
        bundled: false,
    },
    StudioModel {
        name: "tap2drum_2bar",
        path: "groovae/tap2drum_2bar",
        kind: ModelKind::MusicVae,
        what: "2 bars of drums from a tapped rhythm",
        bars: 2,
        parts: Parts::Groove,
        size: Some("15.6 MB"),
        bundled: false,
    },
    StudioModel {
        name: "tap2drum_3bar",
        path: "groovae/tap2drum_3bar",
        kind: ModelKind::MusicVae,
        what: "3 bars of drums from a tapped rhythm",
        bars: 3,
        parts: Parts::Groove,
        size: Some("15.6 MB"),
        bundled: false,
    },
    StudioModel {
        name: "tap2drum_4bar",
        path: "groovae/tap2drum_4bar",
        kind: ModelKind::MusicVae,
        what: "4 bars of drums from a tapped rhythm",
        bars: 4,
        parts: Parts::Groove,
        size: Some("15.6 MB"),
        bundled: false,
    },
    StudioModel {
        name: "groovae_2bar_humanize",
        path: "music_vae/groovae_2bar_humanize",
        kind: ModelKind::MusicVae,
        what: "2 bars of a drum pattern played with feel (velocities and timing)",
        bars: 2,
        parts: Parts::Groove,
        size: Some("15.8 MB"),
        bundled: false,
    },
    StudioModel {
        name: "groovae_4bar",
        path: "music_vae/groovae_4bar",
        kind: ModelKind::MusicVae,
        what: "4 bars of a drum performance re-grooved (an autoencoder of grooves)",
        bars: 4,
        parts: Parts::Groove,
        size: Some("15.8 MB"),
        bundled: false,
    },
];

impl StudioModel {
    pub fn named(name: &str) -> Option<&'static StudioModel> {
        MODELS.iter().find(|m| m.name == name)
    }

    /// `mm.MusicRNN` / `mm.MusicVAE`'s class name.
    pub fn class(&self) -> &'static str {
        match self.kind {
            ModelKind::MusicRnn => "MusicRNN",
            ModelKind::MusicVae => "MusicVAE",
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
    /// Bars of input taken from the played phrase or a file (Interpolate: the model's
    /// length).
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
    /// The rhythm Drumify turns into drums, the drum pattern Groove grooves.
    pub groove_input: Input,
    /// Sample under the host's key/scale parameters (else unconstrained).
    pub use_key: bool,
    /// MIDI channel (0..=15) the audition of melodies plays on.
    pub midi_channel: u8,
    /// MIDI channel (0..=15) of a trio's bass (auditioned and written to .mid files);
    /// channel 2 by default.
    pub bass_channel: u8,
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
            groove_input: Input::Played,
            use_key: true,
            midi_channel: 0,
            bass_channel: 1,
            drum_channel: 9,
            js_channel: 1,
            folder: crate::control::samples::data_dir().join("clips").display().to_string(),
        }
    }
}

/// A model the Studio's worker holds (or is loading).
#[derive(Clone, Debug, PartialEq)]
enum Slot {
    Loading(u64),
    Ready(ModelId),
}

/// The variations of the last run.
#[derive(Clone, Debug, PartialEq)]
pub struct Results {
    pub tool: Tool,
    /// The model that made them.
    pub model: &'static StudioModel,
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
    /// Download this model (a name in [`MODELS`]) into the model cache.
    Fetch(String),
    /// Stop the download in progress.
    CancelFetch,
}

/// What the download thread of [`Action::Fetch`] reports.
enum FetchEvent {
    Progress(String),
    Done(Result<PathBuf, ModelError>),
}

/// A model download in progress.
struct Fetching {
    model: &'static StudioModel,
    events: mpsc::Receiver<FetchEvent>,
    /// The latest progress message.
    status: String,
    started: Instant,
    cancel: Arc<CancelDownload>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fetching {
    /// Cancels the download and waits up to `limit` for its thread to end; true when it
    /// ended.
    fn stop(&mut self, limit: Duration) -> bool {
        self.cancel.cancel();
        let Some(thread) = self.thread.take() else { return true };
        let deadline = Instant::now() + limit;
        while !thread.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if thread.is_finished() {
            let _ = thread.join();
            true
        } else {
            // Still connecting: it ends by itself at the connect timeout, cleaning up.
            false
        }
    }
}

/// A job waiting for its model to load.
struct Waiting {
    model: &'static StudioModel,
    job: StudioJob,
    variations: usize,
    tool: Tool,
}

/// See the module documentation.
pub struct Studio {
    pub settings: Settings,
    worker: Option<ModelWorker>,
    /// The models the worker holds or loads, by name.
    slots: Vec<(&'static str, Slot)>,
    waiting: Option<Waiting>,
    /// The job in flight: request id, tool, model, when it was sent.
    running: Option<(u64, Tool, &'static StudioModel, Instant)>,
    pub results: Option<Results>,
    pub selected: usize,
    /// The variation the engine plays on the host's loop, if any.
    pub auditioning: Option<usize>,
    undo: Vec<Kept>,
    /// The last thing that happened, for the panel (`true`: an error).
    pub message: Option<(bool, String)>,
    /// Overrides the worker's configuration (tests: seed, bundled models).
    pub config: Option<WorkerConfig>,
    /// Where the download-only models come from: [`CHECKPOINTS`] (tests: a local
    /// server).
    pub checkpoints: String,
    /// The model download, while it runs.
    fetching: Option<Fetching>,
}

impl Default for Studio {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Studio {
    /// The plugin is closing: a model download in progress is cancelled (its partial
    /// folder removed, nothing in the cache) and its thread joined.
    fn drop(&mut self) {
        if let Some(mut f) = self.fetching.take() {
            f.stop(FETCH_JOIN);
        }
    }
}

impl Studio {
    pub fn new() -> Self {
        Studio {
            settings: Settings::default(),
            worker: None,
            slots: Vec::new(),
            waiting: None,
            running: None,
            results: None,
            selected: 0,
            auditioning: None,
            undo: Vec::new(),
            message: None,
            config: None,
            checkpoints: CHECKPOINTS.to_string(),
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
            return Some(format!("loading {}…", w.model.name));
        }
        self.running.as_ref().map(|(_, tool, model, t)| {
            format!(
                "{} ({}) running… {:.0} ms",
                tool.name(),
                model.name,
                t.elapsed().as_secs_f64() * 1e3
            )
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
            Action::Fetch(name) => self.fetch(&name),
            Action::CancelFetch => self.cancel_fetch(),
        };
        match outcome {
            Ok(Some(text)) => self.message = Some((false, text)),
            Ok(None) => {}
            Err(text) => self.message = Some((true, text)),
        }
    }

    /// The model the session picked for `tool`.
    pub fn model(tool: Tool, shared: &ControlSide) -> &'static StudioModel {
        tool.model(&shared.controller.lock().session().studio_models)
    }

    /// Starts the selected tool's job (after loading its model if needed).
    fn run(&mut self, shared: &ControlSide) -> Result<Option<String>, String> {
        if self.busy() {
            return Err("a job is still running: wait for its variations".into());
        }
        let s = self.settings.clone();
        let model = Self::model(s.tool, shared);
        if let Some(missing) = self.missing(s.tool, model) {
            return Err(missing);
        }
        let variations = s.variations.clamp(1, MAX_VARIATIONS);
        let bpb = shared.status.clock().beats_per_bar.max(1.0);
        let steps = (s.bars.clamp(1, MAX_BARS) as f64 * bpb * SPQ as f64).round() as usize;
        let input_bars = s.input_bars.clamp(1, MAX_BARS);
        let (job, variations) = match s.tool {
            Tool::Continue => {
                let primer = self.input(&s.input, input_bars, shared)?;
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
                (StudioJob::Continue { primer, steps }, variations)
            }
            Tool::Generate => (StudioJob::Generate, variations),
            Tool::Interpolate => {
                // The ends are read over the model's length.
                let bars = model.bars.max(1);
                let a = self.input(&s.from, bars, shared)?;
                let b = self.input(&s.to, bars, shared)?;
                if a.notes.is_empty() || b.notes.is_empty() {
                    return Err("Interpolate: both ends need notes".into());
                }
                (StudioJob::Interpolate { a, b }, variations.max(2))
            }
            Tool::Drums => {
                let primer = self.input(&s.drum_input, input_bars, shared)?;
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
                (StudioJob::Drums { primer, steps }, variations)
            }
            Tool::Drumify | Tool::Groove => {
                // The input is read over the model's length; played in, with its timing.
                let bars = model.bars.max(1);
                let input = match s.groove_input {
                    Input::Played => shared.js.performance(bars as i64),
                    ref other => self.input(other, bars, shared)?,
                };
                if input.notes.is_empty() {
                    return Err(match s.groove_input {
                        Input::Played => format!(
                            "{}: nothing was played in the last {} bar(s): play a rhythm (the \
                             transport must run) or pick a kept clip or a .mid file",
                            s.tool.name(),
                            model.bars
                        ),
                        _ => format!("{}: the input has no notes", s.tool.name()),
                    });
                }
                let qpm = shared.status.clock().bpm;
                let qpm = if qpm.is_finite() && qpm > 0.0 { qpm } else { 120.0 };
                let job = if s.tool == Tool::Drumify {
                    StudioJob::Drumify { input, qpm }
                } else {
                    StudioJob::Groove { input, qpm }
                };
                (job, variations)
            }
        };
        self.waiting = Some(Waiting { model, job, variations, tool: s.tool });
        self.message = None;
        self.dispatch(shared);
        Ok(None)
    }

    /// Where `model` is read from: the bundled folder, or its URL (the worker reads URLs
    /// from the model cache only: its network is off).
    fn source(&self, model: &StudioModel, shared: &ControlSide) -> String {
        if model.bundled {
            bundled_dir(shared).join(model.name).display().to_string()
        } else {
            self.url(model)
        }
    }

    /// The URL `model` is fetched from.
    pub fn url(&self, model: &StudioModel) -> String {
        format!("{}/{}", self.checkpoints.trim_end_matches('/'), model.path)
    }

    fn slot(&self, name: &str) -> Option<&Slot> {
        self.slots.iter().find(|(n, _)| *n == name).map(|(_, s)| s)
    }

    fn set_slot(&mut self, name: &'static str, slot: Option<Slot>) {
        self.slots.retain(|(n, _)| *n != name);
        if let Some(s) = slot {
            self.slots.push((name, s));
        }
    }

    /// Asks the worker to load `model` (unless it holds it or is loading it). Models no
    /// panel has picked any more (and no job uses) are dropped first, so switching models
    /// does not pile them up in memory.
    fn load(&mut self, model: &'static StudioModel, shared: &ControlSide) {
        if self.slot(model.name).is_some() {
            return;
        }
        let picked: Vec<&str> = Tool::ALL.iter().map(|t| Self::model(*t, shared).name).collect();
        let running = self.running.map(|r| r.2.name);
        let stale: Vec<(&'static str, ModelId)> = self
            .slots
            .iter()
            .filter_map(|(name, slot)| match slot {
                Slot::Ready(id) if !picked.contains(name) && running != Some(*name) => {
                    Some((*name, *id))
                }
                _ => None,
            })
            .collect();
        for (name, id) in stale {
            self.set_slot(name, None);
            self.worker(shared).submit(Request::Unload { model: id });
        }
        let url_or_path = self.source(model, shared);
        let req = match model.kind {
            ModelKind::MusicRnn => Request::LoadRnn { url_or_path },
            ModelKind::MusicVae => Request::LoadVae { url_or_path },
        };
        let id = self.worker(shared).submit(req);
        self.set_slot(model.name, Some(Slot::Loading(id)));
    }

    /// Sends the waiting job if its model is ready, else asks for the model once.
    fn dispatch(&mut self, shared: &ControlSide) {
        let Some(model) = self.waiting.as_ref().map(|w| w.model) else { return };
        match self.slot(model.name).cloned() {
            Some(Slot::Loading(_)) => {}
            None => self.load(model, shared),
            Some(Slot::Ready(id)) => {
                let Some(w) = self.waiting.take() else { return };
                // Drums have no key: the mask applies to pitched parts only.
                let scale =
                    if self.settings.use_key { ScaleChoice::Host } else { ScaleChoice::Off };
                let temperature = Some(self.settings.temperature.clamp(0.0, 2.0));
                let req = Request::Studio {
                    model: id,
                    job: w.job,
                    variations: w.variations,
                    temperature,
                    scale,
                    seed: None,
                };
                let rid = self.worker(shared).submit(req);
                self.running = Some((rid, w.tool, w.model, Instant::now()));
            }
        }
    }

    /// The model cache the worker reads URLs from.
    fn cache_dir(&self) -> PathBuf {
        self.config.as_ref().map_or_else(default_cache_dir, |c| c.cache_dir.clone())
    }

    /// Whether `model` can run offline now: bundled, or in the model cache.
    pub fn available(&self, model: &StudioModel) -> bool {
        model.bundled || cached(&self.cache_dir(), &self.url(model)).is_some()
    }

    /// None when `tool`'s `model` is bundled or in the model cache, else what the panel
    /// says: which model is missing and how to get it.
    pub fn missing(&self, tool: Tool, model: &StudioModel) -> Option<String> {
        (!self.available(model))
            .then(|| missing_message(tool, model, &self.cache_dir(), &self.url(model)))
    }

    /// The model being downloaded and what the download is doing ("downloading … KB,
    /// 3 s"), while it runs.
    pub fn fetch_status(&self) -> Option<(&'static str, String)> {
        self.fetching.as_ref().map(|f| {
            (f.model.name, format!("{} ({:.0} s)", f.status, f.started.elapsed().as_secs_f64()))
        })
    }

    /// Starts downloading the model `name` into the model cache on a thread of its own
    /// (`sema-live model fetch`'s download); [`Studio::poll`] reports how it went.
    fn fetch(&mut self, name: &str) -> Result<Option<String>, String> {
        let model = StudioModel::named(name).ok_or_else(|| format!("no model {name:?}"))?;
        if let Some(f) = &self.fetching {
            return Err(format!(
                "{} is being downloaded: wait for it or cancel it first",
                f.model.name
            ));
        }
        if self.available(model) {
            return Ok(Some(format!("{name} is in the model cache already")));
        }
        let (url, cache) = (self.url(model), self.cache_dir());
        let (tx, events) = mpsc::channel();
        let cancel = Arc::new(CancelDownload::new());
        let stop = cancel.clone();
        let status = format!("fetching {name} from {url}");
        let spawned =
            std::thread::Builder::new().name("sema-studio-fetch".into()).spawn(move || {
                let progress = tx.clone();
                let result = fetch_cancellable(&url, &cache, &stop, &mut |p| {
                    let _ = progress.send(FetchEvent::Progress(p.message));
                });
                // The Studio may be gone (the plugin closed): nobody to tell.
                let _ = tx.send(FetchEvent::Done(result.map(|(dir, _)| dir)));
            });
        let thread = spawned.map_err(|e| format!("cannot start the download of {name}: {e}"))?;
        self.fetching = Some(Fetching {
            model,
            events,
            status,
            started: Instant::now(),
            cancel,
            thread: Some(thread),
        });
        Ok(None)
    }

    /// Cancels the download in progress: it stops at its next chunk (a read waiting on
    /// the network returns at once) and leaves nothing in the cache; [`Studio::poll`]
    /// says it was cancelled.
    fn cancel_fetch(&mut self) -> Result<Option<String>, String> {
        let f = self.fetching.as_mut().ok_or("no download to cancel")?;
        f.cancel.cancel();
        f.status = format!("cancelling the download of {}", f.model.name);
        Ok(None)
    }

    /// The models the worker holds, by name (tests).
    #[cfg(test)]
    pub(crate) fn loaded(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .slots
            .iter()
            .filter(|(_, s)| matches!(s, Slot::Ready(_)))
            .map(|(n, _)| *n)
            .collect();
        names.sort_unstable();
        names
    }

    /// The cancel handle of the download in progress (tests: it is shared with the
    /// download's thread until the thread ends).
    #[cfg(test)]
    pub(crate) fn fetch_cancel_handle(&self) -> Option<Arc<CancelDownload>> {
        self.fetching.as_ref().map(|f| f.cancel.clone())
    }

    /// Takes the download thread's news: progress, then the outcome. Once the model is in
    /// the cache, the worker loads it (so the panel's next run need not wait).
    fn poll_fetch(&mut self, shared: &ControlSide) {
        let Some(f) = self.fetching.as_mut() else { return };
        let mut done = None;
        loop {
            match f.events.try_recv() {
                Ok(FetchEvent::Progress(text)) => {
                    if !f.cancel.is_cancelled() {
                        f.status = text;
                    }
                }
                Ok(FetchEvent::Done(result)) => {
                    done = Some(result);
                    break;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    done = Some(Err(ModelError::new(
                        ModelErrorKind::Download,
                        "the download thread ended without an answer",
                    )));
                    break;
                }
            }
        }
        let Some(result) = done else { return };
        let Some(mut f) = self.fetching.take() else { return };
        // It has sent its last word: the thread is ending.
        f.stop(FETCH_JOIN);
        let (name, secs) = (f.model.name, f.started.elapsed().as_secs_f64());
        match result {
            Ok(dir) => {
                self.message =
                    Some((false, format!("{name} downloaded in {secs:.1} s to {}", dir.display())));
                self.load(f.model, shared);
            }
            Err(e) if e.kind() == ModelErrorKind::Cancelled => {
                self.message = Some((
                    false,
                    format!(
                        "the download of {name} was cancelled after {secs:.1} s: nothing was \
                         kept in the model cache"
                    ),
                ))
            }
            Err(e) => self.message = Some((true, format!("the download of {name} failed: {e}"))),
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
            let loading = self.slots.iter().find(|(_, s)| *s == Slot::Loading(id)).map(|s| s.0);
            if let Some(name) = loading {
                match &result {
                    Ok(Response::Loaded { model, .. }) => {
                        self.set_slot(name, Some(Slot::Ready(*model)))
                    }
                    other => {
                        self.set_slot(name, None);
                        let why = match other {
                            Err(e) => e.to_string(),
                            Ok(r) => format!("unexpected answer {r:?}"),
                        };
                        if self.waiting.as_ref().is_some_and(|w| w.model.name == name) {
                            self.waiting = None;
                        }
                        self.message = Some((true, format!("cannot load {name}: {why}")));
                    }
                }
            }
            if let Some((rid, tool, model, started)) = self.running {
                if rid == id {
                    self.running = None;
                    match result {
                        Ok(Response::Sequences(variations)) => {
                            let n = variations.len();
                            let ms = started.elapsed().as_secs_f64() * 1e3;
                            self.results = Some(Results { tool, model, variations, ms });
                            self.selected = 0;
                            self.message = Some((
                                false,
                                format!(
                                    "{} ({}): {n} variation(s) in {ms:.0} ms",
                                    tool.name(),
                                    model.name
                                ),
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

    /// The MIDI channel of the results: the drum channel for a drum model's, else the
    /// melodies' (a trio's parts each have their own: [`Studio::note_channel`]).
    pub fn channel(&self) -> u8 {
        let drums = self
            .results
            .as_ref()
            .is_some_and(|r| matches!(r.model.parts, Parts::Drums | Parts::Groove));
        if drums { self.settings.drum_channel } else { self.settings.midi_channel }.min(15)
    }

    /// The MIDI channel of one note of the results: drum hits (`isDrum`) on the drum
    /// channel, a trio's bass (instrument 1) on the bass channel, melodies on the melody
    /// channel.
    pub fn note_channel(&self, note: &Note) -> u8 {
        let s = &self.settings;
        if note.is_drum == Some(true) {
            s.drum_channel.min(15)
        } else if note.instrument == Some(1) {
            s.bass_channel.min(15)
        } else {
            s.midi_channel.min(15)
        }
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
            // A groove's velocities are part of it; other models' results have none.
            let groove = self.results.as_ref().is_some_and(|r| r.model.parts == Parts::Groove);
            let options = ClipOptions {
                start_bar: clock.bar + 1,
                channel: self.channel(),
                velocity: if groove { None } else { Some(0.8) },
                looping: true,
                // An unquantized result (a groove) is timed at the tempo it was made for.
                bpm: if seq.is_quantized() { clock.bpm } else { seq.qpm() },
                beats_per_bar: bpb,
            };
            self.clip_of(seq, &options)?
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

    /// The clip that auditions `seq`: on `options.channel`, except a trio's, whose parts
    /// play each on its channel ([`Studio::note_channel`]).
    fn clip_of(&self, seq: &NoteSequence, options: &ClipOptions) -> Result<Clip, String> {
        let trio = self.results.as_ref().is_some_and(|r| r.model.parts == Parts::Trio);
        if !trio {
            return sequence_to_clip(seq, options);
        }
        let mut clip =
            sequence_to_clip(&NoteSequence { notes: Vec::new(), ..seq.clone() }, options)?;
        let mut channels: Vec<u8> = seq.notes.iter().map(|n| self.note_channel(n)).collect();
        channels.sort_unstable();
        channels.dedup();
        for channel in channels {
            let part = NoteSequence {
                notes: seq
                    .notes
                    .iter()
                    .filter(|n| self.note_channel(n) == channel)
                    .cloned()
                    .collect(),
                ..seq.clone()
            };
            let part = sequence_to_clip(&part, &ClipOptions { channel, ..*options })?;
            clip.length_beats = clip.length_beats.max(part.length_beats);
            clip.notes
                .extend(part.notes.into_iter().map(|n| ClipNote { channel: Some(channel), ..n }));
        }
        clip.notes
            .sort_by(|a, b| a.start_beats.total_cmp(&b.start_beats).then(a.pitch.cmp(&b.pitch)));
        Ok(clip)
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
                let bytes = sequence_to_midi(&seq, clock.bpm, clock.beats_per_bar, &|n| {
                    self.note_channel(n)
                });
                std::fs::write(&path, bytes)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
                self.undo.push(Kept::File { path: path.clone() });
                Ok(Some(format!("written to {}", path.display())))
            }
            KeepTo::JsChannel => {
                let id = self.settings.js_channel;
                let mut notes: Vec<&Note> = seq.notes.iter().collect();
                notes.sort_by(|a, b| {
                    let at = |n: &Note| note_beats(&seq, n).map_or(f64::MAX, |b| b.0);
                    at(a).total_cmp(&at(b))
                });
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

    /// The melody an input names, its first `bars` bars, quantized at 4 steps per
    /// quarter.
    fn input(
        &self,
        input: &Input,
        bars: u32,
        shared: &ControlSide,
    ) -> Result<NoteSequence, String> {
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

/// What `tool`'s panel says while its `model` (from `url`) is not in the model cache
/// `cache`.
pub fn missing_message(tool: Tool, model: &StudioModel, cache: &Path, url: &str) -> String {
    let (name, class) = (model.name, model.class());
    let size = model.size.map(|s| format!(" ({s})")).unwrap_or_default();
    let why = match model.parts {
        Parts::Melody => "Sema Live bundles basic_rnn and mel_2bar_small only",
        Parts::Drums | Parts::Trio | Parts::Groove => {
            "Sema Live bundles no drum or multitrack model: no licence-clean training data"
        }
    };
    format!(
        "{tool} needs the model {class} {name}{size}, which is not in the model cache ({}). \
         It is download-only ({why}). Get it once with the network on: press Fetch below, \
         or run `sema-live model fetch {url}`, or load it once from live code (`new \
         mm.{class}('{url}')`); or copy its checkpoint folder from that URL to {}. Then run \
         {tool} again.",
        cache.display(),
        cache_path(cache, url).display(),
        tool = tool.name()
    )
}

/// Most clips a session keeps (they are saved with the project).
pub const MAX_KEPT: usize = 256;

/// `host.studio.keep(seq, name)`: keeps `seq` in the session's Studio clips as the
/// panels' **Keep → Session** does (an input of later runs, saved with the project).
/// A clip of the same `name` is replaced (live code may keep one every few bars);
/// without a name it is kept as "JS 1", "JS 2", …. An unquantized sequence (a groove,
/// off the grid) is kept as it is, once it quantizes at 4 steps per quarter (as the
/// panels read their inputs). Returns the name.
pub fn keep_in_session(
    clips: &mut Vec<KeptClip>,
    name: Option<&str>,
    seq: NoteSequence,
) -> Result<String, String> {
    if !seq.is_quantized() {
        crate::ml::core::note_seq::quantize_note_sequence(&seq, SPQ).map_err(|e| e.to_string())?;
    }
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

/// A quantized sequence as a MIDI file, each note on the channel (0..=15) `channel`
/// gives it, with its velocity or 100.
pub fn sequence_to_midi(
    seq: &NoteSequence,
    bpm: f64,
    beats_per_bar: f64,
    channel: &dyn Fn(&Note) -> u8,
) -> Vec<u8> {
    // (start, end, channel, key, velocity) by start.
    let mut notes: Vec<(f64, f64, u8, u8, f32)> = seq
        .notes
        .iter()
        .filter_map(|n| {
            let (s, e) = note_beats(seq, n)?;
            let velocity = n.velocity.map_or(100.0, |v| v.clamp(1, 127) as f32) / 127.0;
            Some((s, e, channel(n).min(15), n.pitch.clamp(0, 127) as u8, velocity))
        })
        .collect();
    notes.sort_by(|a, b| a.0.total_cmp(&b.0));
    // A note of a key still sounding when that key starts again (a groove's hits a step
    // long, one late and the next early) ends there: a MIDI key is on or off.
    let mut last: std::collections::HashMap<(u8, u8), usize> = std::collections::HashMap::new();
    for i in 0..notes.len() {
        let (start, _, channel, key, _) = notes[i];
        if let Some(j) = last.insert((channel, key), i) {
            notes[j].1 = notes[j].1.min(start);
        }
    }
    let mut events = Vec::with_capacity(2 * notes.len());
    for (s, e, channel, key, velocity) in notes {
        if e <= s {
            continue;
        }
        events.push(TimedEvent { beats: s, on: true, channel, key, velocity });
        events.push(TimedEvent { beats: e, on: false, channel, key, velocity: 0.0 });
    }
    let end = match seq.steps_per_quarter() {
        Some(spq) => seq.total_quantized_steps.map(|t| t as f64 / spq as f64),
        None => seq.total_time.map(|t| t * seq.qpm() / 60.0),
    };
    midi_file::encode_until(&events, bpm, beats_per_bar.round().clamp(1.0, 32.0) as u8, end)
}

/// A note's start and end in beats: by its steps in a quantized sequence, by its times in
/// an unquantized one (a groove's, off the grid) at the sequence's first tempo. None for a
/// note without them or starting before 0.
fn note_beats(seq: &NoteSequence, n: &Note) -> Option<(f64, f64)> {
    let (s, e) = match seq.steps_per_quarter() {
        Some(spq) => {
            let spq = spq as f64;
            (n.quantized_start_step? as f64 / spq, n.quantized_end_step? as f64 / spq)
        }
        None => {
            let beats = seq.qpm() / 60.0;
            (n.start_time? * beats, n.end_time? * beats)
        }
    };
    (s.is_finite() && e.is_finite() && s >= 0.0).then_some((s, e.max(s)))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::resolve::{bundled_name, default_bundled_dir};

    /// Each panel offers models of the kind its job needs, its default first; a name the
    /// panel does not offer (an old session, another panel's model) reads as the default.
    #[test]
    fn panels_offer_catalogued_models_of_their_kind() {
        for tool in Tool::ALL {
            let offered = tool.models();
            for name in offered {
                let m = StudioModel::named(name).unwrap_or_else(|| panic!("{name} catalogued"));
                let kind = match tool {
                    Tool::Continue | Tool::Drums => ModelKind::MusicRnn,
                    Tool::Generate | Tool::Interpolate | Tool::Drumify | Tool::Groove => {
                        ModelKind::MusicVae
                    }
                };
                assert_eq!(m.kind, kind, "{name} in {}", tool.name());
                // GrooVAE's panels offer GrooVAE models only, and the others none.
                let groove = matches!(tool, Tool::Drumify | Tool::Groove);
                assert_eq!(m.parts == Parts::Groove, groove, "{name} in {}", tool.name());
                assert_eq!(m.path.rsplit('/').next(), Some(m.name));
                assert_eq!(m.bars > 0, kind == ModelKind::MusicVae, "{name}");
            }
            assert_eq!(tool.model(&StudioModels::default()).name, offered[0]);
        }
        let mut m = StudioModels { generate: "basic_rnn".into(), ..StudioModels::default() };
        assert_eq!(Tool::Generate.model(&m).name, "mel_2bar_small");
        m.interpolate = "no such model".into();
        assert_eq!(Tool::Interpolate.model(&m).name, "mel_2bar_small");
        Tool::Continue.pick(&mut m, "attention_rnn");
        assert_eq!(Tool::Continue.model(&m).name, "attention_rnn");
        assert_eq!(m.generate, "basic_rnn", "the other panels keep theirs");
        // The bundled ones are the bundled models, there without a download.
        let studio = Studio::new();
        for model in MODELS.iter().filter(|m| m.bundled) {
            assert_eq!(model.name, bundled_name(model.kind));
            assert!(default_bundled_dir().join(model.name).join("config.json").is_file());
            assert!(studio.available(model) && studio.missing(Tool::Continue, model).is_none());
        }
        let drums = StudioModel::named("drum_kit_rnn").expect("catalogued");
        assert_eq!(studio.url(drums), DRUM_KIT_RNN_URL);
    }

    /// What a panel says about a missing model names it, its size, URL and how to get it.
    #[test]
    fn the_missing_message_says_how_to_get_the_model() {
        let model = StudioModel::named("drums_2bar_lokl_small").expect("catalogued");
        let cache = Path::new("/cache");
        let url = format!("{CHECKPOINTS}/music_vae/drums_2bar_lokl_small");
        let text = missing_message(Tool::Generate, model, cache, &url);
        for part in [
            "Generate needs the model MusicVAE drums_2bar_lokl_small (18.5 MB)",
            "not in the model cache (/cache)",
            "no licence-clean training data",
            &format!("`sema-live model fetch {url}`"),
            &format!("mm.MusicVAE('{url}')"),
            "/cache/storage.googleapis.com/magentadata/js/checkpoints/music_vae/drums_2bar_lokl_small",
        ] {
            assert!(text.contains(part), "{part:?} missing from {text}");
        }
        let melody = StudioModel::named("melody_rnn").expect("catalogued");
        let text = missing_message(Tool::Continue, melody, cache, "https://x/melody_rnn");
        assert!(text.contains("MusicRNN melody_rnn, which") && text.contains("bundles basic_rnn"));
    }
}
