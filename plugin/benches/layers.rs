//! The FM-synth tutorial's training (a 2 → 30 relu → 30 → 7 dense net, MSE, adam, 200
//! samples, 50 epochs of batches of 32, shuffled), in Sema Live and in the real
//! TensorFlow.js (tfjs 2.8.6, CPU backend) in Node, on the same machine in the same run.
//!
//! - `layers/fm_fit_core`: the Rust core alone (`ml::layers::fit`).
//! - `layers/fm_fit_js`: the whole path a script takes: the tutorial's JS (tensors,
//!   `model.fit` with an `onBatchEnd` callback, awaiting the History) in Sema Live's JS
//!   runtime, training on the training thread.
//! - tfjs: the same JS in Node (tests/parity/layers.mjs), timed after a warm-up run; the
//!   ratio is printed. Needs `npm install` in tests/parity (or `PARITY_NODE_DIR`).
//!
//! Run: `cargo bench -p sema_live --bench layers`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use parking_lot::Mutex;

use sema_live::js::{run_source, RunOptions};
use sema_live::ml::layers::{fit, FitOptions};
use sema_live::ml::layers::{Activation, Initializer, Loss, Matrix, Optimizer, EPSILON};
use sema_live::ml::layers::{Compiled, DenseConfig, Sequential};

/// The tutorial's model and training call, as JS (run by Sema Live and by Node).
const FM_JS: &str = "\
const model = tf.sequential();
model.add(tf.layers.dense({inputShape: [2], units: 30, activation: 'relu', kernelInitialiser: 'leCunNormal'}));
model.add(tf.layers.dense({units: 30}));
model.add(tf.layers.dense({units: 7}));
model.compile({loss: 'meanSquaredError', optimizer: tf.train.adam()});
const trainIn = tf.randomUniform([200, 2]);
const trainOut = tf.randomUniform([200, 7]);
let batches = 0;
function onBatchEnd(x, logs) { batches++; }
await model.fit(trainIn, trainOut, {epochs: 50, callbacks: {onBatchEnd}});
if (batches !== 350) throw new Error('expected 350 batches, got ' + batches);
report(batches);
";

fn dense(units: usize, input: Option<usize>, act: Activation) -> DenseConfig {
    DenseConfig {
        name: format!("dense{units}"),
        units,
        input_dim: input,
        activation: act,
        use_bias: true,
        kernel_initializer: Initializer::parse("glorotUniform").unwrap(),
        bias_initializer: Initializer::Zeros,
        seed: Some(1),
    }
}

fn fm_model() -> Sequential {
    let mut m = Sequential::new(Some(3));
    m.add_dense(dense(30, Some(2), Activation::Relu)).unwrap();
    m.add_dense(dense(30, None, Activation::Linear)).unwrap();
    m.add_dense(dense(7, None, Activation::Linear)).unwrap();
    m.compile(Compiled {
        loss: Loss::MeanSquaredError,
        optimizer: Optimizer::adam(0.001, 0.9, 0.999, EPSILON),
        metrics: vec![],
    })
    .unwrap();
    m
}

fn node_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PARITY_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity"));
    dir.join("node_modules/@tensorflow/tfjs").is_dir().then_some(dir)
}

/// tfjs's time for the FM training in Node: median of `reps` runs after a warm-up.
fn tfjs_ms(dir: &Path, reps: usize) -> Option<f64> {
    let job = serde_json::json!({"bench": {"code": FM_JS, "reps": reps + 1}});
    let tmp =
        std::env::temp_dir().join(format!("sema-live-layers-bench-{}.json", std::process::id()));
    std::fs::write(&tmp, job.to_string()).ok()?;
    let out = Command::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/layers.mjs"))
        .arg(&tmp)
        .env("PARITY_NODE_DIR", dir)
        .output()
        .ok()?;
    let _ = std::fs::remove_file(&tmp);
    if !out.status.success() {
        eprintln!("tfjs bench failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    let mut ms: Vec<f64> = v["ms"].as_array()?.iter().skip(1).filter_map(|x| x.as_f64()).collect();
    ms.sort_by(|a, b| a.total_cmp(b));
    ms.get(ms.len() / 2).copied()
}

/// Sema Live's time for the same JS, through its runtime.
fn sema_js_once() -> Duration {
    let code = format!(
        "importScripts('https://cdn.jsdelivr.net/npm/@tensorflow/tfjs/dist/tf.min.js');\n\
         var report = n => console.log('batches ' + n);\n\
         (async () => {{\n{FM_JS}}})();\n"
    );
    let dir = std::env::temp_dir();
    let mut opts = RunOptions { print: false, ..RunOptions::default() };
    opts.models.allow_network = false;
    let t0 = Instant::now();
    let r = run_source(&code, &dir, opts).expect("runtime");
    let t = t0.elapsed();
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert!(r.console.iter().any(|l| l.text == "batches 350"), "{:?}", r.console);
    t
}

fn bench(c: &mut Criterion) {
    let mut rng = 12345u64;
    let mut next = || {
        rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (rng >> 40) as f32 / (1u64 << 24) as f32
    };
    let x = Matrix::new(200, 2, (0..400).map(|_| next()).collect()).unwrap();
    let y = Matrix::new(200, 7, (0..1400).map(|_| next()).collect()).unwrap();
    let opts = FitOptions { epochs: 50, seed: Some(9), ..FitOptions::default() };
    let mut g = c.benchmark_group("layers");
    g.sample_size(20);
    g.bench_function("fm_fit_core", |b| {
        b.iter(|| {
            let model = Mutex::new(fm_model());
            fit(&model, &x, &y, &opts, &mut |_| true).unwrap()
        })
    });
    g.bench_function("fm_fit_js", |b| b.iter(sema_js_once));
    g.finish();

    // The same run, side by side with tfjs in Node.
    let Some(dir) = node_dir() else {
        eprintln!("tfjs comparison skipped: no node_modules with @tensorflow/tfjs in tests/parity");
        return;
    };
    let reps = 5;
    let mut core: Vec<f64> = (0..reps)
        .map(|_| {
            let model = Mutex::new(fm_model());
            let t0 = Instant::now();
            fit(&model, &x, &y, &opts, &mut |_| true).unwrap();
            t0.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let mut js: Vec<f64> = (0..reps).map(|_| sema_js_once().as_secs_f64() * 1e3).collect();
    core.sort_by(|a, b| a.total_cmp(b));
    js.sort_by(|a, b| a.total_cmp(b));
    let (core, js) = (core[reps / 2], js[reps / 2]);
    if let Some(tfjs) = tfjs_ms(&dir, reps) {
        println!(
            "FM tutorial training (2-30-30-7, 200 samples, 50 epochs, median of {reps}): \
             tfjs 2.8.6 CPU in Node {tfjs:.1} ms; Sema Live JS path {js:.1} ms ({:.1}x faster); \
             Rust core {core:.2} ms ({:.0}x faster)",
            tfjs / js,
            tfjs / core
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
