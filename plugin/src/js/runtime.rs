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
use super::phrase::{sequence_to_clip, ClipOptions, Fed, PhraseRecorder};
use super::{api, HostView};
use crate::audio::midi_in::{Clip, MidiInKind, MidiInReceiver, MidiSource, StampedMidiIn};
use crate::control::console::{Level, Line};
use crate::ml::core::note_seq::NoteSequence;
use crate::ml::worker::{ModelWorker, WorkerConfig};

/// Loop iterations per second of time budget that Boa's own per-frame loop counter allows
/// (the backstop for loops without a tick, see [`loop_backstop`]): more than Boa runs in
/// a second even for an empty loop in a release build.
pub const BACKSTOP_ITERATIONS_PER_SECOND: u64 = 100_000_000;
/// Depth of nested JS calls before a "too much recursion" error.
pub const RECURSION_LIMIT: usize = 400;
/// Largest ArrayBuffer (and so typed array) a script may allocate, in bytes.
pub const MAX_BUFFER_BYTES: u64 = 256 * 1024 * 1024;
/// Default heap limit of a runtime: what its scripts may hold in memory, in bytes.
pub const MAX_HEAP_BYTES: usize = 256 * 1024 * 1024;
/// Promise jobs run in one go before the queue is declared runaway and dropped.
const MAX_JOBS_PER_PUMP: usize = 1_000_000;
/// Live timers a script may hold at once.
pub const MAX_TIMERS: usize = 10_000;
/// Values from `toJS` handed to `input` per pump (the rest waits for the next pump).
const MAX_INPUTS_PER_PUMP: usize = 4096;
/// MIDI input events handled per pump (the rest waits for the next pump).
const MAX_MIDI_PER_PUMP: usize = 4096;
/// Default for how long a block, callback or Promise job chain may run: every loop checks
/// it (see [`blocks::instrument_loops`]), so a loop that calls looping functions stops too.
pub const RUN_TIME_LIMIT: Duration = Duration::from_secs(5);
/// The call inserted into loops (a statement at the start of a body, or the first operand
/// of a comma expression in a loop head).
pub(crate) const TICK_CALL: &str = "__semaTick()";

/// How long a script may run and how much memory it may hold (see the module doc).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct JsLimits {
    /// Wall-clock budget of each block, timer callback, Promise job chain or `onBar` call.
    pub time: Duration,
    /// What the JS thread may hold, in bytes, beyond the runtime's own set-up.
    pub heap_bytes: usize,
}

impl Default for JsLimits {
    fn default() -> Self {
        JsLimits { time: RUN_TIME_LIMIT, heap_bytes: MAX_HEAP_BYTES }
    }
}

impl JsLimits {
    /// The defaults, overridden by `SEMA_LIVE_JS_TIME_LIMIT` (seconds) and
    /// `SEMA_LIVE_JS_HEAP_MB` (megabytes) when they hold a positive number (how a DAW user
    /// sets them for the plugin). Unusable values are reported in the returned warnings.
    pub fn from_env() -> (Self, Vec<String>) {
        let mut limits = JsLimits::default();
        let mut warnings = Vec::new();
        if let Ok(v) = std::env::var("SEMA_LIVE_JS_TIME_LIMIT") {
            match Self::parse_seconds(&v) {
                Ok(t) => limits.time = t,
                Err(e) => warnings.push(format!("SEMA_LIVE_JS_TIME_LIMIT: {e}")),
            }
        }
        if let Ok(v) = std::env::var("SEMA_LIVE_JS_HEAP_MB") {
            match Self::parse_megabytes(&v) {
                Ok(b) => limits.heap_bytes = b,
                Err(e) => warnings.push(format!("SEMA_LIVE_JS_HEAP_MB: {e}")),
            }
        }
        (limits, warnings)
    }

    /// A time budget in seconds: positive, at most an hour.
    pub fn parse_seconds(text: &str) -> Result<Duration, String> {
        match text.trim().parse::<f64>() {
            Ok(s) if s > 0.0 && s <= 3600.0 => Ok(Duration::from_secs_f64(s)),
            _ => Err(format!("{text:?} is not a number of seconds between 0 and 3600")),
        }
    }

