// Parity of the Layers API with the real TensorFlow.js (tfjs 2.8.6, CPU backend, in
// Node): the same JS program (`tests/parity/layers_cases.js`) builds, trains (no
// shuffling, from the same initial weights set with `setWeights`) and evaluates models
// in both; every epoch's loss (and val_loss, acc), every batch's loss and the final
// predictions must agree within 1e-4 relative.
//
// Needs Node and `npm install` in `tests/parity/` (or `PARITY_NODE_DIR` pointing at a
// folder with those node_modules). Without them the test prints why and passes, unless
// `SEMA_LIVE_PARITY=1` demands it (CI).

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value};

use sema_live::js::{run_source, RunOptions};
use sema_live::ml::random_checkpoint::Lcg;

fn node_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PARITY_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity"));
    dir.join("node_modules/@tensorflow/tfjs").is_dir().then_some(dir)
}

fn parity_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity")
}

/// Uniform values in [lo, hi).
fn uniform(rng: &mut Lcg, n: usize, lo: f64, hi: f64) -> Vec<f64> {
    (0..n)
        .map(|_| {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            // Rounded to float32 so both sides start from exactly the same values.
            (lo + (hi - lo) * u) as f32 as f64
        })
        .collect()
}

/// A case: dense layers `(units, activation)` on `inputs` features, glorot-like random
/// initial weights and biases, data `x` and targets `y`.
#[allow(clippy::too_many_arguments)]
fn case(
    name: &str,
    rng: &mut Lcg,
    inputs: usize,
    layers: &[(usize, &str)],
    loss: &str,
    optimizer: Value,
    metrics: Value,
    x: Vec<f64>,
    y: (usize, Vec<f64>),
    epochs: usize,
    batch_size: usize,
    validation_split: f64,
) -> Value {
    let mut weights = Vec::new();
    let mut fan_in = inputs;
    for &(units, _) in layers {
        let limit = (6.0 / (fan_in + units) as f64).sqrt();
        weights.push(
            json!({"shape": [fan_in, units], "data": uniform(rng, fan_in * units, -limit, limit)}),
        );
        weights.push(json!({"shape": [units], "data": uniform(rng, units, -0.1, 0.1)}));
        fan_in = units;
    }
    let rows = x.len() / inputs;
    json!({
        "name": name,
        "layers": layers.iter().map(|(u, a)| json!({"units": u, "activation": a})).collect::<Vec<_>>(),
        "loss": loss, "optimizer": optimizer, "metrics": metrics, "weights": weights,
        "x": {"rows": rows, "cols": inputs, "data": x},
        "y": {"rows": rows, "cols": y.0, "data": y.1},
        "epochs": epochs, "batchSize": batch_size, "validationSplit": validation_split,
    })
}

/// One-hot targets of the class of each row: the index of its largest feature.
fn classes(x: &[f64], inputs: usize, k: usize, sparse: bool) -> (usize, Vec<f64>) {
    let mut y = Vec::new();
    for row in x.chunks(inputs) {
        let mut best = 0;
        for (i, v) in row.iter().take(k).enumerate() {
            if *v > row[best] {
                best = i;
            }
        }
        if sparse {
            y.push(best as f64);
        } else {
            y.extend((0..k).map(|c| if c == best { 1.0 } else { 0.0 }));
        }
    }
    (if sparse { 1 } else { k }, y)
}

