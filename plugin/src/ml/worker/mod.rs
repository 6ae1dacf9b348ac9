//! The model worker: one background thread per plugin instance that owns the loaded
//! models and runs requests in order. Callers (JS runtime, editor, CLI) only touch
//! channels: `submit` and the `try_*` functions never block, so the audio thread and the
//! editor never wait for inference or downloads.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};
use serde::Serialize;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::ml::core::note_seq::{quantize_note_sequence, NoteSequence};
use crate::ml::core::resolve::{resolve, ResolveOptions, Resolved};
use crate::ml::core::scale::Scale;
use crate::ml::error::{ModelError, ModelErrorKind};
use crate::ml::music_rnn::MusicRnn;
use crate::ml::music_vae::midime::MidiMe;
use crate::ml::music_vae::{Draw, MusicVae, Sampler};
use crate::ml::shared;
use crate::ml::studio::{self, ScaleChoice, StudioJob};
use parking_lot::MutexGuard;

/// Handle of a model loaded in a worker.
pub type ModelId = u64;

/// A request to the worker. Each completes with one `Response` (or a [`ModelError`]).
#[derive(Clone, Debug)]
pub enum Request {
    /// Load a MusicRNN checkpoint (URL or local folder) -> `Response::Loaded`.
    LoadRnn {
        /// Checkpoint URL (cached per user) or local folder path.
        url_or_path: String,
    },
    /// Load a MusicVAE checkpoint (URL or local folder) -> `Response::Loaded`.
    LoadVae {
        /// Checkpoint URL (cached per user) or local folder path.
        url_or_path: String,
    },
    /// `continueSequence` -> `Response::Sequences` with `count` continuations, run as one
    /// batch.
    RnnContinue {
        /// A model loaded with `LoadRnn`.
        model: ModelId,
        /// The primer (quantized, or unquantized: then quantized at 4 steps/quarter).
        seq: NoteSequence,
        /// Number of steps to generate.
        steps: usize,
        /// None: host temperature; Some(0.0): greedy.
        temperature: Option<f32>,
        /// Number of continuations.
        count: usize,
    },
    /// `continueSequence(seq, steps, temperature, chordProgression)` of a
    /// chord-conditioned MusicRNN -> `Response::Sequences`, as `RnnContinue`.
    RnnContinueChords {
        /// A model loaded with `LoadRnn`.
        model: ModelId,
        /// The primer (quantized, or unquantized: then quantized at 4 steps/quarter).
        seq: NoteSequence,
        /// Number of steps to generate.
        steps: usize,
        /// None: host temperature; Some(0.0): greedy.
        temperature: Option<f32>,
        /// Number of continuations.
        count: usize,
        /// Chord symbols spread evenly over the primer and the continuation.
        chords: Vec<String>,
    },
    /// `encode` -> `Response::Z`.
    VaeEncode {
        /// A model loaded with `LoadVae`.
        model: ModelId,
        /// Melodies to encode (quantized or not).
        seqs: Vec<NoteSequence>,
    },
    /// `decode(z, temperature)` -> `Response::Sequences`.
    VaeDecode {
        /// A model loaded with `LoadVae`.
        model: ModelId,
        /// Latent vectors, each of length `zDims`.
        z: Vec<Vec<f32>>,
        /// None: host temperature; Some(0.0): greedy.
        temperature: Option<f32>,
    },
    /// `sample(n, temperature)` -> `Response::Sequences`.
    VaeSample {
        /// A model loaded with `LoadVae`.
        model: ModelId,
        /// Number of samples.
        n: usize,
        /// None: host temperature; Some(0.0): greedy.
        temperature: Option<f32>,
    },
    /// `interpolate(seqs, n)` -> `Response::Sequences` (n sequences from the first to the
    /// last input).
    VaeInterpolate {
        /// A model loaded with `LoadVae`.
        model: ModelId,
        /// Two (or four, for a 2-D grid) sequences.
        seqs: Vec<NoteSequence>,
        /// Number of interpolation steps.
        n: usize,
        /// None: host temperature; Some(0.0): greedy.
        temperature: Option<f32>,
    },
    /// Train a MidiMe model on the VAE's latent vectors of `seqs` -> `Response::MidiMe`.
    MidiMeTrain {
        /// A model loaded with `LoadVae`.
        vae: ModelId,
        /// The user's melodies.
        seqs: Vec<NoteSequence>,
        /// Training epochs.
        epochs: usize,
        /// Size of MidiMe's own latent space.
        latent: usize,
    },
    /// Sample from a MidiMe model through a MusicVAE decoder -> `Response::Sequences`.
    MidiMeSample {
        /// A model returned by `MidiMeTrain`.
        midime: ModelId,
        /// The MusicVAE whose decoder turns latent vectors into notes.
        vae: ModelId,
        /// Number of samples.
        n: usize,
        /// None: host temperature; Some(0.0): greedy.
        temperature: Option<f32>,
    },
    /// A Magenta Studio job (the editor's panels, `host.studio.*`) ->
    /// `Response::Sequences` with `variations` results made as one batch, variation `i`
    /// from its own random stream (see [`crate::ml::studio`]).
    Studio {
        /// A MusicRNN for `Continue` (a drum one for `Drums`), a MusicVAE for `Generate`
        /// and `Interpolate`.
        model: ModelId,
        /// What to make.
        job: StudioJob,
        /// Number of variations (1..=8; Interpolate: steps, both ends included).
        variations: usize,
        /// None: host temperature; Some(0.0): greedy.
        temperature: Option<f32>,
        /// The key constraint.
        scale: ScaleChoice,
        /// Seed of the variations' streams (None: drawn from the worker's generator).
        seed: Option<u64>,
    },
    /// Drop a model -> `Response::Unloaded`.
    Unload {
        /// The model to drop.
        model: ModelId,
    },
}