    /// A heap limit in megabytes: at least 1, at most 65536.
    pub fn parse_megabytes(text: &str) -> Result<usize, String> {
        match text.trim().parse::<f64>() {
            Ok(mb) if (1.0..=65536.0).contains(&mb) => Ok((mb * 1024.0 * 1024.0) as usize),
            _ => Err(format!("{text:?} is not a number of megabytes between 1 and 65536")),
        }
    }
}

/// Boa's per-frame loop iteration limit for a time budget: the backstop for loops the
/// instrumentation could not reach, never met by a loop that stays within the budget.
pub fn loop_backstop(time: Duration) -> u64 {
    (time.as_secs_f64().max(1.0) * BACKSTOP_ITERATIONS_PER_SECOND as f64) as u64
}
/// Evaluations remembered for attributing error lines to blocks.
const MAX_EVALUATED_RECORDS: usize = 1024;
/// Stack of the JS thread: native built-ins (e.g. `Array.prototype.map`) recurse on it.
pub(super) const JS_THREAD_STACK: usize = 64 * 1024 * 1024;

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

/// A timer made by `setTimeout`/`setInterval`.
pub(crate) struct Timer {
    /// The id returned to JS.
    pub id: u32,
    /// When it fires next.
    pub due: Instant,
    /// Period for `setInterval`.
    pub interval: Option<Duration>,
    /// The callback.
    pub func: JsObject,
    /// Extra arguments given to `setTimeout(fn, ms, ...args)`.
    pub args: Vec<JsValue>,
    /// Block that created it (for error locations).
    pub block: Option<usize>,
}

/// A `host.onBar` (or `host.onNote`, `host.onCC`) callback.
pub(crate) struct BarCallback {
    /// The id returned to JS (for `host.offBar`).
    pub id: u32,
    /// Block that registered it: evaluating that block again replaces it.
    pub block: Option<usize>,
    /// The callback.
    pub func: JsObject,
}

/// `host.callAndResponse`: its timing, the script's functions and answer settings.
pub(crate) struct CallResponseSlot {
    pub machine: CallResponse,
    /// `generate(seq, steps, id)`: asks the script's model, reports back through
    /// `crResult`/`crFailed`.
    pub generate: JsObject,
    /// `onAnswer(seq, {bar, late})`, if given.
    pub on_answer: Option<JsObject>,
    /// MIDI channel 0..=15 and velocity 0..=1 of the answer.
    pub channel: u8,
    pub velocity: f32,
    /// The model's pitch range: the call is folded into it by octaves.
    pub range: (i32, i32),
    /// Block that set it up: evaluating that block again replaces it.
    pub block: Option<usize>,
    /// When each answer in flight was asked for.
    pub asked: HashMap<u64, Instant>,
}

/// A model request waiting for the worker.
pub(crate) struct PendingModel {
    /// Resolves the Promise returned to JS.
    pub resolve: JsFunction,
    /// Rejects it.
    pub reject: JsFunction,
    /// What was asked (for error messages).
    pub what: String,
    /// Block that asked.
    pub block: Option<usize>,
}

/// A `model.fit` running on the training thread.
pub(crate) struct PendingFit {
    /// The JS layer's `handler(kind, index, logs)`, called for each event.
    pub handler: JsFunction,
    /// Settle the Promise `fit` returned.
    pub resolve: JsFunction,
    pub reject: JsFunction,
    /// Block that called `fit`.
    pub block: Option<usize>,
}

