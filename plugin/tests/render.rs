//! Renders every bundled example through `sema-live render` (offline, bundled models) and
//! checks the files: non-silent audio without NaN, a MIDI file whose notes are the pitches
//! the JS sent, and identical files when the same session is rendered twice.

use std::path::{Path, PathBuf};
use std::process::Command;

use sema_live::cli::decode_notes;

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/examples");
    let mut v: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("assets/examples")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".sema.toml"))
        .collect();
    v.sort();
    v
}

fn render(session: &Path, out: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sema-live"))
        .args(["render", "--offline", "--bars", "4", "--out"])
        .arg(out)
        .arg(session)
        .output()
        .expect("run sema-live");
    let stdout = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "render {} failed:\n{stdout}\n{}",
        session.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn ftom(f: f64) -> i64 {
    (12.0 * (f / 440.0).log2() + 69.0).round() as i64
}

#[test]
fn every_example_renders_sound_and_matching_notes() {
    let list = examples();
    assert!(list.len() >= 2, "examples: {list:?}");
    for session in list {
        let dir = tempfile::tempdir().expect("tempdir");
        let stdout = render(&session, dir.path());
        let mut wav = hound::WavReader::open(dir.path().join("audio.wav")).expect("wav");
        let samples: Vec<f32> = wav.samples::<f32>().map(|s| s.expect("sample")).collect();
        let settings = sema_live::cli::Session::load(&session).expect("session").settings;
        let frames =
            (4.0 * settings.beats_per_bar as f64 * 60.0 / settings.bpm * 48_000.0).round() as usize;
        assert_eq!(samples.len(), 2 * frames, "{}: 4 bars, stereo", session.display());
        assert!(samples.iter().all(|x| x.is_finite()), "{}: NaN/inf", session.display());
        let peak = samples.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak > 0.01, "{}: silent (peak {peak})", session.display());

        let notes = decode_notes(&std::fs::read(dir.path().join("notes.mid")).expect("mid"))
            .expect("parse mid");
        assert!(!notes.is_empty(), "{}: no MIDI notes", session.display());
        // The pitches the JS left on channel 1, as the summary lists them.
        let summary = std::fs::read_to_string(dir.path().join("summary.txt")).expect("summary");
        if !summary.contains("JS channel 1") {
            // A session without JS data (Sema's Piano Phase): its notes come from the code.
            assert!(stdout.contains("MIDI channel 1"), "{}: {stdout}", session.display());
            continue;
        }
        let line = summary.lines().find(|l| l.starts_with("JS channel 1")).unwrap_or_default();
        let values: Vec<f64> = line
            .split('[')
            .nth(1)
            .and_then(|v| v.split(']').next())
            .unwrap_or_default()
            .split(", ")
            .filter_map(|v| v.parse().ok())
            .collect();
        let sent: std::collections::BTreeSet<i64> =
            values.iter().filter(|&&f| f > 0.0).map(|&f| ftom(f)).collect();
        // Sent once: every note plays it. Sent again during the render (`host.onBar`): the
        // last bar plays the last data (each bar is checked in
        // `onbar_renders_a_new_melody_in_every_bar`).
        let from = if line.contains("sends)") { 3.0 * settings.beats_per_bar as f64 } else { 0.0 };
        for (_, _, key) in notes.iter().filter(|n| n.0 >= from - 1e-9) {
            assert!(
                sent.contains(&(*key as i64)),
                "{}: note {key} not among the sent pitches {sent:?}",
                session.display()
            );
        }
    }
}

#[test]
fn rendering_twice_gives_identical_files() {
    for session in examples() {
        let a = tempfile::tempdir().expect("tempdir");
        let b = tempfile::tempdir().expect("tempdir");
        render(&session, a.path());
        render(&session, b.path());
        for f in ["audio.wav", "notes.mid", "summary.txt"] {
            let fa = std::fs::read(a.path().join(f)).expect("file a");
            let fb = std::fs::read(b.path().join(f)).expect("file b");
            assert!(
                fa == fb,
                "{}: {f} differs between two renders with the same seed",
                session.display()
            );
        }
    }
}

