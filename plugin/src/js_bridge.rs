//! The plugin's side of the JS runtime: one JS thread per plugin instance, started on the
//! first evaluation and kept as long as the instance lives (so `host.onBar` and pending
//! Promises keep running with the editor closed). Wires the runtime to the controller
//! (channel data, samples), the host view (parameters, transport) and the DSL's `toJS`.

use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::console::{Console, Level, Source};
use crate::controller::Controller;
use crate::js::{ConsoleLevel, HostView, JsHost, JsIo};
use crate::ml::resolve::{default_bundled_dir, default_cache_dir};
use crate::ml::worker::{ModelStatus, WorkerConfig};
use crate::status::Inlets;

/// How often the relay moves `toJS` values from the audio thread's ring buffer to the
/// JS thread. The audio thread only ever pushes into a lock-free ring buffer.
const RELAY_PERIOD: Duration = Duration::from_millis(5);

pub struct JsBridge {
    host: Mutex<Option<JsHost>>,
    /// What scripts see as `host.*`; updated by the audio thread every block.
    pub view: Arc<HostView>,
    /// What the instance's model worker is doing (the editor's status strip).
    pub models: Arc<ModelStatus>,
    /// Stops the `toJS` relay thread.
    stop: Arc<AtomicBool>,
}

impl JsBridge {
    pub fn new() -> Self {
        Self {
            host: Mutex::new(None),
            view: Arc::new(HostView::default()),
            models: Arc::new(ModelStatus::default()),
            stop: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Evaluates one block (0-based `index`, starting at file line `first_line`), starting
    /// the JS thread first if needed. Never blocks on the script.
    pub fn eval_block(
        &self,
        code: String,
        index: usize,
        first_line: usize,
        controller: &Arc<Mutex<Controller>>,
        inlets: &Arc<Inlets>,
    ) {
        let mut host = self.host.lock();
        if host.is_none() {
            *host = Some(self.spawn(controller.clone(), inlets.clone()));
        }
        if let Some(h) = host.as_ref() {
            h.eval_block(code, index, first_line);
        }
    }

    /// Moves the runtime's console lines into the plugin console.
    pub fn drain_console(&self, console: &Console) {
        let host = self.host.lock();
        let Some(h) = host.as_ref() else { return };
        while let Some(line) = h.try_console() {
            let level = match line.level {
                ConsoleLevel::Error => Level::Error,
                ConsoleLevel::Warn => Level::Warn,
                ConsoleLevel::Log | ConsoleLevel::Info => Level::Info,
            };
            console.push(level, Source::Js { block: line.block, line: line.line }, line.to_string());
        }
    }

    fn spawn(&self, controller: Arc<Mutex<Controller>>, inlets: Arc<Inlets>) -> JsHost {
        let (to_js_tx, to_js_rx) = crossbeam_channel::bounded(16_384);
        let stop = self.stop.clone();
        // Relay: audio ring buffer → JS channel, off the audio thread.
        let _ = std::thread::Builder::new().name("sema-live-tojs".into()).spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Some(mut rx) = inlets.to_js.try_lock() {
                    while let Ok(v) = rx.pop() {
                        let _ = to_js_tx.try_send((v.channel, v.value));
                    }
                }
                std::thread::sleep(RELAY_PERIOD);
            }
        });
        // The models compiled into the plugin, written to the user cache on first use;
        // if that fails the source-tree/next-to-binary lookup is the fallback.
        let bundled_dir = match crate::ml::embedded::bundled_dir() {
            Ok(dir) => dir,
            Err(e) => {
                controller.lock().console().error(Source::Model, format!("bundled models unavailable: {e}"));
                default_bundled_dir()
            }
        };
        let sink_controller = controller.clone();
        let view = self.view.clone();
        let temperature_view = self.view.clone();
        JsHost::spawn(JsIo {
            channel_sink: Box::new(move |id, data| {
                let mut c = sink_controller.lock();
                if let Err(e) = c.send_channel(id, data.into_vec()) {
                    c.console().error(Source::Js { block: None, line: None }, e.to_string());
                }
            }),
            host: view,
            to_js: to_js_rx,
            samples_sink: Box::new(move |name, data| {
                let mut c = controller.lock();
                let mut lib = (**c.samples()).clone();
                // JS buffers are at the audio rate, as in Sema's audio worklet.
                let rate = c.sample_rate();
                lib.insert(&name, data, rate);
                c.set_samples(Arc::new(lib));
            }),
            models: WorkerConfig {
                cache_dir: default_cache_dir(),
                bundled_dir,
                allow_network: true,
                seed: None,
                temperature: Arc::new(move || temperature_view.temperature.load(Ordering::Relaxed)),
                status: self.models.clone(),
            },
            headless: false,
            base_dir: dirs::home_dir().unwrap_or_else(|| PathBuf::from(".")),
        })
    }
}

impl Default for JsBridge {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for JsBridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.host.lock().take() {
            h.shutdown();
        }
    }
}
