//! The runtime's limits by time and memory, and its restarts: legit heavy work passes, a
//! runaway loop or allocation in a block, timer, Promise job or `onBar` call stops with a
//! clear error, and the runtime stays usable (the next block runs, channels still send).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::tests::Harness;
use super::{JsLimits, ScriptErrorKind};
use crate::control::console::Level;

const MB: usize = 1024 * 1024;

fn limits(time_s: f64, heap_mb: usize) -> JsLimits {
    JsLimits { time: Duration::from_secs_f64(time_s), heap_bytes: heap_mb * MB }
}

/// The runtime still evaluates code with loops and its channels still send.
fn assert_usable(h: &mut Harness, block: usize) {
    let before = h.sends.lock().len();
    let ok = h.eval(
        "var chk = createOutputChannel(7, 3); var acc = 0;\n\
         for (let i = 0; i < 1000; i++) acc += i;\n\
         chk.send([acc, 2, 3]);",
        block,
    );
    assert!(ok, "{:?}", h.errors());
    let sends = h.sends.lock();
    assert_eq!(sends.len(), before + 1);
    assert_eq!(sends.last().unwrap(), &(7, vec![499500.0, 2.0, 3.0]));
}

#[test]
fn a_loop_filling_three_million_samples_passes() {
    // The iteration count is no limit any more (it stopped this at 2 000 000); the time
    // budget is generous here because a debug build on a shared machine is slow (the
    // release figure is in the `js_limits` bench).
    let mut h = Harness::plain_with(limits(60.0, 256));
    let t = Instant::now();
    let ok = h.eval(
        "var n = 3000000, buf = new Float32Array(n);\n\
         for (let i = 0; i < n; i++) buf[i] = Math.sin(i * 0.01) * 0.5;\n\
         sema.sendBuffer('minute', buf);",
        0,
    );
    eprintln!("3 M samples took {:?}", t.elapsed());
    assert!(ok, "{:?}", h.errors());
    let buffers = h.buffers.lock();
    assert_eq!(buffers.len(), 1);
    assert_eq!(buffers[0].1.len(), 3_000_000);
    assert!((buffers[0].1[100] - (1.0f32).sin() * 0.5).abs() < 1e-6);
}

#[test]
fn a_runaway_allocation_stops_at_the_heap_limit_and_the_runtime_restarts() {
    let mut h = Harness::plain_with(limits(60.0, 64));
    h.eval("var keep = createOutputChannel(3, 2); keep.send([4, 5]);", 0);
    let t = Instant::now();
    let ok = h.eval("var a = [];\nwhile (true) a.push(new Array(100000).fill(1.5));", 1);
    let took = t.elapsed();
    assert!(!ok);
    assert!(took < Duration::from_secs(30), "took {took:?}");
    let error = h.script_errors.last().expect("a script error").clone();
    assert_eq!(error.kind(), ScriptErrorKind::HeapLimit, "{error:?}");
    assert!(error.message().contains("held more than 64 MB of memory"), "{error}");
    assert_eq!(error.block(), Some(1));
    // `a` is a global: the memory stays held, so the runtime started afresh.
    assert_eq!(h.rt.restarts(), 1);
    assert!(
        h.console.iter().any(|l| l.level == Level::Warn && l.text.contains("was restarted")),
        "{:?}",
        h.console
    );
    assert!(super::heap::live_bytes() < 16 * MB, "{} bytes", super::heap::live_bytes());
    assert!(h.eval("console.log(typeof a)", 2));
    assert_eq!(h.logs().last().map(String::as_str), Some("undefined"));
    assert_usable(&mut h, 3);
    // The same runaway held by a block-local: collected, no restart needed.
    let ok = h.eval("{ let b = []; for (;;) b.push(new Array(100000).fill(2)); }", 4);
    assert!(!ok);
    assert_eq!(h.script_errors.last().unwrap().kind(), ScriptErrorKind::HeapLimit);
    assert_eq!(h.rt.restarts(), 1, "{:?}", h.console);
    assert_usable(&mut h, 5);
}