#[test]
fn samples_from_the_user_folder_play() {
    let samples = tempfile::tempdir().expect("tempdir");
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(samples.path().join("click.wav"), spec).expect("wav");
    for i in 0..4800 {
        w.write_sample(if i % 100 < 50 { 12_000i16 } else { -12_000 }).expect("sample");
    }
    w.finalize().expect("finalize");
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("s.sema.toml");
    std::fs::write(&session, "dsl = '''\n>{{4}clt}\\click;\n'''\n").expect("session");
    let output = Command::new(env!("CARGO_BIN_EXE_sema-live"))
        .env("SEMA_LIVE_SAMPLES", samples.path())
        .args(["render", "--offline", "--bars", "1", "--out"])
        .arg(dir.path().join("out"))
        .arg(&session)
        .output()
        .expect("run sema-live");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut wav = hound::WavReader::open(dir.path().join("out/audio.wav")).expect("wav");
    let peak = wav.samples::<f32>().map(|s| s.expect("sample").abs()).fold(0.0f32, f32::max);
    assert!(peak > 0.2, "the sample did not play (peak {peak})");

    // A name that is nowhere is not an error: the program renders (silence) and the
    // warning names the sample and where it was looked for.
    std::fs::write(&session, "dsl = '''\n>{{4}clt}\\nosuchsample;\n'''\n").expect("session");
    let data = tempfile::tempdir().expect("tempdir");
    let output = Command::new(env!("CARGO_BIN_EXE_sema-live"))
        .env("SEMA_LIVE_SAMPLES", dir.path().join("missing"))
        .env("SEMA_LIVE_DATA", data.path())
        .env("SEMA_LIVE_SAMPLE_URL", "off")
        .args(["render", "--offline", "--bars", "1", "--out"])
        .arg(dir.path().join("out2"))
        .arg(&session)
        .output()
        .expect("run sema-live");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.contains("'nosuchsample'")).collect();
    assert_eq!(warnings.len(), 1, "{stderr}");
    assert!(warnings[0].contains(&dir.path().join("missing").display().to_string()), "{stderr}");
    let audio = left_channel(&dir.path().join("out2"));
    assert!(audio.iter().all(|&x| x == 0.0), "silence until the sample arrives");
}

/// Renders Sema's own sample-using programs (layouts and tutorials, kept as fixtures)
/// with a fresh data folder, no sample folder and no downloads: the built-in kit must
/// cover every name they use, and the audio must be finite, non-silent and have onsets
/// where the program triggers (`// onsets: N per bar` in the fixture: within 10 ms of
/// each trigger the level jumps; `free`: at least 4 rises by 30% between 10 ms windows in 4 bars, for programs whose
/// triggers do not follow the bar).
#[test]
fn semas_sample_programs_play_with_the_built_in_kit() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sema-programs");
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "sem"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 6, "{fixtures:?}");
    for fixture in fixtures {
        let name = fixture.file_stem().unwrap().to_string_lossy().to_string();
        let code = std::fs::read_to_string(&fixture).expect("fixture");
        assert!(code.starts_with("// Source: mimic-sussex/sema "), "{name}: header");
        let onsets = code
            .lines()
            .find_map(|l| l.strip_prefix("// onsets: "))
            .unwrap_or_else(|| panic!("{name}: no onsets line"))
            .to_string();
        let tmp = tempfile::tempdir().expect("tempdir");
        let session = tmp.path().join(format!("{name}.sema.toml"));
        std::fs::write(&session, format!("dsl = '''\n{code}'''\n")).expect("session");
        let data = tmp.path().join("data");
        let output = Command::new(env!("CARGO_BIN_EXE_sema-live"))
            .env("SEMA_LIVE_DATA", &data)
            .env("SEMA_LIVE_SAMPLES", tmp.path().join("no-folder"))
            .env("SEMA_LIVE_SAMPLE_URL", "off")
            .args(["render", "--offline", "--bars", "4", "--bpm", "120", "--out"])
            .arg(tmp.path().join("out"))
            .arg(&session)
            .output()
            .expect("run sema-live");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "{name}: {stderr}");
        assert!(!stderr.contains("is not loaded"), "{name}: a name the kit lacks:\n{stderr}");
        // Without JS only the names the program plays are loaded, straight from the
        // binary: nothing is written to the data folder.
        assert!(!data.join("kit").exists(), "{name}: the kit was written for a JS-less render");
        let audio = left_channel(&tmp.path().join("out"));
        let bar = 96_000usize;
        assert_eq!(audio.len(), 4 * bar, "{name}");
        assert!(audio.iter().all(|x| x.is_finite()), "{name}: NaN/inf");
        let peak = audio.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        assert!(peak > 0.05, "{name}: silent (peak {peak})");
        // Peak level in a 10 ms window starting at `at` (480 samples).
        let level = |at: usize| {
            audio[at..(at + 480).min(audio.len())].iter().fold(0.0f32, |m, x| m.max(x.abs()))
        };
        if let Some(n) = onsets.strip_suffix(" per bar") {
            let n: usize = n.parse().expect("N per bar");
            for k in 0..4 * n {
                let t = k * bar / n;
                let before = if t >= 480 { level(t - 480) } else { 0.0 };
                let after = level(t);
                assert!(
                    after > 0.02 && after > 1.5 * before,
                    "{name}: no onset at the trigger {k} (sample {t}): {before} before, {after} after"
                );
            }
        } else {
            assert_eq!(onsets, "free", "{name}");
            let windows: Vec<f32> = (0..audio.len() / 480).map(|w| level(w * 480)).collect();
            let count = windows.windows(2).filter(|w| w[1] > 0.02 && w[1] > 1.3 * w[0]).count();
            assert!(count >= 4, "{name}: {count} onsets in 4 bars");
        }
    }
}

