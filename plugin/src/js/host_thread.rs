//! [`JsHost`]: a [`Runtime`] on its own thread for a plugin instance. The plugin sends it
//! blocks to evaluate and reads its console lines; the thread pumps the runtime's event
//! loop (Promises, timers, model results, bar callbacks, DSL and MIDI input) in between.
//!
//! A panic on the thread (a bug in the engine or the API) never takes the host down: it
//! is caught at the job boundary (one command, one pump), reported on the console and in
//! [`Crashes`] (the status strip), and the runtime is restarted ([`Runtime::restart`]);
//! the thread goes on with the next command.
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use crate::control::console::{Level, Line};

use super::offline::OfflineSync;
use super::runtime::{JsIo, Runtime, JS_THREAD_STACK};
use super::HostView;

/// Commands from [`JsHost`] to its thread.
enum Command {
    /// Evaluate a block.
    Eval { code: String, block: usize, first_line: usize },
    /// Forget bar callbacks, timers and pending model requests (a new state was loaded).
    Reset,
    /// Stop the thread.
    Shutdown,
}

/// Crashes of a component (the JS thread, the editor), for the status strip.
#[derive(Debug, Default)]
pub struct Crashes {
    /// Panics caught (each followed by a restart of the component).
    pub count: AtomicU64,
    /// The last panic's message.
    pub last: parking_lot::Mutex<Option<String>>,
}

impl Crashes {
    /// Counts a crash.
    pub fn record(&self, message: &str) {
        self.count.fetch_add(1, Ordering::Relaxed);
        *self.last.lock() = Some(message.to_string());
    }

    /// Number of crashes so far.
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

/// The message of a caught panic.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_string()
    }
}

/// The JS thread of one plugin instance, as the plugin and its editor see it. Nothing
/// here blocks: code goes in over a channel, console lines come back over another.
pub struct JsHost {
    /// Commands to the thread.
    commands: Sender<Command>,
    /// Console lines from the thread (bounded: lines are dropped when nobody reads).
    console: Receiver<Line>,
    /// The thread.
    thread: Option<JoinHandle<()>>,
    /// Disconnected when the thread ends (lets `shutdown` wait with a timeout).
    exited: Receiver<()>,
    /// Stops a running script at once (set on shutdown).
    interrupt: Arc<std::sync::atomic::AtomicBool>,
}

/// How long `shutdown` waits for the JS thread before detaching it (a script stuck in a
/// loop the limits do not catch must not hang the host when the plugin is removed).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(3);

/// Console lines kept for the editor before older ones are dropped.
const CONSOLE_CAPACITY: usize = 10_000;

impl JsHost {
    /// Starts the JS thread. It lives until [`JsHost::shutdown`] (or drop).
    pub fn spawn(io: JsIo) -> Self {
        Self::spawn_counting(io, Arc::default())
    }

    /// [`JsHost::spawn`], counting the thread's crashes in `crashes`.
    pub fn spawn_counting(io: JsIo, crashes: Arc<Crashes>) -> Self {
        let (cmd_tx, cmd_rx) = crossbeam_channel::unbounded::<Command>();
        let (con_tx, con_rx) = crossbeam_channel::bounded::<Line>(CONSOLE_CAPACITY);
        let error_tx = con_tx.clone();
        // The thread pops the oldest line itself when the editor does not keep up.
        let oldest = con_rx.clone();
        let (exit_tx, exit_rx) = crossbeam_channel::bounded::<()>(0);
        let view = io.host.clone();
        // Takes part in offline renders' handshake from now on (the blocks queued before
        // the thread runs are waited for), until the thread ends, however it ends.
        let taking_part = TakingPart::new(view.clone());
        let interrupt = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let thread_interrupt = interrupt.clone();
        let thread = std::thread::Builder::new()
            .name("sema-live-js".into())
            .stack_size(JS_THREAD_STACK)
            .spawn(move || {
                // Dropped when the thread ends, however it ends.
                let _exit = exit_tx;
                super::runtime::set_interrupt(thread_interrupt);
                let mut rt = match Runtime::new(io) {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = con_tx.try_send(e.to_console_line());
                        return;
                    }
                };
                let _taking_part = taking_part;
                loop {
                    let run = catch_unwind(AssertUnwindSafe(|| {
                        host_loop(&mut rt, &view.offline, &cmd_rx, &con_tx, &oldest)
                    }));
                    let Err(payload) = run else { break };
                    let message = panic_message(&*payload);
                    crashes.record(&message);
                    let why = format!("the JS engine crashed ({message})");
                    match catch_unwind(AssertUnwindSafe(|| rt.restart(&why))) {
                        Ok(Ok(())) => forward_console(&mut rt, &con_tx, &oldest),
                        failed => {
                            let detail = match failed {
                                Ok(Err(e)) => e.to_string(),
                                Err(p) => panic_message(&*p),
                                Ok(Ok(())) => unreachable!(),
                            };
                            let text = format!("{why}; it could not be restarted: {detail}");
                            let _ = con_tx.try_send(Line::js(Level::Error, text, None, None));
                            // Its state is unknown: never run its destructors, and never let
                            // the thread end (the engine's thread-local collector would drop
                            // the leaked objects at thread exit, where a panic aborts the
                            // host). `shutdown` detaches it.
                            std::mem::forget(rt);
                            // Offline renders stop waiting for it.
                            view.offline.set_js_running(false);
                            loop {
                                std::thread::park();
                            }
                        }
                    }
                }
                // Free every engine object now, while the thread's other thread-locals
                // are alive: left to the collector's thread-local destructor, an object
                // whose drop touches a thread-local already destroyed would panic there,
                // which aborts the process (the host).
                drop(rt);
                boa_engine::gc::force_collect();
            });
        let thread = match thread {
            Ok(t) => Some(t),
            Err(e) => {
                let text = format!("cannot start the JS thread: {e}");
                let _ = error_tx.try_send(Line::js(Level::Error, text, None, None));
                None
            }
        };
        JsHost { commands: cmd_tx, console: con_rx, thread, exited: exit_rx, interrupt }
    }

    /// Queues a block for evaluation. Never blocks.
    pub fn eval_block(&self, code: String, block_index: usize, first_line: usize) {
        let _ = self.commands.send(Command::Eval { code, block: block_index, first_line });
    }

    /// Queues a reset: the runtime forgets its bar callbacks, timers and pending model
    /// requests (see [`Runtime::reset_scheduled`]). Never blocks.
    pub fn reset(&self) {
        let _ = self.commands.send(Command::Reset);
    }

    /// The next console line, if any. Never blocks.
    pub fn try_console(&self) -> Option<Line> {
        self.console.try_recv().ok()
    }

    /// Waits up to `timeout` for a console line (tests and headless tools).
    pub fn recv_console_timeout(&self, timeout: Duration) -> Option<Line> {
        self.console.recv_timeout(timeout).ok()
    }

    /// Stops the thread and waits for it, at most a few seconds (a running script is
    /// normally stopped by its limits; one that is not is left to finish detached).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        // A script running now stops at its next loop iteration, not at its time limit.
        self.interrupt.store(true, Ordering::Relaxed);
        let _ = self.commands.send(Command::Shutdown);
        if let Some(t) = self.thread.take() {
            // The thread drops its end of `exited` when it returns.
            match self.exited.recv_timeout(SHUTDOWN_WAIT) {
                Err(crossbeam_channel::RecvTimeoutError::Disconnected) | Ok(()) => {
                    let _ = t.join();
                }
                // Still busy: detach it rather than freeze the host.
                Err(crossbeam_channel::RecvTimeoutError::Timeout) => drop(t),
            }
        }
    }
}

