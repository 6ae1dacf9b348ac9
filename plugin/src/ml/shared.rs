//! One copy per process of each loaded checkpoint, shared by every plugin instance (and
//! every `mm.MusicRNN` of one instance) that loads it.
//!
//! Models are cached by checkpoint identity: the resolved folder (canonical path) and a
//! fingerprint of what it holds (`config.json` and `weights_manifest.json` bytes, each
//! shard's length and modification time), so a rewritten checkpoint loads afresh. The
//! cache keeps weak references: when the last instance disposes of a model (or ends), its
//! weights are freed. A model is used under its mutex by one worker at a time (inference
//! of instances sharing a model takes turns; the weights and compiled networks exist once).

use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::ml::error::ModelError;
use crate::ml::music_rnn::MusicRnn;
use crate::ml::music_vae::MusicVae;

/// A model shared between instances.
pub type Shared<M> = Arc<Mutex<M>>;

/// Identity of a checkpoint: its folder and a fingerprint of its files.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    kind: &'static str,
    dir: PathBuf,
    fingerprint: u64,
}

fn fingerprint(dir: &Path) -> Result<u64, ModelError> {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for name in ["config.json", "weights_manifest.json"] {
        let p = dir.join(name);
        std::fs::read(&p).map_err(|e| ModelError::io("read", &p, e))?.hash(&mut h);
    }
    // Shards: length and modification time (reading 1 GB to hash it would cost a load).
    let manifest = std::fs::read_to_string(dir.join("weights_manifest.json")).unwrap_or_default();
    if let Ok(serde_json::Value::Array(groups)) = serde_json::from_str(&manifest) {
        for g in groups {
            for p in g["paths"].as_array().into_iter().flatten().filter_map(|p| p.as_str()) {
                if let Ok(m) = std::fs::metadata(dir.join(p)) {
                    m.len().hash(&mut h);
                    m.modified().ok().hash(&mut h);
                }
            }
        }
    }
    Ok(h.finish())
}

/// The cache of one model type.
struct Cache<M> {
    models: Mutex<BTreeMap<Key, Weak<Mutex<M>>>>,
    /// Held while loading, so that instances asking for the same checkpoint at once wait
    /// for one load instead of each holding a copy.
    loading: Mutex<()>,
}

impl<M> Cache<M> {
    const fn new() -> Self {
        Cache {
            models: parking_lot::const_mutex(BTreeMap::new()),
            loading: parking_lot::const_mutex(()),
        }
    }

    fn get(
        &self,
        kind: &'static str,
        dir: &Path,
        load: impl FnOnce(&Path) -> Result<M, ModelError>,
    ) -> Result<Shared<M>, ModelError> {
        let canonical = dir.canonicalize().map_err(|e| ModelError::io("open", dir, e))?;
        let key = Key { kind, fingerprint: fingerprint(&canonical)?, dir: canonical };
        let _loading = self.loading.lock();
        if let Some(m) = self.models.lock().get(&key).and_then(Weak::upgrade) {
            return Ok(m);
        }
        let model = Arc::new(Mutex::new(load(&key.dir)?));
        let mut models = self.models.lock();
        models.retain(|_, w| w.strong_count() > 0);
        models.insert(key, Arc::downgrade(&model));
        Ok(model)
    }
}

static RNNS: Cache<MusicRnn> = Cache::new();
static VAES: Cache<MusicVae> = Cache::new();

/// The MusicRNN of checkpoint folder `dir`, loaded once per process (`progress(done,
/// total)` hears the bytes read when this call loads it).
pub fn music_rnn(
    dir: &Path,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Shared<MusicRnn>, ModelError> {
    RNNS.get("MusicRNN", dir, |d| MusicRnn::load_with(d, progress))
}

/// The MusicVAE of checkpoint folder `dir`, loaded once per process.
pub fn music_vae(dir: &Path) -> Result<Shared<MusicVae>, ModelError> {
    VAES.get("MusicVAE", dir, MusicVae::load)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::core::checkpoint::Storage;
    use crate::ml::random_checkpoint::{write_rnn, RnnSizes};

    #[test]
    fn one_copy_per_checkpoint_freed_with_its_last_user() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let sizes = RnnSizes { min_pitch: 48, max_pitch: 83, layers: vec![16] };
        write_rnn(&a, &sizes, Storage::Uint8, 1).unwrap();
        write_rnn(&b, &sizes, Storage::Uint8, 2).unwrap();
        let m1 = music_rnn(&a, &mut |_, _| {}).unwrap();
        // Another path to the same folder is the same checkpoint.
        let m2 = music_rnn(&dir.path().join("b/../a"), &mut |_, _| {}).unwrap();
        assert!(Arc::ptr_eq(&m1, &m2));
        let other = music_rnn(&b, &mut |_, _| {}).unwrap();
        assert!(!Arc::ptr_eq(&m1, &other));
        let weak = Arc::downgrade(&m1);
        drop((m1, m2));
        assert!(weak.upgrade().is_none(), "the last user's drop frees the weights");
        // Rewritten weights are a different checkpoint.
        let before = music_rnn(&b, &mut |_, _| {}).unwrap();
        assert!(Arc::ptr_eq(&before, &other));
        std::thread::sleep(std::time::Duration::from_millis(20));
        write_rnn(&b, &RnnSizes { layers: vec![24], ..sizes }, Storage::Uint8, 3).unwrap();
        let after = music_rnn(&b, &mut |_, _| {}).unwrap();
        assert!(!Arc::ptr_eq(&after, &before));
        assert_eq!(after.lock().layer_sizes(), vec![24]);
        // A missing folder is a located error.
        let e = music_rnn(&dir.path().join("nope"), &mut |_, _| {}).err().unwrap();
        assert!(e.to_string().contains("nope"), "{e}");
    }
}