/// What a request produced.
#[derive(Clone, Debug, PartialEq)]
pub enum Response {
    /// A model is ready.
    Loaded {
        /// Its handle.
        model: ModelId,
        /// What it is.
        kind: ModelKind,
        /// `decoder.zDims` for a MusicVAE.
        z_dims: Option<usize>,
        /// Where it came from (checkpoint folder, bundled fallback, ...).
        description: String,
    },
    /// Generated sequences.
    Sequences(Vec<NoteSequence>),
    /// Latent vectors.
    Z(Vec<Vec<f32>>),
    /// A trained MidiMe model.
    MidiMe {
        /// Its handle.
        model: ModelId,
    },
    /// The model was dropped.
    Unloaded,
}

/// Kind of a loaded model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum ModelKind {
    /// `mm.MusicRNN`.
    MusicRnn,
    /// `mm.MusicVAE`.
    MusicVae,
}

/// A console message from the worker (download progress, fallback notices).
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// Human-readable message.
    pub message: String,
    /// Completed fraction in 0..=1 when known.
    pub fraction: Option<f32>,
}

/// What the worker is doing, for the editor's status strip. Written by the worker thread,
/// read by the editor; never touched by the audio thread.
#[derive(Debug, Default)]
pub struct ModelStatus {
    /// Requests submitted and not yet completed.
    pub pending: AtomicU64,
    /// Completed requests (success or error).
    pub completed: AtomicU64,
    /// What runs now ("loading basic_rnn", "continueSequence ×4"), empty when idle.
    pub activity: parking_lot::Mutex<String>,
    /// The last completed inference request: what it was and its wall time in ms.
    pub last_inference: parking_lot::Mutex<Option<(String, f64)>>,
    /// Models loaded now, as "MusicRNN basic_rnn".
    pub loaded: parking_lot::Mutex<Vec<String>>,
    /// The last error's message, cleared by the next success.
    pub last_error: parking_lot::Mutex<Option<String>>,
    /// The `model.fit` running on the training thread, if any.
    pub training: parking_lot::Mutex<Option<crate::ml::layers::trainer::TrainingProgress>>,
    /// Panics caught on the worker thread (each answered with an error and followed by a
    /// fresh worker state: loaded models are gone).
    pub crashes: AtomicU64,
}

