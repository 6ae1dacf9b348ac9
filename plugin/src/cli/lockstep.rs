//! A session's JS run in step with an offline render, so a bounce holds what realtime
//! playback would have played.
//!
//! The runtime runs on the render's thread. The render calls [`LockstepJs::before_block`]
//! before each block and [`LockstepJs::after_block`] after it; each pumps the runtime
//! until the JS work that is due is settled, then the render goes on:
//!
//! - **Setup** ([`LockstepJs::start`]): the blocks are evaluated in order at render time 0
//!   with the transport stopped, waiting for model requests after each block (as a live
//!   coder waits for "model loaded" before the next block and before pressing play).
//! - **Bars**: before the block that starts bar `b` the runtime sees `host.bar == b` and
//!   `host.playing`, so its `host.onBar` callbacks run; the model requests they make are
//!   waited for. The render cuts its blocks at bar starts, so what the callbacks send
//!   reaches the engine at the bar's first sample.
//! - **`toJS`**: the values a block sent are handed to `input` after the block; the
//!   channel data `input` sends reaches the engine at the next block's start, one block
//!   later, as in the plugin.
//! - **MIDI input** (`--midi-in`, and the notes of clips the engine plays): a block's
//!   events go to the JS thread's MIDI queue after the block, stamped by the engine with
//!   their musical time, as the plugin sends them.
//! - **Timers** run by the render's clock ([`Runtime::use_render_clock`]): time 0 is the
//!   first sample; a timer due at `t` fires before the first block that starts at or
//!   after `t`. A render's timers so fire as late as the plugin's would by at most one
//!   block, and never depend on how fast the machine renders.
//!
//! Channel data and samples go to the render's controller exactly as the plugin's JS
//! thread sends them (the controller queues them for the engine).
//!
//! A stuck script cannot hang the render: loops are stopped by the runtime's own limits,
//! and each step waits at most the step timeout for model results and at most
//! [`MAX_ROUNDS`] pumps for timers that keep coming due. A step that does not settle is
//! reported on stderr and the render continues; a model request given up on is not
//! waited for again.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::audio::midi_in::StampedMidiIn;
use crate::audio::patch::{ToJsValue, NUM_PARAMS};
use crate::control::controller::{self, Controller};
use crate::js::{blocks, HostView, JsIo, Runtime, ScriptError, ScriptErrorKind};
use crate::ml::worker::WorkerConfig;

/// Pumps one step may take while timers keep coming due at the same render time (an
/// endless chain of `setTimeout(f, 0)`).
pub const MAX_ROUNDS: usize = 10_000;
/// Capacity of the render's `toJS` and MIDI queues to the runtime (drained after every
/// block; a block sends at most a few thousand values).
const QUEUE_CAPACITY: usize = 1 << 16;

/// How to run a session's JS in a render.
pub struct LockstepOptions {
    /// Model worker configuration (bundled models, cache, network, seed).
    pub models: WorkerConfig,
    /// Longest wait for the JS work of one step (model loads and results), wall clock.
    pub step_timeout: Duration,
    /// Print the console to stdout as it comes.
    pub print: bool,
}

/// What went wrong while the JS ran in a render (the render itself went on).
#[derive(Debug, Default)]
pub struct LockstepReport {
    /// Uncaught JS errors during the render (each was on the console).
    pub errors: Vec<ScriptError>,
    /// Steps whose JS work did not settle in time, described.
    pub stalls: Vec<String>,
}

/// See the module documentation.
pub struct LockstepJs {
    rt: Runtime,
    view: Arc<HostView>,
    to_js: rtrb::Producer<ToJsValue>,
    midi_in: rtrb::Producer<StampedMidiIn>,
    step_timeout: Duration,
    /// Model requests given up on (not waited for again).
    abandoned: usize,
    /// Sends per JS channel so far (set-up included).
    sends: Arc<Mutex<BTreeMap<u32, usize>>>,
    pub report: LockstepReport,
}