fn job() -> Value {
    let mut rng = Lcg::new(2024);
    let mut cases = Vec::new();
    // The FM tutorial's regression: 2 → 30 relu → 30 → 7, MSE, adam, with a validation split.
    let x = uniform(&mut rng, 60 * 2, 0.0, 1.0);
    let y: Vec<f64> = x
        .chunks(2)
        .flat_map(|r| (0..7).map(move |k| 0.5 + 0.4 * ((k as f64 + 1.0) * r[0] - r[1]).sin()))
        .collect();
    cases.push(case(
        "mse-adam",
        &mut rng,
        2,
        &[(30, "relu"), (30, "linear"), (7, "linear")],
        "meanSquaredError",
        json!({"name": "adam", "lr": 0.01}),
        Value::Null,
        x,
        (7, y),
        12,
        16,
        0.2,
    ));
    // A softmax classifier with categoricalCrossentropy and sgd, with accuracy.
    let x = uniform(&mut rng, 48 * 4, -1.0, 1.0);
    let y = classes(&x, 4, 3, false);
    cases.push(case(
        "softmax-cce-sgd",
        &mut rng,
        4,
        &[(16, "tanh"), (3, "softmax")],
        "categoricalCrossentropy",
        json!({"name": "sgd", "lr": 0.5}),
        json!(["accuracy"]),
        x,
        y,
        10,
        8,
        0.0,
    ));
    // Binary crossentropy with a sigmoid output and rmsprop (with momentum).
    let x = uniform(&mut rng, 40 * 3, -1.0, 1.0);
    let y: Vec<f64> =
        x.chunks(3).map(|r| if r[0] + r[1] * r[2] > 0.0 { 1.0 } else { 0.0 }).collect();
    cases.push(case(
        "bce-rmsprop",
        &mut rng,
        3,
        &[(12, "elu"), (1, "sigmoid")],
        "binaryCrossentropy",
        json!({"name": "rmsprop", "lr": 0.01, "decay": 0.9, "momentum": 0.5}),
        json!(["accuracy"]),
        x,
        (1, y),
        8,
        10,
        0.25,
    ));
    // Mean absolute error with adagrad; softsign and selu hidden layers.
    let x = uniform(&mut rng, 30 * 3, -2.0, 2.0);
    let y: Vec<f64> = x.chunks(3).flat_map(|r| [r[0] * r[1], r[2].abs()]).collect();
    cases.push(case(
        "mae-adagrad",
        &mut rng,
        3,
        &[(10, "softsign"), (10, "selu"), (2, "linear")],
        "meanAbsoluteError",
        json!({"name": "adagrad", "lr": 0.1}),
        Value::Null,
        x,
        (2, y),
        6,
        7,
        0.0,
    ));
    // Sparse labels, the optimizer by name ('adam'), sigmoid/softplus hidden layers.
    let x = uniform(&mut rng, 36 * 4, -1.0, 1.0);
    let y = classes(&x, 4, 4, true);
    cases.push(case(
        "sparse-cce-adam-by-name",
        &mut rng,
        4,
        &[(8, "sigmoid"), (8, "softplus"), (4, "softmax")],
        "sparseCategoricalCrossentropy",
        json!({"name": "adam"}),
        json!(["accuracy"]),
        x,
        y,
        5,
        32,
        0.0,
    ));
    json!({ "cases": cases })
}