impl ModelStatus {
    /// One line for the status strip: "models: loading basic_rnn…", "models: ready (2) ·
    /// continueSequence 43 ms", or "models: none" before anything was requested.
    pub fn summary(&self) -> String {
        let activity = self.activity.lock().clone();
        let loaded = self.loaded.lock().len();
        let last = self.last_inference.lock().clone();
        let mut s = if !activity.is_empty() {
            format!("models: {activity}…")
        } else if loaded > 0 {
            format!("models: ready ({loaded})")
        } else {
            "models: none loaded".to_string()
        };
        if let Some((what, ms)) = last {
            s.push_str(&format!(" · last {what} {ms:.0} ms"));
        }
        let queued =
            self.pending.load(Ordering::Relaxed).saturating_sub(u64::from(!activity.is_empty()));
        if queued > 0 {
            s.push_str(&format!(" · {queued} queued"));
        }
        if let Some(t) = self.training.lock().clone() {
            s.push_str(&format!(" · training epoch {}/{}", t.epoch, t.epochs));
            if let Some(l) = t.loss {
                s.push_str(&format!(" loss {l:.4}"));
            }
            if t.queued > 0 {
                s.push_str(&format!(" (+{} fit queued)", t.queued));
            }
        }
        let crashes = self.crashes.load(Ordering::Relaxed);
        if crashes > 0 {
            s.push_str(&format!(" · restarted after {crashes} crash(es)"));
        }
        s
    }
}

/// "loading NAME" for a checkpoint URL or folder.
fn describe_load(url_or_path: &str) -> String {
    let name = url_or_path.trim_end_matches('/').rsplit(['/', '\\']).next().unwrap_or(url_or_path);
    format!("loading {name}")
}

/// Short description of a request for the status strip (what runs, not its data).
fn describe(req: &Request) -> String {
    match req {
        Request::LoadRnn { url_or_path } | Request::LoadVae { url_or_path } => {
            describe_load(url_or_path)
        }
        Request::RnnContinue { count, .. } if *count > 1 => format!("continueSequence ×{count}"),
        Request::RnnContinue { .. } => "continueSequence".into(),
        Request::RnnContinueChords { chords, .. } => {
            format!("continueSequence over {} chords", chords.len())
        }
        Request::VaeEncode { .. } => "encode".into(),
        Request::VaeDecode { .. } => "decode".into(),
        Request::VaeSample { n, .. } => format!("sample({n})"),
        Request::VaeInterpolate { n, .. } => format!("interpolate({n})"),
        Request::MidiMeTrain { epochs, .. } => format!("MidiMe training ({epochs} epochs)"),
        Request::MidiMeSample { n, .. } => format!("MidiMe sample({n})"),
        Request::Studio { job, variations, .. } => {
            format!("Studio {} ×{variations}", job.name())
        }
        Request::Unload { .. } => "unload".into(),
    }
}

/// How a worker finds and samples models.
#[derive(Clone)]
pub struct WorkerConfig {
    /// Per-user cache of downloaded checkpoints.
    pub cache_dir: PathBuf,
    /// Folder with the bundled default models (`basic_rnn`, `mel_2bar_small`).
    pub bundled_dir: PathBuf,
    /// Whether checkpoints may be downloaded.
    pub allow_network: bool,
    /// Seed of the sampling RNG (None: from entropy), for reproducible runs.
    pub seed: Option<u64>,
    /// The host's `temperature` parameter, used when a request gives none.
    pub temperature: Arc<dyn Fn() -> f32 + Send + Sync>,
    /// The host's `key` and `scale` parameters: the constraint of sampling requests
    /// (None while `scale` is off).
    pub scale: Arc<dyn Fn() -> Option<Scale> + Send + Sync>,
    /// Where the worker reports what it is doing (the editor's status strip).
    pub status: Arc<ModelStatus>,
    /// Layers models saved with `model.save('session://name')` (kept with the project).
    pub saved_models: crate::ml::layers::SavedModels,
}