/// Runs `sema-live render` with extra arguments; returns (success, stdout, stderr).
fn render_args(args: &[&std::ffi::OsStr]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_sema-live"))
        .arg("render")
        .args(args)
        .output()
        .expect("run sema-live");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).to_string(),
        String::from_utf8_lossy(&output.stderr).to_string(),
    )
}

/// The left channel of a rendered `audio.wav`.
fn left_channel(dir: &Path) -> Vec<f32> {
    let mut wav = hound::WavReader::open(dir.join("audio.wav")).expect("wav");
    let all: Vec<f32> = wav.samples::<f32>().map(|s| s.expect("sample")).collect();
    all.chunks(2).map(|f| f[0]).collect()
}

#[test]
fn onbar_renders_a_new_melody_in_every_bar() {
    let session = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/examples/onbar-temperature.sema.toml");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out");
    let (ok, stdout, stderr) = render_args(&[
        "--offline".as_ref(),
        "--bars".as_ref(),
        "4".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        session.as_os_str(),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    // What the script generated for each bar, as it logs it: "bar N, temperature T: p p p".
    let mut generated = std::collections::BTreeMap::<i64, Vec<u8>>::new();
    for line in stdout.lines() {
        let Some(rest) = line.split("bar ").nth(1) else { continue };
        let Some((bar, pitches)) = rest.split_once(", temperature ") else { continue };
        let Ok(bar) = bar.trim().parse::<i64>() else { continue };
        let pitches = pitches.split(": ").nth(1).unwrap_or_default();
        let pitches: Vec<u8> = pitches.split(' ').filter_map(|p| p.parse().ok()).collect();
        // The last melody generated during a bar is the one its callback sent.
        generated.insert(bar, pitches);
    }
    let notes = decode_notes(&std::fs::read(out.join("notes.mid")).expect("mid")).expect("mid");
    let mut per_bar = vec![Vec::<u8>::new(); 4];
    for (start, _, key) in &notes {
        let bar = (start / 4.0 + 1e-9).floor() as usize;
        per_bar[bar.min(3)].push(*key);
    }
    for (bar, played) in per_bar.iter().enumerate() {
        assert!(!played.is_empty(), "bar {bar} played no notes: {per_bar:?}\n{stdout}");
        let wanted = generated.get(&(bar as i64)).unwrap_or_else(|| {
            panic!("no melody was generated for bar {bar}:\n{stdout}\n{stderr}")
        });
        // The 16 steps play the first 16 notes of the melody (the rest of the channel
        // is zeros, which play nothing).
        let wanted: Vec<u8> = wanted.iter().take(16).copied().collect();
        assert_eq!(played, &wanted, "bar {bar}: played vs generated\n{stdout}");
    }
    for b in 1..4 {
        assert_ne!(per_bar[b], per_bar[b - 1], "bars {} and {b} play the same melody", b - 1);
    }
}

/// Frequencies of a periodic signal from its rising zero crossings: (time in s, Hz) per
/// period.
fn instantaneous_frequencies(x: &[f32], sample_rate: f64) -> Vec<(f64, f64)> {
    let mut crossings = Vec::new();
    for i in 1..x.len() {
        let (a, b) = (x[i - 1] as f64, x[i] as f64);
        if a < 0.0 && b >= 0.0 && b - a < 0.3 {
            // Rising through zero on the ramp (not the saw's jump down).
            crossings.push((i - 1) as f64 + a / (a - b));
        }
    }
    crossings
        .windows(2)
        .map(|w| ((w[0] + w[1]) / 2.0 / sample_rate, sample_rate / (w[1] - w[0])))
        .collect()
}

#[test]
fn the_tojs_round_trip_streams_into_the_render() {
    // Sema's streaming-both-ways example: the DSL sends a 1 Hz saw to JS 25 times a
    // second; JS maps it to a frequency (`input(value, channel)` here) and sends it back;
    // the DSL plays a saw at that frequency: 300 + 100 × [-1, 1] = 200–400 Hz.
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("stream.sema.toml");
    std::fs::write(
        &session,
        "dsl = '''\n{{25}imp,0,{1}saw}toJS;\n:freq:{0}fromJS;\n>{{:freq:}saw,0.3}mul;\n'''\n\
         js = '''\nvar channel0 = createOutputChannel(0, 1);\n\
         input = (x, id) => channel0.send(x * 100 + 300);\n'''\n",
    )
    .expect("session");
    let out = dir.path().join("out");
    let (ok, stdout, stderr) = render_args(&[
        "--offline".as_ref(),
        "--bars".as_ref(),
        "2".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        session.as_os_str(),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let left = left_channel(&out);
    let peak = left.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(peak > 0.2, "silent: peak {peak}");
    let freqs = instantaneous_frequencies(&left, 48_000.0);
    assert!(freqs.len() > 1000, "{} periods in 4 s", freqs.len());
    let (lo, hi) =
        freqs.iter().fold((f64::MAX, 0.0f64), |(lo, hi), &(_, f)| (lo.min(f), hi.max(f)));
    assert!(lo > 195.0 && hi < 405.0, "pitch outside 200–400 Hz: {lo:.1}..{hi:.1}");
    assert!(hi - lo > 150.0, "the pitch does not follow the JS: {lo:.1}..{hi:.1}");
    // It follows the 1 Hz saw the DSL sent, 300 + 100 × saw(t), late by at most one
    // 25 Hz tick and one block (≈ 51 ms, 10 Hz on this ramp). Periods right after the
    // saw's jump (t mod 1 = 0.5) are skipped.
    let saw = |t: f64| 2.0 * (t + 0.5).rem_euclid(1.0) - 1.0;
    let mut errors = Vec::new();
    for &(t, f) in &freqs {
        let since_wrap = (t - 0.5).rem_euclid(1.0);
        if since_wrap < 0.08 || t < 0.1 {
            continue;
        }
        errors.push((f - (300.0 + 100.0 * saw(t))).abs());
    }
    let mean = errors.iter().sum::<f64>() / errors.len() as f64;
    let worst = errors.iter().fold(0.0f64, |m, e| m.max(*e));
    assert!(mean < 12.0 && worst < 25.0, "mean error {mean:.1} Hz, worst {worst:.1} Hz");
}

#[test]
fn a_bad_midi_input_file_is_a_clear_error() {
    let dir = tempfile::tempdir().expect("tempdir");
    let session = dir.path().join("s.sema.toml");
    std::fs::write(&session, "dsl = '''\n>{440}sin;\n'''\n").expect("session");
    let bad = dir.path().join("bad.mid");
    std::fs::write(&bad, b"RIFF this is no MIDI file").expect("file");
    let out = dir.path().join("out");
    let (ok, stdout, stderr) = render_args(&[
        "--midi-in".as_ref(),
        bad.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        session.as_os_str(),
    ]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("bad.mid: not a MIDI file"), "{stderr}");
    let missing = dir.path().join("missing.mid");
    let (ok, _, stderr) = render_args(&[
        "--midi-in".as_ref(),
        missing.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
        session.as_os_str(),
    ]);
    assert!(!ok && stderr.contains("cannot read") && stderr.contains("missing.mid"), "{stderr}");

    // A good file plays through: its events are counted, the render succeeds.
    let good = dir.path().join("good.mid");
    write_midi(&good, &[(0.0, 0.5, 60), (1.0, 0.5, 64), (2.0, 0.5, 67)]);
    let (ok, stdout, stderr) = render_args(&[
        "--midi-in".as_ref(),
        good.as_os_str(),
        "--bars".as_ref(),
        "1".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        session.as_os_str(),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    assert!(stdout.contains("MIDI input: 6 events"), "{stdout}");
}

/// Writes a one-track MIDI file (480 ticks per quarter) of `(start, length, key)` notes in
/// beats.
fn write_midi(path: &Path, notes: &[(f64, f64, u8)]) {
    use midly::num::{u28, u4, u7};
    let mut events: Vec<(u32, bool, u8)> = Vec::new();
    for &(start, len, key) in notes {
        events.push(((start * 480.0) as u32, true, key));
        events.push((((start + len) * 480.0) as u32, false, key));
    }
    events.sort_by_key(|e| (e.0, e.1));
    let mut track = Vec::new();
    let mut last = 0;
    for (tick, on, key) in events {
        let message = if on {
            midly::MidiMessage::NoteOn { key: u7::new(key), vel: u7::new(100) }
        } else {
            midly::MidiMessage::NoteOff { key: u7::new(key), vel: u7::new(0) }
        };
        track.push(midly::TrackEvent {
            delta: u28::new(tick - last),
            kind: midly::TrackEventKind::Midi { channel: u4::new(0), message },
        });
        last = tick;
    }
    track.push(midly::TrackEvent {
        delta: u28::new(0),
        kind: midly::TrackEventKind::Meta(midly::MetaMessage::EndOfTrack),
    });
    let smf = midly::Smf {
        header: midly::Header::new(
            midly::Format::SingleTrack,
            midly::Timing::Metrical(midly::num::u15::new(480)),
        ),
        tracks: vec![track],
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes).expect("write midi");
    std::fs::write(path, bytes).expect("midi file");
}

#[test]
fn call_and_response_renders_the_answer_from_bar_three() {
    let session = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/examples/call-and-response.sema.toml");
    let dir = tempfile::tempdir().expect("tempdir");
    // A 2-bar call in 8th notes, its last note on beat 3.5 of bar 2 (inside the lookahead).
    let pitches = [60u8, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60, 62];
    let call: Vec<(f64, f64, u8)> =
        pitches.iter().enumerate().map(|(i, &p)| (i as f64 * 0.5, 0.4, p)).collect();
    let mid = dir.path().join("call.mid");
    write_midi(&mid, &call);
    let out = dir.path().join("out");
    let (ok, stdout, stderr) = render_args(&[
        "--midi-in".as_ref(),
        mid.as_os_str(),
        "--bars".as_ref(),
        "6".as_ref(),
        "--offline".as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        session.as_os_str(),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    // The script logs each answer: "answer from bar N: p p p".
    let answers: Vec<&str> = stdout.lines().filter(|l| l.contains("answer from bar")).collect();
    assert_eq!(answers.len(), 1, "one call, one answer:\n{stdout}");
    let (bar, pitches) =
        answers[0].split_once("answer from bar ").expect("log").1.split_once(": ").expect("log");
    assert_eq!(bar.trim(), "2", "the answer plays from bar 3 (index 2)");
    let answer: Vec<u8> = pitches.split(' ').filter_map(|p| p.parse().ok()).collect();
    assert!(!answer.is_empty());

    let notes = decode_notes(&std::fs::read(out.join("notes.mid")).expect("mid")).expect("mid");
    // The click is a short note every beat; the answer's notes are at least a 16th long.
    let played: Vec<&(f64, f64, u8)> = notes.iter().filter(|(s, e, _)| e - s > 0.2).collect();
    assert_eq!(played.first().map(|n| n.0), Some(8.0), "first answer note on bar 3: {played:?}");
    let keys: Vec<u8> = played.iter().map(|n| n.2).collect();
    assert_eq!(keys, answer, "the recorded MIDI is the model's answer");
}

/// The peak memory `sema-live render` reports for `bars` bars of `file`, its WAV going to
/// /dev/null (an hour of audio would otherwise fill 1.4 GB of disk).
#[cfg(target_os = "linux")]
fn render_peak_mb(file: &Path, bars: u32, out: &Path) -> f64 {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).expect("out dir");
    std::os::unix::fs::symlink("/dev/null", out.join("audio.wav")).expect("symlink");
    let (ok, stdout, stderr) = render_args(&[
        "--offline".as_ref(),
        "--bars".as_ref(),
        bars.to_string().as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        file.as_os_str(),
    ]);
    assert!(ok, "{stdout}\n{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("rendered ")).expect("the render's line");
    line.split("peak memory ")
        .nth(1)
        .and_then(|s| s.strip_suffix(" MB"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no peak memory in {line:?}"))
}

#[cfg(target_os = "linux")]
#[test]
fn render_memory_does_not_grow_with_its_length() {
    // A bare live-code file (rendered with the session defaults); 120 bpm 4/4: 30 bars a
    // minute.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("saw.sem");
    std::fs::write(&file, "{120,4}clk;\n>{{554.37}saw,0.08}mul;\n").expect("write");
    let ten = render_peak_mb(&file, 300, &dir.path().join("ten"));
    let sixty = render_peak_mb(&file, 1800, &dir.path().join("sixty"));
    // Kept whole, an hour of stereo f32 would be 1.4 GB.
    assert!(sixty < 100.0, "60 minutes peaked at {sixty} MB");
    assert!((sixty - ten).abs() < 5.0, "10 minutes: {ten} MB, 60 minutes: {sixty} MB");
}

#[test]
fn a_bare_live_code_file_renders_with_the_session_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("tone.sem");
    std::fs::write(&file, ">{{440}sin,0.5}mul;\n").expect("write");
    let out = dir.path().join("out");
    let (ok, stdout, stderr) =
        render_args(&["--offline".as_ref(), "--out".as_ref(), out.as_os_str(), file.as_os_str()]);
    assert!(ok, "{stdout}\n{stderr}");
    let mut wav = hound::WavReader::open(out.join("audio.wav")).expect("wav");
    // The defaults: 8 bars at 120 bpm in 4/4 = 16 s.
    assert_eq!(wav.duration(), 16 * 48_000);
    let s: Vec<f32> = wav.samples::<f32>().map(|s| s.expect("sample")).collect();
    // 440 Hz at half amplitude, streamed block by block: sample 60 is sin(2π·440·60/48000).
    let want = 0.5 * (std::f64::consts::TAU * 440.0 * 60.0 / 48_000.0).sin();
    assert!((f64::from(s[120]) - want).abs() < 1e-6, "{} vs {want}", s[120]);
    assert!(s.iter().all(|x| x.is_finite() && x.abs() <= 0.5 + 1e-6));
    assert!(stdout.contains("16.00 s"), "{stdout}");

    // Code that does not compile is a located error naming the file.
    std::fs::write(&file, ">{{440}sin,0.5}mul\n").expect("write");
    let (ok, stdout, stderr) =
        render_args(&["--offline".as_ref(), "--out".as_ref(), out.as_os_str(), file.as_os_str()]);
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("tone.sem"), "{stderr}");
}
