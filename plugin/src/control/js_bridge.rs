//! The plugin's side of the JS runtime: one JS thread per plugin instance, started on the
//! first evaluation and kept as long as the instance lives (so `host.onBar` and pending
//! Promises keep running with the editor closed). Wires the runtime to the controller
//! (channel data, samples, clips), the host view (parameters, transport) and the DSL's `toJS`
//! (whose ring buffer the JS thread reads directly, see [`crate::js::input`]).

use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::audio::midi_in::MidiInReceiver;
use crate::control::console::{Console, Source};
use crate::control::controller::{self, Controller, SendError};
use crate::js::input::ToJsReceiver;
use crate::js::{Crashes, HostView, JsHost, JsIo};
use crate::ml::core::resolve::{default_bundled_dir, default_cache_dir};
use crate::ml::worker::{ModelStatus, WorkerConfig};

/// The instance's JS thread, or what it starts with.
enum JsThread {
    /// Not started yet: keeps the `toJS` and MIDI-input ring buffers' consumers for the
    /// runtime.
    NotStarted(ToJsReceiver, MidiInReceiver),
    /// Running; its runtime owns the consumer and polls it on every pump.
    Running(JsHost),
    /// Shut down (on drop; also for the instant the consumer moves to a new thread).
    Gone,
}

pub struct JsBridge {
    thread: Mutex<JsThread>,
    /// What scripts see as `host.*`; updated by the audio thread every block.
    pub view: Arc<HostView>,
    /// What the instance's model worker is doing (the editor's status strip).
    pub models: Arc<ModelStatus>,
    /// Layers models saved with `model.save('session://name')`, kept with the project
    /// (see [`crate::control::params::SessionPersist`]).
    pub saved_models: crate::ml::layers::SavedModels,
    /// Crashes of the JS thread, each followed by a restart (the status strip).
    pub crashes: Arc<Crashes>,
}

impl JsBridge {
    /// `to_js` is the consumer end of the audio thread's `toJS` ring buffer: the JS
    /// thread, once started, owns it and reads it directly (no relay, no lock).
    /// `midi_in` likewise for the MIDI the host plays into the plugin.
    pub fn new(to_js: ToJsReceiver, midi_in: MidiInReceiver) -> Self {
        Self {
            thread: Mutex::new(JsThread::NotStarted(to_js, midi_in)),
            view: Arc::new(HostView::default()),
            models: Arc::new(ModelStatus::default()),
            saved_models: Default::default(),
            crashes: Arc::new(Crashes::default()),
        }
    }

    /// Evaluates one block (0-based `index`, starting at file line `first_line`), starting
    /// the JS thread first if needed, and records it in the session (so a reopened project
    /// runs it again, see [`JsBridge::resume`]). Never blocks on the script.
    pub fn eval_block(
        &self,
        code: String,
        index: usize,
        first_line: usize,
        controller: &Arc<Mutex<Controller>>,
    ) {
        controller.lock().session_mut().record_js(&code, index, first_line);
        self.run_block(code, index, first_line, controller);
    }

    /// After a state load: runs the session's recorded JS evaluations again, in order, as
    /// the editor made them, unless the session turned that off (`resume_js`). A JS thread
    /// that is already running first forgets its bar callbacks, timers and pending model
    /// requests (the state it loaded replaces the session). Returns how many evaluations
    /// were queued. Call without holding `controller`'s lock.
    pub fn resume(&self, controller: &Arc<Mutex<Controller>>) -> usize {
        let evaluations = {
            let c = controller.lock();
            let s = c.session();
            if !s.resume_js || s.js_evaluated.is_empty() {
                return 0;
            }
            let n = s.js_evaluated.len();
            c.console().info(
                Source::System,
                format!(
                    "resuming the project's JS: {n} evaluation(s) run again (turn off with \
                     \"Resume JS on load\" above the JS editor)"
                ),
            );
            s.js_evaluated.clone()
        };
        if let JsThread::Running(h) = &*self.thread.lock() {
            h.reset();
        }
        let n = evaluations.len();
        for e in evaluations {
            self.run_block(e.code, e.block, e.first_line, controller);
        }
        n
    }

