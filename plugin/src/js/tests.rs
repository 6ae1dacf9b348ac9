//! Tests of the JS runtime that need no model: scoping across blocks, errors and their
//! locations, runaway scripts, Promises and timers, channels, host, imports, tf.

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::blocks::split_blocks;
use super::{HostView, JsInput, JsIo, JsLimits, Runtime, ScriptError, ScriptErrorKind};
use crate::audio::midi_in::{Clip, StampedMidiIn};
use crate::audio::patch::ToJsValue;
use crate::control::console::{Level, Line};
use crate::ml::worker::WorkerConfig;

/// What a channel sent: `(channel id, data)`, in order.
pub(crate) type Sends = Arc<Mutex<Vec<(u32, Vec<f64>)>>>;
/// What `sema.sendBuffer` sent: `(name, data)`, in order.
pub(crate) type Buffers = Arc<Mutex<Vec<(String, Vec<f32>)>>>;

/// A runtime plus what it sent out.
pub(crate) struct Harness {
    pub rt: Runtime,
    pub sends: Sends,
    pub buffers: Buffers,
    pub host: Arc<HostView>,
    /// The audio thread's end of the `toJS` ring buffer.
    pub to_js: rtrb::Producer<ToJsValue>,
    /// The audio thread's end of the MIDI-input ring buffer.
    pub midi_in: rtrb::Producer<StampedMidiIn>,
    /// The clips the script sent to the engine.
    pub clips: Arc<Mutex<Vec<Clip>>>,
    /// The clips `host.studio.keep` kept (the session's Studio clips).
    pub kept: Arc<Mutex<Vec<crate::control::state::KeptClip>>>,
    pub console: Vec<Line>,
    /// The uncaught errors, as the runtime reported them.
    pub script_errors: Vec<ScriptError>,
}

impl Harness {
    pub fn new(models: WorkerConfig, base_dir: PathBuf) -> Self {
        Self::with_limits(models, base_dir, JsLimits::default())
    }

    pub fn with_limits(models: WorkerConfig, base_dir: PathBuf, limits: JsLimits) -> Self {
        let sends = Arc::new(Mutex::new(Vec::new()));
        let buffers = Arc::new(Mutex::new(Vec::new()));
        let host = Arc::new(HostView::default());
        let (tx, rx) = rtrb::RingBuffer::new(1024);
        let (midi_tx, midi_rx) = rtrb::RingBuffer::new(4096);
        let clips = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::new(Mutex::new(Vec::new()));
        let (s2, b2, c2, k2) = (sends.clone(), buffers.clone(), clips.clone(), kept.clone());
        let io = JsIo {
            limits,
            channel_sink: Box::new(move |id, data| s2.lock().push((id, data.to_vec()))),
            host: host.clone(),
            to_js: Some(rx),
            midi_in: Some(midi_rx),
            clip_sink: Box::new(move |clip| {
                c2.lock().push(clip);
                Ok(())
            }),
            keep_sink: Box::new(move |name, seq| {
                crate::control::studio::keep_in_session(&mut k2.lock(), name.as_deref(), seq)
            }),
            samples_sink: Box::new(move |name, data| b2.lock().push((name, data))),
            models,
            headless: false,
            base_dir,
        };
        let rt = Runtime::new(io).expect("runtime");
        Harness {
            rt,
            sends,
            buffers,
            host,
            to_js: tx,
            midi_in: midi_tx,
            clips,
            kept,
            console: Vec::new(),
            script_errors: Vec::new(),
        }
    }

    /// Sends `input` on `channel` as the audio thread's `toJS` does.
    pub fn send_input(&mut self, channel: u32, input: JsInput) {
        for v in input.to_values(channel) {
            self.to_js.push(v).expect("room in the toJS ring buffer");
        }
    }

    pub fn plain() -> Self {
        Self::plain_with(JsLimits::default())
    }

    /// No models, the given limits.
    pub fn plain_with(limits: JsLimits) -> Self {
        let dir = std::env::temp_dir().join("sema-live-js-tests-no-models");
        let mut cfg = WorkerConfig::new(dir.join("bundled"));
        cfg.cache_dir = dir.join("cache");
        cfg.allow_network = false;
        Harness::with_limits(cfg, std::env::temp_dir(), limits)
    }

