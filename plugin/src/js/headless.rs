//! Headless runs: [`run_source`] and [`run_file`] drive a [`Runtime`] on the caller's
//! thread until its work is settled (`sema-live js run FILE.js`, tests).
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::blocks::{self};
use super::error::{ScriptError, ScriptErrorKind};
use super::HostView;
use crate::audio::midi_in::Clip;
use crate::control::console::Line;
use crate::ml::worker::WorkerConfig;

use super::runtime::{JsIo, JsLimits, Runtime};

/// Options of a headless run.
pub struct RunOptions {
    /// Model worker configuration (bundled models dir, cache, network, seed).
    pub models: WorkerConfig,
    /// Host parameters and transport seen by the script.
    pub host: Arc<HostView>,
    /// Longest wait for pending work, between blocks and at the end.
    pub timeout: Duration,
    /// Wait for model loads and other pending model work after each block, as a live
    /// coder waits for "model loaded" before evaluating the next block.
    pub settle_between_blocks: bool,
    /// Print console lines to stdout.
    pub print: bool,
    /// How long scripts may run and how much memory they may hold.
    pub limits: JsLimits,
}

impl RunOptions {
    /// Defaults: bundled models from `bundled_dir`, 60 s timeout, settle between blocks,
    /// print to stdout.
    pub fn new(bundled_dir: PathBuf) -> Self {
        RunOptions {
            models: WorkerConfig::new(bundled_dir),
            host: Arc::new(HostView::default()),
            timeout: Duration::from_secs(60),
            settle_between_blocks: true,
            print: true,
            limits: JsLimits::default(),
        }
    }
}

impl Default for RunOptions {
    /// [`RunOptions::new`] with the bundled models folder found next to the executable
    /// (or `$SEMA_LIVE_MODELS`).
    fn default() -> Self {
        RunOptions::new(crate::ml::core::resolve::default_bundled_dir())
    }
}

/// What a headless run did.
#[derive(Debug, Default)]
pub struct RunReport {
    /// Every console line, in order.
    pub console: Vec<Line>,
    /// Every channel send: `(channel id, padded data)`, in order.
    pub sends: Vec<(u32, Vec<f64>)>,
    /// Every `sema.sendBuffer`: `(name, sample count)`.
    pub buffers: Vec<(String, usize)>,
    /// Every clip sent (`host.play`, `host.stopClip`, call-and-response), in order.
    pub clips: Vec<Clip>,
    /// Uncaught errors, and giving up on pending model requests (also in `console`).
    pub errors: Vec<ScriptError>,
    /// Whether the run stopped waiting because of the timeout.
    pub timed_out: bool,
}

/// Evaluates `source` block by block, headless, and waits for pending work.
pub fn run_source(
    source: &str,
    base_dir: &Path,
    opts: RunOptions,
) -> Result<RunReport, ScriptError> {
    let sends = Arc::new(parking_lot::Mutex::new(Vec::<(u32, Vec<f64>)>::new()));
    let buffers = Arc::new(parking_lot::Mutex::new(Vec::<(String, usize)>::new()));
    let clips = Arc::new(parking_lot::Mutex::new(Vec::<Clip>::new()));
    let (s2, b2, c2) = (sends.clone(), buffers.clone(), clips.clone());
    let io = JsIo {
        channel_sink: Box::new(move |id, data| s2.lock().push((id, data.to_vec()))),
        host: opts.host.clone(),
        // No audio engine runs beside a headless script: nothing sends `toJS` values.
        to_js: None,
        midi_in: None,
        clip_sink: Box::new(move |clip| {
            c2.lock().push(clip);
            Ok(())
        }),
        keep_sink: crate::js::runtime::no_session(),
        samples_sink: Box::new(move |name, data| b2.lock().push((name, data.len()))),
        models: opts.models.clone(),
        headless: opts.print,
        base_dir: base_dir.to_path_buf(),
        limits: opts.limits,
    };
    let mut rt = Runtime::new(io)?;
    let mut report = RunReport::default();
    for b in blocks::split_blocks(source).iter().filter(|b| !b.is_blank()) {
        rt.eval_block(&b.code, b.index, b.first_line);
        report.console.extend(rt.take_console());
        report.errors.extend(rt.take_errors());
        if opts.settle_between_blocks {
            report.timed_out |= !settle(&mut rt, &mut report, opts.timeout, false);
        }
    }
    report.timed_out |= !settle(&mut rt, &mut report, opts.timeout, true);
    if rt.pending_models() > 0 {
        let error = ScriptError::new(
            ScriptErrorKind::Pending,
            format!(
                "timed out after {:?} waiting for {} model request(s)",
                opts.timeout,
                rt.pending_models()
            ),
        );
        let line = error.to_console_line();
        if opts.print {
            println!("{line}");
        }
        report.console.push(line);
        report.errors.push(error);
    }
    report.sends = std::mem::take(&mut *sends.lock());
    report.buffers = std::mem::take(&mut *buffers.lock());
    report.clips = std::mem::take(&mut *clips.lock());
    Ok(report)
}

/// Pumps until no model request is pending (and, when `timers`, no timeout is left;
/// intervals alone do not keep the run alive), or until `timeout`. Returns false on
/// timeout.
fn settle(rt: &mut Runtime, report: &mut RunReport, timeout: Duration, timers: bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        rt.pump();
        report.console.extend(rt.take_console());
        report.errors.extend(rt.take_errors());
        let busy = rt.pending_models() > 0
            || (timers && rt.pending_timers() > 0 && !rt.only_intervals_left());
        if !busy {
            return true;
        }
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        let wake = rt
            .next_timer()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(Duration::from_millis(2));
        std::thread::sleep(wake.min(Duration::from_millis(2)));
    }
}

/// `sema-live js run FILE.js`: evaluates the file headless, printing the console.
/// Err when a block or callback threw, or pending work timed out.
pub fn run_file(path: &Path, opts: RunOptions) -> Result<RunReport, ScriptError> {
    let source = std::fs::read_to_string(path).map_err(|e| {
        ScriptError::new(ScriptErrorKind::Io, format!("cannot read {}: {e}", path.display()))
    })?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut report = run_source(&source, &base, opts)?;
    if !report.errors.is_empty() {
        let count = report.errors.len();
        let first = report.errors.swap_remove(0);
        // Quoted as the console prints the line.
        let message = format!(
            "{}: {count} uncaught error(s); first: {}",
            path.display(),
            first.to_console_line()
        );
        return Err(ScriptError::uncaught(message, first));
    }
    Ok(report)
}