    /// Evaluates a block on the JS thread (started first if needed), unrecorded.
    fn run_block(
        &self,
        code: String,
        index: usize,
        first_line: usize,
        controller: &Arc<Mutex<Controller>>,
    ) {
        let mut thread = self.thread.lock();
        self.start(&mut thread, controller);
        if let JsThread::Running(h) = &*thread {
            h.eval_block(code, index, first_line);
        }
    }

    /// Starts the JS thread if it is not running yet: it is the one that records what
    /// the musician plays (the Studio starts it when its panels open, so a phrase played
    /// before any JS ran can be continued).
    pub fn ensure_started(&self, controller: &Arc<Mutex<Controller>>) {
        self.start(&mut self.thread.lock(), controller);
    }

    fn start(&self, thread: &mut JsThread, controller: &Arc<Mutex<Controller>>) {
        if let JsThread::NotStarted(..) = &*thread {
            if let JsThread::NotStarted(to_js, midi_in) = std::mem::replace(thread, JsThread::Gone)
            {
                *thread = JsThread::Running(self.spawn(controller.clone(), to_js, midi_in));
            }
        }
    }

    /// What was played in the last `bars` complete bars (before the current one), as
    /// `host.phrase(bars)` returns it: quantised at 4 steps per quarter.
    pub fn phrase(&self, bars: i64) -> crate::ml::core::note_seq::NoteSequence {
        let v = &self.view;
        let bar = v.bar.load(Ordering::Relaxed);
        let (bpm, bpb) = (v.bpm.load(Ordering::Relaxed), v.beats_per_bar.load(Ordering::Relaxed));
        v.phrases.lock().phrase(bar - bars.max(1), bar as f64, bpm, bpb)
    }

    /// [`JsBridge::phrase`] with the notes' times as played (see `PhraseRecorder::performance`).
    pub fn performance(&self, bars: i64) -> crate::ml::core::note_seq::NoteSequence {
        let v = &self.view;
        let bar = v.bar.load(Ordering::Relaxed);
        let (bpm, bpb) = (v.bpm.load(Ordering::Relaxed), v.beats_per_bar.load(Ordering::Relaxed));
        v.phrases.lock().performance(bar - bars.max(1), bar as f64, bpm, bpb)
    }

    /// Moves the runtime's console lines into the plugin console.
    pub fn drain_console(&self, console: &Console) {
        let thread = self.thread.lock();
        let JsThread::Running(h) = &*thread else { return };
        while let Some(line) = h.try_console() {
            // The panel shows the line as headless runs print it (level and location).
            let text = line.to_string();
            console.push_line(crate::control::console::Line { text, ..line });
        }
    }