/// The state the API's native functions act on (console lines, sinks, timers, bar
/// callbacks, model requests), owned with the runtime and stored in the context (natives
/// fetch it with [`api_state`]). Never borrowed across a call into JS.
pub(crate) struct ApiState {
    /// Console lines not yet collected.
    pub console: VecDeque<Line>,
    /// Output channel data to the audio engine.
    pub channel_sink: Box<dyn FnMut(u32, Box<[f64]>) + Send>,
    /// Samples to the DSL.
    pub samples_sink: Box<dyn FnMut(String, Vec<f32>) + Send>,
    /// Host parameters and transport.
    pub host: Arc<HostView>,
    /// Live timers.
    pub timers: Vec<Timer>,
    /// Last timer id handed out.
    pub next_timer_id: u32,
    /// `host.onBar` callbacks.
    pub bar_callbacks: Vec<BarCallback>,
    /// `host.onNote` callbacks.
    pub note_callbacks: Vec<BarCallback>,
    /// `host.onCC` callbacks.
    pub cc_callbacks: Vec<BarCallback>,
    /// Clips to the engine.
    pub clip_sink: Box<dyn FnMut(Clip) -> Result<(), String> + Send>,
    /// What the musician played (`host.phrase`, call-and-response).
    pub recorder: PhraseRecorder,
    /// `host.callAndResponse`, while on.
    pub call_response: Option<CallResponseSlot>,
    /// Answers (or failures) that came back, by request id, for the next pump.
    pub cr_results: Vec<(u64, Result<NoteSequence, String>)>,
    /// Last bar callback id handed out.
    pub next_bar_id: u32,
    /// Model requests in flight, by worker request id.
    pub pending_models: HashMap<u64, PendingModel>,
    /// The model worker, once started.
    pub worker: Option<ModelWorker>,
    /// Its configuration until then.
    pub worker_config: Option<WorkerConfig>,
    /// Layers API models (`tf.sequential`), by id.
    pub layers: HashMap<u64, crate::ml::layers::trainer::ModelRef>,
    /// Last model id handed out.
    pub next_layers_id: u64,
    /// The training thread, once a `fit` started it.
    pub trainer: Option<crate::ml::layers::trainer::Trainer>,
    /// `fit` calls in flight, by job id.
    pub pending_fits: HashMap<u64, PendingFit>,
    /// Last fit job id handed out.
    pub next_fit_id: u64,
    /// Where the training thread reports progress (the status strip).
    pub model_status: Arc<crate::ml::worker::ModelStatus>,
    /// Models saved with `model.save`.
    pub saved_models: crate::ml::layers::SavedModels,
    /// Where `importScripts` keeps the libraries it downloads.
    pub script_cache: PathBuf,
    /// Whether `importScripts` may download.
    pub allow_network: bool,
    /// Block being evaluated (or whose callback is running), for console locations.
    pub current_block: Option<usize>,
    /// Folder for relative `importScripts` paths.
    pub base_dir: PathBuf,
    /// The time timers run by (the wall clock, or a render's timeline).
    pub clock: JsClock,
}

/// The time the runtime's timers run by: the wall clock, or, for an offline render, the
/// render's timeline ([`Runtime::use_render_clock`]), which only moves when the renderer
/// says so. The run-time limits of scripts always use the wall clock.
#[derive(Clone, Default)]
pub(crate) struct JsClock(Rc<std::cell::Cell<Option<Instant>>>);

impl JsClock {
    /// The current time: the render's, when one is set, else the wall clock's.
    pub fn now(&self) -> Instant {
        self.0.get().unwrap_or_else(Instant::now)
    }
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

/// Makes `flag` stop any script running on this thread within a few hundred loop
/// iterations once it is set (checked with the clock by `__semaTick`).
pub(crate) fn set_interrupt(flag: Arc<std::sync::atomic::AtomicBool>) {
    INTERRUPT.with(|i| *i.borrow_mut() = Some(flag));
}

fn interrupted() -> bool {
    INTERRUPT
        .try_with(|i| i.borrow().as_ref().is_some_and(|f| f.load(Ordering::Relaxed)))
        .unwrap_or(false)
}

impl ApiState {
    /// Drops everything scheduled to call back into JS: timers, listeners (bar, note, CC),
    /// call-and-response and pending model requests.
    fn clear_scheduled(&mut self) {
        self.timers.clear();
        self.bar_callbacks.clear();
        self.note_callbacks.clear();
        self.cc_callbacks.clear();
        self.call_response = None;
        self.pending_models.clear();
        self.pending_fits.clear();
    }

    /// Adds a console line attributed to the current block.
    pub fn log(&mut self, level: Level, text: String) {
        let block = self.current_block;
        self.console.push_back(Line::js(level, text, block, None));
    }

    /// The training thread, started on first use.
    pub fn trainer(&mut self) -> &crate::ml::layers::trainer::Trainer {
        let status = self.model_status.clone();
        self.trainer.get_or_insert_with(|| crate::ml::layers::trainer::Trainer::spawn(status))
    }

