// The cost of the JS time and heap limits on normal code: the same loops evaluated as a
// block (with the time check the runtime inserts into every loop, and the JS thread's
// allocations counted) and straight through the engine without the inserted checks.
//
// Run: `cargo bench -p sema_live --bench js_limits` (release), or with `--profile dev`
// for a quick figure (dependencies, Boa among them, are optimised in dev builds too).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};

use sema_live::js::{HostView, JsIo, JsLimits, Runtime};
use sema_live::ml::WorkerConfig;

fn runtime() -> Runtime {
    let mut models = WorkerConfig::new(PathBuf::from("/nonexistent"));
    models.allow_network = false;
    Runtime::new(JsIo {
        channel_sink: Box::new(|_, _| {}),
        host: Arc::new(HostView::default()),
        to_js: None,
        midi_in: None,
        clip_sink: Box::new(|_| Ok(())),
        keep_sink: sema_live::js::no_session(),
        samples_sink: Box::new(|_, _| {}),
        models,
        headless: false,
        base_dir: std::env::temp_dir(),
        limits: JsLimits::default(),
    })
    .expect("runtime")
}

const LOOPS: [(&str, &str); 3] = [
    ("for 1e6 (sum)", "var s = 0; for (let i = 0; i < 1000000; i++) { s += i * 0.5; }"),
    (
        "while 1e6 (sin into Float32Array)",
        "var b = new Float32Array(1000000), i = 0; while (i < b.length) { b[i] = Math.sin(i * 0.01); i++; }",
    ),
    (
        "nested for 1000x1000 (push)",
        "var a = []; for (let i = 0; i < 1000; i++) for (let j = 0; j < 1000; j++) a.push(j);",
    ),
];

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("js_limits");
    g.sample_size(10);
    for (name, code) in LOOPS {
        let mut rt = runtime();
        g.bench_function(format!("{name}: block with limits"), |b| {
            b.iter(|| assert!(black_box(rt.eval_block(code, 0, 1))))
        });
        // What a block is evaluated as (an indirect eval), without the inserted checks.
        let mut rt = runtime();
        let indirect = format!("(0, eval)({})", serde_json::to_string(code).expect("json"));
        g.bench_function(format!("{name}: indirect eval, no checks"), |b| {
            b.iter(|| {
                rt.context().eval(boa_engine::Source::from_bytes(&indirect)).expect("runs");
            })
        });
        let mut rt = runtime();
        g.bench_function(format!("{name}: engine only"), |b| {
            b.iter(|| {
                rt.context().eval(boa_engine::Source::from_bytes(code)).expect("runs");
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