impl WorkerConfig {
    /// Default configuration: cache under the user's cache dir
    /// (`<cache>/sema-live/models`), network allowed, temperature fixed at 1.0.
    pub fn new(bundled_dir: PathBuf) -> Self {
        WorkerConfig {
            cache_dir: crate::ml::core::resolve::default_cache_dir(),
            bundled_dir,
            allow_network: true,
            seed: None,
            temperature: Arc::new(|| 1.0),
            scale: Arc::new(|| None),
            status: Arc::new(ModelStatus::default()),
            saved_models: Default::default(),
        }
    }
}

impl std::fmt::Debug for WorkerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerConfig")
            .field("cache_dir", &self.cache_dir)
            .field("bundled_dir", &self.bundled_dir)
            .field("allow_network", &self.allow_network)
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

/// Result of one request, tagged with the id `submit` returned.
pub type Completion = (u64, Result<Response, ModelError>);

/// Owner of the background model thread. Dropping it stops the thread after the current
/// request (without waiting for it).
pub struct ModelWorker {
    /// Requests to the thread; `None` once shutting down.
    requests: Option<Sender<(u64, Request)>>,
    /// Completed requests from the thread.
    completions: Receiver<Completion>,
    /// Console messages from the thread.
    progress: Receiver<Progress>,
    /// Lets `submit` complete a request with an error when the thread is gone.
    done_tx: Sender<Completion>,
    /// Next request id.
    next_id: AtomicU64,
    /// Shared with the thread and the editor.
    status: Arc<ModelStatus>,
    /// The thread, detached on drop once it ended or [`WORKER_EXIT_WAIT`] passed.
    _thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread ends.
    exited: Receiver<()>,
}

/// How long dropping a worker waits for a running request to finish: a host that
/// unloads the plugin right after destroying an instance must not find the worker still
/// running the plugin's code (a load or an inference takes well under this).
const WORKER_EXIT_WAIT: Duration = Duration::from_secs(2);