    /// The model worker, started on first use.
    pub fn worker(&mut self) -> &ModelWorker {
        if self.worker.is_none() {
            let mut config = self.worker_config.take().unwrap_or_else(|| {
                WorkerConfig::new(crate::ml::core::resolve::default_bundled_dir())
            });
            let host = self.host.clone();
            // Model calls without a temperature follow the host's `temperature` parameter.
            config.temperature = Arc::new(move || host.temperature.load(Ordering::Relaxed));
            self.worker = Some(ModelWorker::spawn(config));
        }
        self.worker.as_ref().expect("worker was just started")
    }
}

/// `__semaTick()`, called at the start of every loop iteration of instrumented code:
/// stops the script (uncatchably, like Boa's own limits) once it ran past its deadline.
pub(crate) fn tick(_: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    if super::heap::live_bytes() > HEAP_LIMIT.get() {
        // Boa's collector only counts its object headers, not the element storage of
        // arrays, so garbage can be most of the count: collect before judging.
        boa_engine::gc::force_collect();
        if super::heap::live_bytes() > HEAP_LIMIT.get() {
            OUT_OF_MEMORY.set(true);
            return Err(boa_engine::RuntimeLimitError::LoopIteration.into());
        }
    }
    let n = TICKS.get().wrapping_add(1);
    TICKS.set(n);
    // Reading the clock costs more than the rest of a tick: do it every 256 ticks.
    if n.is_multiple_of(256) {
        if interrupted() {
            TIMED_OUT.set(true);
            return Err(boa_engine::RuntimeLimitError::LoopIteration.into());
        }
        if let Some(deadline) = DEADLINE.get() {
            if Instant::now() > deadline {
                TIMED_OUT.set(true);
                return Err(boa_engine::RuntimeLimitError::LoopIteration.into());
            }
        }
    }
    Ok(JsValue::undefined())
}

/// Restarts the running block's run-time clock (after a native call that waited, e.g. a
/// script download, which must not count as the script running).
pub(crate) fn rearm() {
    DEADLINE.set(Some(Instant::now() + RUN_TIME_LIMIT));
}

/// The code to evaluate for `code`: with loop ticks when the scanner could follow it and
/// the result still parses, else unchanged.
pub(crate) fn with_ticks(code: String, ctx: &mut Context) -> String {
    match blocks::instrument_loops(&code, TICK_CALL) {
        Some(t)
            if t != code
                && boa_engine::Script::parse(
                    boa_engine::Source::from_bytes(t.as_bytes()),
                    None,
                    ctx,
                )
                .is_ok() =>
        {
            t
        }
        _ => code,
    }
}

/// The API state stored in a context.
pub(crate) fn api_state(ctx: &Context) -> Rc<RefCell<ApiState>> {
    ctx.get_data::<ApiStateHandle>()
        .map(|h| h.0.clone())
        .expect("the JS runtime stores its API state in every context it creates")
}

/// Wrapper so the API state has a type of its own in the context's data map.
struct ApiStateHandle(Rc<RefCell<ApiState>>);

/// Promise and timeout jobs of one context, run by [`Runtime::pump`].
#[derive(Default)]
struct Jobs {
    /// The clock engine-made timeouts are due by.
    clock: JsClock,
    /// Promise reactions (microtasks).
    promise: RefCell<VecDeque<PromiseJob>>,
    /// Engine-made timeout jobs (the API's timers do not use these).
    timeouts: RefCell<Vec<(Instant, TimeoutJob)>>,
}

impl JobExecutor for Jobs {
    fn enqueue_job(self: Rc<Self>, job: Job, _context: &mut Context) {
        match job {
            Job::PromiseJob(p) => self.promise.borrow_mut().push_back(p),
            Job::TimeoutJob(t) => {
                let due = self.clock.now() + Duration::from_millis(t.timeout().as_millis());
                self.timeouts.borrow_mut().push((due, t));
            }
            Job::GenericJob(g) => {
                // Generic jobs are plain callbacks: run them in the microtask order.
                self.promise.borrow_mut().push_back(PromiseJob::new(move |ctx| g.call(ctx)));
            }
            // No native async functions are installed, and FinalizationRegistry cleanup
            // is optional per the spec: nothing else is ever queued.
            _ => {}
        }
    }

