// Sema's programs that use the TensorFlow.js Layers API (tests/fixtures/sema-layers, each
// naming its source) run top to bottom in Sema Live's JS runtime, as `sema-live js run`
// runs them: no uncaught error, training finishes, predictions reach the output
// channels. The RL tutorials load lodash with importScripts from the script cache,
// seeded with a stand-in (no network in tests).

use std::path::{Path, PathBuf};

use sema_live::js::{add_to_cache, scripts_dir};
use sema_live::js::{run_source, RunOptions, RunReport};

const LODASH: &str = "https://cdnjs.cloudflare.com/ajax/libs/lodash.js/4.17.15/lodash.js";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sema-layers")
}

fn run(name: &str) -> (RunReport, Vec<String>) {
    let cache = tempfile::tempdir().unwrap();
    let mut opts = RunOptions { print: false, ..RunOptions::default() };
    opts.models.cache_dir = cache.path().join("models");
    opts.models.allow_network = false;
    opts.models.seed = Some(7);
    add_to_cache(
        &scripts_dir(&opts.models.cache_dir),
        LODASH,
        &fixtures().join("lodash-standin.js"),
    )
    .unwrap();
    let code = std::fs::read_to_string(fixtures().join(name)).unwrap();
    let report = run_source(&code, &fixtures(), opts).expect("runtime starts");
    let lines: Vec<String> = report.console.iter().map(|l| l.text.clone()).collect();
    assert!(
        report.errors.is_empty(),
        "{name}: errors {:?}\nconsole:\n{}",
        report.errors,
        lines.join("\n")
    );
    assert!(!report.timed_out, "{name}: timed out");
    (report, lines)
}

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn fm_regression_tutorial_trains_and_maps_the_mouse_to_the_synth() {
    let (report, lines) = run("fm-regression.js");
    assert_eq!(count(&lines, "samples collected"), 200);
    // 200 samples in batches of 32: 7 batches per epoch, 50 epochs, each batch logged.
    assert_eq!(count(&lines, "{batch: "), 350, "{}", lines.join("\n"));
    let history = lines.iter().find(|l| l.starts_with("History")).expect("the History is logged");
    assert!(history.contains("loss: [") && history.contains("epoch: [0, 1, 2"), "{history}");
    // Prediction mode: each mouse position sends 7 parameters, one per channel.
    let predicted: Vec<&(u32, Vec<f64>)> = report.sends.iter().rev().take(7 * 5).collect();
    assert_eq!(predicted.len(), 35);
    assert!(predicted.iter().all(|(ch, v)| *ch < 7 && v[0].is_finite()), "{predicted:?}");
}

#[test]
fn regression2_tutorial_prints_the_summary_and_trains() {
    let (report, lines) = run("regression2.js");
    assert!(lines.iter().any(|l| l == "Total params: 1052"), "{}", lines.join("\n"));
    assert!(lines.iter().any(|l| l.starts_with("Layer (type)")));
    assert!(lines.iter().any(|l| l.starts_with("History")));
    assert!(report.sends.iter().filter(|(ch, _)| *ch < 2).count() >= 6);
}

#[test]
fn neural_arpeggiator_learns_both_arpeggios() {
    let (report, lines) = run("neural-arpeggiator.js");
    // Training lowers the loss (logged by its onBatchEnd as "<batch> Loss: <loss>").
    let losses: Vec<f64> = lines
        .iter()
        .filter_map(|l| l.split_once(" Loss: ").and_then(|(_, v)| v.parse().ok()))
        .collect();
    assert_eq!(losses.len(), 25 * 5, "160 samples: 5 batches per epoch, 25 epochs");
    assert!(losses[losses.len() - 1] < 0.5 * losses[0], "{losses:?}");
    // The predicted arpeggios are 8 MIDI notes.
    let i = lines.iter().position(|l| l == "Predicted:").expect("a prediction is printed");
    let got: Vec<f64> =
        lines[i + 1].trim_matches(['[', ']']).split(", ").map(|v| v.parse().unwrap()).collect();
    assert_eq!(got.len(), 8, "{}", lines[i + 1]);
    assert!(got.iter().all(|m| (0.0..=127.0).contains(m) && m.fract() == 0.0), "{got:?}");
    assert!(report.sends.iter().any(|(ch, v)| *ch == 1 && v.len() == 8));
}

#[test]
fn rl_tutorials_load_lodash_from_the_cache_and_learn_online() {
    for name in ["rl-gosling.js", "rl-sequencing.js"] {
        let (report, lines) = run(name);
        assert!(lines.iter().any(|l| l.starts_with("_________")), "{name}: summary printed");
        // One fit (1 epoch) per learning step, each logging its loss.
        assert_eq!(count(&lines, "loss ["), 16, "{name}:\n{}", lines.join("\n"));
        assert_eq!(count(&lines, "sent prediction"), 8, "{name}");
        assert!(lines.iter().any(|l| l.starts_with("harness: done")), "{name}");
        assert_eq!(report.sends.iter().filter(|(ch, _)| *ch == 0).count(), 8, "{name}");
    }
}