impl ModelWorker {
    /// Starts the worker thread.
    pub fn spawn(config: WorkerConfig) -> Self {
        let (req_tx, req_rx) = unbounded::<(u64, Request)>();
        let (done_tx, done_rx) = unbounded::<Completion>();
        let (prog_tx, prog_rx) = unbounded::<Progress>();
        let thread_done = done_tx.clone();
        let shared_status = config.status.clone();
        let (exit_tx, exit_rx) = crossbeam_channel::bounded::<()>(0);
        let thread = std::thread::Builder::new()
            .name("sema-live-models".into())
            .spawn(move || {
                // Dropped when the thread ends, however it ends.
                let _exit = exit_tx;
                let status = config.status.clone();
                let mut state = WorkerState::new(config.clone(), prog_tx.clone());
                for (id, req) in req_rx.iter() {
                    let what = describe(&req);
                    let inference = !matches!(
                        req,
                        Request::LoadRnn { .. } | Request::LoadVae { .. } | Request::Unload { .. }
                    );
                    *status.activity.lock() = what.clone();
                    let started = std::time::Instant::now();
                    // A panic (a bug in a model's code) is answered as an error and the
                    // worker starts afresh: the plugin and the audio thread never notice.
                    let result =
                        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            state.handle(req)
                        })) {
                            Ok(result) => result,
                            Err(payload) => {
                                status.crashes.fetch_add(1, Ordering::Relaxed);
                                let message = crate::js::panic_message(&*payload);
                                let old = std::mem::replace(
                                    &mut state,
                                    WorkerState::new(config.clone(), prog_tx.clone()),
                                );
                                // Its models may be half-updated: drop them, and if even that
                                // panics, leak them rather than take the thread down.
                                if let Err(p) =
                                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                        drop(old)
                                    }))
                                {
                                    std::mem::forget(p);
                                }
                                Err(ModelError::new(
                                    ModelErrorKind::Crashed,
                                    format!(
                                    "the model worker crashed during {what} ({message}); it was \
                                     restarted and its models unloaded: load them again"
                                ),
                                ))
                            }
                        };
                    let ms = started.elapsed().as_secs_f64() * 1e3;
                    status.activity.lock().clear();
                    match &result {
                        Ok(_) if inference => *status.last_inference.lock() = Some((what, ms)),
                        _ => {}
                    }
                    *status.last_error.lock() = result.as_ref().err().map(|e| e.to_string());
                    *status.loaded.lock() = state.loaded_names();
                    status.completed.fetch_add(1, Ordering::Relaxed);
                    status.pending.fetch_sub(1, Ordering::Relaxed);
                    if thread_done.send((id, result)).is_err() {
                        break;
                    }
                }
            })
            .ok();
        ModelWorker {
            requests: Some(req_tx),
            completions: done_rx,
            done_tx,
            progress: prog_rx,
            next_id: AtomicU64::new(1),
            status: shared_status,
            _thread: thread,
            exited: exit_rx,
        }
    }

    /// Queues a request and returns its id. Never blocks. If the thread could not be
    /// started, the request completes at once with an error.
    pub fn submit(&self, req: Request) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.status.pending.fetch_add(1, Ordering::Relaxed);
        let sent = match &self.requests {
            Some(tx) => tx.send((id, req)).is_ok(),
            None => false,
        };
        if !sent {
            self.status.pending.fetch_sub(1, Ordering::Relaxed);
            // The thread is gone (failed to start or panicked): nothing else will answer.
            let _ = self.done_tx.send((
                id,
                Err(ModelError::new(
                    ModelErrorKind::WorkerStopped,
                    "model worker thread is not running",
                )),
            ));
        }
        id
    }

    /// A completed request, if any. Never blocks.
    pub fn try_recv(&self) -> Option<Completion> {
        self.completions.try_recv().ok()
    }

    /// Waits up to `d` for a completed request (for headless runs and tests).
    #[cfg(test)]
    pub fn recv_timeout(&self, d: Duration) -> Option<Completion> {
        self.completions.recv_timeout(d).ok()
    }

    /// A console message, if any. Never blocks.
    pub fn try_progress(&self) -> Option<Progress> {
        self.progress.try_recv().ok()
    }

    /// Submits `req` and waits for its completion (CLI and tests; never call this from
    /// the audio thread or the editor). Completions of other requests received while
    /// waiting are dropped.
    #[cfg(test)]
    pub fn run_blocking(&self, req: Request, timeout: Duration) -> Result<Response, ModelError> {
        let id = self.submit(req);
        let deadline = std::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.completions.recv_timeout(left) {
                Ok((got, result)) if got == id => return result,
                Ok(_) => continue,
                Err(_) => {
                    return Err(ModelError::new(
                        ModelErrorKind::Timeout,
                        format!("model worker: request {id} timed out"),
                    ))
                }
            }
        }
    }
}

impl Drop for ModelWorker {
    fn drop(&mut self) {
        // Closing the request channel ends the thread's loop once the running request
        // (if any) is done; wait for that a little, never long (the host is waiting).
        self.requests = None;
        if self._thread.is_some() {
            let _ = self.exited.recv_timeout(WORKER_EXIT_WAIT);
        }
    }
}

/// A model owned by the worker thread.
// One per loaded model, kept in a map and never moved in a hot path: boxing buys nothing.
#[allow(clippy::large_enum_variant)]
enum Slot {
    /// A MusicRNN (one copy per process of each checkpoint, see [`crate::ml::shared`]).
    Rnn(shared::Shared<MusicRnn>),
    /// A MusicVAE (shared the same way).
    Vae(shared::Shared<MusicVae>),
    /// A trained MidiMe.
    MidiMe(MidiMe),
}

/// Everything the worker thread owns.
struct WorkerState {
    /// Configuration from `spawn`.
    config: WorkerConfig,
    /// Console messages.
    progress: Sender<Progress>,
    /// Loaded models by id.
    models: HashMap<ModelId, Slot>,
    /// Next model id.
    next_model: ModelId,
    /// Sampling RNG (seeded from the config for reproducible runs).
    rng: SmallRng,
}

