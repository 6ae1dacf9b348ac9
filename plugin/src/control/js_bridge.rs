//! The plugin's side of the JS runtime: one JS thread per plugin instance, started on the
//! first evaluation and kept as long as the instance lives (so `host.onBar` and pending
//! Promises keep running with the editor closed). Wires the runtime to the controller
//! (channel data, samples), the host view (parameters, transport) and the DSL's `toJS`.

use parking_lot::Mutex;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::control::console::{Console, Level, Source};
use crate::control::controller::Controller;
use crate::js::{ConsoleLevel, HostView, JsHost, JsInput, JsIo};
use crate::audio::patch::ToJsValue;
use crate::ml::core::resolve::{default_bundled_dir, default_cache_dir};
use crate::ml::worker::{ModelStatus, WorkerConfig};
use crate::control::status::Inlets;

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
            let mut lists = ListAssembler::default();
            while !stop.load(Ordering::Relaxed) {
                if let Some(mut rx) = inlets.to_js.try_lock() {
                    while let Ok(v) = rx.pop() {
                        if let Some(input) = lists.push(v) {
                            let _ = to_js_tx.try_send(input);
                        }
                    }
                }
                std::thread::sleep(RELAY_PERIOD);
            }
        });
        // The models compiled into the plugin, written to the user cache on first use;
        // if that fails the source-tree/next-to-binary lookup is the fallback.
        let bundled_dir = match crate::ml::core::embedded::bundled_dir() {
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

/// Turns the audio thread's `toJS` values back into what JS receives: single numbers, or
/// the lists that `{trig, ch, [..], n}toJS` sent as `n` consecutive values.
#[derive(Default)]
pub struct ListAssembler {
    /// The list being collected: its channel, length and the values so far.
    partial: Option<(u32, usize, Vec<f64>)>,
}

impl ListAssembler {
    /// Takes the next value; returns an input for JS when one is complete. A list whose
    /// values were lost (the ring buffer was full) is dropped rather than delivered short.
    pub fn push(&mut self, v: ToJsValue) -> Option<(u32, JsInput)> {
        if v.len == 0 {
            return Some((v.channel, JsInput::Value(v.value)));
        }
        let len = usize::from(v.len);
        if v.index == 0 {
            self.partial = Some((v.channel, len, Vec::with_capacity(len)));
        }
        let (channel, want, values) = self.partial.as_mut()?;
        if *channel != v.channel || *want != len || values.len() != usize::from(v.index) {
            self.partial = None;
            return None;
        }
        values.push(v.value);
        if values.len() == len {
            let (channel, _, values) = self.partial.take()?;
            return Some((channel, JsInput::List(values)));
        }
        None
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

#[cfg(test)]
mod tests {
    use super::*;

    fn part(channel: u32, value: f64, index: u16, len: u16) -> ToJsValue {
        ToJsValue { channel, value, index, len }
    }

    #[test]
    fn lists_are_reassembled_and_broken_ones_dropped() {
        let mut a = ListAssembler::default();
        assert_eq!(a.push(ToJsValue::single(4, 0.5)), Some((4, JsInput::Value(0.5))));
        assert_eq!(a.push(part(1, 1.0, 0, 3)), None);
        assert_eq!(a.push(part(1, 2.0, 1, 3)), None);
        // A single value between the parts of a list does not disturb it.
        assert_eq!(a.push(ToJsValue::single(0, 9.0)), Some((0, JsInput::Value(9.0))));
        assert_eq!(a.push(part(1, 3.0, 2, 3)), Some((1, JsInput::List(vec![1.0, 2.0, 3.0]))));
        // A list missing its middle (ring buffer overflow) is dropped, the next one arrives.
        assert_eq!(a.push(part(2, 1.0, 0, 3)), None);
        assert_eq!(a.push(part(2, 3.0, 2, 3)), None);
        assert_eq!(a.push(part(2, 5.0, 0, 2)), None);
        assert_eq!(a.push(part(2, 6.0, 1, 2)), Some((2, JsInput::List(vec![5.0, 6.0]))));
        // A tail without its head is ignored.
        assert_eq!(a.push(part(3, 1.0, 1, 2)), None);
    }
}
