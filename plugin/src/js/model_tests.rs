//! Tests that run models: both seed parts unmodified (headless), and `host.onBar`
//! regenerating a melody each bar while the host temperature rises.
//!
//! The seed's JS is in `seed/` verbatim (from the tutorial). The models are random-weight
//! checkpoints in the magenta.js format with the real vocabularies, written to a temp dir
//! that stands in for the bundled models folder (the seed's URLs then fall back to it,
//! since downloads are off).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::tests::Harness;
use super::{run_source, RunOptions, RunReport};
use crate::dsp::maps::mtof;
use crate::ml::core::checkpoint::Storage;
use crate::ml::random_checkpoint::{write_rnn, write_vae, RnnSizes, VaeSizes};
use crate::ml::worker::WorkerConfig;

/// The seed's part 1 (MusicRNN), as written in the tutorial.
const SEED_PART1: &str = crate::control::state::DEFAULT_JS;
/// The seed's part 2 (MusicVAE), as written in the tutorial.
const SEED_PART2: &str = include_str!("seed/part2_vae.js");

/// basic_rnn's pitch range (MelodyConverter 48..=83).
const RNN_RANGE: (i32, i32) = (48, 83);
/// mel_2bar_small's pitch range.
const VAE_RANGE: (i32, i32) = (21, 108);

/// Writes small random checkpoints named like the bundled models.
fn models() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let rnn = RnnSizes { min_pitch: RNN_RANGE.0, max_pitch: RNN_RANGE.1, layers: vec![64, 64] };
    write_rnn(&dir.path().join("basic_rnn"), &rnn, Storage::Float32, 11).expect("rnn checkpoint");
    let vae = VaeSizes {
        min_pitch: VAE_RANGE.0,
        max_pitch: VAE_RANGE.1,
        num_steps: 32,
        encoder: 64,
        decoder: vec![64, 64],
        z: 256,
    };
    write_vae(&dir.path().join("mel_2bar_small"), &vae, Storage::Float32, 12)
        .expect("vae checkpoint");
    dir
}

fn config(dir: &Path) -> WorkerConfig {
    let mut cfg = WorkerConfig::new(dir.to_path_buf());
    cfg.cache_dir = dir.join("cache");
    cfg.allow_network = false;
    cfg.seed = Some(7);
    cfg
}

/// Checks every value is 0 padding or the frequency of a MIDI note in `range`; returns
/// the notes.
fn notes_of(values: &[f64], range: (i32, i32)) -> Vec<i32> {
    let mut notes = Vec::new();
    for &v in values {
        if v == 0.0 {
            continue;
        }
        let m = (12.0 * (v / 440.0).log2() + 69.0).round();
        assert!((mtof(m) - v).abs() < 1e-6, "{v} is not a MIDI note frequency");
        let m = m as i32;
        assert!(m >= range.0 && m <= range.1, "note {m} outside the model range {range:?}");
        notes.push(m);
    }
    notes
}

fn options(dir: &Path) -> RunOptions {
    let mut opts = RunOptions::new(dir.to_path_buf());
    opts.models = config(dir);
    opts.timeout = Duration::from_secs(120);
    opts.print = false;
    opts
}

#[test]
fn seed_part1_sends_the_rnn_continuation() {
    let dir = models();
    check_seed_part1(dir.path());
}

#[test]
fn seed_part2_sends_the_vae_decoding() {
    let dir = models();
    check_seed_part2(dir.path());
}

/// Both seed parts against the bundled default models (`assets/models`, or
/// `$SEMA_LIVE_MODELS`). They ship with the repository, so their absence is a failure.
#[test]
fn seed_runs_against_the_bundled_models() {
    let bundled = crate::ml::core::resolve::default_bundled_dir();
    assert!(
        bundled.join("basic_rnn/config.json").is_file()
            && bundled.join("mel_2bar_small/config.json").is_file(),
        "no bundled models at {}",
        bundled.display()
    );
    check_seed_part1(&bundled);
    check_seed_part2(&bundled);
}