    fn run_jobs(self: Rc<Self>, context: &mut Context) -> JsResult<()> {
        let mut n = 0;
        loop {
            let job = self.promise.borrow_mut().pop_front();
            let Some(job) = job else { return Ok(()) };
            job.call(context)?;
            n += 1;
            if n > MAX_JOBS_PER_PUMP {
                self.promise.borrow_mut().clear();
                return Err(JsError::from_opaque(
                    js_string!("too many chained Promise jobs (endless .then loop?): dropped them")
                        .into(),
                ));
            }
        }
    }
}

/// Host hooks: unhandled-rejection tracking and a cap on buffer allocations.
#[derive(Default)]
struct Hooks {
    /// Promises rejected without a handler (so far).
    rejected: RefCell<Vec<JsObject>>,
}

impl HostHooks for Hooks {
    fn promise_rejection_tracker(
        &self,
        promise: &JsObject<boa_engine::builtins::promise::Promise>,
        operation: OperationType,
        _context: &mut Context,
    ) {
        let obj = promise.clone().upcast();
        let mut list = self.rejected.borrow_mut();
        match operation {
            OperationType::Reject => list.push(obj),
            OperationType::Handle => list.retain(|p| !JsObject::equals(p, &obj)),
        }
    }

    fn max_buffer_size(&self, _context: &mut Context) -> u64 {
        MAX_BUFFER_BYTES
    }
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
            recorder: PhraseRecorder::new(),
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

    /// Resolves or rejects the Promises of finished model requests.
    fn deliver_model_results(&mut self) {
        loop {
            let (progress, done) = {
                let sh = self.state.borrow();
                match &sh.worker {
                    Some(w) => (w.try_progress(), w.try_recv()),
                    None => return,
                }
            };
            if let Some(p) = &progress {
                let text = match p.fraction {
                    Some(f) => format!("{} ({:.0}%)", p.message, f * 100.0),
                    None => p.message.clone(),
                };
                self.state.borrow_mut().console.push_back(Line::js(Level::Info, text, None, None));
            }
            let Some((id, result)) = done else {
                if progress.is_none() {
                    return;
                }
                continue;
            };
            let pending = self.state.borrow_mut().pending_models.remove(&id);
            let Some(pending) = pending else { continue };
            self.state.borrow_mut().current_block = pending.block;
            self.arm();
            let outcome = match result {
                Ok(resp) => match api::magenta::response_to_js(resp, &mut self.ctx) {
                    Ok(v) => pending.resolve.call(&JsValue::undefined(), &[v], &mut self.ctx),
                    Err(e) => {
                        let v = e.into_opaque(&mut self.ctx).unwrap_or_default();
                        pending.reject.call(&JsValue::undefined(), &[v], &mut self.ctx)
                    }
                },
                Err(msg) => {
                    let err = boa_engine::JsNativeError::error()
                        .with_message(format!("{}: {msg}", pending.what))
                        .into_opaque(&mut self.ctx);
                    pending.reject.call(&JsValue::undefined(), &[err.into()], &mut self.ctx)
                }
            };
            if let Err(e) = outcome {
                self.report_error(&e, "Uncaught");
            }
            self.run_microtasks();
            self.state.borrow_mut().current_block = None;
        }
    }

    /// Calls the `fit` callbacks for what the training thread reported, and settles the
    /// Promises of finished `fit` calls. At most a few hundred events per pump, so a fit
    /// with tiny batches never starves the rest of the loop.
    fn deliver_training(&mut self) {
        for _ in 0..512 {
            let report = {
                let sh = self.state.borrow();
                match &sh.trainer {
                    Some(t) => t.try_recv(),
                    None => return,
                }
            };
            let Some((id, report)) = report else { return };
            api::layers::deliver_report(self, id, report);
        }
    }

    /// Calls `f(args)` as a callback of `block`, reporting what it throws.
    pub(crate) fn call_back(
        &mut self,
        f: &JsFunction,
        args: &[JsValue],
        block: Option<usize>,
        what: &str,
    ) {
        self.state.borrow_mut().current_block = block;
        self.arm();
        if let Err(e) = f.call(&JsValue::undefined(), args, &mut self.ctx) {
            self.report_error(&e, what);
        }
        self.run_microtasks();
        self.state.borrow_mut().current_block = None;
    }