impl LockstepJs {
    /// Creates the runtime, wired to `controller` (channel data, samples), and evaluates
    /// `source` block by block at render time 0, transport stopped. Err when the runtime
    /// cannot start, a block threw, or model work did not finish within the timeout (the
    /// errors were on the console).
    pub fn start(
        source: &str,
        base_dir: &Path,
        controller: Arc<Mutex<Controller>>,
        params: [f32; NUM_PARAMS],
        bpm: f64,
        opts: LockstepOptions,
    ) -> Result<Self, ScriptError> {
        let view = Arc::new(HostView::default());
        view.bpm.store(bpm, std::sync::atomic::Ordering::Relaxed);
        view.temperature.store(params[0], std::sync::atomic::Ordering::Relaxed);
        for (m, v) in view.macros.iter().zip(params[1..].iter()) {
            m.store(*v, std::sync::atomic::Ordering::Relaxed);
        }
        let (to_js_tx, to_js_rx) = rtrb::RingBuffer::new(QUEUE_CAPACITY);
        let (midi_tx, midi_rx) = rtrb::RingBuffer::new(QUEUE_CAPACITY);
        let sink_controller = controller.clone();
        let clip_controller = controller.clone();
        let keep_controller = controller.clone();
        let sends = Arc::new(Mutex::new(BTreeMap::new()));
        let sink_sends = sends.clone();
        let io = JsIo {
            limits: crate::js::JsLimits::default(),
            channel_sink: Box::new(move |id, data| {
                *sink_sends.lock().entry(id).or_insert(0) += 1;
                let mut c = sink_controller.lock();
                if let Err(e) = c.send_channel(id, data.into_vec()) {
                    eprintln!("warning: JS channel {id}: {e}");
                }
            }),
            host: view.clone(),
            // `host.play` and call-and-response answers: into the engine's queue, to play
            // from their bar as in the plugin.
            clip_sink: Box::new(move |clip| {
                clip_controller.lock().send_clip(clip).map_err(|e| e.to_string())
            }),
            keep_sink: Box::new(move |name, seq| {
                let mut c = keep_controller.lock();
                let clips = &mut c.session_mut().studio_clips;
                crate::control::studio::keep_in_session(clips, name.as_deref(), seq)
            }),
            to_js: Some(to_js_rx),
            midi_in: Some(midi_rx),
            samples_sink: Box::new(move |name, data| {
                if let Err(e) = controller::insert_buffer(&controller, &name, data) {
                    eprintln!("warning: sema.sendBuffer({name:?}): {e}");
                }
            }),
            models: opts.models,
            headless: opts.print,
            base_dir: base_dir.to_path_buf(),
        };
        let mut rt = Runtime::new(io)?;
        rt.use_render_clock();
        let mut js = LockstepJs {
            rt,
            view,
            to_js: to_js_tx,
            midi_in: midi_tx,
            step_timeout: opts.step_timeout,
            abandoned: 0,
            sends,
            report: LockstepReport::default(),
        };
        for b in blocks::split_blocks(source).iter().filter(|b| !b.is_blank()) {
            js.rt.eval_block(&b.code, b.index, b.first_line);
            js.settle(|| format!("after block {}", b.index + 1));
        }
        let mut errors = std::mem::take(&mut js.report.errors);
        if let Some(stall) = js.report.stalls.first() {
            let e = ScriptError::new(ScriptErrorKind::Pending, stall.clone());
            errors.push(e);
        }
        if !errors.is_empty() {
            let n = errors.len();
            let first = errors.swap_remove(0);
            return Err(ScriptError::uncaught(
                format!("the session's JS raised {n} error(s) while it was set up; first: {first}"),
                first,
            ));
        }
        Ok(js)
    }

    /// Before the block starting at render time `t`, in bar `bar`: moves the runtime's
    /// clock and transport there and settles what is due (bar callbacks, timers, the model
    /// requests they make).
    /// `bar_phase` is the position within the bar (0..1), `beats_per_bar` the meter.
    pub fn before_block(&mut self, t: Duration, bar: i64, bar_phase: f64, beats_per_bar: f64) {
        use std::sync::atomic::Ordering::Relaxed;
        self.rt.set_render_time(t);
        self.view.playing.store(true, Relaxed);
        self.view.bar.store(bar, Relaxed);
        self.view.bar_phase.store(bar_phase, Relaxed);
        self.view.beats_per_bar.store(beats_per_bar, Relaxed);
        self.settle(|| format!("at bar {} ({:.3} s)", bar + 1, t.as_secs_f64()));
    }