/// Runs one seed part headless with `models` as the bundled models folder (and a fresh
/// cache), prints its console, and checks it finished without errors.
fn run_seed(label: &str, source: &str, models: &Path) -> RunReport {
    let cache = tempfile::tempdir().expect("temp dir");
    let mut opts = options(models);
    opts.models.cache_dir = cache.path().to_path_buf();
    let t = std::time::Instant::now();
    let report = run_source(source, cache.path(), opts).expect("run");
    eprintln!("{label} ran headless in {:?} with {}", t.elapsed(), models.display());
    for l in &report.console {
        eprintln!("{l}");
    }
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(!report.timed_out);
    report
}

/// Runs the seed's part 1 with `models` as the bundled models folder.
fn check_seed_part1(models: &Path) {
    let report = run_seed("seed part 1", SEED_PART1, models);
    assert_eq!(report.sends.len(), 2, "{:?}", report.sends);
    // First the original notes, then the continuation.
    let (id, original) = &report.sends[0];
    assert_eq!(*id, 1);
    let expected: Vec<f64> =
        [73, 75, 80, 82, 83, 75, 73, 82, 80, 75, 83, 82].iter().map(|&p| mtof(p as f64)).collect();
    assert_eq!(original, &expected);
    let (id, cont) = &report.sends[1];
    assert_eq!(*id, 1);
    assert_eq!(cont.len(), 12);
    let notes = notes_of(cont, RNN_RANGE);
    assert!(!notes.is_empty(), "the continuation has no notes: {cont:?}");
    // Padding only at the end.
    let first_zero = cont.iter().position(|&v| v == 0.0).unwrap_or(12);
    assert!(cont[first_zero..].iter().all(|&v| v == 0.0), "{cont:?}");
    assert!(report.console.iter().any(|l| l.text.contains("MusicRNN initialized")));
}

/// Runs the seed's part 2 with `models` as the bundled models folder.
fn check_seed_part2(models: &Path) {
    let report = run_seed("seed part 2", SEED_PART2, models);
    // One melody when the model is loaded (`console.log(sequence())`), one from the
    // "generate new sequences" block.
    assert_eq!(report.sends.len(), 2, "{:?}", report.sends);
    for (id, values) in &report.sends {
        assert_eq!(*id, 1);
        assert_eq!(values.len(), 8);
        let notes = notes_of(values, VAE_RANGE);
        assert!(!notes.is_empty(), "{values:?}");
    }
    assert!(report.console.iter().any(|l| l.text == "model-loaded"));
}

/// Shannon entropy (bits) of a pitch histogram.
fn entropy(pitches: &[i32]) -> f64 {
    let mut counts: HashMap<i32, usize> = HashMap::new();
    for &p in pitches {
        *counts.entry(p).or_default() += 1;
    }
    let n = pitches.len() as f64;
    counts.values().map(|&c| c as f64 / n).map(|p| -p * p.log2()).sum()
}

