//! The Boa context and its event loop.
//!
//! [`Runtime`] owns the context and everything asynchronous around it: the Promise job
//! queue, timers, pending model requests, `host.onBar` callbacks and values from the
//! DSL's `toJS`. It never blocks: [`Runtime::pump`] does whatever is due and returns.
//! [`JsHost`](super::JsHost) (`host_thread.rs`) runs a runtime on its own thread for a plugin
//! instance; [`run_source`](super::run_source) and [`run_file`](super::run_file) (`headless.rs`)
//! drive one headless.
//!
//! Runaway scripts are stopped by time and by memory ([`JsLimits`]), uncatchably (a
//! `try` around the loop does not keep it going):
//! - **Time**: every block, timer callback, Promise job chain and `host.onBar` call gets a
//!   wall-clock budget ([`JsLimits::time`], default [`RUN_TIME_LIMIT`]). Boa 0.22 has no
//!   interrupt hook (its only instruction budget is behind its `fuzz` feature), so evaluated
//!   code gets a tick in every loop ([`blocks::instrument_loops`]: in the head of `while`,
//!   `do … while` and `for (;;)` loops, at the start of `for … of/in` bodies), also inside
//!   the functions it declares; the tick reads the clock every 256 calls. Boa's own loop
//!   counter stays as a backstop for code the instrumentation cannot reach (`eval` of a
//!   string, `new Function`), set so high ([`loop_backstop`]) that only a loop running
//!   far past the time budget meets it.
//! - **Memory**: the plugin's allocator counts the JS thread's allocations
//!   ([`super::heap`]); the tick stops a script whose heap grew past
//!   [`JsLimits::heap_bytes`] (default [`MAX_HEAP_BYTES`]). If collecting garbage does not
//!   bring it back under the limit (a global still holds the data), the runtime is
//!   restarted ([`Runtime::restart`]): a fresh context with the same channels, sinks and
//!   model worker, so the next block runs.
//! - Deep recursion stops after [`RECURSION_LIMIT`] calls; the host hooks cap buffers at
//!   [`MAX_BUFFER_BYTES`]; `sema.js` guards `Array(n)`, `fill`, `repeat` and `pad*` against
//!   single huge allocations.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use boa_engine::builtins::promise::{OperationType, PromiseState};
use boa_engine::context::HostHooks;
use boa_engine::job::{Job, JobExecutor, PromiseJob, TimeoutJob};
use boa_engine::object::builtins::{JsArray, JsFunction};
use boa_engine::vm::RuntimeLimits;
use boa_engine::{js_string, Context, JsError, JsObject, JsResult, JsString, JsValue};

use super::blocks::{self, Block};
use super::call_response::CallResponse;
use super::error::{ScriptError, ScriptErrorKind};
use super::input::{JsInput, ListAssembler, ToJsReceiver};
use super::phrase::{sequence_to_clip, ClipOptions, Fed};
use super::{api, HostView};
use crate::audio::midi_in::{Clip, MidiInKind, MidiInReceiver, MidiSource, StampedMidiIn};
use crate::control::console::{Level, Line};
use crate::ml::core::note_seq::NoteSequence;
use crate::ml::worker::{ModelWorker, WorkerConfig};

mod api_state;
mod events;
mod limits;

pub(crate) use api_state::*;
pub use limits::*;

/// Promise jobs run in one go before the queue is declared runaway and dropped.
const MAX_JOBS_PER_PUMP: usize = 1_000_000;
/// Values from `toJS` handed to `input` per pump (the rest waits for the next pump).
const MAX_INPUTS_PER_PUMP: usize = 4096;
/// MIDI input events handled per pump (the rest waits for the next pump).
const MAX_MIDI_PER_PUMP: usize = 4096;

/// Evaluations remembered for attributing error lines to blocks.
const MAX_EVALUATED_RECORDS: usize = 1024;
/// Stack of the JS thread: native built-ins (e.g. `Array.prototype.map`) recurse on it.
pub(super) const JS_THREAD_STACK: usize = 64 * 1024 * 1024;

/// Where `host.studio.keep(seq, name)` keeps a clip (see [`JsIo::keep_sink`]).
pub type KeepSink = Box<
    dyn FnMut(Option<String>, crate::ml::core::note_seq::NoteSequence) -> Result<String, String>
        + Send,
