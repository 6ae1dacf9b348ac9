//! How long a script may run and how much it may hold: the limits, the loop tick that
//! enforces them, and the interrupt that stops a script from another thread.

use super::*;

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

/// Makes `flag` stop any script running on this thread within a few hundred loop
/// iterations once it is set (checked with the clock by `__semaTick`).
pub(crate) fn set_interrupt(flag: Arc<std::sync::atomic::AtomicBool>) {
    INTERRUPT.with(|i| *i.borrow_mut() = Some(flag));
}

pub(super) fn interrupted() -> bool {
    INTERRUPT
        .try_with(|i| i.borrow().as_ref().is_some_and(|f| f.load(Ordering::Relaxed)))
        .unwrap_or(false)
}

/// `__semaTick()`, called at the start of every loop iteration of instrumented code:
/// stops the script (uncatchably, like Boa's own limits) once it ran past its deadline.
pub(crate) fn tick(_: &JsValue, _: &[JsValue], _: &mut Context) -> JsResult<JsValue> {
    if crate::js::heap::live_bytes() > HEAP_LIMIT.get() {
        // Boa's collector only counts its object headers, not the element storage of
        // arrays, so garbage can be most of the count: collect before judging.
        boa_engine::gc::force_collect();
        if crate::js::heap::live_bytes() > HEAP_LIMIT.get() {
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