    /// After a block: hands its `toJS` values and MIDI input to the runtime and settles
    /// what they cause (`input` calls, model requests). `t` is the block's start.
    pub fn after_block(&mut self, t: Duration, to_js: &[ToJsValue], midi: &[StampedMidiIn]) {
        if to_js.is_empty() && midi.is_empty() {
            return;
        }
        let mut lost = 0usize;
        for v in to_js {
            lost += usize::from(self.to_js.push(*v).is_err());
        }
        for e in midi {
            lost += usize::from(self.midi_in.push(*e).is_err());
        }
        if lost > 0 {
            eprintln!("warning: {lost} toJS/MIDI value(s) did not fit the JS queue and were lost");
        }
        self.settle(|| format!("after the block at {:.3} s", t.as_secs_f64()));
    }

    /// Stops the transport (the render's end) and lets the runtime see it.
    pub fn finish(&mut self) {
        self.view.playing.store(false, std::sync::atomic::Ordering::Relaxed);
        self.rt.pump();
        self.collect();
    }

    /// Pumps until nothing is due: no model request in flight (except ones given up on),
    /// no timer due at the render's time, no `toJS` value waiting. Gives up after the step
    /// timeout (model work) or [`MAX_ROUNDS`] pumps (timers), says so, and returns.
    fn settle(&mut self, step: impl Fn() -> String) {
        let deadline = Instant::now() + self.step_timeout;
        let mut rounds = 0usize;
        loop {
            self.rt.pump();
            self.collect();
            let models = self.rt.pending_models();
            self.abandoned = self.abandoned.min(models);
            let waiting_models = models > self.abandoned;
            let busy_now = self.rt.timers_due() || self.rt.inputs_waiting();
            if !waiting_models && !busy_now {
                return;
            }
            // Only pumps that found work count: waiting for the model worker does not.
            rounds += usize::from(busy_now);
            let timed_out = Instant::now() >= deadline;
            if timed_out || rounds >= MAX_ROUNDS {
                let why = if waiting_models && timed_out {
                    format!(
                        "{} model request(s) did not finish within {:?}",
                        models - self.abandoned,
                        self.step_timeout
                    )
                } else {
                    "timers kept coming due (an endless chain of 0 ms timeouts?)".to_string()
                };
                let text = format!("JS work {}: {why}; the render goes on without it", step());
                eprintln!("warning: {text}");
                self.report.stalls.push(text);
                self.abandoned = models;
                return;
            }
            if waiting_models && !busy_now {
                // The model worker runs on its own thread: give it the time.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }

    /// Collects console lines (printed by the runtime when `print`) and errors.
    fn collect(&mut self) {
        drop(self.rt.take_console());
        self.report.errors.extend(self.rt.take_errors());
    }

    /// How many times each JS channel was sent to so far.
    pub fn sends(&self) -> BTreeMap<u32, usize> {
        self.sends.lock().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::midi_input::MidiFeed;
    use crate::cli::render::{OfflineEngine, RenderSettings};
    use crate::control::console::Console;
    use crate::control::state::SessionState;

    fn options() -> LockstepOptions {
        let mut models = WorkerConfig::new(crate::ml::core::resolve::default_bundled_dir());
        models.allow_network = false;
        models.seed = Some(1);
        LockstepOptions { models, step_timeout: Duration::from_secs(30), print: false }
    }

    fn engine(dsl: &str, bars: u32, beats_per_bar: u8) -> OfflineEngine {
        let state = SessionState {
            dsl: dsl.into(),
            js: String::new(),
            channels: Default::default(),
            ..SessionState::default()
        };
        let settings = RenderSettings { bars, beats_per_bar, ..RenderSettings::default() };
        OfflineEngine::new(state, settings, Arc::new(Console::new()))
    }

    fn start(e: &OfflineEngine, js: &str) -> Result<LockstepJs, ScriptError> {
        let params = e.settings().params;
        LockstepJs::start(js, Path::new("."), e.controller.clone(), params, 120.0, options())
    }

    #[test]
    fn timers_fire_by_the_render_clock() {
        // 1 bar at 120 bpm = 2 s. A timeout of 1 s sends 7 to channel 2: it fires before
        // the first block starting at or after sample 48 000 (512-sample blocks: 48 128).
        let mut e = engine(":x:{2}fromJS;\n>{:x:, 0.1}mul;", 1, 4);
        let mut js =
            start(&e, "var ch = createOutputChannel(2, 1);\nsetTimeout(() => ch.send(7), 1000);")
                .expect("set-up");
        e.resync();
        let rendered = e.render_with(Some(&mut js), &mut MidiFeed::empty(), |_| {});
        let first = rendered.audio[0].iter().position(|&x| x != 0.0).expect("the timer fired");
        assert_eq!(first, 48_128);
        assert!((rendered.audio[0][60_000] - 0.7).abs() < 1e-6);
        assert!(js.report.errors.is_empty() && js.report.stalls.is_empty());
    }

    #[test]
    fn bar_callbacks_send_for_the_first_sample_of_their_bar() {
        // 120 bpm 3/4 at 48 kHz: bars of 72 000 samples, not a multiple of 512.
        let mut e = engine(":x:{4}fromJS;\n>{:x:, 0.1}mul;", 3, 3);
        let mut js =
            start(&e, "var ch = createOutputChannel(4, 1);\nhost.onBar(bar => ch.send(bar + 1));")
                .expect("set-up");
        e.resync();
        let rendered = e.render_with(Some(&mut js), &mut MidiFeed::empty(), |_| {});
        let out = &rendered.audio[0];
        for (bar, start) in [(0usize, 0usize), (1, 72_000), (2, 144_000)] {
            let want = 0.1 * (bar + 1) as f32;
            assert!((out[start] - want).abs() < 1e-6, "bar {bar} at {start}: {}", out[start]);
            if start > 0 {
                assert!((out[start - 1] - 0.1 * bar as f32).abs() < 1e-6, "bar {bar} too early");
            }
        }
    }

    #[test]
    fn a_buffer_js_sends_later_plays_without_re_evaluating() {
        // sema-engine's `newbuf` flow: the live code names `\later` before JS sends it.
        let console = Arc::new(Console::new());
        let data = tempfile::tempdir().expect("tempdir");
        let samples = crate::control::samples::SampleSources {
            folder: data.path().join("no-folder"),
            data: data.path().to_path_buf(),
            pack_url: None,
            only: None,
        };
        let state = SessionState { dsl: ">{{4}clt}\\later;".into(), ..SessionState::default() };
        let settings = RenderSettings { bars: 2, ..RenderSettings::default() };
        let mut e = OfflineEngine::with_samples(state, settings, console.clone(), samples);
        let mut js = start(
            &e,
            "setTimeout(() => {\n  var a = new Float32Array(4800);\n  a.fill(0.5);\n  sema.sendBuffer('later', a);\n}, 1000);",
        )
        .expect("set-up");
        e.resync();
        let rev = e.controller.lock().code_revision();
        let rendered = e.render_with(Some(&mut js), &mut MidiFeed::empty(), |_| {});
        let out = &rendered.audio[0];
        // Beats every 24 000 samples; the buffer arrives at 1 s (block 48 128), after the
        // beat at 48 000: silence until the beat at 72 000, then the 4 800-sample buffer.
        let first = out.iter().position(|&x| x != 0.0).expect("the buffer plays");
        assert!((72_000..72_002).contains(&first), "first sound at {first}");
        assert!(out[first..first + 4_799].iter().all(|&x| (x - 0.5).abs() < 1e-6));
        assert!(out[first + 4_800..96_000].iter().all(|&x| x == 0.0), "plays once per beat");
        assert!(out[96_000..96_000 + 4_000].iter().any(|&x| x != 0.0), "and again on the next");
        assert_eq!(e.controller.lock().code_revision(), rev, "the code was not re-evaluated");
        let warnings: Vec<_> = console
            .snapshot()
            .into_iter()
            .filter(|l| {
                l.level == crate::control::console::Level::Warn && l.text.contains("'later'")
            })
            .collect();
        assert_eq!(warnings.len(), 1, "one warning: {warnings:?}");
        assert!(js.report.errors.is_empty(), "{:?}", js.report.errors);
    }

    #[test]
    fn an_endless_timer_chain_does_not_hang_the_render() {
        let e = engine(">{0}const;", 1, 4);
        let err = start(&e, "function again() { setTimeout(again, 0); }\nagain();")
            .err()
            .expect("the set-up never settles");
        assert!(err.to_string().contains("timers kept coming due"), "{err}");
    }
}