/// Quantizes an unquantized sequence at 4 steps per quarter (magenta's default grid),
/// so JS code can pass sequences straight from `NoteSequence` literals.
fn quantized(seq: NoteSequence) -> Result<NoteSequence, ModelError> {
    if seq.is_quantized() {
        Ok(seq)
    } else {
        quantize_note_sequence(&seq, 4)
    }
}

impl WorkerState {
    fn new(config: WorkerConfig, progress: Sender<Progress>) -> Self {
        let rng = match config.seed {
            Some(s) => SmallRng::seed_from_u64(s),
            // No OS RNG feature in the dependency set: the clock is random enough for
            // musical sampling.
            None => SmallRng::seed_from_u64(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(0x5eed),
            ),
        };
        WorkerState { config, progress, models: HashMap::new(), next_model: 1, rng }
    }

    /// The request's temperature, or the host's when it gives none.
    fn temperature(&self, t: Option<f32>) -> f32 {
        let t = t.unwrap_or_else(|| (self.config.temperature)());
        if t.is_finite() && t > 0.0 {
            t
        } else {
            0.0
        }
    }

    /// The loaded models, for the status strip.
    fn loaded_names(&self) -> Vec<String> {
        let mut ids: Vec<_> = self.models.keys().copied().collect();
        ids.sort_unstable();
        ids.iter()
            .map(|id| match &self.models[id] {
                Slot::Rnn(_) => format!("MusicRNN #{id}"),
                Slot::Vae(_) => format!("MusicVAE #{id}"),
                Slot::MidiMe(_) => format!("MidiMe #{id}"),
            })
            .collect()
    }

    fn insert(&mut self, slot: Slot) -> ModelId {
        let id = self.next_model;
        self.next_model += 1;
        self.models.insert(id, slot);
        id
    }

