//! The bundled default models, compiled into the plugin binary. A plugin loaded by a DAW
//! cannot count on finding `assets/` next to anything, so the files travel inside the
//! binary and are written once to the user cache folder, where the checkpoint reader
//! loads them like any other checkpoint folder.

use std::path::PathBuf;

use crate::ml::error::ModelError;

/// (model folder, file name, contents) of every bundled file.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "basic_rnn",
        "config.json",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/models/basic_rnn/config.json"
        )),
    ),
    (
        "basic_rnn",
        "weights_manifest.json",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/models/basic_rnn/weights_manifest.json"
        )),
    ),
    (
        "basic_rnn",
        "group1-shard1of1.bin",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/models/basic_rnn/group1-shard1of1.bin"
        )),
    ),
    (
        "mel_2bar_small",
        "config.json",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/models/mel_2bar_small/config.json"
        )),
    ),
    (
        "mel_2bar_small",
        "weights_manifest.json",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/models/mel_2bar_small/weights_manifest.json"
        )),
    ),
    (
        "mel_2bar_small",
        "group1-shard1of1.bin",
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../assets/models/mel_2bar_small/group1-shard1of1.bin"
        )),
    ),
];

/// Marker written after every file is in place (an interrupted write is redone).
const COMPLETE: &str = ".complete";

/// FNV-1a over all files: names the cache folder, so a new build with retrained models
/// never reads stale files.
fn fingerprint() -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for (dir, name, data) in FILES {
        for b in dir.bytes().chain(name.bytes()).chain(data.iter().copied()) {
            h ^= b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The folder holding the bundled models (`basic_rnn/`, `mel_2bar_small/`), written to
/// `<cache>/sema-live/bundled-models/<fingerprint>/` on first use.
pub fn bundled_dir() -> Result<PathBuf, ModelError> {
    let root = dirs::cache_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("sema-live")
        .join("bundled-models")
        .join(format!("{:016x}", fingerprint()));
    if root.join(COMPLETE).is_file() {
        return Ok(root);
    }
    // Instances starting together (a project with many of them, a DAW's export) may all
    // write at once while others already read: each file is written under a name of its
    // own and renamed into place, so a reader sees a whole file, never a truncated one.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    for (dir, name, data) in FILES {
        let d = root.join(dir);
        std::fs::create_dir_all(&d).map_err(|e| ModelError::io("create", &d, e))?;
        let p = d.join(name);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = d.join(format!(".{name}.{}-{n}.tmp", std::process::id()));
        std::fs::write(&tmp, data).map_err(|e| ModelError::io("write", &tmp, e))?;
        if let Err(e) = std::fs::rename(&tmp, &p) {
            let _ = std::fs::remove_file(&tmp);
            return Err(ModelError::io("write", &p, e));
        }
    }
    std::fs::write(root.join(COMPLETE), b"").map_err(|e| ModelError::io("write", &root, e))?;
    Ok(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_models_are_written_and_match_the_assets() {
        let dir = bundled_dir().expect("bundled dir");
        let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models");
        for (d, name, _) in FILES {
            let a = std::fs::read(dir.join(d).join(name)).expect("extracted file");
            let b = std::fs::read(assets.join(d).join(name)).expect("asset file");
            assert!(a == b, "{d}/{name} differs from assets/models");
        }
        // A second call finds the folder complete.
        assert_eq!(bundled_dir().expect("again"), dir);
    }
}