fn run_node(dir: &Path, job: &Value) -> Value {
    let tmp = std::env::temp_dir().join(format!("sema-live-layers-parity-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let job_path = tmp.join("job.json");
    std::fs::write(&job_path, serde_json::to_vec(job).unwrap()).unwrap();
    let out = Command::new("node")
        .arg(parity_dir().join("layers.mjs"))
        .arg(&job_path)
        .env("PARITY_NODE_DIR", dir)
        .output()
        .expect("cannot run node");
    let _ = std::fs::remove_dir_all(&tmp);
    assert!(out.status.success(), "layers.mjs failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("layers.mjs printed no JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
    })
}

/// Runs the cases in Sema Live's JS runtime, headless.
fn run_sema(job: &Value) -> Value {
    let cases = std::fs::read_to_string(parity_dir().join("layers_cases.js")).unwrap();
    let source = format!(
        "importScripts('https://cdn.jsdelivr.net/npm/@tensorflow/tfjs@2.8.6/dist/tf.min.js');\n\
         var JOB = {job};\n\
         var report = r => console.log('PARITY ' + JSON.stringify(r));\n{cases}"
    );
    let opts = RunOptions { print: false, ..RunOptions::default() };
    let report = run_source(&source, &parity_dir(), opts).expect("runtime starts");
    assert!(report.errors.is_empty(), "Sema Live errors: {:?}", report.errors);
    let line = report
        .console
        .iter()
        .find_map(|l| l.text.strip_prefix("PARITY "))
        .unwrap_or_else(|| panic!("no result on the console: {:?}", report.console));
    serde_json::from_str(line).expect("result JSON")
}

fn close(a: f64, b: f64, rel: f64, floor: f64) -> bool {
    (a - b).abs() <= rel * b.abs().max(floor)
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap_or_else(|| panic!("expected an array, got {v}"))
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect()
}

#[test]
fn layers_api_matches_tfjs() {
    let Some(dir) = node_dir() else {
        if std::env::var("SEMA_LIVE_PARITY").is_ok_and(|v| v == "1") {
            panic!("SEMA_LIVE_PARITY=1 but tfjs is not installed: run npm install in tests/parity");
        }
        eprintln!("skipping: no node_modules with @tensorflow/tfjs (npm install in tests/parity)");
        return;
    };
    let job = job();
    let want = run_node(&dir, &job);
    let got = run_sema(&job);
    if let Some(d) = std::env::var_os("LAYERS_PARITY_DUMP") {
        // For debugging a mismatch: the job and both results.
        let d = PathBuf::from(d);
        std::fs::write(d.join("job.json"), job.to_string()).unwrap();
        std::fs::write(d.join("tfjs.json"), want.to_string()).unwrap();
        std::fs::write(d.join("sema.json"), got.to_string()).unwrap();
    }
    let (want, got) = (want.as_array().unwrap(), got.as_array().unwrap());
    assert_eq!(want.len(), got.len());
    assert_eq!(want.len(), 5);
    for (w, g) in want.iter().zip(got) {
        let name = w["name"].as_str().unwrap();
        assert_eq!(w["params"], g["params"], "{name}: countParams");
        assert_eq!(w["epoch"], g["epoch"], "{name}: epochs");
        // Every epoch's logs: loss, and val_loss / acc where the case has them.
        let keys = w["history"].as_object().unwrap();
        assert_eq!(
            keys.keys().collect::<Vec<_>>(),
            g["history"].as_object().unwrap().keys().collect::<Vec<_>>(),
            "{name}: history keys"
        );
        for (key, values) in keys {
            let (wv, gv) = (numbers(values), numbers(&g["history"][key]));
            assert_eq!(wv.len(), gv.len(), "{name}: {key}");
            for (e, (a, b)) in gv.iter().zip(&wv).enumerate() {
                let tol = if key.contains("acc") { 1e-6 } else { 1e-4 };
                assert!(
                    close(*a, *b, tol, 1e-6),
                    "{name}: epoch {e} {key}: Sema Live {a} tfjs {b}"
                );
            }
        }
        let (wb, gb) = (numbers(&w["batchLosses"]), numbers(&g["batchLosses"]));
        assert_eq!(wb.len(), gb.len(), "{name}: batch count");
        for (i, (a, b)) in gb.iter().zip(&wb).enumerate() {
            assert!(close(*a, *b, 1e-4, 1e-6), "{name}: batch {i} loss: Sema Live {a} tfjs {b}");
        }
        // Final predictions: relative to the value, or to 1e-2 for values near zero
        // (outputs are O(0.1..1); a relative error of a value near 0 says nothing).
        let (wp, gp) = (numbers(&w["pred"]), numbers(&g["pred"]));
        assert_eq!(wp.len(), gp.len(), "{name}: prediction count");
        let mut worst = 0.0f64;
        for (i, (a, b)) in gp.iter().zip(&wp).enumerate() {
            assert!(close(*a, *b, 1e-4, 1e-2), "{name}: prediction {i}: Sema Live {a} tfjs {b}");
            worst = worst.max((a - b).abs() / b.abs().max(1e-2));
        }
        let (we, ge) = (numbers(&w["evaluate"]), numbers(&g["evaluate"]));
        assert_eq!(we.len(), ge.len(), "{name}: evaluate outputs");
        for (a, b) in ge.iter().zip(&we) {
            assert!(close(*a, *b, 1e-4, 1e-6), "{name}: evaluate: Sema Live {a} tfjs {b}");
        }
        println!(
            "{name}: {} epochs, {} batches, final loss {:.6} (tfjs {:.6}), worst prediction error {worst:.2e}",
            wv_len(&w["history"]["loss"]),
            wb.len(),
            numbers(&g["history"]["loss"]).last().unwrap(),
            numbers(&w["history"]["loss"]).last().unwrap(),
        );
    }
}

fn wv_len(v: &Value) -> usize {
    v.as_array().map(Vec::len).unwrap_or(0)
}
