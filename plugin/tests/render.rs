//! Renders every bundled example through `sema-live render` (offline, bundled models) and
//! checks the files: non-silent audio without NaN, a MIDI file whose notes are the pitches
//! the JS sent, and identical files when the same session is rendered twice.

use std::path::{Path, PathBuf};
use std::process::Command;

use sema_live::cli::midi_file::decode_notes;

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
        let settings = sema_live::cli::session::Session::load(&session).expect("session").settings;
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
            .unwrap_or_default()
            .trim_end_matches(']')
            .split(", ")
            .filter_map(|v| v.parse().ok())
            .collect();
        let sent: std::collections::BTreeSet<i64> =
            values.iter().filter(|&&f| f > 0.0).map(|&f| ftom(f)).collect();
        for (_, _, key) in &notes {
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

    // Without the folder the same program is a clear error, not silence.
    let output = Command::new(env!("CARGO_BIN_EXE_sema-live"))
        .env("SEMA_LIVE_SAMPLES", dir.path().join("missing"))
        .args(["render", "--offline", "--bars", "1", "--out"])
        .arg(dir.path().join("out2"))
        .arg(&session)
        .output()
        .expect("run sema-live");
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success() && all.contains("click"), "{all}");
}