#[test]
fn on_bar_follows_the_host_temperature() {
    let dir = models();
    let mut h = Harness::new(config(dir.path()), dir.path().to_path_buf());
    h.run(
        "importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/core.js');\n\
         importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js');\n\
         var rnn = new music_rnn.MusicRNN('https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn');\n\
         rnn.initialize();\n\
         var ch = createOutputChannel(2, 64);\n\
         var primer = core.sequences.quantizeNoteSequence({notes: [\n\
           {pitch: 60, startTime: 0, endTime: 0.5}, {pitch: 62, startTime: 0.5, endTime: 1},\n\
           {pitch: 64, startTime: 1, endTime: 1.5}, {pitch: 65, startTime: 1.5, endTime: 2}], totalTime: 2}, 4);\n\
         var done = 0;\n\
         host.onBar(bar => rnn.continueSequence(primer, 64).then(s => {\n\
           ch.send(s.notes.map(n => n.pitch)); done++; }));\n",
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    h.host.playing.store(true, Ordering::Relaxed);
    let bars = 8;
    let mut temps = Vec::new();
    for bar in 0..bars {
        let t = 0.1 + 1.4 * bar as f32 / (bars - 1) as f32;
        temps.push(t);
        h.host.temperature.store(t, Ordering::Relaxed);
        h.host.bar.store(bar as i64, Ordering::Relaxed);
        let before = h.sends.lock().len();
        assert!(
            h.pump_until(Duration::from_secs(60), |h| h.sends.lock().len() > before),
            "no continuation for bar {bar}: {:?}",
            h.console
        );
    }
    let sends = h.sends.lock().clone();
    assert_eq!(sends.len(), bars);
    let melodies: Vec<Vec<i32>> = sends
        .iter()
        .map(|(_, v)| v.iter().filter(|&&p| p > 0.0).map(|&p| p as i32).collect())
        .collect();
    let third = bars / 3;
    let low: Vec<i32> = melodies[..third].concat();
    let high: Vec<i32> = melodies[bars - third..].concat();
    let distinct = |m: &[i32]| m.iter().collect::<HashSet<_>>().len();
    let (e_low, e_high) = (entropy(&low), entropy(&high));
    eprintln!("temperatures {temps:?}");
    for (t, m) in temps.iter().zip(&melodies) {
        eprintln!(
            "t={t:.2}: {} notes, {} distinct, entropy {:.2}: {m:?}",
            m.len(),
            distinct(m),
            entropy(m)
        );
    }
    eprintln!(
        "pitch entropy low {e_low:.2} bits, high {e_high:.2} bits; distinct {} vs {}",
        distinct(&low),
        distinct(&high)
    );
    assert!(e_high > e_low + 0.5, "entropy low {e_low} high {e_high}");
    assert!(distinct(&high) > distinct(&low));
}

#[test]
fn music_vae_and_midime_api() {
    let dir = models();
    let mut h = Harness::new(config(dir.path()), dir.path().to_path_buf());
    h.run(
        "importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/es6/music_vae.js');\n\
         var vae = new music_vae.MusicVAE('https://storage.googleapis.com/magentadata/js/checkpoints/music_vae/mel_2bar_small');\n\
         var mel = p => ({notes: p.map((q, i) => ({pitch: q, quantizedStartStep: 4 * i, quantizedEndStep: 4 * i + 4})),\n\
                         quantizationInfo: {stepsPerQuarter: 4}, totalQuantizedSteps: 32});\n\
         var result = null;\n\
         (async () => {\n\
           await vae.initialize();\n\
           const seqs = [mel([60, 62, 64, 65, 67, 65, 64, 62]), mel([72, 71, 69, 67, 65, 64, 62, 60])];\n\
           const z = await vae.encode(seqs);\n\
           const sampled = await vae.sample(2, 0.5);\n\
           const interp = await vae.interpolate(seqs, 4);\n\
           const midime = new mm.MidiMe({epochs: 3});\n\
           midime.initialize();\n\
           await midime.train(z);\n\
           const zs = await midime.sample(2);\n\
           const decoded = await vae.decode(zs);\n\
           const again = await vae.decode(z, 0);\n\
           result = [z.shape.join('x'), vae.decoder.zDims, sampled.length, interp.length, decoded.length, again.length].join(' ');\n\
         })().catch(e => { result = 'failed: ' + e; });\n",
    );
    assert!(h.pump_until(Duration::from_secs(120), |h| h.rt.pending_models() == 0
        && !h.console.is_empty()));
    h.eval("console.log(result)", 5);
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    assert_eq!(h.logs().last().unwrap(), "2x256 256 2 4 2 2");
    // A MidiMe without training, and decode with the wrong z size, fail clearly.
    h.eval("new mm.MidiMe().sample(1).catch(e => console.log(String(e)))", 6);
    h.eval("vae.decode([[1, 2]]).catch(e => console.log(String(e)))", 7);
    h.pump_until(Duration::from_secs(2), |_| false);
    let logs = h.logs();
    assert!(logs.iter().any(|l| l.contains("train the model first")), "{logs:?}");
    assert!(logs.iter().any(|l| l.contains("z has 2 dimensions, the model needs 256")), "{logs:?}");
}

#[test]
fn re_evaluated_models_share_one_load() {
    let dir = models();
    let mut h = Harness::new(config(dir.path()), dir.path().to_path_buf());
    let block = "importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js');\n\
                 var m = new music_rnn.MusicRNN('https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn');\n\
                 m.initialize().then(() => console.log('ready'));\n";
    for _ in 0..3 {
        h.eval(block, 0);
        assert!(h.pump_until(Duration::from_secs(60), |h| h.rt.pending_models() == 0));
    }
    assert_eq!(h.logs(), vec!["ready", "ready", "ready"]);
    let loads = h.console.iter().filter(|l| l.text.starts_with("MusicRNN initialized")).count();
    assert_eq!(loads, 1, "{:?}", h.console);
    // A missing checkpoint fails, and a later initialize() tries again (and fails again).
    h.eval("var bad = new music_rnn.MusicRNN('/no/such/folder'); bad.initialize().catch(e => console.log('failed once'));", 1);
    assert!(h.pump_until(Duration::from_secs(30), |h| h.rt.pending_models() == 0));
    h.eval(
        "bad.initialize().catch(e => console.log(String(e).includes('no magenta.js checkpoint')));",
        2,
    );
    assert!(h.pump_until(Duration::from_secs(30), |h| h.rt.pending_models() == 0));
    assert_eq!(h.logs()[3..], ["failed once", "true"]);
}

#[test]
fn call_and_response_answers_with_the_greedy_continuation_on_time_or_a_bar_later() {
    use super::midi_tests::steps;
    let dir = models();
    let mut h = Harness::new(config(dir.path()), dir.path().to_path_buf());
    h.run(
        "importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@^1.12.0/es6/music_rnn.js');\n\
         var rnn = new music_rnn.MusicRNN('https://storage.googleapis.com/magentadata/js/checkpoints/music_rnn/basic_rnn');\n\
         var answers = [];\n\
         host.callAndResponse({model: rnn, temperature: 0, channel: 3,\n\
           onAnswer: (s, info) => answers.push({seq: s, bar: info.bar})});\n",
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    // A 2-bar call in bars 0 and 1 at 120 bpm.
    h.locate(0.0);
    for (i, p) in [60u8, 62, 64, 67, 65, 64, 62, 60].iter().enumerate() {
        let on = i as f64 + 0.01;
        h.note(*p, on, on + 0.7);
    }
    // Within the lookahead of bar 2: the model is asked; the host waits there until the
    // answer is ready, so it is on time.
    h.locate(1.8);
    assert!(
        h.pump_until(Duration::from_secs(60), |h| !h.clips.lock().is_empty()),
        "no answer: {:?}",
        h.console
    );
    let clip = h.clips.lock()[0].clone();
    assert_eq!((clip.start_bar, clip.channel, clip.length_beats), (2, 3, 8.0));
    // The same phrase, continued greedily by a direct call, gives the same pitches.
    h.locate(2.0);
    h.eval(
        "var direct = null; var phrase = host.phrase(2);\n\
         rnn.continueSequence(phrase, 32, 0).then(s => { direct = s; });",
        5,
    );
    assert!(h.pump_until(Duration::from_secs(60), |h| h.rt.pending_models() == 0));
    let phrase = h.json("phrase");
    assert_eq!(
        steps(&phrase),
        (0..8)
            .map(|i| [[60, 62, 64, 67, 65, 64, 62, 60][i], 4 * i as i64, 4 * i as i64 + 3])
            .collect::<Vec<_>>()
    );
    let direct: Vec<i64> = h
        .json("direct.notes.map(n => n.pitch)")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(!direct.is_empty());
    let played: Vec<i64> = clip.notes.iter().map(|n| n.pitch as i64).collect();
    assert_eq!(played, direct);
    assert_eq!(h.json("answers[0].bar"), 2);
    assert_eq!(h.json("answers[0].seq.notes.length"), direct.len());

    // The next call, in bars 2 and 3; this time the answer comes after the downbeat of
    // bar 4, so it plays from bar 5 and the console says so.
    for (i, p) in [72u8, 71, 69, 67].iter().enumerate() {
        let on = 8.0 + 2.0 * i as f64;
        h.note(*p, on, on + 1.0);
    }
    // Within even the smallest lookahead (a 16th, 1/16 bar) of bar 4.
    h.locate(3.95);
    h.rt.pump();
    h.collect();
    assert_eq!(h.rt.pending_models(), 1, "the model was asked at 3.95: {:?}", h.console);
    // The worker answers while the host moves past the bar line.
    std::thread::sleep(Duration::from_secs(3));
    h.locate(4.1);
    assert!(
        h.pump_until(Duration::from_secs(60), |h| h.clips.lock().len() == 2),
        "{:?}",
        h.console
    );
    assert_eq!(h.clips.lock()[1].start_bar, 5);
    assert!(
        h.console.iter().any(|l| l.text.contains("after the downbeat of bar 4")
            && l.text.contains("plays from bar 5")),
        "{:?}",
        h.console
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
}

/// The JS of an example session in `assets/examples`.
fn example_js(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/examples").join(name);
    crate::cli::session::Session::load(&path).expect("example session").js
}

#[test]
fn call_and_response_example_answers_a_played_phrase() {
    let dir = models();
    let mut h = Harness::new(config(dir.path()), dir.path().to_path_buf());
    h.run(&example_js("call-and-response.sema.toml"));
    assert!(h.pump_until(Duration::from_secs(60), |h| h.rt.pending_models() == 0));
    assert!(h.errors().is_empty(), "{:?}", h.errors());
    h.locate(0.0);
    for (i, p) in [60u8, 64, 67, 72, 71, 67, 64, 62].iter().enumerate() {
        h.note(*p, i as f64, i as f64 + 0.5);
    }
    h.locate(1.95);
    assert!(
        h.pump_until(Duration::from_secs(60), |h| !h.clips.lock().is_empty()),
        "{:?}",
        h.console
    );
    let clip = h.clips.lock()[0].clone();
    assert_eq!((clip.start_bar, clip.length_beats), (2, 8.0));
    assert!(!clip.notes.is_empty());
    let logs = h.logs();
    assert!(logs.iter().any(|l| l == "you: 60 at bar 0, beat 0.00"), "{logs:?}");
    assert!(logs.iter().any(|l| l.starts_with("answer from bar 2: ")), "{logs:?}");
    assert!(h.errors().is_empty(), "{:?}", h.errors());
}

#[test]
fn midime_example_learns_from_played_phrases_and_loops_a_sample() {
    let dir = models();
    let mut h = Harness::new(config(dir.path()), dir.path().to_path_buf());
    let js = example_js("midime-on-your-playing.sema.toml");
    h.run(&js);
    assert!(h.pump_until(Duration::from_secs(60), |h| h.rt.pending_models() == 0));
    assert!(
        h.logs().iter().any(|l| l.starts_with("play a few 2-bar phrases first")),
        "{:?}",
        h.logs()
    );
    // Four bars of playing; the host's onBar at bars 2 and 4 keeps the two phrases.
    let melody = [60u8, 62, 64, 65, 67, 69, 71, 72];
    for bar in 0..4 {
        h.locate(bar as f64);
        h.settle();
        for (i, p) in melody.iter().enumerate() {
            let on = bar as f64 * 4.0 + i as f64 * 0.5;
            h.note(*p - 2 * bar as u8, on, on + 0.4);
        }
    }
    h.locate(4.0);
    h.settle();
    let kept: Vec<String> = h.logs().into_iter().filter(|l| l.starts_with("phrase ")).collect();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert!(kept[0].ends_with("60 62 64 65 67 69 71 72 58 60 62 63 65 67 69 70"), "{kept:?}");
    // Evaluating the last block again trains MidiMe on them and loops a sample.
    let last =
        crate::js::blocks::split_blocks(&js).into_iter().rfind(|b| !b.is_blank()).expect("blocks");
    h.rt.eval_block(&last.code, last.index, last.first_line);
    assert!(
        h.pump_until(Duration::from_secs(120), |h| !h.clips.lock().is_empty()),
        "{:?}",
        h.console
    );
    let clip = h.clips.lock()[0].clone();
    assert!(clip.looping);
    assert_eq!((clip.start_bar, clip.length_beats), (5, 8.0));
    assert!(
        h.logs().iter().any(|l| l.starts_with("trained on 2 phrases; playing: ")),
        "{:?}",
        h.logs()
    );
    assert!(h.errors().is_empty(), "{:?}", h.errors());
}

/// `host.studio` from live code: Continue with 4 variations and a key gives 4 clips in
/// that key, one batch; a seed repeats a Generate; bad options are located errors.
#[test]
fn host_studio_continue_generate_and_interpolate() {
    let dir = models();
    let source = "\
const primer = {notes: [60, 62, 64, 65, 67, 65, 64, 62].map((p, i) =>
  ({pitch: p, quantizedStartStep: 4 * i, quantizedEndStep: 4 * i + 3})),
  totalQuantizedSteps: 32, quantizationInfo: {stepsPerQuarter: 4}};
(async () => {
  const clips = await host.studio.continue({input: primer, bars: 2, temperature: 1.5,
    variations: 4, key: 'D minor'});
  const dMinor = [2, 4, 5, 7, 9, 10, 0];
  const inKey = clips.every(c => c.notes.every(n => dMinor.includes(n.pitch % 12)));
  console.log('continue ' + clips.length + ' ' + clips.map(c => c.totalQuantizedSteps).join(',')
    + ' inKey=' + inKey + ' notes=' + clips.reduce((a, c) => a + c.notes.length, 0));
  const a = await host.studio.generate({variations: 3, seed: 9, temperature: 1});
  const b = await host.studio.generate({variations: 3, seed: 9, temperature: 1});
  console.log('generate ' + a.length + ' same=' + (JSON.stringify(a) === JSON.stringify(b)));
  const line = await host.studio.interpolate(primer, clips[0], {steps: 5, temperature: 0});
  console.log('interpolate ' + line.length);
  try { await host.studio.continue({input: primer, key: 'H minor'}); }
  catch (e) { console.log('bad key: ' + e.message); }
  try { await host.studio.generate({variations: 9}); }
  catch (e) { console.log('too many: ' + e.message); }
  console.log('key param: ' + host.key);
})();
";
    let cache = tempfile::tempdir().expect("temp dir");
    let mut opts = options(dir.path());
    opts.models.cache_dir = cache.path().to_path_buf();
    let report = run_source(source, cache.path(), opts).expect("run");
    let text: Vec<&str> = report.console.iter().map(|l| l.text.as_str()).collect();
    assert!(report.errors.is_empty(), "{:?} {text:?}", report.errors);
    let line = |prefix: &str| {
        text.iter().find(|t| t.starts_with(prefix)).copied().unwrap_or_else(|| panic!("{text:?}"))
    };
    let cont = line("continue ");
    assert!(cont.starts_with("continue 4 32,32,32,32 inKey=true"), "{cont}");
    assert!(!cont.ends_with("notes=0"), "{cont}");
    assert_eq!(line("generate "), "generate 3 same=true");
    assert_eq!(line("interpolate "), "interpolate 5");
    assert!(line("bad key: ").contains("expected a note name and a scale"), "{text:?}");
    assert!(line("too many: ").contains("variations must be an integer 1..8"), "{text:?}");
    assert_eq!(line("key param: "), "key param: null");
}

/// `host.studio.drums` continues a beat with drum_kit_rnn (read from the model cache by
/// its URL, as the Drums panel does) in 4 drum variations; `host.studio.keep` keeps one
/// into the session's Studio clips (a name given replaces its clip; none: "JS n").
#[test]
fn host_studio_drums_and_keep() {
    use crate::control::studio::DRUM_KIT_RNN_URL;
    use crate::ml::core::resolve::{cache_path, COMPLETE_MARKER};
    use crate::ml::random_checkpoint::{write_rnn_family, RnnFamily};
    let dir = models();
    let cfg = config(dir.path());
    let ck = cache_path(&cfg.cache_dir, DRUM_KIT_RNN_URL);
    write_rnn_family(&ck, &RnnFamily::drum_kit_rnn(vec![24, 16]), Storage::Uint8, 5)
        .expect("drum checkpoint");
    std::fs::write(ck.join(COMPLETE_MARKER), b"").expect("marker");
    let mut h = Harness::new(cfg, dir.path().to_path_buf());
    let source = "\
const beat = {notes: [0, 4, 8, 12, 16, 20, 24, 28].flatMap(s =>
  [{pitch: s % 8 ? 38 : 36, quantizedStartStep: s, quantizedEndStep: s + 1, isDrum: true},
   {pitch: 42, quantizedStartStep: s + 2, quantizedEndStep: s + 3, isDrum: true}]),
  totalQuantizedSteps: 32, quantizationInfo: {stepsPerQuarter: 4}};