#[test]
fn garbage_does_not_count_against_the_heap_limit() {
    let mut h = Harness::plain_with(limits(60.0, 64));
    // 300 temporary arrays of 100 000 numbers: several hundred MB allocated in all, a
    // few MB alive at once.
    let ok = h.eval(
        "var total = 0;\n\
         for (let k = 0; k < 300; k++) { let t = new Array(100000).fill(k); total += t[5]; }\n\
         console.log(total);",
        0,
    );
    assert!(ok, "{:?}", h.errors());
    assert_eq!(h.logs().last().map(String::as_str), Some("44850"));
    assert_eq!(h.rt.restarts(), 0);
}

#[test]
fn callbacks_timers_and_promise_jobs_have_the_time_budget() {
    let mut h = Harness::plain_with(limits(0.5, 256));
    let stopped = |h: &Harness| {
        h.script_errors.iter().filter(|e| e.kind() == ScriptErrorKind::TimeLimit).count()
    };
    // A timer.
    h.eval("setTimeout(() => { while (true); }, 1);", 0);
    assert!(h.pump_until(Duration::from_secs(20), |h| stopped(h) == 1));
    // A Promise job.
    h.eval("Promise.resolve().then(() => { for (;;) {} });", 1);
    assert_eq!(stopped(&h), 2, "{:?}", h.errors());
    // An onBar callback, every bar.
    h.eval("var bars = 0; host.onBar(b => { bars++; do ; while (true) });", 2);
    h.host.playing.store(true, Ordering::Relaxed);
    h.host.bar.store(1, Ordering::Relaxed);
    assert!(h.pump_until(Duration::from_secs(20), |h| stopped(h) == 3));
    h.host.bar.store(2, Ordering::Relaxed);
    assert!(h.pump_until(Duration::from_secs(20), |h| stopped(h) == 4));
    let last = h.script_errors.last().unwrap();
    assert!(last.message().contains("ran longer than 0.5 s"), "{last}");
    assert_eq!(last.block(), Some(2));
    h.host.playing.store(false, Ordering::Relaxed);
    assert!(h.eval("console.log(bars)", 3));
    assert_eq!(h.logs().last().map(String::as_str), Some("2"));
    assert_usable(&mut h, 4);
}

#[test]
fn limits_come_from_the_environment_and_reject_nonsense() {
    assert_eq!(JsLimits::parse_seconds("2.5"), Ok(Duration::from_millis(2500)));
    assert!(JsLimits::parse_seconds("0").is_err());
    assert!(JsLimits::parse_seconds("NaN").is_err());
    assert!(JsLimits::parse_seconds("1e9").is_err());
    assert_eq!(JsLimits::parse_megabytes("64"), Ok(64 * MB));
    assert!(JsLimits::parse_megabytes("-1").is_err());
    assert!(JsLimits::parse_megabytes("lots").unwrap_err().contains("\"lots\""));
    let d = JsLimits::default();
    assert_eq!(d.heap_bytes, 256 * MB);
    assert!(d.time >= Duration::from_secs(2) && d.time <= Duration::from_secs(10));
}

#[test]
fn a_restart_keeps_channels_and_drops_callbacks() {
    let mut h = Harness::plain_with(limits(2.0, 256));
    h.eval(
        "var ch = createOutputChannel(2, 1); var fired = 0;\n\
         setInterval(() => { fired++; ch.send([fired]); }, 1);\n\
         host.onBar(() => console.log('bar'));",
        0,
    );
    assert!(h.pump_until(Duration::from_secs(10), |h| !h.sends.lock().is_empty()));
    h.rt.restart("test").unwrap();
    h.collect();
    assert_eq!(h.rt.pending_timers(), 0);
    let n = h.sends.lock().len();
    h.host.playing.store(true, Ordering::Relaxed);
    h.host.bar.store(5, Ordering::Relaxed);
    for _ in 0..5 {
        h.rt.pump();
        std::thread::sleep(Duration::from_millis(2));
    }
    h.collect();
    assert_eq!(h.sends.lock().len(), n, "the interval was dropped");
    assert!(!h.logs().iter().any(|l| l == "bar"), "the bar callback was dropped");
    assert!(h.console.iter().any(|l| l.text.starts_with("test: the JS runtime was restarted")));
    assert_usable(&mut h, 1);
}