    fn rnn(&mut self, id: ModelId) -> Result<MutexGuard<'_, MusicRnn>, ModelError> {
        match self.models.get_mut(&id) {
            Some(Slot::Rnn(m)) => Ok(m.lock()),
            Some(_) => Err(wrong_model(format!("model {id} is not a MusicRNN"))),
            None => Err(no_such_model(format!("no model with id {id} (not loaded or disposed)"))),
        }
    }

    fn vae(&mut self, id: ModelId) -> Result<MutexGuard<'_, MusicVae>, ModelError> {
        match self.models.get_mut(&id) {
            Some(Slot::Vae(m)) => Ok(m.lock()),
            Some(_) => Err(wrong_model(format!("model {id} is not a MusicVAE"))),
            None => Err(no_such_model(format!("no model with id {id} (not loaded or disposed)"))),
        }
    }

    fn resolve(&mut self, url_or_path: &str, kind: ModelKind) -> Result<Resolved, ModelError> {
        let opts = ResolveOptions {
            cache_dir: self.config.cache_dir.clone(),
            bundled_dir: self.config.bundled_dir.clone(),
            allow_network: self.config.allow_network,
        };
        let tx = self.progress.clone();
        resolve(url_or_path, kind, &opts, &mut |p| {
            let _ = tx.send(p);
        })
    }

    fn handle(&mut self, req: Request) -> Result<Response, ModelError> {
        // The test hook of crash isolation.
        #[cfg(test)]
        if let Request::LoadRnn { url_or_path, .. } = &req {
            if url_or_path == "test:panic" {
                panic!("test panic in the model worker");
            }
        }
        match req {
            Request::LoadRnn { url_or_path } => {
                let r = self.resolve(&url_or_path, ModelKind::MusicRnn)?;
                // A large checkpoint takes a while: the status strip shows how far it is.
                let (status, name) = (self.config.status.clone(), describe_load(&url_or_path));
                let mut shown = 0;
                let m = shared::music_rnn(&r.dir, &mut |done, total| {
                    let pct = (done * 100).checked_div(total).unwrap_or(100);
                    if pct != shown {
                        shown = pct;
                        *status.activity.lock() = format!("{name} {pct}%");
                    }
                })?;
                let description = format!("{}: {}", r.description, m.lock().describe());
                let model = self.insert(Slot::Rnn(m));
                Ok(Response::Loaded { model, kind: ModelKind::MusicRnn, z_dims: None, description })
            }
            Request::LoadVae { url_or_path } => {
                let r = self.resolve(&url_or_path, ModelKind::MusicVae)?;
                let m = shared::music_vae(&r.dir)?;
                let z_dims = Some(m.lock().z_dims());
                let description = format!("{}: {}", r.description, m.lock().describe());
                let model = self.insert(Slot::Vae(m));
                Ok(Response::Loaded { model, kind: ModelKind::MusicVae, z_dims, description })
            }
            Request::RnnContinue { model, seq, steps, temperature, count } => {
                let t = self.temperature(temperature);
                let seq = quantized(seq)?;
                let mut rng = self.rng.clone();
                let host = (self.config.scale)();
                let mut m = self.rnn(model)?;
                let mask = host.and_then(|s| m.converter.melody().map(|c| s.class_mask(c)));
                // The host key's mask (when the `scale` parameter is on), then greedy or a
                // sample from the worker's stream (the same draws as without a mask).
                let mut s = Sampler::new(t, mask, std::slice::from_mut(&mut rng));
                let out = m.continue_sequence_with(&seq, steps, count, &mut |r, l| s.label(r, l));
                drop(m);
                self.rng = rng;
                out.map(Response::Sequences)
            }
            Request::RnnContinueChords { model, seq, steps, temperature, count, chords } => {
                let t = self.temperature(temperature);
                let seq = quantized(seq)?;
                let mut rng = self.rng.clone();
                let host = (self.config.scale)();
                let mut m = self.rnn(model)?;
                let mask = host.and_then(|s| m.converter.melody().map(|c| s.class_mask(c)));
                let mut s = Sampler::new(t, mask, std::slice::from_mut(&mut rng));
                let out =
                    m.continue_sequence_picking(&seq, steps, count, Some(&chords), &mut |r, l| {
                        s.label(r, l)
                    });
                drop(m);
                self.rng = rng;
                out.map(Response::Sequences)
            }
            Request::VaeEncode { model, seqs } => {
                let seqs = seqs.into_iter().map(quantized).collect::<Result<Vec<_>, _>>()?;
                self.vae(model)?.encode(&seqs).map(Response::Z)
            }
            Request::VaeDecode { model, z, temperature } => {
                let t = self.temperature(temperature);
                let mut rng = self.rng.clone();
                let host = (self.config.scale)();
                let mut m = self.vae(model)?;
                let mask = host.and_then(|s| m.converter.melody().map(|c| s.class_mask(c)));
                let out =
                    m.decode_with(&z, &mut Sampler::new(t, mask, std::slice::from_mut(&mut rng)));
                drop(m);
                self.rng = rng;
                out.map(Response::Sequences)
            }
            Request::VaeSample { model, n, temperature } => {
                let t = self.temperature(temperature);
                let mut rng = self.rng.clone();
                let host = (self.config.scale)();
                let mut m = self.vae(model)?;
                // As `MusicVae::sample`: the draws of z, then the decode.
                let zd = m.z_dims();
                let z: Vec<Vec<f32>> = (0..n)
                    .map(|_| (0..zd).map(|_| crate::ml::music_vae::normal(&mut rng)).collect())
                    .collect();
                let mask = host.and_then(|s| m.converter.melody().map(|c| s.class_mask(c)));
                let out =
                    m.decode_with(&z, &mut Sampler::new(t, mask, std::slice::from_mut(&mut rng)));
                drop(m);
                self.rng = rng;
                out.map(Response::Sequences)
            }
            Request::VaeInterpolate { model, seqs, n, temperature } => {
                let t = self.temperature(temperature);
                let seqs = seqs.into_iter().map(quantized).collect::<Result<Vec<_>, _>>()?;
                let mut rng = self.rng.clone();
                let host = (self.config.scale)();
                let mut m = self.vae(model)?;
                let mask = host.and_then(|s| m.converter.melody().map(|c| s.class_mask(c)));
                let out = m.interpolate_with(
                    &seqs,
                    n,
                    &mut Sampler::new(t, mask, std::slice::from_mut(&mut rng)),
                );
                drop(m);
                self.rng = rng;
                out.map(Response::Sequences)
            }
            Request::MidiMeTrain { vae, seqs, epochs, latent } => {
                let seqs = seqs.into_iter().map(quantized).collect::<Result<Vec<_>, _>>()?;
                let z = self.vae(vae)?.encode(&seqs)?;
                let mut rng = self.rng.clone();
                let tx = self.progress.clone();
                let trained = MidiMe::train(&z, latent, epochs, &mut rng, &mut |epoch, loss| {
                    let _ = tx.send(Progress {
                        message: format!("MidiMe epoch {epoch}/{epochs}: loss {loss:.4}"),
                        fraction: Some(epoch as f32 / epochs.max(1) as f32),
                    });
                });
                self.rng = rng;
                let model = self.insert(Slot::MidiMe(trained?));
                Ok(Response::MidiMe { model })
            }
            Request::MidiMeSample { midime, vae, n, temperature } => {
                let t = self.temperature(temperature);
                let mut rng = self.rng.clone();
                let z = match self.models.get(&midime) {
                    Some(Slot::MidiMe(m)) => m.sample(n, &mut rng),
                    Some(_) => {
                        return Err(wrong_model(format!("model {midime} is not a MidiMe model")))
                    }
                    None => {
                        return Err(no_such_model(format!(
                            "no model with id {midime} (not trained or disposed)"
                        )))
                    }
                };
                let host = (self.config.scale)();
                let mut m = self.vae(vae)?;
                let mask = host.and_then(|s| m.converter.melody().map(|c| s.class_mask(c)));
                let out =
                    m.decode_with(&z?, &mut Sampler::new(t, mask, std::slice::from_mut(&mut rng)));
                drop(m);
                self.rng = rng;
                out.map(Response::Sequences)
            }
            Request::Studio { model, job, variations, temperature, scale, seed } => {
                let t = self.temperature(temperature);
                let scale = match scale {
                    ScaleChoice::Host => (self.config.scale)(),
                    ScaleChoice::Off => None,
                    ScaleChoice::Key(s) => Some(s),
                };
                let seed = seed.unwrap_or_else(|| self.rng.random());
                let mut rngs = studio::streams(seed, variations);
                let job_name = job.name();
                let out = match job {
                    StudioJob::Continue { primer, steps } => {
                        let primer = quantized(primer)?;
                        let mut m = self.rnn(model)?;
                        studio::continue_variations(&mut m, &primer, steps, t, scale, &mut rngs)
                    }
                    StudioJob::Generate => {
                        studio::generate_variations(&mut *self.vae(model)?, t, scale, &mut rngs)
                    }
                    StudioJob::Interpolate { a, b } => {
                        let (a, b) = (quantized(a)?, quantized(b)?);
                        let mut m = self.vae(model)?;
                        studio::interpolate_variations(&mut m, &a, &b, t, scale, &mut rngs)
                    }
                    StudioJob::Drums { primer, steps } => {
                        let primer = quantized(primer)?;
                        let mut m = self.rnn(model)?;
                        studio::drums_variations(&mut m, &primer, steps, t, &mut rngs)
                    }
                    StudioJob::Drumify { input, qpm } | StudioJob::Groove { input, qpm } => {
                        let what = job_name;
                        let mut m = self.vae(model)?;
                        studio::groove_variations(what, &mut m, &input, qpm, t, &mut rngs)
                    }
                };
                out.map(Response::Sequences)
            }
            Request::Unload { model } => match self.models.remove(&model) {
                Some(_) => Ok(Response::Unloaded),
                None => Err(no_such_model(format!("unload: no model with id {model}"))),
            },
        }
    }
}

/// [`ModelErrorKind::WrongModel`].
fn wrong_model(message: String) -> ModelError {
    ModelError::new(ModelErrorKind::WrongModel, message)
}

/// [`ModelErrorKind::NoSuchModel`].
fn no_such_model(message: String) -> ModelError {
    ModelError::new(ModelErrorKind::NoSuchModel, message)
}

#[cfg(test)]
mod tests;