>;

/// The keep sink of a runtime without a session (headless runs, tests): every keep is a
/// message saying so.
pub fn no_session() -> KeepSink {
    Box::new(|_, _| Err("no session to keep clips in here (a headless run)".into()))
}

/// What the runtime talks to. Everything is a channel, a ring buffer, an atomic or a
/// callback that the plugin makes lock-free, so the JS thread never makes the audio
/// thread wait.
pub struct JsIo {
    /// Receives `(channel id, data)` for every `send` on a JS output channel, with the
    /// data already padded or truncated to the channel's block size.
    pub channel_sink: Box<dyn FnMut(u32, Box<[f64]>) + Send>,
    /// Host parameters and transport.
    pub host: Arc<HostView>,
    /// The JS thread's end of the audio thread's `toJS` ring buffer (none when headless):
    /// drained on every pump and handed to JS `input(value, channel)`.
    pub to_js: Option<ToJsReceiver>,
    /// The JS thread's end of the audio thread's MIDI-input ring buffer (none when
    /// headless): what the host plays into the plugin, stamped with its musical time.
    pub midi_in: Option<MidiInReceiver>,
    /// Receives the clips of `host.play`, `host.stopClip` and call-and-response answers
    /// for the engine to play from their bar; Err is a message for the script.
    pub clip_sink: Box<dyn FnMut(Clip) -> Result<(), String> + Send>,
    /// `host.studio.keep(seq, name)`: keeps a clip in the session as the Studio's Keep
    /// does; returns the name kept under, or a message for the script.
    pub keep_sink: KeepSink,
    /// Receives `sema.sendBuffer(name, data)`.
    pub samples_sink: Box<dyn FnMut(String, Vec<f32>) + Send>,
    /// Configuration of the model worker, started on the first model request. Its
    /// `temperature` source is replaced by `host.temperature`.
    pub models: WorkerConfig,
    /// Headless run (CLI, tests): console lines are also printed to stdout.
    pub headless: bool,
    /// Folder that relative `importScripts` paths are resolved against.
    pub base_dir: PathBuf,
    /// How long scripts may run and how much memory they may hold.
    pub limits: JsLimits,
}