    /// Evaluates a whole source, block by block.
    pub fn run(&mut self, src: &str) {
        for b in split_blocks(src).iter().filter(|b| !b.is_blank()) {
            self.rt.eval_block(&b.code, b.index, b.first_line);
        }
        self.collect();
    }

    pub fn eval(&mut self, code: &str, block: usize) -> bool {
        let ok = self.rt.eval_block(code, block, 1);
        self.collect();
        ok
    }

    pub fn collect(&mut self) {
        self.console.extend(self.rt.take_console());
        self.script_errors.extend(self.rt.take_errors());
    }

    /// Pumps until `done` or the timeout.
    pub fn pump_until(
        &mut self,
        timeout: Duration,
        mut done: impl FnMut(&Harness) -> bool,
    ) -> bool {
        let end = Instant::now() + timeout;
        while Instant::now() < end {
            self.rt.pump();
            self.collect();
            if done(self) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        false
    }

    pub fn logs(&self) -> Vec<String> {
        self.console.iter().filter(|l| l.level == Level::Log).map(|l| l.text.clone()).collect()
    }

    pub fn errors(&self) -> Vec<Line> {
        self.console.iter().filter(|l| l.level == Level::Error).cloned().collect()
    }
}

#[test]
fn var_and_functions_persist_let_and_const_do_not() {
    let mut h = Harness::plain();
    h.run(
        "var a = 1;\nlet b = 2;\nconst c = 3;\nfunction f() { return b + c; }\n___\n\
         console.log(a, typeof b, typeof c, f());\n___\n\
         const c = 10;\nconsole.log(c);\n",
    );
    assert_eq!(h.logs(), vec!["1 undefined undefined 5", "10"]);
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    // Evaluating a block with a const again (a live edit) is not a redeclaration error.
    assert!(h.eval("const c = 4; console.log(c)", 0));
    assert!(h.eval("const c = 5; console.log(c)", 0));
    assert_eq!(h.logs()[2..], ["4", "5"]);
}

#[test]
fn exceptions_report_block_and_file_line() {
    let mut h = Harness::plain();
    h.run("var x = 1;\n___\nfunction boom() {\n  return nope.y;\n}\n___\nvar y = 2;\nboom();\n");
    let errs = h.errors();
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].text.contains("nope"), "{}", errs[0].text);
    // The failing line is in block 1 (the function), file line 4.
    assert_eq!(errs[0].js_line(), Some(4));
    assert_eq!(errs[0].js_block(), Some(1));
    // The typed error says the same, and prints as the console line does.
    let e = &h.script_errors[0];
    assert_eq!(e.kind(), ScriptErrorKind::Exception);
    assert_eq!((e.block(), e.line()), (Some(1), Some(4)));
    assert_eq!(e.to_console_line(), errs[0]);
    assert_eq!(e.to_string(), format!("{} (block 2, line 4)", errs[0].text));
    // The next block still runs after an error.
    assert!(h.eval("console.log('after', y)", 3));
    assert_eq!(h.logs(), vec!["after 2"]);

    let mut h = Harness::plain();
    h.run("var ok = 1;\n___\nvar a = ;\n");
    let errs = h.errors();
    assert_eq!(errs.len(), 1);
    assert!(errs[0].text.contains("SyntaxError"), "{}", errs[0].text);
    assert_eq!((errs[0].js_block(), errs[0].js_line()), (Some(1), Some(3)));

    let mut h = Harness::plain();
    h.run("\n\nthrow new Error('custom ' + 42);\n");
    let errs = h.errors();
    assert!(errs[0].text.contains("custom 42"), "{}", errs[0].text);
    assert_eq!(errs[0].js_line(), Some(3));
}

