//! Running the real magenta.js (`tests/parity/parity.mjs` in Node) on a job file, for the
//! parity tests.

use std::path::{Path, PathBuf};
use std::process::Command;

use rand::rngs::SmallRng;
use sema_live::ml::music_vae::MusicVae;
use sema_live::ml::NoteSequence;
use serde_json::Value;

/// The folder holding `node_modules/@magenta/music`: `$PARITY_NODE_DIR`, else
/// `tests/parity`; None when the packages are not installed.
pub fn node_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("PARITY_NODE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity"));
    dir.join("node_modules/@magenta/music").is_dir().then_some(dir)
}

/// The node folder, or None after saying why the test is skipped; panics instead when
/// `SEMA_LIVE_PARITY=1` demands the comparison (CI).
pub fn node_dir_or_skip() -> Option<PathBuf> {
    let dir = node_dir();
    if dir.is_none() {
        let msg = "parity test skipped: no node_modules/@magenta/music (run `npm install` in tests/parity or set PARITY_NODE_DIR)";
        assert!(std::env::var("SEMA_LIVE_PARITY").map(|v| v != "1").unwrap_or(true), "{msg}");
        eprintln!("{msg}");
    }
    dir
}

/// Runs `parity.mjs` on `job` (written under `root`) and returns its JSON output.
pub fn run_node(dir: &Path, job: &Value, root: &Path) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/parity/parity.mjs");
    let job_path = root.join("job.json");
    std::fs::write(&job_path, serde_json::to_vec(job).unwrap()).unwrap();
    let out = Command::new("node")
        .arg(script)
        .arg(&job_path)
        .env("PARITY_NODE_DIR", dir)
        .output()
        .expect("cannot run node");
    assert!(out.status.success(), "parity.mjs failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("parity.mjs printed no JSON ({e}):\n{}", String::from_utf8_lossy(&out.stdout))
    })
}

/// One MusicVAE result of `parity.mjs` (`res`: its `z`, `decodeZ` and `decoded`) against
/// `m`: encodes `inputs` and returns the largest |z - magenta.js's z|, then decodes
/// magenta.js's `decodeZ` greedily and returns those sequences beside magenta.js's.
pub fn vae_round_trip<'a>(
    m: &mut MusicVae,
    inputs: &[NoteSequence],
    res: &'a Value,
    rng: &mut SmallRng,
) -> (f32, Vec<NoteSequence>, &'a [Value]) {
    let z = m.encode(inputs).unwrap();
    let jz: Vec<Vec<f32>> = serde_json::from_value(res["z"].clone()).unwrap();
    assert_eq!(z.len(), jz.len());
    let dz =
        z.iter().flatten().zip(jz.iter().flatten()).fold(0f32, |d, (a, b)| d.max((a - b).abs()));
    let decode_z: Vec<Vec<f32>> = serde_json::from_value(res["decodeZ"].clone()).unwrap();
    let got = m.decode(&decode_z, 0.0, rng).unwrap();
    let want = res["decoded"].as_array().map(Vec::as_slice).unwrap_or_default();
    assert_eq!(got.len(), want.len());
    (dz, got, want)
}