impl Drop for JsHost {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Marks the JS thread as taking part in the offline handshake for as long as it lives.
struct TakingPart(Arc<HostView>);

impl TakingPart {
    fn new(view: Arc<HostView>) -> Self {
        view.offline.set_js_running(true);
        Self(view)
    }
}

impl Drop for TakingPart {
    fn drop(&mut self) {
        self.0.offline.set_js_running(false);
    }
}

/// The JS thread's loop: evaluate queued blocks, pump, forward console lines, sleep until
/// something is due (at most `MAX_SLEEP`, to notice bar changes and `toJS` input).
///
/// While the host renders offline (see [`super::offline`]) timers run on the render's
/// clock, the loop polls every [`OFFLINE_SLEEP`], and after each pump with nothing left
/// to do it settles at the sync point it read before the pump.
fn host_loop(
    rt: &mut Runtime,
    sync: &OfflineSync,
    commands: &Receiver<Command>,
    console: &Sender<Line>,
    oldest: &Receiver<Line>,
) {
    // Every pump drains the `toJS` ring buffer, so a value waits at most this long (plus
    // whatever JS is running) before `input` sees it: the audio thread cannot wake us.
    const MAX_SLEEP: Duration = Duration::from_millis(4);
    let mut wait = Duration::ZERO;
    let mut offline = false;
    loop {
        if sync.offline() != offline {
            offline = !offline;
            if offline {
                rt.use_render_clock();
            } else {
                rt.use_wall_clock();
            }
        }
        // Read before the pump: what the audio thread published before posting this
        // sync point is drained by the pump below.
        let sync_point = sync.requested();
        if offline {
            rt.set_render_time(Duration::from_secs_f64(sync.render_secs().max(0.0)));
        }
        match commands.recv_timeout(wait) {
            Ok(Command::Eval { code, block, first_line }) => {
                rt.eval_block(&code, block, first_line);
            }
            Ok(Command::Reset) => rt.reset_scheduled(),
            Ok(Command::Shutdown) | Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {}
        }
        rt.pump();
        forward_console(rt, console, oldest);
        if offline {
            let idle = commands.is_empty()
                && rt.pending_models() == 0
                && !rt.inputs_waiting()
                && !rt.timers_due();
            if idle {
                sync.settle(sync_point, rt.next_timer_render_secs(), rt.listening());
            }
            wait = OFFLINE_SLEEP;
            continue;
        }
        let now = Instant::now();
        wait = rt
            .next_timer()
            .map(|t| t.saturating_duration_since(now))
            .unwrap_or(MAX_SLEEP)
            .min(MAX_SLEEP);
    }
}

/// How often the JS thread looks for work while the host renders offline (the audio
/// thread is waiting for it at sync points).
const OFFLINE_SLEEP: Duration = Duration::from_micros(100);

/// Sends the runtime's console lines to the editor (the errors are among them).
fn forward_console(rt: &mut Runtime, console: &Sender<Line>, oldest: &Receiver<Line>) {
    drop(rt.take_errors());
    for line in rt.take_console() {
        // Full: the editor is not reading (window closed); drop the oldest line rather
        // than grow without bound or lose the newest output.
        if let Err(crossbeam_channel::TrySendError::Full(line)) = console.try_send(line) {
            let _ = oldest.try_recv();
            let _ = console.try_send(line);
        }
    }
}