#[test]
fn runaway_scripts_stop_and_the_next_block_runs() {
    use ScriptErrorKind::{Exception, RecursionLimit, TimeLimit};
    let mut h =
        Harness::plain_with(JsLimits { time: Duration::from_secs(2), ..JsLimits::default() });
    // Every loop has a time check: the time limit stops them all.
    let loops: &[ScriptErrorKind] = &[TimeLimit];
    for (i, (code, kinds)) in [
        ("while (true) {}", loops),
        ("for (;;) { var k = (k || 0) + 1; }", loops),
        ("function r(n) { return r(n + 1) + 1; }\nr(0);", &[RecursionLimit][..]),
        ("var big = new Float32Array(1e10);", &[Exception][..]),
        ("var s = 'x'.repeat(2 ** 31);", &[Exception][..]),
        ("var arr = new Array(2 ** 31).fill(0);", &[Exception][..]),
        ("while (true) { try { for (;;) {} } catch (e) {} }", loops),
        // Loops without a block body.
        ("while (true);", loops),
        ("for (var j = 0; ; j++) j ^= 1;", loops),
        ("do ; while (1)", loops),
        // Each call stays under the per-frame loop limit: only the run-time limit stops it.
        (
            "function spin() { for (let i = 0; i < 1500000; i++) {} }\nwhile (true) { spin(); }",
            &[TimeLimit][..],
        ),
        (
            "function spin2() { var i = 0; while (i < 1500000) { i++; } }\nfor (;;) spin2();",
            &[TimeLimit][..],
        ),
    ]
    .iter()
    .enumerate()
    {
        let t = Instant::now();
        let ok = h.eval(code, i);
        let took = t.elapsed();
        assert!(!ok, "{code} should fail");
        assert!(took < Duration::from_secs(20), "{code} took {took:?}");
        eprintln!("{code:?} stopped after {took:?}");
        let last = h.errors().last().cloned().expect("an error line");
        assert_eq!(last.js_block(), Some(i), "{last:?}");
        let error = h.script_errors.last().expect("a script error");
        assert!(kinds.contains(&error.kind()), "{code}: {error:?}");
        assert_eq!(error.to_console_line(), last);
        // What the console says for each limit (users read it).
        match error.kind() {
            TimeLimit => assert!(last.text.contains("ran longer than 2 s"), "{last:?}"),
            RecursionLimit => assert!(last.text.contains("too deep recursion"), "{last:?}"),
            _ => assert!(!last.text.contains("the script was stopped"), "{last:?}"),
        }
        assert!(h.eval("var alive = 1; console.log('alive')", 20));
        assert_eq!(h.logs().last().map(String::as_str), Some("alive"));
    }
}

#[test]
fn promises_async_await_and_timers() {
    let mut h = Harness::plain();
    h.run(
        "var order = [];\n\
         Promise.resolve(1).then(v => order.push('then' + v));\n\
         (async () => { await null; order.push('await'); })();\n\
         setTimeout((a, b) => order.push('timeout' + a + b), 5, 'x', 'y');\n\
         var n = 0; var iv = setInterval(() => { n++; if (n === 3) { clearInterval(iv); order.push('interval'); } }, 2);\n\
         var t = setTimeout(() => order.push('cancelled'), 1); clearTimeout(t);\n\
         order.push('sync');\n",
    );
    assert!(h.pump_until(Duration::from_secs(5), |h| h.rt.pending_timers() == 0));
    h.eval("console.log(order.join(','))", 1);
    assert_eq!(h.logs(), vec!["sync,then1,await,timeout".to_string() + "xy,interval"]);

    // An error in a callback is reported with the block that set the timer.
    h.eval("setTimeout(() => { null.x; }, 1);", 2);
    assert!(h.pump_until(Duration::from_secs(5), |h| !h.errors().is_empty()));
    assert_eq!(h.errors()[0].js_block(), Some(2));
    // Unhandled rejections are reported; handled ones are not.
    h.eval(
        "Promise.reject(new Error('lost')); Promise.reject(new Error('caught')).catch(() => {});",
        3,
    );
    let errs = h.errors();
    assert_eq!(errs.len(), 2, "{errs:?}");
    assert!(
        errs[1].text.contains("Uncaught (in promise)") && errs[1].text.contains("lost"),
        "{}",
        errs[1].text
    );
}

