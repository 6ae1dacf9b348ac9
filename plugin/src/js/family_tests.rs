//! The model families beyond melodies from JS, as live code uses them: a drum RNN
//! continuing a beat, a chord-conditioned RNN given `continueSequence`'s chord progression
//! (and refusing a call without one), and trio and drum MusicVAEs sampling, all loaded
//! from checkpoint folders (random weights in the magenta.js format); and what an offline
//! machine says for a download-only model.

use std::path::Path;
use std::time::Duration;

use super::{run_source, RunOptions, RunReport};
use crate::ml::core::checkpoint::Storage;
use crate::ml::random_checkpoint::{
    write_rnn_family, write_vae_family, Hierarchy, RnnFamily, VaeData, VaeFamily,
};
use crate::ml::worker::WorkerConfig;

/// Runs `source` with downloads off and `dir` as the bundled models folder.
fn run(source: &str, dir: &Path) -> RunReport {
    let mut opts = RunOptions::new(dir.to_path_buf());
    let mut cfg = WorkerConfig::new(dir.to_path_buf());
    cfg.cache_dir = dir.join("cache");
    cfg.allow_network = false;
    cfg.seed = Some(3);
    opts.models = cfg;
    opts.timeout = Duration::from_secs(120);
    opts.print = false;
    let report = run_source(source, dir, opts).expect("run");
    assert!(!report.timed_out);
    report
}

/// The console line starting with `tag `, without the tag.
fn line<'a>(report: &'a RunReport, tag: &str) -> &'a str {
    let prefix = format!("{tag} ");
    report
        .console
        .iter()
        .find_map(|l| l.text.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no '{tag}' line in {:?}", report.console))
}

#[test]
fn drum_chord_trio_and_drum_vae_models_from_js() {
    let dir = tempfile::tempdir().expect("temp dir");
    let p = dir.path();
    write_rnn_family(
        &p.join("drum_kit_rnn"),
        &RnnFamily::drum_kit_rnn(vec![24, 24]),
        Storage::Float32,
        1,
    )
    .unwrap();
    write_rnn_family(
        &p.join("chord_pitches_improv"),
        &RnnFamily::chord_pitches_improv(vec![24, 24]),
        Storage::Float32,
        2,
    )
    .unwrap();
    let trio = VaeFamily {
        data: VaeData::Trio { melody: (21, 108), bass: (33, 56) },
        num_steps: 64,
        encoder: 16,
        decoder: vec![16],
        z: 8,
        hierarchy: Some(Hierarchy { segments: 4, encoder_top: 12, conductor: vec![12] }),
    };
    write_vae_family(&p.join("trio_4bar"), &trio, Storage::Uint8, 3).unwrap();
    let drums = VaeFamily {
        data: VaeData::Drums,
        num_steps: 32,
        encoder: 16,
        decoder: vec![16],
        z: 8,
        hierarchy: None,
    };
    write_vae_family(&p.join("drums_2bar_lokl_small"), &drums, Storage::Float32, 4).unwrap();
    let source = format!(
        "importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/es6/music_rnn.js');\n\
         importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/es6/music_vae.js');\n\
         var D = {dir:?};\n\
         var drums = new music_rnn.MusicRNN(D + '/drum_kit_rnn');\n\
         var improv = new music_rnn.MusicRNN(D + '/chord_pitches_improv');\n\
         var trio = new music_vae.MusicVAE(D + '/trio_4bar');\n\
         var dvae = new music_vae.MusicVAE(D + '/drums_2bar_lokl_small');\n\
         var beat = {{notes: [{{pitch: 36, quantizedStartStep: 0, quantizedEndStep: 1, isDrum: true}},\n\
           {{pitch: 42, quantizedStartStep: 2, quantizedEndStep: 3, isDrum: true}}],\n\
           quantizationInfo: {{stepsPerQuarter: 4}}, totalQuantizedSteps: 4}};\n\
         var mel = {{notes: [{{pitch: 60, quantizedStartStep: 0, quantizedEndStep: 2}},\n\
           {{pitch: 64, quantizedStartStep: 2, quantizedEndStep: 4}}],\n\
           quantizationInfo: {{stepsPerQuarter: 4}}, totalQuantizedSteps: 4}};\n\
         drums.continueSequence(beat, 16).then(s => console.log('drums ' + JSON.stringify(\n\
           [s.totalQuantizedSteps, s.notes.every(n => n.isDrum), s.notes.length])));\n\
         improv.continueSequence(mel, 16, 0, ['C', 'Am', 'F', 'G7']).then(s => console.log(\n\
           'improv ' + JSON.stringify([s.totalQuantizedSteps, s.notes.length > 0])));\n\
         improv.continueSequence(mel, 16).catch(e => console.log('nochords ' + e.message));\n\
         improv.continueSequence(mel, 16, 0, ['C', 'Hm']).catch(e => console.log('badchord ' + e.message));\n\
         drums.continueSequence(beat, 16, 0, ['C']).catch(e => console.log('drumchords ' + e.message));\n\
         trio.initialize().then(() => trio.sample(2, 0.5)).then(s => console.log('trio ' + JSON.stringify(\n\
           [trio.zDims, s.length, s[0].totalQuantizedSteps,\n\
            [...new Set(s[0].notes.map(n => n.instrument))].sort()])));\n\
         dvae.encode([beat]).then(z => dvae.decode(z)).then(s => console.log('dvae ' + JSON.stringify(\n\
           [s[0].totalQuantizedSteps, s[0].notes.every(n => n.isDrum)])));\n",
        dir = p.display().to_string()
    );
    let report = run(&source, p);
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    let drums = line(&report, "drums");
    assert!(drums.starts_with("[16,true,"), "{drums}");
    assert_eq!(line(&report, "improv"), "[16,true]");
    assert!(line(&report, "nochords").contains("needs a chord progression"));
    assert!(line(&report, "badchord").contains("Unrecognized chord symbol: Hm"));
    assert!(line(&report, "drumchords").contains("not chord-conditioned"));
    let trio = line(&report, "trio");
    assert!(trio.starts_with("[8,2,64,["), "{trio}");
    assert_eq!(line(&report, "dvae"), "[32,true]");
    assert!(
        report.console.iter().any(|l| l.text.contains("DrumsOneHotConverter MusicRNN")),
        "the load message names the model kind: {:?}",
        report.console
    );
}

#[test]
fn offline_download_only_model_says_how_to_get_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let report = run(
        "importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/es6/music_rnn.js');\n\
         importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/es6/music_vae.js');\n\
         new music_rnn.MusicRNN('https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/drum_kit_rnn')\n\
           .initialize().catch(e => console.log('offline ' + e.message));\n",
        dir.path(),
    );
    let msg = line(&report, "offline");
    assert!(msg.contains("drum_kit_rnn") && msg.contains("download-only"), "{msg}");
    assert!(msg.contains("network") && msg.contains("folder"), "{msg}");
}