#[test]
fn a_panic_on_the_js_thread_restarts_the_runtime() {
    use crate::control::console::Line;
    use crate::ml::worker::WorkerConfig;
    use parking_lot::Mutex;
    use std::sync::Arc;
    let sends = Arc::new(Mutex::new(Vec::new()));
    let s2 = sends.clone();
    let mut cfg = WorkerConfig::new(std::env::temp_dir().join("sema-live-none"));
    cfg.allow_network = false;
    let crashes = Arc::new(super::Crashes::default());
    let host = super::JsHost::spawn_counting(
        super::JsIo {
            limits: JsLimits::default(),
            channel_sink: Box::new(move |id, d| s2.lock().push((id, d.to_vec()))),
            host: Arc::new(super::HostView::default()),
            to_js: None,
            midi_in: None,
            clip_sink: Box::new(|_| Ok(())),
            keep_sink: crate::js::runtime::no_session(),
            samples_sink: Box::new(|_, _| {}),
            models: cfg,
            headless: false,
            base_dir: std::env::temp_dir(),
        },
        crashes.clone(),
    );
    let mut lines: Vec<Line> = Vec::new();
    let wait_for = |lines: &mut Vec<Line>, what: &dyn Fn(&[Line]) -> bool| {
        let end = Instant::now() + Duration::from_secs(30);
        while Instant::now() < end && !what(lines) {
            if let Some(l) = host.recv_console_timeout(Duration::from_millis(20)) {
                lines.push(l);
            }
        }
        assert!(what(lines), "{lines:?}");
    };
    let restarted = |n: usize| {
        move |l: &[Line]| {
            l.iter().filter(|l| l.text.contains("the JS runtime was restarted")).count() == n
        }
    };
    // A panic in a block, then one in a timer callback (inside a pump).
    host.eval_block("var before = 1; __semaTestPanic('in a block');".into(), 0, 1);
    wait_for(&mut lines, &restarted(1));
    host.eval_block("setTimeout(() => __semaTestPanic('in a timer'), 5);".into(), 1, 1);
    wait_for(&mut lines, &restarted(2));
    let restarts: Vec<&Line> =
        lines.iter().filter(|l| l.text.contains("the JS runtime was restarted")).collect();
    assert!(restarts[0].text.contains("the JS engine crashed (__semaTestPanic(\"in a block\"))"));
    assert!(restarts[1].text.contains("__semaTestPanic(\"in a timer\")"), "{lines:?}");
    assert_eq!(crashes.count(), 2);
    // The thread lives on with a fresh context: globals are gone, channels send.
    host.eval_block(
        "createOutputChannel(6, 1).send([42]); console.log('alive ' + typeof before);".into(),
        2,
        1,
    );
    wait_for(&mut lines, &|l: &[Line]| l.iter().any(|l| l.text == "alive undefined"));
    assert!(sends.lock().contains(&(6, vec![42.0])));
    host.shutdown();
}

#[test]
fn shutdown_interrupts_a_running_script() {
    use crate::ml::worker::WorkerConfig;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;
    let mut cfg = WorkerConfig::new(std::env::temp_dir().join("sema-live-none"));
    cfg.allow_network = false;
    let sent = Arc::new(AtomicBool::new(false));
    let s2 = sent.clone();
    let host = super::JsHost::spawn(super::JsIo {
        // Far longer than shutdown's wait: only the interrupt can stop it in time.
        limits: limits(60.0, 256),
        // Console lines leave the thread between jobs: the channel tells the loop began.
        channel_sink: Box::new(move |_, _| s2.store(true, Ordering::Relaxed)),
        host: Arc::new(super::HostView::default()),
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
        "createOutputChannel(1, 1).send([1]); var k = 0; while (true) { k++; }".into(),
        0,
        1,
    );
    let end = Instant::now() + Duration::from_secs(30);
    while Instant::now() < end && !sent.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(sent.load(Ordering::Relaxed));
    std::thread::sleep(Duration::from_millis(200));
    let t = Instant::now();
    host.shutdown();
    assert!(t.elapsed() < Duration::from_secs(1), "shutdown took {:?}", t.elapsed());
}