#[test]
fn output_channels_pad_and_truncate() {
    let mut h = Harness::plain();
    h.run(
        "var ch = createOutputChannel(1, 4);\n\
         ch.send([1, 2]);\nch.send([1, 2, 3, 4, 5, 6]);\nch.send(7);\n\
         ch.send(new Float32Array([0.5]), 1);\nch.send([NaN, 'x', 3]);\noutput(9, 2);\n",
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    let sends = h.sends.lock().clone();
    assert_eq!(
        sends,
        vec![
            (1, vec![1.0, 2.0, 0.0, 0.0]),
            (1, vec![1.0, 2.0, 3.0, 4.0]),
            (1, vec![7.0, 0.0, 0.0, 0.0]),
            (1, vec![0.5, 0.0, 0.0, 0.0]),
            (1, vec![0.0, 0.0, 3.0, 0.0]),
            (2, vec![9.0]),
        ]
    );
    assert!(!h.eval("createOutputChannel(64, 4)", 1));
    assert!(!h.eval("createOutputChannel(1, 0)", 2));
    assert!(h.errors()[0].text.contains("RangeError"), "{:?}", h.errors());
}

#[test]
fn input_buffers_console_and_host() {
    let mut h = Harness::plain();
    h.run("var got = [];\ninput = (value, channel) => got.push(channel + ':' + value);\n");
    h.send_input(3, 0.25.into());
    h.send_input(0, 1.0.into());
    h.send_input(2, JsInput::List(vec![0.5, -1.0, 2.0]));
    h.rt.pump();
    h.eval("console.log(got.join(' '))", 1);
    // A list arrives as one array (joined by `+` into "0.5,-1,2").
    assert_eq!(h.logs(), vec!["3:0.25 0:1 2:0.5,-1,2"]);
    h.eval("var shape = ''; input = (value, channel) => { shape = Array.isArray(value) + ' ' + value.length; };", 5);
    h.send_input(1, JsInput::List(vec![1.0, 2.0]));
    h.rt.pump();
    h.eval("console.log(shape)", 6);
    assert_eq!(h.logs().last().map(String::as_str), Some("true 2"));

    h.eval("sema.sendBuffer('noise', new Float32Array([0, 0.5, -0.5]))", 2);
    assert_eq!(h.buffers.lock().clone(), vec![("noise".to_string(), vec![0.0, 0.5, -0.5])]);
    assert!(!h.eval("sema.sendBuffer('bad name', [1])", 3));

    h.eval("console.info({a: [1, 'b', {c: null}]}); console.warn(new Error('w')); console.log([1.5, -0, true])", 4);
    let lines: Vec<_> =
        h.console.iter().rev().take(3).rev().map(|l| (l.level, l.text.clone())).collect();
    assert_eq!(
        lines,
        vec![
            (Level::Info, "{a: [1, 'b', {c: null}]}".to_string()),
            (Level::Warn, "Error: w".to_string()),
            (Level::Log, "[1.5, 0, true]".to_string()),
        ]
    );

    h.host.temperature.store(0.75, Ordering::Relaxed);
    h.host.macros[2].store(0.5, Ordering::Relaxed);
    h.host.bpm.store(93.0, Ordering::Relaxed);
    h.eval("console.log(host.temperature, host.macros[2], host.bpm, host.playing, host.bar)", 5);
    assert_eq!(h.logs().last().unwrap(), "0.75 0.5 93 false 0");

    // onBar: once per new bar while playing; re-evaluating the block replaces it.
    h.eval("var bars = []; host.onBar(b => bars.push(b));", 6);
    h.rt.pump();
    h.host.playing.store(true, Ordering::Relaxed);
    for bar in [0, 0, 1, 2, 2, 3] {
        h.host.bar.store(bar, Ordering::Relaxed);
        h.rt.pump();
    }
    h.eval("var bars2 = []; host.onBar(b => bars2.push(b));", 6);
    h.host.bar.store(4, Ordering::Relaxed);
    h.rt.pump();
    h.eval("console.log(bars.join(','), '|', bars2.join(','))", 7);
    assert_eq!(h.logs().last().unwrap(), "0,1,2,3 | 4");
}

#[test]
fn import_scripts_installs_builtins_and_loads_local_files() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("helper.js"),
        "var helperValue = 41 + 1;\nfunction helper() { return 'h'; }\n",
    )
    .unwrap();
    let mut cfg = WorkerConfig::new(dir.path().join("bundled"));
    cfg.allow_network = false;
    let mut h = Harness::new(cfg, dir.path().to_path_buf());
    h.run(
        "importScripts(\"https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@1.4.0/dist/tf.min.js\");\n\
         importScripts(\"https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js\");\n\
         importScripts(\"https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js\");\n\
         importScripts('helper.js');\n\
         console.log(typeof tf.tensor, typeof core.sequences.quantizeNoteSequence, typeof music_rnn.MusicRNN,\n\
           typeof mm.MidiMe, typeof music_vae, helperValue, helper());\n",
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    assert_eq!(h.logs(), vec!["function function function function undefined 42 h"]);
    assert!(!h.eval("importScripts('https://example.com/lib.js')", 1));
    assert!(h.errors()[0].text.contains("not in the script cache"), "{:?}", h.errors());
    assert!(!h.eval("importScripts('missing.js')", 2));
    // The seed's shadowing: the module global becomes the instance, and the line can be
    // evaluated again.
    assert!(h.eval("var music_rnn = new music_rnn.MusicRNN('x'); var music_rnn = new music_rnn.MusicRNN('y'); console.log(music_rnn.checkpointURL)", 3));
    assert_eq!(h.logs().last().unwrap(), "y");
}