    fn spawn(
        &self,
        controller: Arc<Mutex<Controller>>,
        to_js: ToJsReceiver,
        midi_in: MidiInReceiver,
    ) -> JsHost {
        // The models compiled into the plugin, written to the user cache on first use;
        // if that fails the source-tree/next-to-binary lookup is the fallback.
        let bundled_dir = match crate::ml::core::embedded::bundled_dir() {
            Ok(dir) => dir,
            Err(e) => {
                controller
                    .lock()
                    .console()
                    .error(Source::Model, format!("bundled models unavailable: {e}"));
                default_bundled_dir()
            }
        };
        let seed = controller.lock().session().seed;
        let sink_controller = controller.clone();
        let clip_controller = controller.clone();
        let keep_controller = controller.clone();
        let view = self.view.clone();
        let temperature_view = self.view.clone();
        // A full engine queue is reported once, not for every send until it drains.
        let mut queue_full_reported = false;
        let (limits, warnings) = crate::js::JsLimits::from_env();
        for w in warnings {
            controller.lock().console().error(Source::System, w);
        }
        JsHost::spawn_counting(
            JsIo {
                limits,
                channel_sink: Box::new(move |id, data| {
                    let mut c = sink_controller.lock();
                    match c.send_channel(id, data.into_vec()) {
                        Ok(()) => queue_full_reported = false,
                        Err(SendError::QueueFull(_)) if queue_full_reported => {}
                        Err(e) => {
                            queue_full_reported = matches!(e, SendError::QueueFull(_));
                            c.console()
                                .error(Source::Js { block: None, line: None }, e.to_string());
                        }
                    }
                }),
                host: view,
                to_js: Some(to_js),
                midi_in: Some(midi_in),
                clip_sink: Box::new(move |clip| {
                    clip_controller.lock().send_clip(clip).map_err(|e| e.to_string())
                }),
                keep_sink: Box::new(move |name, seq| {
                    let mut c = keep_controller.lock();
                    let clips = &mut c.session_mut().studio_clips;
                    crate::control::studio::keep_in_session(clips, name.as_deref(), seq)
                }),
                samples_sink: Box::new(move |name, data| {
                    // Recompiles the playing code, without holding the lock while it compiles;
                    // errors are on the console.
                    let _ = controller::insert_buffer(&controller, &name, data);
                }),
                models: WorkerConfig {
                    cache_dir: default_cache_dir(),
                    bundled_dir,
                    allow_network: true,
                    seed,
                    temperature: Arc::new(move || {
                        temperature_view.temperature.load(Ordering::Relaxed)
                    }),
                    // Replaced by the runtime with the same view's key and scale.
                    scale: Arc::new(|| None),
                    status: self.models.clone(),
                    saved_models: self.saved_models.clone(),
                },
                headless: false,
                base_dir: dirs::home_dir().unwrap_or_else(|| PathBuf::from(".")),
            },
            self.crashes.clone(),
        )
    }
}

impl Drop for JsBridge {
    fn drop(&mut self) {
        if let JsThread::Running(h) = std::mem::replace(&mut *self.thread.lock(), JsThread::Gone) {
            h.shutdown();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control::state::SessionState;
    use std::time::{Duration, Instant};

    fn rig(state: SessionState) -> (JsBridge, Arc<Mutex<Controller>>) {
        let (ends, _audio) = crate::audio::engine::queues();
        let console = Arc::new(Console::new());
        let controller = Arc::new(Mutex::new(Controller::new(ends, state, console)));
        let (_, _, to_js, midi_in) = crate::control::status::outlets();
        (JsBridge::new(to_js, midi_in), controller)
    }

    /// Waits until channel `id` of the session holds `want` (the JS thread sent it).
    fn wait_for_channel(c: &Mutex<Controller>, id: u32, want: &[f64]) -> bool {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end {
            if c.lock().session().channels.get(&id).map(Vec::as_slice) == Some(want) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn evaluations_are_recorded_and_a_loaded_state_runs_them_again() {
        let (js, c) = rig(SessionState { channels: Default::default(), ..SessionState::default() });
        js.eval_block("var ch = createOutputChannel(3, 2);".into(), 0, 1, &c);
        js.eval_block("ch.send([1, 2]);".into(), 1, 3, &c);
        assert!(wait_for_channel(&c, 3, &[1.0, 2.0]));
        let saved = c.lock().session().clone();
        let recorded: Vec<&str> = saved.js_evaluated.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(recorded, ["var ch = createOutputChannel(3, 2);", "ch.send([1, 2]);"]);

        // A fresh instance loads the state without the data: resuming sends it again.
        let mut state = saved.clone();
        state.channels.clear();
        let (js2, c2) = rig(SessionState::default());
        c2.lock().load_state(state.clone());
        assert_eq!(js2.resume(&c2), 2);
        assert!(wait_for_channel(&c2, 3, &[1.0, 2.0]));
        assert_eq!(c2.lock().session().js_evaluated, saved.js_evaluated, "not recorded twice");

        // Turned off: nothing runs.
        state.resume_js = false;
        let (js3, c3) = rig(SessionState::default());
        c3.lock().load_state(state);
        assert_eq!(js3.resume(&c3), 0);
    }
}