thread_local! {
    /// When the running block or callback must stop (checked by `__semaTick`). Per
    /// thread, not per runtime: only one runtime runs on a thread at a time and each
    /// entry into JS sets it first. Kept outside the context so a tick stays cheap.
    static DEADLINE: std::cell::Cell<Option<Instant>> = const { std::cell::Cell::new(None) };
    /// Ticks since the clock was last read.
    static TICKS: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    /// Set when `__semaTick` stopped a script for running too long.
    static TIMED_OUT: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The running runtime's heap limit (checked by `__semaTick`).
    static HEAP_LIMIT: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
    /// Set when `__semaTick` stopped a script for holding too much memory.
    static OUT_OF_MEMORY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Set from another thread to stop the running script at once (the instance is being
    /// destroyed): see [`set_interrupt`].
    static INTERRUPT: std::cell::RefCell<Option<Arc<std::sync::atomic::AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// A block that was evaluated: which file lines it covers.
#[derive(Clone, Copy, Debug)]
struct EvaluatedBlock {
    index: usize,
    first_line: usize,
    line_count: usize,
}

/// A Boa context with Sema's API and its event loop.
pub struct Runtime {
    /// The engine. Dropped last (see `Drop`).
    ctx: Context,
    /// The state the API's natives act on.
    state: Rc<RefCell<ApiState>>,
    /// The job queue.
    jobs: Rc<Jobs>,
    /// Rejection tracking.
    hooks: Rc<Hooks>,
    /// Values from `toJS`, straight from the audio thread's ring buffer.
    to_js: Option<ToJsReceiver>,
    /// Reassembles the lists `toJS` sends value by value.
    to_js_lists: ListAssembler,
    /// MIDI input, straight from the audio thread's ring buffer.
    midi_in: Option<MidiInReceiver>,
    /// Host position (bars) call-and-response last saw, to notice relocations.
    cr_last_pos: Option<f64>,
    /// The engine's own `eval` (users may shadow the global).
    eval_fn: JsObject,
    /// Bar index the `onBar` callbacks last ran for (None while stopped).
    last_bar: Option<i64>,
    /// Time 0 of the render's timeline, once [`Runtime::use_render_clock`] was called.
    render_origin: Option<Instant>,
    /// Blocks evaluated so far, latest last (to attribute error lines).
    evaluated: Vec<EvaluatedBlock>,
    /// Print console lines to stdout as they are collected.
    headless: bool,
    /// Number of uncaught errors reported so far.
    errors: usize,
    /// Uncaught errors not yet collected with [`Runtime::take_errors`].
    uncaught: Vec<ScriptError>,
    /// How long scripts may run and how much memory they may hold.
    limits: JsLimits,
    /// The seed of `Math.random` (set again by a restart).
    seed: Option<u64>,
    /// Why the runtime must restart once the running entry point returns (a heap stop
    /// that garbage collection could not undo).
    restart_pending: Option<String>,
    /// Number of restarts so far.
    restarts: usize,
}

/// A context with the API installed and `Math.random` seeded, and its `eval`.
fn build_context(
    jobs: Rc<Jobs>,
    hooks: Rc<Hooks>,
    state: &Rc<RefCell<ApiState>>,
    seed: Option<u64>,
    limits: JsLimits,
) -> Result<(Context, JsObject), ScriptError> {
    let setup = |message: String| ScriptError::new(ScriptErrorKind::Setup, message);
    let mut ctx = Context::builder()
        .job_executor(jobs)
        .host_hooks(hooks)
        .build()
        .map_err(|e| setup(format!("cannot create the JS context: {e}")))?;
    let mut runtime_limits = RuntimeLimits::default();
    runtime_limits.set_loop_iteration_limit(loop_backstop(limits.time));
    runtime_limits.set_recursion_limit(RECURSION_LIMIT);
    ctx.set_runtime_limits(runtime_limits);
    ctx.insert_data(ApiStateHandle(state.clone()));
    let eval_fn = ctx
        .global_object()
        .get(js_string!("eval"), &mut ctx)
        .ok()
        .and_then(|v| v.as_callable())
        .ok_or_else(|| setup("the JS engine has no eval function".into()))?;
    api::install(&mut ctx).map_err(|e| setup(format!("cannot install the JS API: {e}")))?;
    // A seeded run (renders, tests) must be reproducible: seed `Math.random` too, since
    // tf.randomNormal and user code draw from it.
    if let Some(seed) = seed {
        // mulberry32, the same generator tf.js uses for an explicit seed.
        let src = format!(
            "Math.random = (function () {{ let a = {} >>> 0; return function () {{ \
             a = (a + 0x6D2B79F5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); \
             t ^= t + Math.imul(t ^ (t >>> 7), t | 61); \
             return ((t ^ (t >>> 14)) >>> 0) / 4294967296; }}; }})();",
            seed as u32
        );
        ctx.eval(boa_engine::Source::from_bytes(&src))
            .map_err(|e| setup(format!("cannot seed Math.random: {e}")))?;
    }
    Ok((ctx, eval_fn))
}

/// Wraps the sinks that move script data to other threads: the data they are given is
/// taken off the JS thread's heap count and whatever they allocate is not counted (see
/// [`super::heap`]).
fn accounted_sinks(io: &mut JsIo) {
    use std::mem::{replace, size_of_val};
    let mut channel = replace(&mut io.channel_sink, Box::new(|_, _| {}));
    io.channel_sink = Box::new(move |id, data| {
        super::heap::forget(size_of_val(&*data));
        super::heap::untracked(|| channel(id, data));
    });
    let mut samples = replace(&mut io.samples_sink, Box::new(|_, _| {}));
    io.samples_sink = Box::new(move |name, data| {
        super::heap::forget(data.capacity() * size_of::<f32>() + name.capacity());
        super::heap::untracked(|| samples(name, data));
    });
    let mut clips = replace(&mut io.clip_sink, Box::new(|_| Ok(())));
    io.clip_sink = Box::new(move |clip| super::heap::untracked(|| clips(clip)));
    let mut keeps = replace(&mut io.keep_sink, no_session());
    io.keep_sink = Box::new(move |name, seq| super::heap::untracked(|| keeps(name, seq)));
}

impl Runtime {
    /// Creates a context and installs the API.
    pub fn new(mut io: JsIo) -> Result<Self, ScriptError> {
        accounted_sinks(&mut io);
        let clock = JsClock::default();
        let jobs = Rc::new(Jobs { clock: clock.clone(), ..Jobs::default() });
        let hooks = Rc::new(Hooks::default());
        let seed = io.models.seed;
        let state = Rc::new(RefCell::new(ApiState {
            console: VecDeque::new(),
            channel_sink: io.channel_sink,
            samples_sink: io.samples_sink,
            host: io.host,
            timers: Vec::new(),
            next_timer_id: 0,
            bar_callbacks: Vec::new(),
            note_callbacks: Vec::new(),
            cc_callbacks: Vec::new(),
            clip_sink: io.clip_sink,
            keep_sink: io.keep_sink,
            call_response: None,
            cr_results: Vec::new(),
            next_bar_id: 0,
            pending_models: HashMap::new(),
            worker: None,
            model_status: io.models.status.clone(),
            saved_models: io.models.saved_models.clone(),
            script_cache: super::script_cache::scripts_dir(&io.models.cache_dir),
            allow_network: io.models.allow_network,
            worker_config: Some(io.models),
            layers: HashMap::new(),
            next_layers_id: 0,
            trainer: None,
            pending_fits: HashMap::new(),
            next_fit_id: 0,
            current_block: None,
            base_dir: io.base_dir,
            clock,
        }));
        let (ctx, eval_fn) = build_context(jobs.clone(), hooks.clone(), &state, seed, io.limits)?;
        // The heap limit counts what scripts hold, not the runtime's own set-up.
        super::heap::track_this_thread();
        Ok(Runtime {
            ctx,
            state,
            jobs,
            hooks,
            to_js: io.to_js,
            to_js_lists: ListAssembler::default(),
            midi_in: io.midi_in,
            cr_last_pos: None,
            eval_fn,
            last_bar: None,
            render_origin: None,
            evaluated: Vec::new(),
            headless: io.headless,
            errors: 0,
            uncaught: Vec::new(),
            limits: io.limits,
            seed,
            restart_pending: None,
            restarts: 0,
        })
    }

    /// Replaces the context with a fresh one (after a panic in the engine, or memory that
    /// a stopped script still holds): globals, timers, callbacks, pending Promises and
    /// call-and-response are gone; the channels, sinks, console, clock and model worker
    /// stay (models must be created again from JS). Says so on the console.
    pub fn restart(&mut self, why: &str) -> Result<(), ScriptError> {
        self.restart_pending = None;
        self.state.borrow_mut().clear_scheduled();
        self.jobs.promise.borrow_mut().clear();
        self.jobs.timeouts.borrow_mut().clear();
        self.hooks.rejected.borrow_mut().clear();
        let jobs = Rc::new(Jobs { clock: self.clock(), ..Jobs::default() });
        let hooks = Rc::new(Hooks::default());
        let (ctx, eval_fn) =
            build_context(jobs.clone(), hooks.clone(), &self.state, self.seed, self.limits)?;
        let old = std::mem::replace(&mut self.ctx, ctx);
        self.eval_fn = eval_fn;
        self.jobs = jobs;
        self.hooks = hooks;
        drop(old);
        boa_engine::gc::force_collect();
        self.last_bar = None;
        self.cr_last_pos = None;
        self.restarts += 1;
        super::heap::track_this_thread();
        let text = format!(
            "{why}: the JS runtime was restarted (variables, timers and callbacks are gone; \
             channels keep their data): evaluate your blocks again"
        );
        let mut sh = self.state.borrow_mut();
        sh.current_block = None;
        sh.console.push_back(Line::js(Level::Warn, text, None, None));
        Ok(())
    }

    /// Number of times the runtime was restarted ([`Runtime::restart`]).
    pub fn restarts(&self) -> usize {
        self.restarts
    }

    /// The runtime's limits.
    pub fn limits(&self) -> JsLimits {
        self.limits
    }

    /// Restarts the runtime if a heap stop asked for it (at the end of an entry point,
    /// never while callbacks of the old context are being run).
    fn restart_if_pending(&mut self) {
        if let Some(why) = self.restart_pending.take() {
            if let Err(e) = self.restart(&why) {
                self.state.borrow_mut().console.push_back(e.to_console_line());
            }
        }
    }

    /// Evaluates one block as Sema does: in the global scope, where `var` and function
    /// declarations persist, while the block's `let`/`const`/`class` stay local to it
    /// (an indirect `eval`). `first_line` is the block's first line in the file, so
    /// errors report file lines. Returns false when the block threw.
    pub fn eval_block(&mut self, code: &str, block_index: usize, first_line: usize) -> bool {
        let line_count = code.lines().count().max(1);
        // Kept in evaluation order; the latest evaluation covering a line wins (a single
        // line evaluated with Shift+Enter must not hide the rest of its block).
        if self.evaluated.len() >= MAX_EVALUATED_RECORDS {
            self.evaluated.remove(0);
        }
        self.evaluated.push(EvaluatedBlock { index: block_index, first_line, line_count });
        {
            let mut sh = self.state.borrow_mut();
            sh.current_block = Some(block_index);
            // Re-evaluating a block replaces the bar callbacks it registered before, so
            // live edits do not stack up callbacks.
            sh.bar_callbacks.retain(|c| c.block != Some(block_index));
            sh.note_callbacks.retain(|c| c.block != Some(block_index));
            sh.cc_callbacks.retain(|c| c.block != Some(block_index));
            if sh.call_response.as_ref().is_some_and(|c| c.block == Some(block_index)) {
                sh.call_response = None;
            }
        }
        let source = with_ticks(blocks::padded_code(code, first_line), &mut self.ctx);
        self.arm();
        let result = self.eval_fn.call(
            &JsValue::undefined(),
            &[JsString::from(source.as_str()).into()],
            &mut self.ctx,
        );
        let ok = match result {
            Ok(_) => true,
            Err(e) => {
                self.report_error(&e, "Uncaught");
                false
            }
        };
        self.run_microtasks();
        self.state.borrow_mut().current_block = None;
        self.restart_if_pending();
        ok
    }

    /// Evaluates a whole block list (skipping blank blocks).
    pub fn eval_blocks(&mut self, blocks: &[Block]) -> usize {
        let mut failed = 0;
        for b in blocks.iter().filter(|b| !b.is_blank()) {
            if !self.eval_block(&b.code, b.index, b.first_line) {
                failed += 1;
            }
        }
        failed
    }

    /// Does whatever is due: model results, MIDI input, DSL input, timers, bar
    /// callbacks, call-and-response and the Promise jobs they cause. Never blocks.
    pub fn pump(&mut self) {
        self.deliver_model_results();
        self.deliver_training();
        self.deliver_midi();
        self.deliver_inputs();
        self.run_timers();
        self.run_bar_callbacks();
        self.run_call_response();
        self.run_microtasks();
        self.restart_if_pending();
    }

    /// Console lines collected since the last call (printed first when headless).
    pub fn take_console(&mut self) -> Vec<Line> {
        let lines: Vec<Line> = self.state.borrow_mut().console.drain(..).collect();
        if self.headless {
            for l in &lines {
                println!("{l}");
            }
        }
        lines
    }

    /// Number of model requests in flight (including `model.fit` calls training).
    pub fn pending_models(&self) -> usize {
        let sh = self.state.borrow();
        sh.pending_models.len() + sh.pending_fits.len()
    }

    /// Number of live timers (`setTimeout` not yet fired, `setInterval` not cleared).
    pub fn pending_timers(&self) -> usize {
        self.state.borrow().timers.len()
    }

    /// Whether only intervals (never-ending) remain among the timers.
    pub fn only_intervals_left(&self) -> bool {
        self.state.borrow().timers.iter().all(|t| t.interval.is_some())
    }

    /// When the next timer is due, if any.
    pub fn next_timer(&self) -> Option<Instant> {
        self.state.borrow().timers.iter().map(|t| t.due).min()
    }

    /// Whether a timer is due now (by the runtime's clock: see
    /// [`Runtime::use_render_clock`]).
    pub fn timers_due(&self) -> bool {
        let sh = self.state.borrow();
        let now = sh.clock.now();
        sh.timers.iter().any(|t| t.due <= now)
    }

    /// Whether values from `toJS` or MIDI input are waiting to be handed to the script.
    pub fn inputs_waiting(&self) -> bool {
        self.to_js.as_ref().is_some_and(|rx| !rx.is_empty())
            || self.midi_in.as_ref().is_some_and(|rx| !rx.is_empty())
    }

    /// Makes the runtime's timers follow a render's timeline instead of the wall clock:
    /// from now on time stands still at the render's time 0 until
    /// [`Runtime::set_render_time`] moves it. A `setTimeout(f, 500)` made at render time
    /// `t` is due at `t + 500 ms` and fires in the first pump at or after that time.
    /// Timers made before this call keep their wall-clock delay, counted from time 0.
    pub fn use_render_clock(&mut self) {
        let origin = *self.render_origin.get_or_insert_with(Instant::now);
        self.state.borrow().clock.0.set(Some(origin));
    }

    /// Moves the render's clock to `t` from the render's start (see
    /// [`Runtime::use_render_clock`]; ignored without it).
    pub fn set_render_time(&mut self, t: Duration) {
        if let Some(origin) = self.render_origin {
            self.state.borrow().clock.0.set(Some(origin + t));
        }
    }

    /// Makes the runtime's timers follow the wall clock again after a render (the plugin
    /// leaving offline mode): a timer due `d` after the render's current time is due `d`
    /// from now. The next [`Runtime::use_render_clock`] starts a new render at time 0.
    pub fn use_wall_clock(&mut self) {
        let mut sh = self.state.borrow_mut();
        if let Some(render_now) = sh.clock.0.get() {
            let now = Instant::now();
            for t in sh.timers.iter_mut() {
                t.due = now + t.due.saturating_duration_since(render_now);
            }
            sh.clock.0.set(None);
        }
        self.render_origin = None;
    }

    /// When the next timer is due on the render's clock, in seconds from the render's
    /// start (None without timers or without [`Runtime::use_render_clock`]).
    pub fn next_timer_render_secs(&self) -> Option<f64> {
        let origin = self.render_origin?;
        self.next_timer().map(|due| due.saturating_duration_since(origin).as_secs_f64())
    }

    /// Whether `host.callAndResponse` is listening (it follows the host position).
    pub fn listening(&self) -> bool {
        self.state.borrow().call_response.is_some()
    }

    /// The clock timers run by.
    fn clock(&self) -> JsClock {
        self.state.borrow().clock.clone()
    }

    /// Number of uncaught errors reported so far.
    pub fn error_count(&self) -> usize {
        self.errors
    }

    /// Uncaught errors reported since the last call (each was also a console line).
    pub fn take_errors(&mut self) -> Vec<ScriptError> {
        std::mem::take(&mut self.uncaught)
    }

    /// Forgets every `host.onBar`/`onNote`/`onCC` callback, call-and-response, timer and
    /// pending model request, so nothing scheduled by earlier code runs any more (a loaded
    /// state replaces the session; its blocks are evaluated next). Globals stay until the
    /// new code replaces them.
    pub fn reset_scheduled(&mut self) {
        self.state.borrow_mut().clear_scheduled();
        self.last_bar = None;
    }

    /// Direct access to the context (tests, embedding).
    pub fn context(&mut self) -> &mut Context {
        &mut self.ctx
    }

    /// Starts the run-time clock of a block or callback about to run.
    fn arm(&self) {
        DEADLINE.set(Some(Instant::now() + self.limits.time));
        HEAP_LIMIT.set(self.limits.heap_bytes);
        TIMED_OUT.set(false);
        OUT_OF_MEMORY.set(false);
    }

    /// Runs queued Promise jobs, then reports rejections nobody handled.
    fn run_microtasks(&mut self) {
        self.arm();
        if let Err(e) = self.jobs.clone().run_jobs(&mut self.ctx) {
            self.report_error(&e, "Uncaught");
        }
        // Engine-made timeouts (rare: only built-ins that schedule them).
        let now = self.clock().now();
        let due: Vec<TimeoutJob> = {
            let mut t = self.jobs.timeouts.borrow_mut();
            let (run, keep): (Vec<_>, Vec<_>) = t.drain(..).partition(|(d, _)| *d <= now);
            *t = keep;
            run.into_iter().map(|(_, j)| j).collect()
        };
        for j in due {
            if let Err(e) = j.call(&mut self.ctx) {
                self.report_error(&e, "Uncaught");
            }
        }
        let rejected: Vec<JsObject> = self.hooks.rejected.borrow_mut().drain(..).collect();
        for p in rejected {
            let reason = match boa_engine::object::builtins::JsPromise::from_object(p) {
                Ok(p) => match p.state() {
                    PromiseState::Rejected(r) => r,
                    _ => continue,
                },
                Err(_) => continue,
            };
            let err = JsError::from_opaque(reason);
            self.report_error(&err, "Uncaught (in promise)");
        }
    }

    /// Reports an uncaught error on the console with its block and file line.
    fn report_error(&mut self, err: &JsError, prefix: &str) {
        self.errors += 1;
        let full = error_text(err, &mut self.ctx);
        let pos = blocks::error_position(&full);
        let line = pos.map(|(l, _)| l);
        let current = self.state.borrow().current_block;
        let block = line
            .and_then(|l| {
                self.evaluated
                    .iter()
                    .rev()
                    .find(|b| l >= b.first_line && l < b.first_line + b.line_count)
            })
            .map(|b| b.index)
            .or(current);
        // `__semaTick` stops a script with Boa's loop limit error and says so here.
        let kind = if OUT_OF_MEMORY.replace(false) {
            ScriptErrorKind::HeapLimit
        } else if TIMED_OUT.replace(false) {
            ScriptErrorKind::TimeLimit
        } else {
            ScriptErrorKind::of(err)
        };
        let first = first_line_of(&full);
        let mb = |b: usize| b as f64 / (1024.0 * 1024.0);
        let text = match kind {
            ScriptErrorKind::TimeLimit => format!(
                "{prefix} the script ran longer than {} s and was stopped",
                self.limits.time.as_secs_f64()
            ),
            ScriptErrorKind::HeapLimit => format!(
                "{prefix} the script held more than {:.0} MB of memory and was stopped",
                mb(self.limits.heap_bytes)
            ),
            ScriptErrorKind::LoopLimit => format!(
                "{prefix} {first} (more than {} loop iterations in one call without a time \
                 check: the script was stopped)",
                loop_backstop(self.limits.time)
            ),
            ScriptErrorKind::RecursionLimit => {
                format!("{prefix} {first} (too deep recursion: the script was stopped)")
            }
            _ => format!("{prefix} {first}"),
        };
        let error = ScriptError::new(kind, text).at(block, line);
        self.state.borrow_mut().console.push_back(error.to_console_line());
        self.uncaught.push(error);
        if kind == ScriptErrorKind::HeapLimit {
            // Garbage of the stopped script goes now; what a global still holds would stop
            // every later loop, so then the runtime starts afresh.
            boa_engine::gc::force_collect();
            let live = super::heap::live_bytes();
            if live > self.limits.heap_bytes / 2 {
                self.restart_pending =
                    Some(format!("the scripts still hold {:.0} MB after the stop", mb(live)));
            }
        }
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        // Release every JS handle kept outside the engine before the context goes.
        self.state.borrow_mut().clear_scheduled();
        self.jobs.promise.borrow_mut().clear();
        self.jobs.timeouts.borrow_mut().clear();
        self.hooks.rejected.borrow_mut().clear();
    }
}

/// The full text of an error: message, position and backtrace as Boa prints them.
pub(crate) fn error_text(err: &JsError, ctx: &mut Context) -> String {
    match err.try_native(ctx) {
        Ok(native) => {
            let mut s = native.to_string();
            // The backtrace (with eval positions) is on the JsError, not the native copy.
            let full = err.to_string();
            if let Some(i) = full.find("\n    at ") {
                s.push_str(&full[i..]);
            }
            s
        }
        Err(_) => {
            let full = err.to_string();
            match err.as_opaque() {
                Some(v) if !v.is_object() => {
                    let shown = v.display().to_string();
                    match full.find("\n    at ") {
                        Some(i) => format!("{shown}{}", &full[i..]),
                        None => shown,
                    }
                }
                _ => full,
            }
        }
    }
}

/// The first line of a possibly multi-line text.
fn first_line_of(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