#[test]
fn tf_tensors_and_quantize() {
    let mut h = Harness::plain();
    h.run(
        "importScripts('https://cdn.jsdelivr.net/npm/@tensorflow/tfjs/dist/tf.min.js', 'https://unpkg.com/@magenta/music@1.23.1/es6/core.js');\n\
         var z = tf.tidy(() => tf.randomNormal([1, 256]));\n\
         var d = z.dataSync();\n\
         var mean = d.reduce((a, b) => a + b, 0) / d.length;\n\
         var sd = Math.sqrt(d.reduce((a, b) => a + (b - mean) ** 2, 0) / d.length);\n\
         console.log(z.shape.join('x'), d.length, Math.abs(mean) < 0.3, sd > 0.7 && sd < 1.3);\n\
         var t = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);\n\
         console.log(JSON.stringify(t.arraySync()), t.shape.join('x'), t.add(1).dataSync()[5], t.reshape([3, -1]).shape.join('x'));\n\
         t.array().then(a => console.log('array', a[1][2]));\n\
         tf.dispose([z, t]);\n\
         var q = core.sequences.quantizeNoteSequence({notes: [{pitch: 60, startTime: 0, endTime: 0.5}, {pitch: 62, startTime: 0.5, endTime: 1}], totalTime: 1}, 4);\n\
         console.log(q.totalQuantizedSteps, q.notes[1].quantizedStartStep, q.notes[1].quantizedEndStep, q.quantizationInfo.stepsPerQuarter);\n",
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    assert_eq!(
        h.logs(),
        vec!["1x256 256 true true", "[[1,2,3],[4,5,6]] 2x3 7 3x2", "8 4 8 4", "array 6"]
    );
    assert!(!h.eval("tf.tensor2d([[1, 2], [3]])", 1));
    assert!(!h.eval("core.sequences.quantizeNoteSequence({notes: 3}, 4)", 2));
}

#[test]
fn js_host_thread_evaluates_and_reports() {
    let sends = Arc::new(Mutex::new(Vec::new()));
    let s2 = sends.clone();
    let mut cfg = WorkerConfig::new(std::env::temp_dir().join("sema-live-none"));
    cfg.allow_network = false;
    let host = super::JsHost::spawn(JsIo {
        limits: crate::js::JsLimits::default(),
        channel_sink: Box::new(move |id, d| s2.lock().push((id, d.to_vec()))),
        host: Arc::new(HostView::default()),
        to_js: None,
        midi_in: None,
        clip_sink: Box::new(|_| Ok(())),
        keep_sink: crate::js::runtime::no_session(),
        samples_sink: Box::new(|_, _| {}),
        models: cfg,
        headless: false,
        base_dir: std::env::temp_dir(),
    });
    host.eval_block("while (true) {}".into(), 0, 1);
    host.eval_block(
        "setTimeout(() => { createOutputChannel(5, 2).send([1]); console.log('timer'); }, 10);"
            .into(),
        1,
        3,
    );
    let mut lines = Vec::new();
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && !lines.iter().any(|l: &Line| l.text == "timer") {
        if let Some(l) = host.recv_console_timeout(Duration::from_millis(50)) {
            lines.push(l);
        }
    }
    assert_eq!(lines[0].level, Level::Error);
    assert_eq!(lines[0].js_block(), Some(0));
    assert!(lines.iter().any(|l| l.text == "timer"), "{lines:?}");
    assert_eq!(sends.lock().clone(), vec![(5, vec![1.0, 0.0])]);
    host.shutdown();
}

#[test]
fn js_host_thread_reads_to_js_values_from_the_ring_buffer() {
    // The JS thread owns the consumer end; the producer stands in for the audio thread.
    let (mut tx, rx) = rtrb::RingBuffer::new(64);
    let mut cfg = WorkerConfig::new(std::env::temp_dir().join("sema-live-none"));
    cfg.allow_network = false;
    let host = super::JsHost::spawn(JsIo {
        limits: crate::js::JsLimits::default(),
        channel_sink: Box::new(|_, _| {}),
        host: Arc::new(HostView::default()),
        to_js: Some(rx),
        midi_in: None,
        clip_sink: Box::new(|_| Ok(())),
        keep_sink: crate::js::runtime::no_session(),
        samples_sink: Box::new(|_, _| {}),
        models: cfg,
        headless: false,
        base_dir: std::env::temp_dir(),
    });
    host.eval_block(
        "input = (value, channel) => console.log(channel + ':' + value);\nconsole.log('ready');"
            .into(),
        0,
        1,
    );
    let mut lines: Vec<String> = Vec::new();
    let wait_for = |lines: &mut Vec<String>, text: &str| {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end && !lines.iter().any(|l| l == text) {
            if let Some(l) = host.recv_console_timeout(Duration::from_millis(50)) {
                lines.push(l.text);
            }
        }
        assert!(lines.iter().any(|l| l == text), "no {text:?} in {lines:?}");
    };
    wait_for(&mut lines, "ready");
    let list = JsInput::List(vec![1.0, 2.0]).to_values(2);
    // The audio thread may publish a list across two blocks: the parts are kept.
    tx.push(list[0]).expect("room");
    tx.push(ToJsValue::single(4, 0.5)).expect("room");
    wait_for(&mut lines, "4:0.5");
    tx.push(list[1]).expect("room");
    wait_for(&mut lines, "2:1,2");
    assert_eq!(lines, vec!["ready", "4:0.5", "2:1,2"]);
    host.shutdown();
}

/// Timings of the runtime's hot paths (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn timings() {
    let t = Instant::now();
    let mut h = Harness::plain();
    eprintln!("Runtime::new (context + API layers): {:?}", t.elapsed());

    let n = 1000;
    let t = Instant::now();
    for i in 0..n {
        h.rt.eval_block("var x = (x || 0) + 1;", i % 4, 1);
    }
    eprintln!("eval_block of a one-line block: {:?} each", t.elapsed() / n as u32);

    let n = 10_000;
    let t = Instant::now();
    for _ in 0..n {
        h.rt.pump();
    }
    eprintln!("idle pump: {:?} each", t.elapsed() / n as u32);

    h.eval("var ch = createOutputChannel(1, 12); var mel = [1,2,3,4,5,6,7,8,9,10,11,12];", 0);
    let t = Instant::now();
    h.eval("for (let i = 0; i < 10000; i++) ch.send(mel);", 1);
    eprintln!("channel send of 12 values: {:?} each", t.elapsed() / 10_000);

    let t = Instant::now();
    h.eval("while (true) {}", 2);
    eprintln!("while (true) {{}} stopped after {:?}", t.elapsed());
    let t = Instant::now();
    h.eval("function spin() { for (;;) {} } spin();", 3);
    eprintln!("loop in a function stopped after {:?}", t.elapsed());
    let t = Instant::now();
    h.eval("var g = 0; for (;;) { g = g + 1; }", 4);
    eprintln!("loop updating a global stopped after {:?}", t.elapsed());
}