(async () => {
  const clips = await host.studio.drums({input: beat, bars: 1, variations: 4, temperature: 1,
    seed: 3});
  const again = await host.studio.drums({input: beat, bars: 1, variations: 4, temperature: 1,
    seed: 3});
  const classes = [36, 38, 42, 46, 45, 48, 50, 49, 51];
  const drums = clips.every(c => c.notes.every(n => n.isDrum && classes.includes(n.pitch)));
  console.log('drums ' + clips.length + ' ' + clips.map(c => c.totalQuantizedSteps).join(',')
    + ' drums=' + drums + ' same=' + (JSON.stringify(clips) === JSON.stringify(again))
    + ' hits=' + clips.reduce((a, c) => a + c.notes.length, 0));
  console.log('kept ' + host.studio.keep(clips[1], 'groove') + ' ' + host.studio.keep(clips[2])
    + ' ' + host.studio.keep(clips[3], 'groove'));
  try { host.studio.keep({pitch: 3}); } catch (e) { console.log('bad keep: ' + e.message); }
  try { host.studio.keep(clips[0], ''); } catch (e) { console.log('empty name: ' + e.message); }
  console.log('kept hits ' + clips[3].notes.length);
})();
";
    h.rt.eval_block(source, 0, 1);
    assert!(
        h.pump_until(Duration::from_secs(120), |h| h
            .logs()
            .iter()
            .any(|l| l.starts_with("kept hits"))),
        "{:?}",
        h.console
    );
    let logs = h.logs();
    let line = |prefix: &str| {
        logs.iter().find(|t| t.starts_with(prefix)).cloned().unwrap_or_else(|| panic!("{logs:?}"))
    };
    let drums = line("drums ");
    assert!(drums.starts_with("drums 4 16,16,16,16 drums=true same=true"), "{drums}");
    assert!(!drums.ends_with("hits=0"), "{drums}");
    assert_eq!(line("kept "), "kept groove JS 1 groove");
    assert!(line("bad keep: ").contains("expected a NoteSequence"), "{logs:?}");
    assert!(line("empty name: ").contains("name is empty"), "{logs:?}");
    let kept = h.kept.lock().clone();
    let names: Vec<&str> = kept.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["groove", "JS 1"]);
    // "groove" holds the last clip kept under that name.
    let hits: usize = line("kept hits ").trim_start_matches("kept hits ").parse().expect("count");
    assert_eq!(kept[0].sequence.notes.len(), hits);
    assert!(kept[0].sequence.notes.iter().all(|n| n.is_drum == Some(true)));
    assert!(h.errors().is_empty(), "{:?}", h.errors());
}