    /// The API state (for the API modules' event delivery).
    pub(crate) fn api(&self) -> Rc<RefCell<ApiState>> {
        self.state.clone()
    }

    /// Hands values from `toJS` to the global `input(value, channel)`.
    fn deliver_inputs(&mut self) {
        let mut reported = false;
        self.arm();
        for _ in 0..MAX_INPUTS_PER_PUMP {
            let Some(rx) = self.to_js.as_mut() else { break };
            let Some((channel, value)) = self.to_js_lists.next_from(rx) else {
                break;
            };
            let input = self.ctx.global_object().get(js_string!("input"), &mut self.ctx);
            let Some(f) = input.ok().and_then(|v| v.as_callable()) else {
                continue;
            };
            let value: JsValue = match value {
                JsInput::Value(v) => v.into(),
                JsInput::List(values) => {
                    JsArray::from_iter(values.into_iter().map(JsValue::from), &mut self.ctx).into()
                }
            };
            let r = f.call(&JsValue::undefined(), &[value, channel.into()], &mut self.ctx);
            if let Err(e) = r {
                // One report per pump: `input` may be called thousands of times a second.
                if !reported {
                    self.report_error(&e, "Uncaught in input():");
                    reported = true;
                }
            }
        }
    }

    /// Runs due timers in order of their due time.
    fn run_timers(&mut self) {
        let now = self.clock().now();
        let mut due: Vec<(Instant, u32)> = self
            .state
            .borrow()
            .timers
            .iter()
            .filter(|t| t.due <= now)
            .map(|t| (t.due, t.id))
            .collect();
        due.sort();
        for (_, id) in due {
            if self.restart_pending.is_some() {
                break;
            }
            // A callback may have cleared this timer meanwhile.
            let call = {
                let mut sh = self.state.borrow_mut();
                let Some(i) = sh.timers.iter().position(|t| t.id == id) else {
                    continue;
                };
                let t = &mut sh.timers[i];
                let call = (t.func.clone(), t.args.clone(), t.block);
                match t.interval {
                    Some(iv) => {
                        // Skip missed periods instead of firing a burst after a stall.
                        t.due += iv;
                        if t.due <= now {
                            t.due = now + iv;
                        }
                    }
                    None => {
                        sh.timers.remove(i);
                    }
                }
                call
            };
            let (func, args, block) = call;
            self.state.borrow_mut().current_block = block;
            self.arm();
            if let Err(e) = func.call(&JsValue::undefined(), &args, &mut self.ctx) {
                self.report_error(&e, "Uncaught");
            }
            self.run_microtasks();
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Calls the `host.onBar` callbacks once per new bar while the host plays.
    fn run_bar_callbacks(&mut self) {
        let (playing, bar) = {
            let sh = self.state.borrow();
            (sh.host.playing.load(Ordering::Relaxed), sh.host.bar.load(Ordering::Relaxed))
        };
        if !playing {
            self.last_bar = None;
            return;
        }
        if self.last_bar == Some(bar) {
            return;
        }
        self.last_bar = Some(bar);
        let callbacks: Vec<(JsObject, Option<usize>)> =
            self.state.borrow().bar_callbacks.iter().map(|c| (c.func.clone(), c.block)).collect();
        for (func, block) in callbacks {
            if self.restart_pending.is_some() {
                break;
            }
            self.state.borrow_mut().current_block = block;
            self.arm();
            if let Err(e) =
                func.call(&JsValue::undefined(), &[JsValue::from(bar as f64)], &mut self.ctx)
            {
                self.report_error(&e, "Uncaught in host.onBar callback:");
            }
            self.run_microtasks();
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Hands the MIDI the host played to the phrase recorder, call-and-response and the
    /// `host.onNote` / `host.onCC` callbacks.
    fn deliver_midi(&mut self) {
        let mut events: Vec<StampedMidiIn> = Vec::new();
        if let Some(rx) = self.midi_in.as_mut() {
            while events.len() < MAX_MIDI_PER_PUMP {
                match rx.pop() {
                    Ok(e) => events.push(e),
                    Err(_) => break,
                }
            }
        }
        let mut reported = false;
        for e in events {
            let callbacks: Vec<(JsObject, Option<usize>)> = {
                let mut sh = self.state.borrow_mut();
                let relocations = sh.recorder.relocations();
                let fed = sh.recorder.push(&e);
                let relocated = sh.recorder.relocations() != relocations;
                if let (true, Some(cr)) = (relocated, sh.call_response.as_mut()) {
                    // A loop jump or a locate: listen afresh from the new position.
                    cr.machine.reset();
                }
                if let (Fed::NoteOn(pos), Some(cr)) = (fed, sh.call_response.as_mut()) {
                    if cr.machine.note_on(pos, e.beats_per_bar)
                        == super::call_response::NoteOutcome::Discarded
                    {
                        let block = cr.block;
                        sh.console.push_back(Line::js(
                            Level::Info,
                            "call-and-response: you played on, so the call goes on (the answer being prepared was dropped)",
                            block,
                            None,
                        ));
                    }
                }
                let list = match e.event.kind {
                    MidiInKind::NoteOn | MidiInKind::NoteOff => &sh.note_callbacks,
                    MidiInKind::Cc => &sh.cc_callbacks,
                    _ => continue,
                };
                list.iter().map(|c| (c.func.clone(), c.block)).collect()
            };
            if callbacks.is_empty() {
                continue;
            }
            let Ok(arg) = JsValue::from_json(&midi_event_json(&e), &mut self.ctx) else {
                continue;
            };
            let what = if e.event.kind == MidiInKind::Cc { "host.onCC" } else { "host.onNote" };
            for (func, block) in callbacks {
                self.state.borrow_mut().current_block = block;
                self.arm();
                if let Err(err) =
                    func.call(&JsValue::undefined(), std::slice::from_ref(&arg), &mut self.ctx)
                {
                    // One report per pump: a callback may fail for every note.
                    if !reported {
                        self.report_error(&err, &format!("Uncaught in {what} callback:"));
                        reported = true;
                    }
                }
            }
            self.run_microtasks();
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Drives `host.callAndResponse`: answers that came back are scheduled as clips (and
    /// given to `onAnswer`), and a call whose end is within the lookahead is sent to the
    /// model.
    fn run_call_response(&mut self) {
        let (bpm, bpb, now, playing) = {
            let sh = self.state.borrow();
            let h = &sh.host;
            let bpm = h.bpm.load(Ordering::Relaxed);
            let bpb = h.beats_per_bar.load(Ordering::Relaxed);
            (bpm, bpb, h.position(), h.playing.load(Ordering::Relaxed))
        };
        let results = std::mem::take(&mut self.state.borrow_mut().cr_results);
        for (gen, result) in results {
            self.deliver_answer(gen, result, now, bpm, bpb);
        }
        let ask = {
            let mut sh = self.state.borrow_mut();
            let (held, last_release) = (sh.recorder.held(), sh.recorder.last_release());
            let Some(cr) = sh.call_response.as_mut() else {
                self.cr_last_pos = None;
                return;
            };
            // Stopped, a loop jump or a locate: start listening afresh.
            let jumped = self.cr_last_pos.is_some_and(|last| now < last - 1e-6);
            self.cr_last_pos = playing.then_some(now);
            if !playing || jumped {
                cr.machine.reset();
                return;
            }
            match cr.machine.tick(now, held, last_release, bpm, bpb) {
                None => return,
                Some(g) => {
                    let mut seq = sh.recorder.phrase(g.first_bar, g.boundary as f64, bpm, bpb);
                    let Some(cr) = sh.call_response.as_mut() else { return };
                    if seq.notes.is_empty() {
                        cr.machine.reset();
                        return;
                    }
                    fold_into_range(&mut seq, cr.range);
                    cr.asked.insert(g.gen, Instant::now());
                    (g, seq, cr.generate.clone(), cr.block)
                }
            }
        };
        let (g, seq, generate, block) = ask;
        self.state.borrow_mut().current_block = block;
        let value = api::host::sequence_to_js(&seq, &mut self.ctx);
        self.arm();
        let called = value.and_then(|v| {
            generate.call(
                &JsValue::undefined(),
                &[v, JsValue::from(g.steps as i32), JsValue::from(g.gen as f64)],
                &mut self.ctx,
            )
        });
        if let Err(e) = called {
            if let Some(cr) = self.state.borrow_mut().call_response.as_mut() {
                cr.machine.failed(g.gen, Duration::ZERO);
            }
            self.report_error(&e, "Uncaught in host.callAndResponse:");
        }
        self.state.borrow_mut().current_block = None;
    }

    /// Plays one call-and-response answer (or reports why not).
    fn deliver_answer(
        &mut self,
        gen: u64,
        result: Result<NoteSequence, String>,
        now: f64,
        bpm: f64,
        bpb: f64,
    ) {
        let mut sh = self.state.borrow_mut();
        let Some(cr) = sh.call_response.as_mut() else { return };
        let elapsed = cr.asked.remove(&gen).map(|t| t.elapsed()).unwrap_or_default();
        let block = cr.block;
        let seq = match result {
            Ok(seq) => seq,
            Err(msg) => {
                cr.machine.failed(gen, elapsed);
                let text = format!("call-and-response: the model failed: {msg}");
                sh.console.push_back(Line::js(Level::Error, text, block, None));
                return;
            }
        };
        let Some(play) = cr.machine.result(gen, now, elapsed, bpm, bpb) else { return };
        let options = ClipOptions {
            start_bar: play.start_bar,
            channel: cr.channel,
            velocity: Some(cr.velocity),
            looping: false,
            bpm,
            beats_per_bar: bpb,
        };
        let on_answer = cr.on_answer.clone();
        let lookahead = cr.machine.lookahead_beats(bpm);
        let sent = sequence_to_clip(&seq, &options).and_then(|clip| (sh.clip_sink)(clip));
        if let Err(e) = sent {
            let text = format!("call-and-response: the answer was not played: {e}");
            sh.console.push_back(Line::js(Level::Error, text, block, None));
            return;
        }
        if play.late_beats > 0.0 {
            let text = format!(
                "call-and-response: the answer was ready {:.2} beats after the downbeat of bar {} \
                 (generation took {} ms), so it plays from bar {}; the lookahead is now {:.2} beats",
                play.late_beats,
                play.boundary,
                elapsed.as_millis(),
                play.start_bar,
                lookahead
            );
            sh.console.push_back(Line::js(Level::Warn, text, block, None));
        }
        drop(sh);
        let Some(f) = on_answer else { return };
        self.state.borrow_mut().current_block = block;
        let info = serde_json::json!({ "bar": play.start_bar, "late": play.late_beats > 0.0 });
        let args = api::host::sequence_to_js(&seq, &mut self.ctx)
            .and_then(|s| JsValue::from_json(&info, &mut self.ctx).map(|i| [s, i]));
        self.arm();
        let called = args.and_then(|a| f.call(&JsValue::undefined(), &a, &mut self.ctx));
        if let Err(e) = called {
            self.report_error(&e, "Uncaught in host.callAndResponse onAnswer:");
        }
        self.run_microtasks();
        self.state.borrow_mut().current_block = None;
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

/// What `host.onNote` / `host.onCC` callbacks receive for one event.
fn midi_event_json(e: &StampedMidiIn) -> serde_json::Value {
    let bar = e.bars.floor();
    let ev = &e.event;
    if ev.kind == MidiInKind::Cc {
        return serde_json::json!({
            "number": ev.key, "value": ev.value, "channel": ev.channel,
            "bar": bar, "beats": e.beats,
        });
    }
    serde_json::json!({
        "pitch": ev.key,
        "velocity": ev.value,
        "on": ev.kind == MidiInKind::NoteOn && ev.value > 0.0,
        "channel": ev.channel,
        "bar": bar,
        "beat": (e.bars - bar) * e.beats_per_bar,
        "beats": e.beats,
        "source": if ev.source == MidiSource::Clip { "clip" } else { "host" },
    })
}

/// Moves every note of `seq` by octaves into `lo..=hi` (a melody model refuses pitches
/// outside its range; the musician may play anywhere).
fn fold_into_range(seq: &mut NoteSequence, (lo, hi): (i32, i32)) {
    for n in &mut seq.notes {
        while n.pitch < lo {
            n.pitch += 12;
        }
        while n.pitch > hi {
            n.pitch -= 12;
        }
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