#[test]
fn run_file_reports_uncaught_errors() {
    let dir = tempfile::tempdir().unwrap();
    let opts = || {
        let mut o = super::RunOptions::new(dir.path().join("bundled"));
        o.models.allow_network = false;
        o.print = false;
        o.timeout = Duration::from_secs(10);
        o
    };
    let good = dir.path().join("good.js");
    std::fs::write(
        &good,
        "var ch = createOutputChannel(3, 2);\n___\nsetTimeout(() => ch.send([5]), 20);\n",
    )
    .unwrap();
    let report = super::run_file(&good, opts()).expect("runs");
    // The run waited for the timer.
    assert_eq!(report.sends, vec![(3, vec![5.0, 0.0])]);
    let bad = dir.path().join("bad.js");
    std::fs::write(&bad, "var a = 1;\n___\nsetTimeout(() => undefinedFn(), 5);\n").unwrap();
    let err = super::run_file(&bad, opts()).unwrap_err();
    assert_eq!(err.kind(), ScriptErrorKind::Uncaught, "{err}");
    let first = err.first().expect("the first error");
    assert_eq!(first.kind(), ScriptErrorKind::Exception, "{first}");
    assert_eq!((first.block(), first.line()), (Some(1), Some(3)));
    // The message users read.
    let err = err.to_string();
    assert!(err.contains("1 uncaught error") && err.contains("undefinedFn"), "{err}");
    assert!(err.contains("block 2, line 3"), "{err}");
    // A model that cannot load is an error too (no bundled models in this folder).
    let model = dir.path().join("model.js");
    std::fs::write(
        &model,
        "importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js');\n\
         new music_rnn.MusicRNN('https://storage.googleapis.com/x/basic_rnn').initialize();\n",
    )
    .unwrap();
    let err = super::run_file(&model, opts()).unwrap_err();
    assert_eq!(err.first().map(ScriptError::kind), Some(ScriptErrorKind::Exception));
    let err = err.to_string();
    assert!(err.contains("MusicRNN.initialize") && err.contains("missing"), "{err}");
    let err = super::run_file(&dir.path().join("nope.js"), opts()).unwrap_err();
    assert_eq!(err.kind(), ScriptErrorKind::Io, "{err}");
}

