//! The state the API's native functions act on, the job queue and the host hooks.

use super::*;

/// Live timers a script may hold at once.
pub const MAX_TIMERS: usize = 10_000;

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
    /// `host.studio.keep`.
    pub keep_sink: super::KeepSink,
    /// What the musician played (`host.phrase`, call-and-response).
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
pub(crate) struct JsClock(pub(super) Rc<std::cell::Cell<Option<Instant>>>);

impl JsClock {
    /// The current time: the render's, when one is set, else the wall clock's.
    pub fn now(&self) -> Instant {
        self.0.get().unwrap_or_else(Instant::now)
    }
}

impl ApiState {
    /// Drops everything scheduled to call back into JS: timers, listeners (bar, note, CC),
    /// call-and-response and pending model requests.
    pub(super) fn clear_scheduled(&mut self) {
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
            // ... and sample under its `key` / `scale` parameters.
            let host = self.host.clone();
            config.scale = Arc::new(move || host.scale());
            self.worker = Some(ModelWorker::spawn(config));
        }
        self.worker.as_ref().expect("worker was just started")
    }
}

/// The API state stored in a context.
pub(crate) fn api_state(ctx: &Context) -> Rc<RefCell<ApiState>> {
    ctx.get_data::<ApiStateHandle>()
        .map(|h| h.0.clone())
        .expect("the JS runtime stores its API state in every context it creates")
}

/// Wrapper so the API state has a type of its own in the context's data map.
pub(super) struct ApiStateHandle(pub(super) Rc<RefCell<ApiState>>);

/// Promise and timeout jobs of one context, run by [`Runtime::pump`].
#[derive(Default)]
pub(super) struct Jobs {
    /// The clock engine-made timeouts are due by.
    pub(super) clock: JsClock,
    /// Promise reactions (microtasks).
    pub(super) promise: RefCell<VecDeque<PromiseJob>>,
    /// Engine-made timeout jobs (the API's timers do not use these).
    pub(super) timeouts: RefCell<Vec<(Instant, TimeoutJob)>>,
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
pub(super) struct Hooks {
    /// Promises rejected without a handler (so far).
    pub(super) rejected: RefCell<Vec<JsObject>>,
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