/// `host.studio.drumify` and `host.studio.groove` run GrooVAE models (tap2drum_2bar and
/// groovae_2bar_humanize, read from the model cache by their URLs): a rhythm becomes 4
/// drum performances timed at the host's tempo (unquantized, off the grid, with
/// velocities), the same again with the same seed; a melody MusicVAE given as `model` is
/// refused; a performance kept keeps its timing.
#[test]
fn host_studio_drumify_and_groove() {
    use crate::ml::core::resolve::{cache_path, COMPLETE_MARKER};
    let dir = models();
    let cfg = config(dir.path());
    for (url, tap) in [
        ("https://storage.googleapis.com/magentadata/js/checkpoints/groovae/tap2drum_2bar", true),
        (
            "https://storage.googleapis.com/magentadata/js/checkpoints/music_vae/groovae_2bar_humanize",
            false,
        ),
    ] {
        let ck = cache_path(&cfg.cache_dir, url);
        drop(crate::ml::studio::tests::small_groove(&ck, tap));
        std::fs::write(ck.join(COMPLETE_MARKER), b"").expect("marker");
    }
    let mut h = Harness::new(cfg, dir.path().to_path_buf());
    let source = "\
importScripts('https://cdn.jsdelivr.net/npm/@magenta/music@1.23.1/es6/music_vae.js');
const taps = {notes: [0, 3, 6, 8, 12, 16, 19, 22, 24, 28].map(s =>
  ({pitch: 60, velocity: 90, quantizedStartStep: s, quantizedEndStep: s + 1})),
  totalQuantizedSteps: 32, quantizationInfo: {stepsPerQuarter: 4}};
(async () => {
  const d = await host.studio.drumify({input: taps, variations: 4, temperature: 1, seed: 2});
  const again = await host.studio.drumify({input: taps, variations: 4, temperature: 1, seed: 2});
  const g = await host.studio.groove({input: d[0], variations: 2, temperature: 0.5, seed: 1});
  const all = d.concat(g);
  const offGrid = all.some(c => c.notes.some(n => Math.abs(n.startTime * 8 - Math.round(n.startTime * 8)) > 1e-3));
  const vels = new Set(all.flatMap(c => c.notes.map(n => n.velocity)));
  console.log('drumify ' + d.length + ' ' + g.length + ' quantized=' + all.some(c => c.quantizationInfo)
    + ' drums=' + all.every(c => c.notes.every(n => n.isDrum)) + ' same=' + (JSON.stringify(d) === JSON.stringify(again))
    + ' offGrid=' + offGrid + ' velocities>3=' + (vels.size > 3) + ' total=' + d[0].totalTime
    + ' qpm=' + d[0].tempos[0].qpm);
  const mel = new music_vae.MusicVAE('https://storage.googleapis.com/magentadata/js/checkpoints/music_vae/mel_2bar_small');
  try { await host.studio.groove({input: taps, model: mel}); } catch (e) { console.log('melody: ' + e.message); }
  console.log('kept ' + host.studio.keep(d[1], 'beat') + ' ' + d[1].notes.length);
})();
";
    h.rt.eval_block(source, 0, 1);
    assert!(
        h.pump_until(Duration::from_secs(120), |h| h.logs().iter().any(|l| l.starts_with("kept "))),
        "{:?}",
        h.console
    );
    let logs = h.logs();
    let line = |prefix: &str| {
        logs.iter().find(|t| t.starts_with(prefix)).cloned().unwrap_or_else(|| panic!("{logs:?}"))
    };
    // The host runs at 120 bpm here: 2 bars of 16ths last 4 s.
    assert_eq!(
        line("drumify "),
        "drumify 4 2 quantized=false drums=true same=true offGrid=true velocities>3=true \
         total=4 qpm=120"
    );
    assert!(line("melody: ").contains("needs a GrooVAE model"), "{logs:?}");
    let kept = h.kept.lock().clone();
    let n: usize = line("kept beat ").trim_start_matches("kept beat ").parse().expect("count");
    assert_eq!(kept[0].sequence.notes.len(), n);
    assert!(!kept[0].sequence.is_quantized(), "kept with its timing");
    assert!(h.errors().is_empty(), "{:?}", h.errors());
}

/// Offline, `host.studio.drums` without drum_kit_rnn in the cache fails naming the model
/// and how to get it.
#[test]
fn host_studio_drums_names_the_missing_model() {
    let dir = models();
    let source = "\
(async () => {
  try { await host.studio.drums({input: {notes: [], totalQuantizedSteps: 16,
    quantizationInfo: {stepsPerQuarter: 4}}}); }
  catch (e) { console.log('missing: ' + e.message); }
})();
";
    let report = run_source(source, dir.path(), options(dir.path())).expect("run");
    let text: Vec<&str> = report.console.iter().map(|l| l.text.as_str()).collect();
    let missing =
        text.iter().find(|t| t.starts_with("missing: ")).unwrap_or_else(|| panic!("{text:?}"));
    assert!(missing.contains("drum_kit_rnn") && missing.contains("download-only"), "{missing}");
}