#[test]
fn js_host_keeps_the_newest_console_lines_when_nobody_reads() {
    let mut cfg = WorkerConfig::new(std::env::temp_dir().join("sema-live-none"));
    cfg.allow_network = false;
    let host = super::JsHost::spawn(JsIo {
        limits: crate::js::JsLimits::default(),
        channel_sink: Box::new(|_, _| {}),
        host: Arc::new(HostView::default()),
        to_js: None,
        midi_in: None,
        clip_sink: Box::new(|_| Ok(())),
        keep_sink: crate::js::runtime::no_session(),
        samples_sink: Box::new(|_, _| {}),
        models: cfg,
        headless: false,
        base_dir: std::env::temp_dir(),
    });
    host.eval_block(
        "for (let i = 0; i < 10050; i++) console.log(i); console.log(typeof performance.now(), typeof queueMicrotask);".into(),
        0,
        1,
    );
    // Nobody reads while the block runs.
    std::thread::sleep(Duration::from_secs(3));
    let mut lines = Vec::new();
    while let Some(l) = host.try_console() {
        lines.push(l.text);
    }
    assert_eq!(lines.len(), 10_000);
    assert_eq!(lines[0], "51");
    assert_eq!(lines[lines.len() - 2], "10049");
    assert_eq!(lines[lines.len() - 1], "number function");
    host.shutdown();
}
