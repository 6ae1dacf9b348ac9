// Whole-process render time against the engine's time for the same audio (issue 18):
// `sema-live render` of `{120,4}clk; >{{554.37}saw,0.08}mul;` (a bare .sem file) for 5
// minutes of audio, timed from process start to exit, against the same 5 minutes rendered
// in this process through the same offline engine into a sink that keeps nothing. Then
// the peak memory of 10- and 60-minute renders (the process reports its VmHWM).
//
//   cargo bench -p sema_live --bench render_process
//
// Prints the medians of 5 runs and the ratio (goal: whole process ≤ 1.5 × engine).

use std::hint::black_box;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use sema_live::cli::ProgramRender;

const PATCH: &str = "{120,4}clk;\n>{{554.37}saw,0.08}mul;\n";
/// 5 minutes at 120 bpm in 4/4.
const BARS_5_MIN: u32 = 150;
const RUNS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Renders `bars` bars through the offline engine into a sink that only reads the audio.
fn engine_seconds(bars: u32) -> f64 {
    let mut e = ProgramRender::new(PATCH, &[], bars).expect("the patch compiles");
    let t0 = Instant::now();
    let mut checksum = 0.0f32;
    let r = e.render_into(|l: &[f32], _r: &[f32]| {
        checksum += l[0];
        Ok::<(), std::convert::Infallible>(())
    });
    let dt = t0.elapsed().as_secs_f64();
    black_box((checksum, r.is_ok()));
    dt
}

/// Runs `sema-live render` on `file`; returns the wall time and the peak memory it
/// reports (MB).
fn process(file: &Path, bars: u32, out: &Path) -> (f64, Option<f64>) {
    let t0 = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_sema-live"))
        .args(["render", "--offline", "--bars", &bars.to_string(), "--out"])
        .arg(out)
        .arg(file)
        .output()
        .expect("run sema-live");
    let dt = t0.elapsed().as_secs_f64();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let mb = stdout
        .split("peak memory ")
        .nth(1)
        .and_then(|s| s.split(" MB").next())
        .and_then(|s| s.trim().parse().ok());
    (dt, mb)
}

fn main() {
    // `cargo bench` passes `--bench`; a filter argument other than ours skips the run.
    if std::env::args().skip(1).any(|a| !a.starts_with('-') && !"render_process".contains(&a)) {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("saw.sem");
    std::fs::write(&file, PATCH).expect("write the patch");
    let out = dir.path().join("out");
    // Warm up both (page cache, the sample kit written on first use).
    engine_seconds(10);
    process(&file, 10, &out);

    let engine = median((0..RUNS).map(|_| engine_seconds(BARS_5_MIN)).collect());
    let whole = median((0..RUNS).map(|_| process(&file, BARS_5_MIN, &out).0).collect());
    println!(
        "render 5 min of saw·gain: engine {:.3} s ({:.0}x realtime), whole process {:.3} s \
         ({:.0}x realtime): process/engine = {:.2} (goal <= 1.5)",
        engine,
        300.0 / engine,
        whole,
        300.0 / whole,
        whole / engine
    );
    // Peak memory of long renders: the WAV goes to /dev/null so the disk is not filled.
    let null_out = dir.path().join("null");
    std::fs::create_dir_all(&null_out).expect("out dir");
    #[cfg(unix)]
    std::os::unix::fs::symlink("/dev/null", null_out.join("audio.wav")).expect("symlink");
    for (minutes, bars) in [(10, 300u32), (60, 1800)] {
        let (dt, mb) = process(&file, bars, &null_out);
        match mb {
            Some(mb) => println!(
                "render {minutes} min: {dt:.2} s whole process, peak memory {mb:.1} MB (goal < 100 MB)"
            ),
            None => println!("render {minutes} min: {dt:.2} s (peak memory not reported here)"),
        }
    }
}
